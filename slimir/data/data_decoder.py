"""`DataDecoder`: the interface that turns one record read from a data source into named items (TF-Slim's)."""

from __future__ import annotations

import abc
from typing import Optional, Sequence


class DataDecoder(abc.ABC):
    """Decodes one record (serialized bytes, a message or a dict) into a list of items (image, label)."""

    @abc.abstractmethod
    def decode(self, data, items: Optional[Sequence[str]] = None) -> list:
        """The values of `items` (all of `list_items()` when None), in that order, for the record `data`."""

    @abc.abstractmethod
    def list_items(self) -> list:
        """The names of the items this decoder can produce."""
