"""research/slim's NASNet-A and PNASNet (nets/nasnet): the cells (`nasnet_utils`) and the networks built
from them (`nasnet`: cifar, mobile, large; `pnasnet`: mobile, large)."""

from . import nasnet, nasnet_utils, pnasnet  # noqa: F401
