"""TF-Slim's utils: named outputs (end points), collections, small argument helpers."""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from .ir.graph import get_collection, get_default_graph


def collect_named_outputs(collections, alias: str, outputs):
    """Record `alias` on `outputs` and add it to `collections` (how layers report end points)."""
    if collections:
        append_tensor_alias(outputs, alias)
        get_default_graph().add_to_collections(collections, outputs)
    return outputs


def append_tensor_alias(tensor, alias: str):
    if alias.endswith("/"):
        alias = alias[:-1]
    if getattr(tensor, "aliases", None):
        tensor.aliases.append(alias)
    else:
        tensor.aliases = [alias]
    return tensor


def get_tensor_aliases(tensor) -> list:
    if getattr(tensor, "aliases", None):
        return list(tensor.aliases)
    name = tensor.name
    return [name[:-2] if name.endswith(":0") else name]


def get_tensor_alias(tensor) -> str:
    return get_tensor_aliases(tensor)[0]


def convert_collection_to_dict(collection: str, clear_collection: bool = False) -> "OrderedDict":
    """{alias: tensor} for the tensors of `collection`, in insertion order."""
    out = OrderedDict()
    for t in get_collection(collection):
        for alias in get_tensor_aliases(t):
            out[alias] = t
    if clear_collection:
        get_default_graph().clear_collection(collection)
    return out


def gather_tensors_aliases(tensors) -> list:
    return [a for t in tensors for a in get_tensor_aliases(t)]


def get_variable_collections(variables_collections, name: str) -> Optional[list]:
    if isinstance(variables_collections, dict):
        c = variables_collections.get(name)
    else:
        c = variables_collections
    return None if c is None else list(c) if isinstance(c, (list, tuple)) else [c]


def last_dimension(shape, min_rank: int = 1) -> int:
    from .errors import ShapeError

    if len(shape) < min_rank:
        raise ShapeError(f"rank of shape must be at least {min_rank}, got {list(shape)}")
    v = shape[-1]
    if v is None:
        raise ShapeError(f"last dimension must be known, got {list(shape)}")
    return v


def two_element_tuple(int_or_tuple) -> tuple:
    from .errors import InvalidArgumentError

    if isinstance(int_or_tuple, (list, tuple)):
        if len(int_or_tuple) != 2:
            raise InvalidArgumentError(f"Must be a list with 2 elements: {int_or_tuple}")
        return int(int_or_tuple[0]), int(int_or_tuple[1])
    if isinstance(int_or_tuple, int):
        return int(int_or_tuple), int(int_or_tuple)
    raise InvalidArgumentError(f"Must be an int, a list with 2 elements or a TensorShape of length 2: {int_or_tuple!r}")


def n_positive_integers(n: int, value) -> tuple:
    from .errors import InvalidArgumentError

    if isinstance(value, int):
        if value > 0:
            return (value,) * n
    else:
        vals = tuple(value)
        if len(vals) == n and all(isinstance(v, int) and v > 0 for v in vals):
            return vals
    raise InvalidArgumentError(f"expected {n} positive integers, got {value!r}")
