"""Variables (TF-Slim's variables.py plus TF's get_variable/Variable): creation, collections, lookup.

A variable is an IR node whose value lives in the Session; its initial value is computed when
`global_variables_initializer()` (or `var.initializer`) runs.
"""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

from . import dtypes as _dt
from .arg_scope import add_arg_scope
from .errors import DTypeError, InvalidArgumentError, ScopeError, ShapeError
from .initializers import GlorotUniform, Initializer, Zeros
from .ir.graph import (
    Graph,
    GraphKeys,
    Node,
    Tensor,
    Variable,
    VariableScope,
    get_collection,
    get_default_graph,
    get_variable_scope,
)
from .ops.array import make_variable_node
from .ops.state import init_variables_op
from .scope_hints import warn_unmatched_patterns
from .shape import Shape, fmt


def _attach_init(var: Variable, init, shape, dtype: _dt.DType) -> None:
    """Record how to compute the initial value: a numpy callable or a graph tensor."""
    var.initial_value_tensor = None
    var.initial_value_fn = None
    if isinstance(init, Tensor):
        var.initial_value_tensor = init
    elif isinstance(init, Initializer) or callable(init):
        def fn(rng, _init=init, _shape=tuple(shape), _dt_=dtype):
            try:
                out = _init(_shape, _dt_, rng=rng)
            except TypeError:
                out = _init(_shape, _dt_)
            return np.asarray(out, dtype=_dt_.np).reshape(_shape)

        var.initial_value_fn = fn
    else:
        value = np.asarray(init, dtype=dtype.np)
        var.initial_value_fn = lambda rng, _v=value: np.array(_v)


def _new_variable(name: str, shape, dtype: _dt.DType, init, trainable: bool, collections, exact_name: bool,
                  device: Optional[str] = None) -> Variable:
    g = get_default_graph()
    with g.device(device or ""), g.control_dependencies(None):
        var = make_variable_node(name, shape, dtype, exact_name=exact_name)
    var.trainable = bool(trainable)
    _attach_init(var, init, shape, dtype)
    var.op.attrs["seed"] = getattr(init, "seed", None)
    colls = list(collections) if collections is not None else [GraphKeys.GLOBAL_VARIABLES]
    if trainable and GraphKeys.TRAINABLE_VARIABLES not in colls:
        colls.append(GraphKeys.TRAINABLE_VARIABLES)
    seen = []
    for c in colls:
        if c not in seen:
            seen.append(c)
            g.add_to_collection(c, var)
    var._collections = tuple(seen)
    return var


def _infer_shape(name, shape, init, dtype):
    if shape is not None:
        shp = Shape(shape)
        if not shp.is_fully_defined():
            raise ShapeError(f"variable {name}: shape {fmt(shape)} must be fully defined")
        if any(d < 0 for d in shp):
            raise ShapeError(f"variable {name}: invalid shape {fmt(shape)}")
        return tuple(shp)
    if isinstance(init, Tensor):
        if not init.shape.is_fully_defined():
            raise ShapeError(f"variable {name}: the initial value's shape {init.shape} must be fully defined")
        return tuple(init.shape)
    if init is not None and not callable(init):
        return np.asarray(init).shape
    raise ShapeError(f"variable {name}: shape must be given when the initializer is {init!r}")


def get_variable(name: str, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape: bool = True,
                 use_resource=None, custom_getter=None, constraint=None, synchronization=None,
                 aggregation=None, device: Optional[str] = None) -> Variable:
    """TF1's tf.get_variable: create `scope/name`, or return it when the scope reuses variables."""
    scope = get_variable_scope()
    getter = _true_getter
    cg = custom_getter or scope.custom_getter
    kwargs = dict(shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                  trainable=True if trainable is None else trainable, collections=collections,
                  device=device)
    if cg is not None:
        return cg(getter, name, **kwargs)
    return getter(name, **kwargs)


