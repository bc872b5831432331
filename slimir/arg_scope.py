"""arg_scope: default keyword arguments for decorated functions, scoped with `with`.

    @slim.add_arg_scope
    def conv(x, num, padding='VALID'): ...

    with slim.arg_scope([conv], padding='SAME') as sc:   # conv(...) now defaults to padding='SAME'
        with slim.arg_scope([conv], num=3):              # nested scopes merge per function
            ...
    with slim.arg_scope(sc):                             # re-enter a saved scope
        ...

Keys are the decorated functions themselves (identity, not name). Explicit keyword arguments always
win over scoped ones. `arg_scope({})` starts from an empty scope. The stack is per thread.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from typing import Callable

from .errors import ScopeError

_local = threading.local()


def _stack() -> list:
    s = getattr(_local, "stack", None)
    if s is None:
        s = [{}]
        _local.stack = s
    return s


def current_arg_scope() -> dict:
    """The arg_scope in force: {key_op: {kwarg: value}}."""
    return _stack()[-1]



def _key_op(op):
    key = getattr(op, "_key_op", None)
    if key is None:
        raise ScopeError(f"{getattr(op, '__name__', op)!r} is not decorated with @add_arg_scope")
    return key


@contextlib.contextmanager
def arg_scope(list_ops_or_scope, **kwargs):
    """Give each function in `list_ops_or_scope` the default `kwargs` inside the block.

    `list_ops_or_scope` is a list/tuple of @add_arg_scope functions, or a scope dict yielded by an
    earlier `arg_scope` (then no kwargs are allowed).
    """
    if isinstance(list_ops_or_scope, dict):
        if kwargs:
            raise ScopeError("When attempting to re-use a scope by suppling a dictionary, kwargs must be empty.")
        current = dict(list_ops_or_scope)
    else:
        if not isinstance(list_ops_or_scope, (list, tuple)):
            raise TypeError("list_ops_or_scope must either be a list/tuple or reused scope (i.e. dict)")
        current = dict(current_arg_scope())
        for op in list_ops_or_scope:
            key = _key_op(op)
            if not has_arg_scope(op):
                raise ScopeError(f"{op.__name__} is not decorated with @add_arg_scope")
            merged = dict(current.get(key, {}))
            merged.update(kwargs)
            current[key] = merged
    stack = _stack()
    stack.append(current)
    try:
        yield current
    finally:
        stack.pop()


def add_arg_scope(func: Callable) -> Callable:
    """Decorate `func` so that arg_scope can supply its keyword arguments."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        scoped = current_arg_scope().get(key)
        if scoped:
            merged = dict(scoped)
            merged.update(kwargs)
            kwargs = merged
        return func(*args, **kwargs)

    key = wrapper
    wrapper._key_op = wrapper
    wrapper._arg_scope_args = _arg_names(func)
    return wrapper


def _arg_names(func) -> list:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values() if p.default is not inspect.Parameter.empty]


def has_arg_scope(func) -> bool:
    """True when `func` was decorated with @add_arg_scope."""
    return getattr(func, "_key_op", None) is not None


def arg_scoped_arguments(func) -> tuple:
    """The names of the keyword arguments that arg_scope can set on `func`."""
    _key_op(func)
    return tuple(func._arg_scope_args)


def arg_scope_func_key(op):
    return _key_op(op)


