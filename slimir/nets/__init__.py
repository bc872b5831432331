"""Network definitions with TF-Slim's scopes, variable names and end points."""

from . import (  # noqa: F401
    alexnet,
    cifarnet,
    dcgan,
    inception,
    inception_resnet_v2,
    inception_utils,
    inception_v1,
    inception_v2,
    inception_v3,
    inception_v4,
    lenet,
    mobilenet,
    mobilenet_v1,
    nasnet,
    nets_factory,
    overfeat,
    resnet_utils,
    resnet_v1,
    resnet_v2,
    vgg,
)
