"""research/slim's MobileNet library (nets/mobilenet): the conv-def builder shared by MobileNet v2 and v3
(`mobilenet`), their blocks (`conv_blocks`) and the two networks' definitions."""

from . import conv_blocks, mobilenet, mobilenet_v2, mobilenet_v3  # noqa: F401
