"""Network definitions with TF-Slim's scopes, variable names and end points."""

from . import alexnet, cifarnet, lenet, overfeat, vgg  # noqa: F401
from . import nets_factory  # noqa: F401
