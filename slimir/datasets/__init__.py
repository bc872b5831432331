"""research/slim's datasets for slimir: `get_dataset(name, split_name, dataset_dir)` and converters.

dataset = slimir.datasets.get_dataset('flowers', 'train', '/data/flowers')
dataset = slimir.datasets.get_dataset('digits', 'train')   # scikit-learn's bundled 8x8 digits, no files
"""

from . import cifar10, dataset_factory, dataset_utils, digits, flowers, imagenet, mnist  # noqa: F401
from .convert import convert_digits, convert_image_folder  # noqa: F401
from .dataset_factory import datasets_map, get_dataset  # noqa: F401
