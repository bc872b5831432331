"""Readers: turn a dataset's data sources into `(key, record)` pairs for its decoder.

A reader has two methods: `list_sources(data_sources)` expands what a `Dataset` names (file patterns, a
directory, in-memory arrays) into a list of sources, and `read(source)` yields `(key, record)` for one source,
in order. Keys name the record in errors ('path/file.tfrecord:17'). `num_records(source)` counts a source's
records; readers that can also `read_record(source, i)` give random access (exact shuffling). Readers may be
shared between threads.

    TFRecordReader      TFRecord files -> serialized tf.train.Example bytes
    IndexedTFRecordReader   the same, with random access (exact shuffling, reads from several threads)
    NumpyReader         dicts of equal-length arrays, or .npz files -> {name: row} dicts
    ImageFolderReader   root/<class>/<image> folders -> {'image/encoded', 'image/format', ...} dicts
"""

from __future__ import annotations

import abc
import glob
import os
import threading
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from ..crc32c import masked_crc32c
from ..errors import DataLossError, InvalidArgumentError, NotFoundError
from .tfrecord import OptionsLike, TFRecordIterator

__all__ = [
    "Reader",
    "TFRecordReader",
    "IndexedTFRecordReader",
    "NumpyReader",
    "ImageFolderReader",
    "make_reader",
    "expand_file_patterns",
    "IMAGE_EXTENSIONS",
    "list_image_folder",
]


def expand_file_patterns(data_sources: Union[str, os.PathLike, Sequence]) -> list:
    """Files named by a path, a glob pattern or a list of them (TF-Slim's `get_data_files`), sorted
    per pattern.

    A pattern that matches nothing raises `NotFoundError` naming it.
    """
    if isinstance(data_sources, (str, os.PathLike)):
        data_sources = [data_sources]
    if not data_sources:
        raise NotFoundError("no data sources given")
    files = []
    for pattern in data_sources:
        pattern = os.fspath(pattern)
        if glob.has_magic(pattern):
            matched = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        else:
            matched = [pattern] if os.path.isfile(pattern) else []
        if not matched:
            directory = os.path.dirname(pattern) or "."
            hint = "" if os.path.isdir(directory) else f" (directory {directory!r} does not exist)"
            raise NotFoundError(f"no files match the data source {pattern!r}{hint}")
        files.extend(matched)
    return files


class Reader(abc.ABC):
    """Base class: `list_sources(data_sources)` and `read(source)`; see the module docstring."""

    def list_sources(self, data_sources) -> list:
        """The sources (file paths by default) that `data_sources` names."""
        return expand_file_patterns(data_sources)

    @abc.abstractmethod
    def read(self, source) -> Iterator[tuple]:
        """`(key, record)` for each record of `source`, in order."""

    def num_records(self, source) -> int:
        """How many records `source` holds (reads it through by default)."""
        return sum(1 for _ in self.read(source))

    def read_all(self, data_sources) -> Iterator[tuple]:
        """`(key, record)` for every record of every source, in order."""
        for source in self.list_sources(data_sources):
            yield from self.read(source)


class TFRecordReader(Reader):
    """Records of TFRecord files (TF's `tf.TFRecordReader`): keys 'path:index', records the raw bytes.

    `options`: compression ('GZIP', 'ZLIB' or a `TFRecordOptions`). `skip_corrupt=True` skips corrupt records
    instead of raising `DataLossError`; `num_skipped` counts them over every file read, `skipped` lists
    `(path, index, offset, reason)`, and `on_corrupt(path, index, offset, reason)` is called for each.
    """

    def __init__(
        self,
        options: OptionsLike = None,
        skip_corrupt: bool = False,
        on_corrupt: Optional[Callable[[str, int, int, str], None]] = None,
    ):
        self.options = options
        self.skip_corrupt = skip_corrupt
        self.on_corrupt = on_corrupt
        self.num_skipped = 0
        self.skipped: list = []
        self._lock = threading.Lock()

    def _note(self, path: str, index: int, offset: int, reason: str) -> None:
        with self._lock:
            self.num_skipped += 1
            self.skipped.append((path, index, offset, reason))
        if self.on_corrupt is not None:
            self.on_corrupt(path, index, offset, reason)

    def read(self, source) -> Iterator[tuple]:
        it = TFRecordIterator(source, self.options, skip_corrupt=self.skip_corrupt, on_corrupt=self._note)
        try:
            for data in it:
                yield f"{it.path}:{it.index}", data
        finally:
            it.close()

    def num_records(self, source) -> int:
        it = TFRecordIterator(source, self.options, skip_corrupt=self.skip_corrupt)
        return sum(1 for _ in it)


