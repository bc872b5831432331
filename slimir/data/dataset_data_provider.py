"""`DatasetDataProvider`: the decoded items of a `Dataset`'s records (TF-Slim's dataset_data_provider).

    provider = slim.data.DatasetDataProvider(dataset, num_readers=4, shuffle=True, seed=1)
    image, label = provider.get(['image', 'label'])

Reading goes through `parallel_reader.parallel_read` (random-access readers are read and shuffled
exactly per epoch, iterated ones through a shuffle buffer of `common_queue_capacity` records), and
every record is decoded once by `dataset.decoder.decode(value, items)`; the items are host tensors
(`slimir.data.host`) whose dtype and rank come from the first record. `record_key` names the
`'<file>:<record>'` key item.

`num_shards`/`shard_index` (slimir's addition, for data-parallel training): shard k of n reads the
examples i (their position in the data sources, in order) with i % n == k; `num_samples()` stays
the dataset's size, `num_shard_samples` is this shard's.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidArgumentError
from . import parallel_reader
from .data_provider import DataProvider
from .host import HostTensor, _NodeFailure, dtype_of, evaluate, pipeline_error


class DatasetDataProvider(DataProvider):
    """Items of `dataset` (data_sources, reader, decoder, num_samples) as host tensors."""

    def __init__(self, dataset, num_readers: int = 1, reader_kwargs: Optional[dict] = None, shuffle: bool = True,
                 num_epochs: Optional[int] = None, common_queue_capacity: int = 256, common_queue_min: int = 128,
                 record_key: str = "record_key", seed: Optional[int] = None, scope: Optional[str] = None,
                 num_shards: Optional[int] = None, shard_index: Optional[int] = None):
        for attr in ("data_sources", "reader", "decoder"):
            if not hasattr(dataset, attr):
                raise InvalidArgumentError(f"DatasetDataProvider: {dataset!r} is not a slim.data Dataset (it has no "
                                           f"{attr!r})")
        name = scope or "DatasetDataProvider"
        key, value = parallel_reader.parallel_read(
            dataset.data_sources, reader_class=dataset.reader, num_epochs=num_epochs, num_readers=num_readers,
            reader_kwargs=reader_kwargs, shuffle=shuffle, capacity=common_queue_capacity,
            min_after_dequeue=common_queue_min, seed=seed, scope=name, num_shards=num_shards,
            shard_index=shard_index)
        decoder = dataset.decoder
        items = list(decoder.list_items())
        if record_key in items:
            raise InvalidArgumentError(f"DatasetDataProvider: The item name used for `record_key` cannot also be used "
                                       f"for a dataset item: {record_key}")

        with_key = _takes_record_key(decoder.decode)

        def decode(record, _items=tuple(items)):
            key_, data = record
            out = (decoder.decode(data, list(_items), record_key=key_) if with_key
                   else decoder.decode(data, list(_items)))
            if len(out) != len(_items):
                raise InvalidArgumentError(f"the decoder returned {len(out)} values for the items {list(_items)}")
            return out

        decoded = HostTensor(value.source, [value.parents[0]], decode, shape=None, dtype=None, name=f"{name}/decode")
        src = value.source
        # dtype and rank of each item, from the first record (dims stay unknown: they may vary by example)
        epoch, index, root = src.first_task()
        try:
            first = evaluate([decoded], epoch, index, 0, root)[0]
        except _NodeFailure as f:
            raise pipeline_error(name, f"{f.tensor.name} on {src.describe(index)}", f.exc) from f.exc
        items_to_tensors = {}
        for i, (item, v) in enumerate(zip(items, first)):
            arr = np.asarray(v)
            items_to_tensors[item] = HostTensor(src, [decoded], _Pick(i), shape=[None] * arr.ndim,
                                                dtype=dtype_of(v), name=f"{name}/{item}")
        items_to_tensors[record_key] = key
        super().__init__(items_to_tensors, getattr(dataset, "num_samples", None))
        self.dataset = dataset
        self.source = src
        n = src.num_records if src.num_records is not None else getattr(dataset, "num_samples", None)
        self.num_shard_samples = None if n is None else len(range(src.shard_index, int(n), src.num_shards))


def _takes_record_key(fn) -> bool:
    """Whether a decoder's decode() accepts record_key= (slim.data decoders name the record in errors)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "record_key" or p.kind is p.VAR_KEYWORD for p in params)


class _Pick:
    """The i-th decoded item (a picklable-free small callable with a readable name)."""

    def __init__(self, i: int):
        self.i = i
        self.__name__ = f"item{i}"

    def __call__(self, values):
        return values[self.i]
