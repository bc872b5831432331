"""Reading the records of a dataset's data sources (TF-Slim's `parallel_reader`), on the host.

    key, value = slim.data.parallel_reader.parallel_read(['/data/train-*'], TFRecordReader, num_epochs=1)

returns two host tensors (`slimir.data.host`): the record key (`'<file>:<record>'`) and its value,
which a decoder turns into items. Nothing is read until a batch is asked for.

Readers (`slimir.data.readers`): `reader_class(**reader_kwargs)` builds one (a reader instance is
used as it is); `list_sources(data_sources)` names the sources (else file paths and glob patterns
are expanded here) and `read(source)` yields `(key, value)` pairs (or bare values) in order. A reader
that also gives random access, `num_records(source)` and `read_record(source, i) -> value` (e.g.
`IndexedTFRecordReader`), is read inside the worker threads, one reader per thread. Random-access sources are
read inside the worker threads and shuffled exactly (one permutation per epoch); iterated sources are read in
order by one thread (file order shuffled per epoch when `shuffle`) and mixed by a shuffle buffer of `capacity` records
that refills while more than `min_after_dequeue` remain (TF's RandomShuffleQueue), drained at each
epoch's end so every epoch holds every record once.

Sharding (`num_shards=n, shard_index=k`, slimir's addition for data-parallel training): shard k reads
the examples whose index i (the position in the concatenation of the data sources, in the given,
unshuffled order) has i % n == k. Shards are disjoint and together hold every example once.
"""

from __future__ import annotations

import glob
import os
import threading
from typing import Iterator, Optional

import numpy as np

from ..errors import InvalidArgumentError, NotFoundError
from .host import MISSING as _MISSING
from .host import HostSource, HostTensor, string


def get_data_files(data_sources) -> list:
    """The files of `data_sources`: a path, a glob pattern (`*`, `?`, `[`), or a list of them.

    Non-string sources (an in-memory reader's arrays) are kept as they are.
    """
    if isinstance(data_sources, (list, tuple)):
        files: list = []
        for s in data_sources:
            files += get_data_files(s)
    elif isinstance(data_sources, (str, os.PathLike)):
        path = os.fspath(data_sources)
        if any(c in path for c in "*?["):
            files = sorted(glob.glob(path))
            if not files:
                raise NotFoundError(f"No data files found in {path!r}")
        else:
            files = [path]
    else:
        files = [data_sources]
    if not files:
        raise NotFoundError(f"No data files found in {data_sources!r}")
    return files