class IndexedTFRecordReader(TFRecordReader):
    """TFRecord files with random access (`num_records`, `read_record`), so a data provider can shuffle the
    records exactly and read them from several threads.

    The first use of a file indexes it: its record headers are scanned (their length CRCs checked), or, with
    `skip_corrupt=True`, every record is verified and corrupt ones are left out of the index (counted as in
    `TFRecordReader`). `read_record` then reads one record at its offset and checks its data CRC. Uncompressed
    files only.
    """

    def __init__(
        self, skip_corrupt: bool = False, on_corrupt: Optional[Callable[[str, int, int, str], None]] = None
    ):
        super().__init__(None, skip_corrupt, on_corrupt)
        self._index: dict = {}  # path -> int64 array [n, 3]: header offset, data length, record number

    def _entries(self, path: str) -> np.ndarray:
        with self._lock:
            entries = self._index.get(path)
        if entries is None:
            entries = self._scan(path) if not self.skip_corrupt else self._verify(path)
            with self._lock:
                self._index[path] = entries
        return entries

    def _verify(self, path: str) -> np.ndarray:
        it = TFRecordIterator(path, None, skip_corrupt=True, on_corrupt=self._note)
        rows = [(it.offset, len(data), it.index) for data in it]
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

    def _scan(self, path: str) -> np.ndarray:
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"TFRecord file {path!r} does not exist") from None
        size = os.fstat(f.fileno()).st_size
        rows, offset, index = [], 0, 0
        with f:
            while offset < size:
                f.seek(offset)
                header = f.read(12)
                where = f"TFRecord file {path!r}: record {index} (byte offset {offset})"
                if len(header) < 12:
                    raise DataLossError(f"{where}: truncated record header ({len(header)} of 12 bytes)")
                length = int.from_bytes(header[:8], "little")
                if masked_crc32c(header[:8]) != int.from_bytes(header[8:], "little"):
                    raise DataLossError(f"{where}: the length's CRC does not match (corrupt length field)")
                if offset + 16 + length > size:
                    raise DataLossError(
                        f"{where}: truncated record: expected {length} data bytes + 4 CRC bytes"
                    )
                rows.append((offset, length, index))
                offset += 16 + length
                index += 1
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

    def num_records(self, source) -> int:
        return len(self._entries(os.fspath(source)))

    def read_record(self, source, index: int) -> bytes:
        """The data of the `index`-th (indexed) record of `source`, its CRC checked."""
        path = os.fspath(source)
        entries = self._entries(path)
        if not 0 <= index < len(entries):
            raise InvalidArgumentError(
                f"TFRecord file {path!r}: record {index} out of range (it has {len(entries)})"
            )
        offset, length, number = (int(v) for v in entries[index])
        try:
            with open(path, "rb") as f:  # opened per read: ~10 us, no shared file state between threads
                f.seek(offset + 12)
                body = f.read(length + 4)
        except FileNotFoundError:
            raise NotFoundError(f"TFRecord file {path!r} disappeared after it was indexed") from None
        where = f"TFRecord file {path!r}: record {number} (byte offset {offset})"
        if len(body) < length + 4:
            raise DataLossError(f"{where}: truncated record (the file changed after it was indexed?)")
        data = body[:length]
        if masked_crc32c(data) != int.from_bytes(body[length:], "little"):
            raise DataLossError(f"{where}: the data's CRC does not match ({length} bytes)")
        return data


