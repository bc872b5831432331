"""TF-Slim's tfexample_decoder on numpy: parse a tf.train.Example, then turn features into items.

    keys_to_features = {
        'image/encoded': FixedLenFeature((), string, default_value=b''),
        'image/format': FixedLenFeature((), string, default_value=b'png'),
        'image/class/label': FixedLenFeature([], slim.int64, default_value=0),
    }
    items_to_handlers = {'image': Image(), 'label': Tensor('image/class/label')}
    image, label = TFExampleDecoder(keys_to_features, items_to_handlers).decode(serialized)

Stage 1 parses each feature: a `FixedLenFeature` becomes a numpy array of its shape (strings: an object array
of `bytes`), a `VarLenFeature` a `SparseValue` (indices, values, dense_shape). Stage 2 hands each item's
handler the features it names. Records may be serialized Examples, `Example` messages or plain dicts of
feature values (what `ImageFolderReader` yields). Images decode through Pillow to HxWxC uint8 arrays.
`DictDecoder` serves in-memory records (dicts of numpy values) without any parsing. The feature specs and
stage 1 live in example_parsing.py and are named here, as TF-Slim's module names them.
"""

from __future__ import annotations

import abc
import io
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from .. import dtypes as _dt
from ..errors import DataLossError, InvalidArgumentError, ShapeError, SlimirError
from .data_decoder import DataDecoder
from .example_parsing import (
    FixedLenFeature,
    FixedLenSequenceFeature,
    SparseValue,
    VarLenFeature,
    parse_single_example,
    parse_single_sequence_example,
    string,
)

__all__ = [
    "string",
    "FixedLenFeature",
    "VarLenFeature",
    "FixedLenSequenceFeature",
    "SparseValue",
    "ItemHandler",
    "ItemHandlerCallback",
    "BoundingBox",
    "Tensor",
    "LookupTensor",
    "BackupHandler",
    "SparseTensor",
    "Image",
    "TFExampleDecoder",
    "TFSequenceExampleDecoder",
    "DictDecoder",
    "parse_single_example",
    "parse_single_sequence_example",
    "decode_image",
]

# ------------------------------------------------------------------------------------------------ handlers


class ItemHandler(abc.ABC):
    """Names the parsed features one item needs (`keys`) and turns them into the item (`tensors_to_item`)."""

    def __init__(self, keys):
        self._keys = list(keys) if isinstance(keys, (list, tuple)) else [keys]

    @property
    def keys(self) -> list:
        return self._keys

    @abc.abstractmethod
    def tensors_to_item(self, keys_to_tensors: Mapping[str, object]):
        """The item, from `{key: parsed feature}` for this handler's keys."""


class ItemHandlerCallback(ItemHandler):
    """An item computed by `func({key: parsed feature})`."""

    def __init__(self, keys, func: Callable[[dict], object]):
        super().__init__(keys)
        self._func = func

    def tensors_to_item(self, keys_to_tensors):
        return self._func(keys_to_tensors)


def _dense(value, default_value=0) -> np.ndarray:
    return value.to_dense(default_value) if isinstance(value, SparseValue) else np.asarray(value)


class Tensor(ItemHandler):
    """The parsed feature `tensor_key`, densified (VarLen: `default_value` fills) and optionally reshaped
    to `shape` or to the values of the features `shape_keys` (one key per dimension, or one key with all)."""

    def __init__(self, tensor_key: str, shape_keys=None, shape=None, default_value=0):
        if shape_keys and shape is not None:
            raise InvalidArgumentError("Tensor handler: cannot specify both shape_keys and shape")
        if shape_keys and not isinstance(shape_keys, list):
            shape_keys = [shape_keys]
        self._tensor_key = tensor_key
        self._shape_keys = shape_keys
        self._shape = shape
        self._default_value = default_value
        super().__init__([tensor_key] + list(shape_keys or []))

    def tensors_to_item(self, keys_to_tensors):
        value = keys_to_tensors[self._tensor_key]
        shape = self._shape
        if self._shape_keys:
            shape = np.concatenate([_dense(keys_to_tensors[k]).reshape(-1) for k in self._shape_keys]).astype(
                int
            )
        if isinstance(value, SparseValue):
            dense = value.to_dense(self._default_value)
        else:
            dense = np.asarray(value)
        if shape is not None:
            shape = [int(s) for s in np.asarray(shape).reshape(-1)]
            try:
                dense = dense.reshape(shape)
            except ValueError:
                raise ShapeError(
                    f"feature {self._tensor_key!r}: cannot reshape {dense.size} values to {shape}"
                ) from None
        return dense


