"""Preprocessing functions by name, as research/slim's preprocessing_factory:
`get_preprocessing('vgg_16', is_training=True)` gives `fn(image, output_height, output_width, **kwargs)`."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidArgumentError
from . import cifarnet_preprocessing, inception_preprocessing, lenet_preprocessing, vgg_preprocessing

__all__ = ["get_preprocessing", "preprocessing_fn_map"]

preprocessing_fn_map = {
    "cifarnet": cifarnet_preprocessing,
    "inception": inception_preprocessing,
    "inception_v1": inception_preprocessing,
    "inception_v2": inception_preprocessing,
    "inception_v3": inception_preprocessing,
    "inception_v4": inception_preprocessing,
    "inception_resnet_v2": inception_preprocessing,
    "lenet": lenet_preprocessing,
    "mobilenet_v1": inception_preprocessing,
    "mobilenet_v2": inception_preprocessing,
    "mobilenet_v2_035": inception_preprocessing,
    "mobilenet_v2_140": inception_preprocessing,
    "nasnet_mobile": inception_preprocessing,
    "nasnet_large": inception_preprocessing,
    "pnasnet_mobile": inception_preprocessing,
    "pnasnet_large": inception_preprocessing,
    "resnet_v1_50": vgg_preprocessing,
    "resnet_v1_101": vgg_preprocessing,
    "resnet_v1_152": vgg_preprocessing,
    "resnet_v1_200": vgg_preprocessing,
    "resnet_v2_50": vgg_preprocessing,
    "resnet_v2_101": vgg_preprocessing,
    "resnet_v2_152": vgg_preprocessing,
    "resnet_v2_200": vgg_preprocessing,
    "vgg": vgg_preprocessing,
    "vgg_a": vgg_preprocessing,
    "vgg_16": vgg_preprocessing,
    "vgg_19": vgg_preprocessing,
}


def get_preprocessing(name: str, is_training: bool = False, use_grayscale: bool = False) -> Callable:
    """`preprocessing_fn(image, output_height, output_width, **kwargs)` for preprocessing `name`.

    The function takes one image (a numpy HxWxC array, or a slimir.data HostTensor to map over the
    pipeline's examples) and returns float32 HxWxC (or the mapped HostTensor). Keyword arguments go
    to the module's `preprocess_image` (`seed=`/`rng=` make numpy training draws reproducible).
    An unknown name raises ValueError listing the known ones.
    """
    if name not in preprocessing_fn_map:
        raise InvalidArgumentError(f"Preprocessing name [{name}] was not recognized (known: "
                                   f"{', '.join(sorted(preprocessing_fn_map))})")
    module = preprocessing_fn_map[name]

    def preprocessing_fn(image, output_height, output_width, **kwargs):
        kwargs.setdefault("use_grayscale", use_grayscale)
        return module.preprocess_image(image, output_height, output_width, is_training=is_training, **kwargs)

    preprocessing_fn.__name__ = f"{name}_preprocessing"
    return preprocessing_fn
