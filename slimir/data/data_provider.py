"""`DataProvider`: named items of one example (TF-Slim's data_provider), as host tensors.

    image, label = provider.get(['image', 'label'])
"""

from __future__ import annotations

from ..errors import InvalidArgumentError


class DataProvider:
    """Maps item names to the host tensors that hold them; `num_samples` examples in all."""

    def __init__(self, items_to_tensors: dict, num_samples):
        self._items_to_tensors = dict(items_to_tensors)
        self._num_samples = num_samples

    def get(self, items) -> list:
        """The host tensors of `items` (a list of names), in that order."""
        if isinstance(items, str):
            raise InvalidArgumentError(f"DataProvider.get takes a list of item names, got the string {items!r} "
                                       f"(write get([{items!r}]))")
        out = []
        for item in items:
            if item not in self._items_to_tensors:
                raise InvalidArgumentError(f"DataProvider.get: unknown item {item!r}; this provider has "
                                           f"{sorted(self._items_to_tensors)}")
            out.append(self._items_to_tensors[item])
        return out

    def list_items(self) -> list:
        """The names of the items this provider can give."""
        return list(self._items_to_tensors)

    def num_samples(self):
        """The number of examples of the dataset."""
        return self._num_samples