class LookupTensor(Tensor):
    """A `Tensor` whose values are mapped through `table` (a dict or a callable on one value)."""

    def __init__(self, tensor_key: str, table, shape_keys=None, shape=None, default_value=b""):
        super().__init__(tensor_key, shape_keys, shape, default_value)
        self._table = table

    def tensors_to_item(self, keys_to_tensors):
        values = super().tensors_to_item(keys_to_tensors)
        look = self._table if callable(self._table) else self._table.__getitem__
        try:
            mapped = [look(v) for v in values.reshape(-1).tolist()]
        except KeyError as e:
            raise InvalidArgumentError(
                f"feature {self._tensor_key!r}: value {e.args[0]!r} is not in the lookup table"
            ) from None
        return np.asarray(mapped).reshape(values.shape)


class BackupHandler(ItemHandler):
    """Uses `handler`'s item unless it is empty (no elements), then `backup`'s."""

    def __init__(self, handler: ItemHandler, backup: ItemHandler):
        for role, h in (("primary", handler), ("backup", backup)):
            if not isinstance(h, ItemHandler):
                raise InvalidArgumentError(
                    f"BackupHandler: the {role} handler is a {type(h).__name__}, not an ItemHandler"
                )
        self._handler = handler
        self._backup = backup
        super().__init__(handler.keys + backup.keys)

    def tensors_to_item(self, keys_to_tensors):
        item = self._handler.tensors_to_item(keys_to_tensors)
        return self._backup.tensors_to_item(keys_to_tensors) if np.size(item) == 0 else item


class BoundingBox(ItemHandler):
    """Boxes from four features `prefix + key` (default ymin, xmin, ymax, xmax): a float32 [num_boxes, 4]."""

    def __init__(self, keys=None, prefix: str = ""):
        if keys is None:
            keys = ["ymin", "xmin", "ymax", "xmax"]
        elif len(keys) != 4:
            raise InvalidArgumentError(f"BoundingBox expects 4 keys but got {len(keys)}")
        self._full_keys = [prefix + k for k in keys]
        super().__init__(self._full_keys)

    def tensors_to_item(self, keys_to_tensors):
        sides = []
        for k in self._full_keys:
            v = keys_to_tensors[k]
            sides.append(
                np.asarray(v.values if isinstance(v, SparseValue) else v, dtype=np.float32).reshape(-1)
            )
        if len({s.size for s in sides}) != 1:
            raise ShapeError(
                "BoundingBox: the coordinate features "
                + ", ".join(f"{k!r} ({s.size})" for k, s in zip(self._full_keys, sides))
                + " have different numbers of values"
            )
        return np.stack(sides, axis=1)


class SparseTensor(ItemHandler):
    """A `SparseValue` whose last index column comes from the ids in `indices_key` and whose values come from
    `values_key` (both VarLen); shape from `shape_key`, `shape` or the ids'; `densify` returns it dense."""

    def __init__(
        self,
        indices_key: Optional[str] = None,
        values_key: Optional[str] = None,
        shape_key: Optional[str] = None,
        shape=None,
        densify: bool = False,
        default_value=0,
    ):
        self._indices_key = indices_key or "indices"
        self._values_key = values_key or "values"
        self._shape_key = shape_key
        self._shape = shape
        self._densify = densify
        self._default_value = default_value
        super().__init__([self._indices_key, self._values_key] + ([shape_key] if shape_key else []))

    def tensors_to_item(self, keys_to_tensors):
        indices = keys_to_tensors[self._indices_key]
        values = keys_to_tensors[self._values_key]
        for key, v in ((self._indices_key, indices), (self._values_key, values)):
            if not isinstance(v, SparseValue):
                raise InvalidArgumentError(f"SparseTensor handler: feature {key!r} must be a VarLenFeature")
        if self._shape_key:
            shape = _dense(keys_to_tensors[self._shape_key])
        elif self._shape is not None:
            shape = self._shape
        else:
            shape = indices.dense_shape
        ids = np.asarray(indices.values, dtype=np.int64).reshape(-1, 1)
        if ids.shape[0] != np.size(values.values):
            raise ShapeError(
                f"SparseTensor handler: {ids.shape[0]} indices in {self._indices_key!r} but "
                f"{np.size(values.values)} values in {self._values_key!r}"
            )
        new_indices = np.concatenate([np.asarray(indices.indices)[:, :-1], ids], axis=1)
        result = SparseValue(new_indices, values.values, np.asarray(shape, dtype=np.int64).reshape(-1))
        return result.to_dense(self._default_value) if self._densify else result