def _rows(arrays: Mapping[str, object], name: str) -> tuple:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if not arrays:
        raise InvalidArgumentError(f"{name}: no arrays")
    lengths = {k: (v.shape[0] if v.ndim else None) for k, v in arrays.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise InvalidArgumentError(
            f"{name}: every array needs the same first dimension (one row per example), got {lengths}"
        )
    return arrays, next(iter(lengths.values()))


def _load_npz(path: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise NotFoundError(f".npz file {path!r} does not exist") from None
    except ValueError as e:  # object arrays (they would need pickle), damaged headers
        raise DataLossError(f".npz file {path!r} cannot be read without pickle or is damaged: {e}") from None
    except (OSError, EOFError) as e:
        raise DataLossError(f".npz file {path!r} is damaged or not an .npz file: {e}") from None


class NumpyReader(Reader):
    """Rows of in-memory arrays or `.npz` files: each record is `{name: array[i]}`, keys 'source:i'.

    Data sources: a dict `{name: array}` (all arrays with the same first dimension), a list of such dicts, or
    `.npz` paths / patterns (loaded without pickle). Random access (`num_records`, `read_record`) keeps the
    last source's arrays loaded.
    """

    def __init__(self):
        self._cache: tuple = (
            None,
            None,
            None,
        )  # (source identity, (name, arrays, n), source) of the last load
        self._lock = threading.Lock()

    def list_sources(self, data_sources) -> list:
        if isinstance(data_sources, Mapping):
            return [data_sources]
        if (
            isinstance(data_sources, (list, tuple))
            and data_sources
            and all(isinstance(s, Mapping) for s in data_sources)
        ):
            return list(data_sources)
        return expand_file_patterns(data_sources)

    def _arrays(self, source) -> tuple:
        ident = id(source) if isinstance(source, Mapping) else os.fspath(source)
        with self._lock:
            if self._cache[0] == ident and (not isinstance(source, Mapping) or self._cache[2] is source):
                return self._cache[1]
        if isinstance(source, Mapping):
            arrays, n = _rows(source, "in-memory arrays")
            loaded = ("arrays", arrays, n)
        else:
            path = os.fspath(source)
            arrays, n = _rows(_load_npz(path), f".npz file {path!r}")
            loaded = (path, arrays, n)
        with self._lock:
            self._cache = (ident, loaded, source)
        return loaded

    def read(self, source) -> Iterator[tuple]:
        name, arrays, n = self._arrays(source)
        for i in range(n):
            yield f"{name}:{i}", {k: v[i] for k, v in arrays.items()}

    def num_records(self, source) -> int:
        return self._arrays(source)[2]

    def read_record(self, source, index: int) -> dict:
        """Record `index` of `source` (random access; the last source's arrays stay loaded)."""
        name, arrays, n = self._arrays(source)
        if not 0 <= index < n:
            raise InvalidArgumentError(f"{name}: record {index} out of range (it has {n})")
        return {k: v[index] for k, v in arrays.items()}


IMAGE_EXTENSIONS = {".jpg": b"jpeg", ".jpeg": b"jpeg", ".png": b"png", ".bmp": b"bmp", ".gif": b"gif"}


def list_image_folder(root: Union[str, os.PathLike], extensions=None) -> tuple:
    """`(class_names, [(path, label), ...])` of an image folder `root/<class name>/<image file>`.

    Class names are the sub-folder names, sorted; labels are their positions. Files are sorted per class and
    filtered by extension (case-insensitive; `IMAGE_EXTENSIONS` by default). Hidden entries are ignored.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise NotFoundError(f"image folder {root!r} does not exist")
    exts = {e.lower() for e in (extensions or IMAGE_EXTENSIONS)}
    classes = sorted(
        d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d))
    )
    if not classes:
        raise NotFoundError(f"image folder {root!r} has no class sub-folders (expected root/<class>/<image>)")
    files = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder)):
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts:
                files.append((os.path.join(folder, f), label))
    if not files:
        raise NotFoundError(f"image folder {root!r} has no images with extensions {sorted(exts)}")
    return classes, files


class ImageFolderReader(Reader):
    """Images of `root/<class>/<file>` folders as dict records with TF-Example-style keys.

    Each record: 'image/encoded' (the file's bytes), 'image/format' (b'jpeg', b'png', ...),
    'image/class/label' (the class's index among the sorted class names), 'image/class/text' and
    'image/filename'; keys are the file
    paths. Decode them with the same `TFExampleDecoder` as TFRecord files of the same keys.
    """

    def __init__(self, extensions: Optional[Sequence[str]] = None):
        self.extensions = extensions
        self._listings: dict = {}
        self._lock = threading.Lock()

    def list_sources(self, data_sources) -> list:
        roots = [data_sources] if isinstance(data_sources, (str, os.PathLike)) else list(data_sources)
        for r in roots:
            if not os.path.isdir(r):
                raise NotFoundError(f"image folder {os.fspath(r)!r} does not exist")
        return [os.fspath(r) for r in roots]

    def _listing(self, root) -> tuple:
        root = os.fspath(root)
        with self._lock:
            if root in self._listings:
                return self._listings[root]
        listing = list_image_folder(root, self.extensions)
        with self._lock:
            self._listings[root] = listing
        return listing

    def class_names(self, root) -> list:
        return list(self._listing(root)[0])

    def _record(self, classes: list, path: str, label: int) -> dict:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DataLossError(f"cannot read image {path!r}: {e}") from None
        ext = os.path.splitext(path)[1].lower()
        return {
            "image/encoded": data,
            "image/format": IMAGE_EXTENSIONS.get(ext, ext[1:].encode()),
            "image/class/label": label,
            "image/class/text": classes[label].encode("utf-8"),
            "image/filename": os.path.basename(path).encode("utf-8"),
        }

    def read(self, source) -> Iterator[tuple]:
        classes, files = self._listing(source)
        for path, label in files:
            yield path, self._record(classes, path, label)

    def num_records(self, source) -> int:
        return len(self._listing(source)[1])

    def read_record(self, source, index: int) -> dict:
        """Record `index` of the folder `source` (random access over the listed images)."""
        classes, files = self._listing(source)
        if not 0 <= index < len(files):
            raise InvalidArgumentError(
                f"image folder {source!r}: record {index} out of range (it has {len(files)})"
            )
        return self._record(classes, *files[index])


def make_reader(reader, **kwargs) -> Reader:
    """A reader from a reader class (TF-Slim's `dataset.reader`, called with `kwargs`) or an instance."""
    if isinstance(reader, Reader):
        if kwargs:
            raise InvalidArgumentError(
                f"reader_kwargs {sorted(kwargs)} given for an already built {type(reader).__name__}"
            )
        return reader
    if callable(reader):
        built = reader(**kwargs)
        if not (hasattr(built, "read") and hasattr(built, "list_sources")):
            raise InvalidArgumentError(
                f"{reader!r}() gave a {type(built).__name__}, which is not a reader "
                "(needs read and list_sources)"
            )
        return built
    raise InvalidArgumentError(f"reader must be a Reader class or instance, got {type(reader).__name__}")
