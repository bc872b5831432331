"""research/slim's image preprocessing on the host (numpy), by name through `preprocessing_factory`.

    from slimir.preprocessing import preprocessing_factory
    fn = preprocessing_factory.get_preprocessing('vgg_16', is_training=True)
    image = fn(image, 224, 224)            # numpy HxWxC -> float32 224x224x3, or a HostTensor mapped
"""

from . import (  # noqa: F401
    cifarnet_preprocessing,
    image_ops,
    inception_preprocessing,
    lenet_preprocessing,
    preprocessing_factory,
    vgg_preprocessing,
)
from .preprocessing_factory import get_preprocessing  # noqa: F401