_PIL_MODE = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def decode_image(
    buffer: bytes,
    channels: Optional[int] = 3,
    image_format: Optional[str] = None,
    dtype=np.uint8,
    shape=None,
    where: str = "image",
) -> np.ndarray:
    """Decode JPEG/PNG/GIF/BMP bytes (the format is sniffed, as TF's `decode_image`) to an HxWxC array.

    `channels`: 1 (grayscale), 3 (RGB), 4 (RGBA), or 0/None for what the file stores. `image_format` 'raw'
    reads the bytes as a flat array of `dtype` (reshaped to `shape`). The decoded uint8 pixels are cast to
    `dtype` without scaling, as TF-Slim does. Bytes that are no image raise `DataLossError` naming `where`.
    """
    np_dtype = _dt.as_dtype(dtype).np if not isinstance(dtype, np.dtype) else dtype
    if image_format is not None and image_format.lower() == "raw":
        try:
            img = np.frombuffer(buffer, dtype=np_dtype)
        except ValueError as e:
            raise DataLossError(
                f"{where}: raw image of {len(buffer)} bytes is not a whole number of "
                f"{np.dtype(np_dtype).name} values ({e})"
            ) from None
        if shape is not None:
            try:
                img = img.reshape([int(s) for s in shape])
            except ValueError:
                raise ShapeError(
                    f"{where}: raw image of {img.size} values does not fit shape {list(shape)}"
                ) from None
        return img.copy()
    if channels not in (None, 0, 1, 2, 3, 4):
        raise InvalidArgumentError(f"image channels must be 0, 1, 3 or 4, got {channels}")
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise InvalidArgumentError("decoding JPEG/PNG images needs Pillow: pip install Pillow") from None
    try:
        with PILImage.open(io.BytesIO(buffer)) as im:
            im.load()
            if not channels:
                if im.mode in ("L", "LA", "RGB", "RGBA"):
                    mode = im.mode
                elif im.mode == "P":
                    mode = "RGBA" if "transparency" in im.info else "RGB"
                elif im.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
                    mode = "L"
                else:
                    mode = "RGB"
            else:
                mode = _PIL_MODE[channels]
            if im.mode.startswith("I;16") or im.mode == "I":
                arr = (np.asarray(im, dtype=np.uint32) >> 8).astype(
                    np.uint8
                )  # 16-bit PNG: keep the high byte
                im = PILImage.fromarray(arr, "L")
            arr = np.asarray(im.convert(mode) if im.mode != mode else im)
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as e:
        raise DataLossError(
            f"{where}: cannot decode the image ({len(buffer)} bytes"
            f"{', format ' + repr(image_format) if image_format else ''}): {e}"
        ) from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    arr = arr.astype(np_dtype, copy=False) if np_dtype != np.uint8 else np.ascontiguousarray(arr)
    if shape is not None:
        try:
            arr = arr.reshape([int(s) for s in shape])
        except ValueError:
            raise ShapeError(
                f"{where}: decoded image of shape {list(arr.shape)} does not fit shape {list(shape)}"
            ) from None
    return arr


def _scalar_bytes(value, key: str) -> bytes:
    if isinstance(value, SparseValue):
        value = value.values
    arr = np.asarray(value, dtype=object).reshape(-1)
    if arr.size != 1:
        raise ShapeError(f"feature {key!r}: expected one bytes value, found {arr.size}")
    v = arr[0]
    return v.encode() if isinstance(v, str) else bytes(v)