def _true_getter(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=True,
                 collections=None, device=None, **unused):
    g = get_default_graph()
    scope = g._var_scope
    full = f"{scope.name}/{name}" if scope.name else name
    if dtype is None and isinstance(initializer, Tensor):
        dtype = initializer.dtype
    elif dtype is None and initializer is not None and not callable(initializer):
        arr = np.asarray(initializer)  # a constant initial value gives the dtype, as in TF1
        if arr.dtype.kind in "iub":
            dtype = _dt.as_dtype(arr.dtype) if isinstance(initializer, np.ndarray) else (
                _dt.bool_ if arr.dtype.kind == "b" else _dt.int32)
    dtype = _dt.as_dtype(dtype) if dtype is not None else scope.dtype
    reuse = scope.reuse
    existing = g._var_store.get(full)
    if existing is not None:
        if reuse is None:
            raise ScopeError(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                "reuse=slim.AUTO_REUSE in VarScope?")
        if shape is not None and not Shape(shape) == existing.shape:
            raise ShapeError(f"Trying to share variable {full}, but specified shape {fmt(shape)} and found "
                             f"shape {fmt(existing.shape)}.")
        if dtype is not existing.dtype:
            raise DTypeError(f"Trying to share variable {full}, but specified dtype {dtype.name} and found "
                             f"dtype {existing.dtype.name}.")
        return existing
    if reuse is True:
        raise ScopeError(
            f"Variable {full} does not exist, or was not created with slim.get_variable(). Did you mean to "
            "set reuse=slim.AUTO_REUSE in VarScope?")
    if initializer is None:
        initializer = scope.initializer
    if initializer is None:
        initializer = GlorotUniform() if dtype.is_floating else Zeros()
    if isinstance(initializer, Initializer):
        initializer.check_dtype(dtype)
    elif isinstance(initializer, Tensor) or not callable(initializer):
        if shape is not None:
            raise ShapeError(f"variable {full}: If initializer is a constant, do not specify shape.")
        if not isinstance(initializer, Tensor):
            arr = np.asarray(initializer)
            if arr.dtype.kind == "f" and not dtype.is_floating:
                raise DTypeError(f"variable {full}: float initial value for a {dtype.name} variable")
    shp = _infer_shape(full, shape, initializer, dtype)
    var = _new_variable(full, shp, dtype, initializer, trainable, collections, exact_name=True, device=device)
    g._var_store[full] = var
    if regularizer is None:
        regularizer = scope.regularizer
    if regularizer is not None:
        with g.name_scope(full + "/Regularizer/"):
            loss = regularizer(var)
        if loss is not None:
            g.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return var


def Variable_(initial_value=None, trainable: bool = True, collections=None, validate_shape: bool = True,
              caching_device=None, name: Optional[str] = None, dtype=None, expected_shape=None,
              use_resource=None, **unused) -> Variable:
    """TF's tf.Variable(initial_value, ...): a variable named under the current name scope."""
    if initial_value is None:
        raise InvalidArgumentError("initial_value must be specified.")
    if callable(initial_value) and not isinstance(initial_value, (Tensor, Initializer)):
        initial_value = initial_value()
    if isinstance(initial_value, Tensor):
        dt = initial_value.dtype if dtype is None else _dt.as_dtype(dtype)
        if dt is not initial_value.dtype:
            from .ops.array import cast

            initial_value = cast(initial_value, dt)
    else:
        arr = np.asarray(initial_value)
        if dtype is not None:
            dt = _dt.as_dtype(dtype)
        elif arr.dtype == np.float64 and not isinstance(initial_value, (np.ndarray, np.generic)):
            dt = _dt.float32
        elif arr.dtype == np.int64 and not isinstance(initial_value, (np.ndarray, np.generic)):
            dt = _dt.int32
        else:
            dt = _dt.as_dtype(arr.dtype)
        initial_value = arr.astype(dt.np)
    shp = _infer_shape(name or "Variable", None, initial_value, dt)
    return _new_variable(name or "Variable", shp, dt, initial_value, trainable, collections, exact_name=False)


# ------------------------------------------------------------------------------------------
# TF-Slim variable helpers


@add_arg_scope
def variable(name: str, shape=None, dtype=None, initializer=None, regularizer=None, trainable: bool = True,
             collections=None, caching_device=None, device: Optional[str] = None, partitioner=None,
             custom_getter=None, use_resource=None, synchronization=None, aggregation=None) -> Variable:
    """Get or create a variable (TF-Slim's slim.variable); `device` is recorded on the variable."""
    colls = list(collections if collections is not None else [GraphKeys.GLOBAL_VARIABLES])
    colls = list(dict.fromkeys(colls))
    return get_variable(name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                        trainable=trainable, collections=colls, custom_getter=custom_getter, device=device)


@add_arg_scope
def model_variable(name: str, shape=None, dtype=_dt.float32, initializer=None, regularizer=None,
                   trainable: bool = True, collections=None, caching_device=None, device: Optional[str] = None,
                   partitioner=None, custom_getter=None, use_resource=None, synchronization=None,
                   aggregation=None) -> Variable:
    """Get or create a model variable: also added to MODEL_VARIABLES (TF-Slim's slim.model_variable)."""
    colls = list(collections or [])
    colls += [GraphKeys.GLOBAL_VARIABLES, GraphKeys.MODEL_VARIABLES]
    return variable(name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                    trainable=trainable, collections=colls, device=device, custom_getter=custom_getter)


def local_variable(initial_value, validate_shape: bool = True, name: Optional[str] = None,
                   use_resource=None) -> Variable:
    """A non-trainable variable in LOCAL_VARIABLES (TF-Slim's slim.local_variable)."""
    return Variable_(initial_value, trainable=False, collections=[GraphKeys.LOCAL_VARIABLES], name=name)


def global_variable(initial_value, validate_shape: bool = True, name: Optional[str] = None,
                    use_resource=None) -> Variable:
    return Variable_(initial_value, trainable=False, collections=[GraphKeys.GLOBAL_VARIABLES], name=name)


def add_model_variable(var: Variable) -> None:
    """Add `var` to MODEL_VARIABLES unless it is there already."""
    if var not in get_collection(GraphKeys.MODEL_VARIABLES):
        get_default_graph().add_to_collection(GraphKeys.MODEL_VARIABLES, var)


