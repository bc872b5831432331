"""Network definitions with TF-Slim's scopes, variable names and end points."""

from . import (  # noqa: F401
    alexnet,
    cifarnet,
    lenet,
    mobilenet_v1,
    nets_factory,
    overfeat,
    resnet_utils,
    resnet_v1,
    resnet_v2,
    vgg,
)