class Image(ItemHandler):
    """An image decoded from the bytes in `image_key` (format in `format_key`) to an HxWxC array.

    `channels` 1 or 3 (4: RGBA; 0: as stored), `dtype` the output element type (pixel values unscaled),
    `shape` an optional reshape (required for 'raw' images), `repeated` decodes a list of images to an
    [N, H, W, C] array. `dct_method` is accepted for TF-Slim compatibility; Pillow decodes JPEG with libjpeg's
    accurate integer DCT (TF's default).
    """

    def __init__(
        self,
        image_key: Optional[str] = None,
        format_key: Optional[str] = None,
        shape=None,
        channels: int = 3,
        dtype=_dt.uint8,
        repeated: bool = False,
        dct_method: str = "",
    ):
        self._image_key = image_key or "image/encoded"
        self._format_key = format_key or "image/format"
        super().__init__([self._image_key, self._format_key])
        if channels not in (0, 1, 2, 3, 4):
            raise InvalidArgumentError(f"Image handler: channels must be 0, 1, 3 or 4, got {channels}")
        if dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
            raise InvalidArgumentError(f"Image handler: unknown dct_method {dct_method!r}")
        self._shape = shape
        self._channels = channels
        self._dtype = _dt.as_dtype(dtype).np
        self._repeated = repeated

    def tensors_to_item(self, keys_to_tensors):
        fmt = _scalar_bytes(keys_to_tensors[self._format_key], self._format_key).decode("ascii", "replace")
        buf = keys_to_tensors[self._image_key]
        if self._repeated:
            values = buf.values if isinstance(buf, SparseValue) else np.asarray(buf, dtype=object).reshape(-1)
            images = [self._decode(bytes(b), fmt) for b in values]
            return np.stack(images) if images else np.zeros((0, 0, 0, self._channels), self._dtype)
        return self._decode(_scalar_bytes(buf, self._image_key), fmt)

    def _decode(self, buffer: bytes, fmt: str) -> np.ndarray:
        return decode_image(
            buffer, self._channels, fmt, self._dtype, self._shape, where=f"feature {self._image_key!r}"
        )


# ------------------------------------------------------------------------------------------------ decoders


def _with_record(e: SlimirError, where: str, item: str) -> SlimirError:
    """The same kind of error, its message prefixed with the record and item being decoded."""
    err = type(e)(f"{where}: item {item!r}: {e}")
    err.__cause__ = e
    return err


class TFExampleDecoder(DataDecoder):
    """Decodes tf.train.Example records into items (TF-Slim's `TFExampleDecoder`).

    `keys_to_features`: `{feature key: FixedLenFeature | VarLenFeature}`; `items_to_handlers`:
    `{item name: ItemHandler}`. `decode(record, items=None, record_key=None)` returns the items' values
    in order; `record_key` (e.g. 'file.tfrecord:17', as readers give) names the record in errors.
    """

    def __init__(self, keys_to_features: Mapping[str, object], items_to_handlers: Mapping[str, ItemHandler]):
        for item, h in items_to_handlers.items():
            if not isinstance(h, ItemHandler):
                raise InvalidArgumentError(
                    f"items_to_handlers[{item!r}] is a {type(h).__name__}, not an ItemHandler"
                )
            missing = [k for k in h.keys if k not in keys_to_features]
            if missing:
                raise InvalidArgumentError(
                    f"item {item!r} needs features {missing} that keys_to_features does "
                    f"not define (it has {sorted(keys_to_features)})"
                )
        for key, spec in keys_to_features.items():
            if not isinstance(spec, (FixedLenFeature, VarLenFeature)):
                raise InvalidArgumentError(
                    f"keys_to_features[{key!r}] must be a FixedLenFeature or VarLenFeature, "
                    f"got {type(spec).__name__}"
                )
        self._keys_to_features = dict(keys_to_features)
        self._items_to_handlers = dict(items_to_handlers)

    @property
    def keys_to_features(self) -> dict:
        return dict(self._keys_to_features)

    def list_items(self) -> list:
        return list(self._items_to_handlers)

    def _check_items(self, items) -> list:
        items = list(items) if items else self.list_items()
        unknown = [i for i in items if i not in self._items_to_handlers]
        if unknown:
            raise InvalidArgumentError(f"unknown items {unknown}; this decoder provides {self.list_items()}")
        return items

    def decode(self, data, items: Optional[Sequence[str]] = None, record_key: Optional[str] = None) -> list:
        items = self._check_items(items)
        where = record_key or "record"
        needed = {k for i in items for k in self._items_to_handlers[i].keys}
        parsed = parse_single_example(
            data, {k: self._keys_to_features[k] for k in self._keys_to_features if k in needed}, where
        )
        out = []
        for item in items:
            handler = self._items_to_handlers[item]
            try:
                out.append(handler.tensors_to_item({k: parsed[k] for k in handler.keys}))
            except SlimirError as e:
                raise _with_record(e, where, item) from e.__cause__
        return out