def _source_name(source, number: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    return f"in-memory source {number} ({type(source).__name__})"


class RecordSource(HostSource):
    """The records of data sources, read by a reader class; produces `(key, value)` per example."""

    def __init__(self, data_sources, reader_class, reader_kwargs: Optional[dict] = None, num_epochs=None,
                 shuffle: bool = True, capacity: int = 256, min_after_dequeue: int = 128, seed=None,
                 num_shards: Optional[int] = None, shard_index: Optional[int] = None, name: str = "parallel_read"):
        super().__init__()
        if num_epochs is not None and (int(num_epochs) != num_epochs or num_epochs <= 0):
            raise InvalidArgumentError(f"{name}: num_epochs must be None or a positive integer, got {num_epochs!r}")
        if capacity <= 0:
            raise InvalidArgumentError(f"{name}: capacity must be positive, got {capacity}")
        if shuffle and not 0 <= min_after_dequeue < capacity:
            raise InvalidArgumentError(f"{name}: min_after_dequeue must be in [0, capacity={capacity}), got "
                                       f"{min_after_dequeue}")
        if (num_shards is None) != (shard_index is None):
            raise InvalidArgumentError(f"{name}: give both num_shards and shard_index, or neither")
        if num_shards is not None and not (int(num_shards) >= 1 and 0 <= int(shard_index) < int(num_shards)):
            raise InvalidArgumentError(f"{name}: need num_shards >= 1 and 0 <= shard_index < num_shards, got "
                                       f"num_shards={num_shards}, shard_index={shard_index}")
        if reader_class is None:
            raise InvalidArgumentError(f"{name}: reader_class must be given")
        self.name = name
        self.reader_class = reader_class
        self.reader_kwargs = dict(reader_kwargs or {})
        self.num_epochs = None if num_epochs is None else int(num_epochs)
        self.shuffle = bool(shuffle)
        self.capacity = int(capacity)
        self.min_after_dequeue = int(min_after_dequeue)
        self.seed = seed
        self.num_shards = 1 if num_shards is None else int(num_shards)
        self.shard_index = 0 if shard_index is None else int(shard_index)
        self._local = threading.local()
        probe = self._new_reader()
        lister = getattr(probe, "list_sources", None)
        self.files = list(lister(data_sources)) if callable(lister) else get_data_files(data_sources)
        if not self.files:
            raise NotFoundError(f"{name}: no data sources in {data_sources!r}")
        self.random_access = callable(getattr(probe, "num_records", None)) and callable(
            getattr(probe, "read_record", None))
        self.counts: Optional[list] = None
        if self.random_access:
            self.counts = [int(probe.num_records(f)) for f in self.files]
            self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    # -- readers (one per thread: readers hold open files)
    def _new_reader(self):
        rc = self.reader_class
        if not isinstance(rc, type) and callable(getattr(rc, "read", None)):  # a reader instance
            if self.reader_kwargs:
                raise InvalidArgumentError(f"{self.name}: reader_kwargs {sorted(self.reader_kwargs)} given for an "
                                           f"already built {type(rc).__name__}")
            return rc
        try:
            return rc(**self.reader_kwargs)
        except TypeError as e:
            raise InvalidArgumentError(f"{self.name}: cannot create the reader {self.reader_class!r} with "
                                       f"reader_kwargs={self.reader_kwargs}: {e}") from None

    def _reader(self):
        r = getattr(self._local, "reader", None)
        if r is None:
            r = self._local.reader = self._new_reader()
        return r

    @property
    def num_records(self) -> Optional[int]:
        """All records of all sources (random-access readers only; None otherwise)."""
        return None if self.counts is None else int(self.offsets[-1])

    def locate(self, index: int) -> tuple:
        """(file number, record number in that file) of a global example index."""
        if self.random_access:
            f = int(np.searchsorted(self.offsets, index, side="right") - 1)
            return f, int(index - self.offsets[f])
        return index >> 32, index & 0xFFFFFFFF

    def describe(self, index: int) -> str:
        f, r = self.locate(index)
        return f"record {r} of {_source_name(self.files[f], f)}"

    def key(self, index: int) -> str:
        f, r = self.locate(index)
        src = self.files[f]
        return f"{os.fspath(src) if isinstance(src, (str, os.PathLike)) else f'source{f}'}:{r}"

    def produce(self, epoch: int, index: int):
        """(key, value) of example `index`: read now (random access only; iterated records come with the task)."""
        f, r = self.locate(index)
        value = self._reader().read_record(self.files[f], r)
        return self.key(index), value

    # -- the order of one run
    def epoch_rng(self, base_seed: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([base_seed & 0xFFFFFFFF, 0x5EED, epoch & 0xFFFFFFFF])

    def tasks(self, base_seed: int, stop: threading.Event) -> Iterator[tuple]:
        """(epoch, index, root value or _MISSING) in reading order, epoch after epoch, this shard only."""
        epoch = 0
        while self.num_epochs is None or epoch < self.num_epochs:
            if stop.is_set():
                return
            n_before = 0
            if self.random_access:
                idx = np.arange(self.shard_index, self.num_records, self.num_shards, dtype=np.int64)
                if self.shuffle:
                    idx = self.epoch_rng(base_seed, epoch).permutation(idx)
                for i in idx:
                    yield epoch, int(i), _MISSING
                n_before = len(idx)
            else:
                for item in self._stream_epoch(base_seed, epoch, stop):
                    n_before += 1
                    yield item
            if n_before == 0 and epoch == 0:
                raise InvalidArgumentError(f"{self.name}: the data sources hold no records for shard "
                                           f"{self.shard_index} of {self.num_shards}")
            epoch += 1

    def first_task(self) -> tuple:
        """(epoch 0, index, root value or _MISSING) of the first record in the given order, whatever the
        shuffling and sharding (to learn the items' dtypes and shapes without filling a shuffle buffer)."""
        if self.random_access:
            if not self.num_records:
                raise InvalidArgumentError(f"{self.name}: the data sources hold no records")
            return 0, 0, _MISSING
        for f, source in enumerate(self.files):
            it = self._iterate(source, f)
            try:
                for rec in it:
                    index = f << 32
                    key, value = rec if isinstance(rec, tuple) and len(rec) == 2 else (self.key(index), rec)
                    return 0, index, (key, value)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        raise InvalidArgumentError(f"{self.name}: the data sources hold no records")

    def _stream_epoch(self, base_seed: int, epoch: int, stop: threading.Event) -> Iterator[tuple]:
        rng = self.epoch_rng(base_seed, epoch)
        order = list(range(len(self.files)))
        if self.shuffle and self.num_shards == 1:
            order = list(rng.permutation(len(self.files)))
        buf: list = []
        position = 0  # running index in the given order (sharded reading keeps the file order)
        for f in order:
            for r, rec in enumerate(self._iterate(self.files[f], f)):
                if stop.is_set():
                    return
                mine = position % self.num_shards == self.shard_index
                position += 1
                if not mine:
                    continue
                index = (int(f) << 32) | r
                key, value = rec if isinstance(rec, tuple) and len(rec) == 2 else (self.key(index), rec)
                item = (epoch, index, (key, value))
                if not self.shuffle:
                    yield item
                    continue
                buf.append(item)
                if len(buf) >= self.capacity:
                    while len(buf) > self.min_after_dequeue:
                        j = int(rng.integers(len(buf)))
                        buf[j], buf[-1] = buf[-1], buf[j]
                        yield buf.pop()
        while buf:
            j = int(rng.integers(len(buf)))
            buf[j], buf[-1] = buf[-1], buf[j]
            yield buf.pop()

    def _iterate(self, source, f: int):
        reader = self._reader()
        read = getattr(reader, "read", None)
        if not callable(read):
            if callable(reader):
                read = reader
            else:
                raise InvalidArgumentError(f"{self.name}: the reader {type(reader).__name__} has neither "
                                           "read(source) nor num_records/read_record")
        return iter(read(source))


def parallel_read(data_sources, reader_class, num_epochs=None, num_readers: int = 4, reader_kwargs=None,
                  shuffle: bool = True, dtypes=None, capacity: int = 256, min_after_dequeue: int = 128, seed=None,
                  scope=None, *, num_shards: Optional[int] = None, shard_index: Optional[int] = None):
    """(key, value) host tensors for the records of `data_sources` (TF-Slim's parallel_read).

    `num_readers`: how many reader instances may read at once (random-access readers are read by
    the batch's worker threads, iterated ones by one thread; see the module docstring). `dtypes`:
    the record's (key, value) dtypes, default string for both; give a numeric dtype for a reader
    whose values are arrays.
    """
    if int(num_readers) < 1:
        raise InvalidArgumentError(f"parallel_read: num_readers must be >= 1, got {num_readers}")
    src = RecordSource(data_sources, reader_class, reader_kwargs, num_epochs, shuffle, capacity, min_after_dequeue,
                       seed, num_shards, shard_index, name=scope or "parallel_read")
    src.num_readers = int(num_readers)
    dts = list(dtypes) if dtypes is not None else [string, string]
    if len(dts) != 2:
        raise InvalidArgumentError(f"parallel_read: dtypes must be two types (key, value), got {dtypes!r}")
    record = HostTensor(src, [], None, shape=None, dtype=None, name=f"{src.name}/record")
    key = HostTensor(src, [record], _first, shape=[], dtype=dts[0], name=f"{src.name}/key")
    value = HostTensor(src, [record], _second, shape=[] if dts[1] is string else None, dtype=dts[1],
                       name=f"{src.name}/value")
    return key, value


def _first(kv):
    return kv[0]


def _second(kv):
    return kv[1]


def single_pass_read(data_sources, reader_class, reader_kwargs=None, scope=None):
    """(key, value) host tensors reading every record once, in order (TF-Slim's single_pass_read)."""
    return parallel_read(data_sources, reader_class, num_epochs=1, num_readers=1, reader_kwargs=reader_kwargs,
                         shuffle=False, scope=scope or "single_pass_read")
