"""Static shapes: a tuple of ints with `None` for unknown dimensions (TF's TensorShape, simplified)."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence


class Shape(tuple):
    """A static shape; compares equal to lists and tuples of the same dims."""

    def __new__(cls, dims: Optional[Iterable] = ()):
        if dims is None:
            dims = ()
        out = []
        for d in dims:
            if d is None or (isinstance(d, int) and d < 0):
                out.append(None)
            else:
                out.append(int(d))
        return super().__new__(cls, out)

    @property
    def ndims(self) -> int:
        return len(self)

    rank = ndims

    def as_list(self) -> list:
        return list(self)

    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self)

    def num_elements(self) -> Optional[int]:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self:
            n *= d
        return n

    def __eq__(self, other) -> bool:
        if isinstance(other, (list, tuple)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __ne__(self, other) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Shape(r) if isinstance(item, slice) else r

    # TF's TensorShape methods (the same names, messages and ValueError class)
    @property
    def dims(self) -> list:
        return list(self)

    def is_compatible_with(self, other) -> bool:
        """True when both shapes may describe the same tensor (same rank, None matches any size)."""
        return compatible(self, Shape(other))

    def assert_is_compatible_with(self, other) -> None:
        if not self.is_compatible_with(other):
            raise _shape_error(f"Shapes {self} and {Shape(other)} are incompatible")

    def assert_has_rank(self, rank: int) -> None:
        if len(self) != int(rank):
            raise _shape_error(f"Shape {self} must have rank {int(rank)}")

    def assert_same_rank(self, other) -> None:
        if len(self) != len(Shape(other)):
            raise _shape_error(f"Shapes {self} and {Shape(other)} must have the same rank")

    def assert_is_fully_defined(self) -> None:
        if not self.is_fully_defined():
            raise _shape_error(f"Shape {self} is not fully defined")

    def merge_with(self, other) -> "Shape":
        """The most specific shape compatible with both (known sizes win over None)."""
        other = Shape(other)
        if not compatible(self, other):
            raise _shape_error(f"Shapes {self} and {other} are not compatible")
        return Shape(a if a is not None else b for a, b in zip(self, other))

    def with_rank(self, rank: int) -> "Shape":
        self.assert_has_rank(rank)
        return self

    def with_rank_at_least(self, rank: int) -> "Shape":
        if len(self) < int(rank):
            raise _shape_error(f"Shape {self} must have rank at least {int(rank)}")
        return self

    def with_rank_at_most(self, rank: int) -> "Shape":
        if len(self) > int(rank):
            raise _shape_error(f"Shape {self} must have rank at most {int(rank)}")
        return self

    def concatenate(self, other) -> "Shape":
        return Shape(tuple(self) + tuple(Shape(other)))

    def __repr__(self) -> str:
        return "[" + ", ".join("None" if d is None else str(d) for d in self) + "]"

    __str__ = __repr__


def _shape_error(msg: str):
    from .errors import ShapeError

    return ShapeError(msg)


def fmt(shape: Sequence) -> str:
    """Format a shape for error messages: [None, 224, 224, 3]."""
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def broadcast(a: Sequence, b: Sequence) -> Optional[tuple]:
    """numpy broadcasting of two static shapes; None when they cannot broadcast."""
    ra, rb = len(a), len(b)
    n = max(ra, rb)
    a = (1,) * (n - ra) + tuple(a)
    b = (1,) * (n - rb) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        elif x == y:
            out.append(x)
        else:
            return None
    return tuple(out)


def compatible(a: Sequence, b: Sequence) -> bool:
    """True when two shapes may describe the same tensor (None matches anything)."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b))


class Dimension:
    """TF1's Dimension: one size of a shape, `value` None when unknown. slimir shapes hold plain ints (TF2's
    behaviour), so this exists for code that builds Dimensions or reads `.value` through dimension_value."""

    __slots__ = ("value",)

    def __init__(self, value):
        if isinstance(value, Dimension):
            value = value.value
        self.value = None if value is None or int(value) < 0 else int(value)

    def __int__(self) -> int:
        if self.value is None:
            raise _shape_error("Cannot convert an unknown Dimension to an int")
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        other = dimension_value(other)
        return None if self.value is None or other is None else self.value == other

    def __hash__(self):
        return hash(self.value)

    def is_compatible_with(self, other) -> bool:
        other = dimension_value(other)
        return self.value is None or other is None or self.value == other

    def merge_with(self, other) -> "Dimension":
        other = dimension_value(other)
        if not self.is_compatible_with(other):
            raise _shape_error(f"Dimensions {self.value} and {other} are not compatible")
        return Dimension(self.value if self.value is not None else other)

    def _op(self, other, f):
        other = dimension_value(other)
        return Dimension(None if self.value is None or other is None else f(self.value, other))

    def __add__(self, o):
        return self._op(o, lambda a, b: a + b)

    def __sub__(self, o):
        return self._op(o, lambda a, b: a - b)

    def __mul__(self, o):
        return self._op(o, lambda a, b: a * b)

    def __floordiv__(self, o):
        return self._op(o, lambda a, b: a // b)

    __radd__, __rmul__ = __add__, __mul__

    def __repr__(self) -> str:
        return f"Dimension({self.value})"


def dimension_value(dimension):
    """The int (or None) of a shape entry, whether a Dimension or already an int (TF's dimension_value)."""
    if isinstance(dimension, Dimension):
        return dimension.value
    return None if dimension is None else int(dimension)