class TFSequenceExampleDecoder(DataDecoder):
    """Decodes tf.train.SequenceExample records (TF-Slim's `TFSequenceExampleDecoder`): context features and
    sequence features (`FixedLenSequenceFeature` / `VarLenFeature`) feed the items' handlers."""

    def __init__(
        self,
        keys_to_context_features: Mapping[str, object],
        keys_to_sequence_features: Mapping[str, object],
        items_to_handlers: Mapping[str, ItemHandler],
    ):
        both = set(keys_to_context_features) & set(keys_to_sequence_features)
        if both:
            raise InvalidArgumentError(
                f"context and sequence keys are not unique: {sorted(both)} are in both"
            )
        known = set(keys_to_context_features) | set(keys_to_sequence_features)
        for item, h in items_to_handlers.items():
            if not isinstance(h, ItemHandler):
                raise InvalidArgumentError(
                    f"items_to_handlers[{item!r}] is a {type(h).__name__}, not an ItemHandler"
                )
            missing = [k for k in h.keys if k not in known]
            if missing:
                raise InvalidArgumentError(
                    f"item {item!r} needs features {missing} that no feature spec defines"
                )
        self._context = dict(keys_to_context_features)
        self._sequence = dict(keys_to_sequence_features)
        self._items_to_handlers = dict(items_to_handlers)

    def list_items(self) -> list:
        return list(self._items_to_handlers)

    def decode(self, data, items: Optional[Sequence[str]] = None, record_key: Optional[str] = None) -> list:
        items = list(items) if items else self.list_items()
        unknown = [i for i in items if i not in self._items_to_handlers]
        if unknown:
            raise InvalidArgumentError(f"unknown items {unknown}; this decoder provides {self.list_items()}")
        where = record_key or "record"
        context, sequences = parse_single_sequence_example(data, self._context, self._sequence, where)
        parsed = {**context, **sequences}
        out = []
        for item in items:
            handler = self._items_to_handlers[item]
            try:
                out.append(handler.tensors_to_item({k: parsed[k] for k in handler.keys}))
            except SlimirError as e:
                raise _with_record(e, where, item) from e.__cause__
        return out


class DictDecoder(DataDecoder):
    """Decodes dict records (in-memory arrays, `.npz` rows) by picking keys: `{item: key}` or a list of items
    that are keys themselves. Values come back as numpy arrays."""

    def __init__(self, items_to_keys: Union[Mapping[str, str], Sequence[str]]):
        if isinstance(items_to_keys, Mapping):
            self._items_to_keys = dict(items_to_keys)
        else:
            self._items_to_keys = {k: k for k in items_to_keys}
        if not self._items_to_keys:
            raise InvalidArgumentError("DictDecoder needs at least one item")

    def list_items(self) -> list:
        return list(self._items_to_keys)

    def decode(self, data, items: Optional[Sequence[str]] = None, record_key: Optional[str] = None) -> list:
        items = list(items) if items else self.list_items()
        where = record_key or "record"
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"{where}: DictDecoder expects a dict record, got {type(data).__name__}"
            )
        out = []
        for item in items:
            if item not in self._items_to_keys:
                raise InvalidArgumentError(
                    f"unknown item {item!r}; this decoder provides {self.list_items()}"
                )
            key = self._items_to_keys[item]
            if key not in data:
                raise InvalidArgumentError(
                    f"{where}: item {item!r} needs key {key!r}, the record has {sorted(data)}"
                )
            out.append(np.asarray(data[key]))
        return out
