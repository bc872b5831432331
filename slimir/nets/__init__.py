"""Network definitions with TF-Slim's scopes, variable names and end points."""

from . import (  # noqa: F401
    alexnet,
    cifarnet,
    lenet,
    nets_factory,
    overfeat,
    vgg,
)