def get_variables(scope=None, suffix: Optional[str] = None, collection: str = GraphKeys.GLOBAL_VARIABLES) -> list:
    """Variables of `collection` whose name matches `scope` (anchored regex) and ends with `suffix`."""
    if isinstance(scope, VariableScope):
        scope = scope.name
    if suffix is not None:
        if ":" not in suffix:
            suffix += ":"
        scope = (scope or "") + ".*" + suffix
    return get_collection(collection, scope)


def get_model_variables(scope=None, suffix: Optional[str] = None) -> list:
    return get_variables(scope, suffix, GraphKeys.MODEL_VARIABLES)


def get_local_variables(scope=None, suffix: Optional[str] = None) -> list:
    return get_variables(scope, suffix, GraphKeys.LOCAL_VARIABLES)


def get_trainable_variables(scope=None, suffix: Optional[str] = None) -> list:
    return get_variables(scope, suffix, GraphKeys.TRAINABLE_VARIABLES)


def get_variables_by_suffix(suffix: str, scope=None) -> list:
    return get_variables(scope=scope, suffix=suffix)


def get_variables_by_name(given_name: str, scope=None) -> list:
    """Variables whose last name component is exactly `given_name`."""
    suffix = "/" + given_name + ":|^" + given_name + ":"
    return get_variables(scope=scope, suffix=suffix)


def get_unique_variable(var_op_name: str) -> Variable:
    """The variable whose op name is exactly `var_op_name`."""
    candidates = get_variables(scope=var_op_name)
    if not candidates:
        raise ScopeError(f"Couldn't find variable {var_op_name}")
    for c in candidates:
        if c.op.name == var_op_name:
            return c
    raise ScopeError(f"Variable {var_op_name} does not uniquely identify a variable")


def get_variables_to_restore(include=None, exclude=None) -> list:
    """Global variables under the `include` scopes minus those under the `exclude` scopes.

    Scopes match at the start of the full variable name, as in TF-Slim.
    """
    if include is None:
        to_include = get_variables()
    else:
        if not isinstance(include, (list, tuple)):
            raise TypeError("include is provided but is not a list or a tuple.")
        to_include = []
        for sc in include:
            to_include += get_variables(sc)
    excluded = set()
    if exclude is not None:
        if not isinstance(exclude, (list, tuple)):
            raise TypeError("exclude is provided but is not a list or a tuple.")
        for sc in exclude:
            excluded |= set(get_variables(sc))
    warn_unmatched_patterns(include, exclude)
    return [v for v in to_include if v not in excluded]


def filter_variables(var_list, include_patterns=None, exclude_patterns=None, reg_search: bool = True) -> list:
    """Filter `var_list` by regexes on the names (re.search, or re.match when reg_search=False)."""
    fn = re.search if reg_search else re.match
    if include_patterns is None:
        included = list(var_list)
    else:
        included = [v for v in var_list if any(fn(p, v.name) for p in include_patterns)]
    if exclude_patterns is None:
        return included
    return [v for v in included if not any(fn(p, v.name) for p in exclude_patterns)]


def global_variables(scope=None) -> list:
    return get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def local_variables(scope=None) -> list:
    return get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def trainable_variables(scope=None) -> list:
    return get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def model_variables(scope=None) -> list:
    return get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list, name: str = "init") -> Node:
    """An op that initialises the variables in `var_list` when run."""
    return init_variables_op(list(var_list), name=name)


def global_variables_initializer() -> Node:
    return variables_initializer(global_variables(), name="init")


def local_variables_initializer() -> Node:
    return variables_initializer(local_variables(), name="init")


initialize_all_variables = global_variables_initializer
initialize_local_variables = local_variables_initializer

# `slim.Variable(initial_value, ...)` and `var.initializer` (the IR's Variable class knows neither)
Variable._create = staticmethod(Variable_)
Variable._initializer_of = staticmethod(variables_initializer)


# ------------------------------------------------------------------------------------------
# Global step


def get_global_step(graph: Optional[Graph] = None) -> Optional[Variable]:
    g = graph or get_default_graph()
    steps = g.get_collection(GraphKeys.GLOBAL_STEP)
    if len(steps) == 1:
        return steps[0]
    if len(steps) > 1:
        raise ScopeError("Multiple tensors in global_step collection.")
    try:
        return g.get_tensor_by_name("global_step:0")
    except Exception:
        return None


def create_global_step(graph: Optional[Graph] = None) -> Variable:
    """Create the int64 'global_step' variable (non-trainable, in GLOBAL_STEP)."""
    g = graph or get_default_graph()
    if get_global_step(g) is not None:
        raise ScopeError("'global_step' already exists.")
    with g.as_default(), g.name_scope(None):
        root = VariableScope("", reuse=None)
        saved = g._var_scope
        g._var_scope = root
        try:
            return get_variable("global_step", shape=[], dtype=_dt.int64, initializer=Zeros(),
                                trainable=False,
                                collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])
        finally:
            g._var_scope = saved


def get_or_create_global_step(graph: Optional[Graph] = None) -> Variable:
    """The graph's global step, created on first use."""
    g = graph or get_default_graph()
    step = get_global_step(g)
    return step if step is not None else create_global_step(g)

