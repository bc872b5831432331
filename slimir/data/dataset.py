"""`Dataset`: what a dataset is made of (sources, reader, decoder, size, item descriptions), as in TF-Slim.

    dataset = slim.data.Dataset(data_sources='/data/flowers_train_*.tfrecord', reader=TFRecordReader,
                                decoder=decoder, num_samples=3320, items_to_descriptions={...}, num_classes=5)

Extra keyword arguments become attributes (`num_classes`, `labels_to_names`, ...). A data provider reads it;
`dataset.iterate(['image', 'label'])` walks it once, in order, without any queue (evaluation, tests, tools).
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional, Sequence

from ..errors import InvalidArgumentError
from .data_decoder import DataDecoder
from .readers import Reader, make_reader

__all__ = ["Dataset"]


class Dataset:
    """A dataset's description: `data_sources`, `reader` (class or instance), `decoder`, `num_samples`,
    `items_to_descriptions`, plus any keyword arguments as attributes."""

    def __init__(
        self,
        data_sources,
        reader,
        decoder: DataDecoder,
        num_samples: Optional[int],
        items_to_descriptions: Mapping[str, str],
        **kwargs,
    ):
        if not isinstance(decoder, DataDecoder) and not (
            hasattr(decoder, "decode") and hasattr(decoder, "list_items")
        ):
            raise InvalidArgumentError(f"Dataset decoder must be a DataDecoder, got {type(decoder).__name__}")
        if not (isinstance(reader, Reader) or callable(reader)):
            raise InvalidArgumentError(
                f"Dataset reader must be a Reader class or instance, got {type(reader).__name__}"
            )
        self.data_sources = data_sources
        self.reader = reader
        self.decoder = decoder
        self.num_samples = num_samples
        self.items_to_descriptions = dict(items_to_descriptions)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def make_reader(self, **reader_kwargs) -> Reader:
        """An instance of this dataset's reader (its class called with `reader_kwargs`, or the instance)."""
        return make_reader(self.reader, **reader_kwargs)

    def list_sources(self, reader: Optional[Reader] = None) -> list:
        """The concrete sources (files, arrays) of `data_sources`; an empty pattern raises NotFoundError."""
        return (reader or self.make_reader()).list_sources(self.data_sources)

    def iterate(
        self, items: Optional[Sequence[str]] = None, reader: Optional[Reader] = None
    ) -> Iterator[tuple]:
        """Decoded `items` (default: all the decoder's) of every record, source after source, in order."""
        reader = reader or self.make_reader()
        items = list(items) if items else list(self.decoder.list_items())
        for source in reader.list_sources(self.data_sources):
            for key, record in reader.read(source):
                yield tuple(self._decode(record, items, key))

    def _decode(self, record, items, key):
        try:
            return self.decoder.decode(record, items, record_key=key)
        except TypeError as e:  # a user's decoder without record_key
            if "record_key" not in str(e):
                raise
            return self.decoder.decode(record, items)

    def __repr__(self) -> str:
        return (
            f"Dataset(data_sources={self.data_sources!r:.80}, num_samples={self.num_samples}, "
            f"items={list(self.items_to_descriptions)})"
        )
