"""The IR: `Graph` of `Node`s whose outputs are `Tensor`s, plus variables and named collections.

Names, name scopes and variable scopes follow TF1 exactly (`conv1/Conv2D`, `conv1_1`, ...).

(About 700 lines, on purpose: TF keeps this in ops.py and variable_scope.py, but here the scope functions
read and write the graph's per-thread name/variable-scope state and its unique-name counters directly; split
apart, each half would reach into the other's private state.)
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Iterable, Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import GraphError, ScopeError
from ..shape import Shape, compatible


class GraphKeys:
    """Standard collection names (TF's tf.GraphKeys)."""

    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    UPDATE_OPS = "update_ops"
    SUMMARIES = "summaries"
    GLOBAL_STEP = "global_step"
    METRIC_VARIABLES = "metric_variables"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    INIT_OP = "init_op"
    QUEUE_RUNNERS = "queue_runners"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"


# --------------------------------------------------------------------------------------------
# Tensors, nodes, variables


class Tensor:
    """A symbolic value: output `index` of node `op`, with a static shape and a dtype."""

    __slots__ = ("op", "index", "_shape", "dtype", "aliases", "__weakref__")

    def __init__(self, op: "Node", index: int, shape, dtype: _dt.DType):
        self.op = op
        self.index = index
        self._shape = Shape(shape)
        self.dtype = dtype

    @property
    def graph(self) -> "Graph":
        return self.op.graph

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.index}"

    @property
    def shape(self) -> Shape:
        return self._shape

    def get_shape(self) -> Shape:
        return self._shape

    def set_shape(self, shape) -> None:
        shape = Shape(shape)
        if not compatible(self._shape, shape):
            raise GraphError(f"{self.name}: set_shape {shape} is incompatible with {self._shape}")
        self._shape = Shape(a if a is not None else b for a, b in zip(self._shape, shape))

    @property
    def consumers(self) -> list:
        return self.graph._consumers.get(id(self), [])

    def eval(self, feed_dict=None, session=None):
        sess = session or get_default_session()
        if sess is None:
            raise GraphError(f"{self.name}.eval(): no session given and no default session")
        return sess.run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<slim.Tensor '{self.name}' shape={self._shape} dtype={self.dtype.name}>"

    # Arithmetic operators are installed by slimir.ops.elementwise, so that this module stays IR-only.
    def __bool__(self):
        raise TypeError(
            f"Using a slim.Tensor ({self.name}) as a Python bool is not allowed: its value is only known "
            "when the graph runs. Use slim.cond-free code or fetch it with sess.run."
        )

    def __iter__(self):
        raise TypeError(f"slim.Tensor {self.name} is not iterable")

    __hash__ = object.__hash__


class Node:
    """An operation in the graph (TF's tf.Operation): op `type`, inputs, attributes, outputs."""

    __slots__ = ("graph", "name", "type", "inputs", "attrs", "outputs", "control_inputs", "device",
                 "_id", "meta", "__weakref__")

    def __init__(self, graph: "Graph", name: str, type_: str, inputs: list, attrs: dict,
                 control_inputs: list, device: str = ""):
        self.graph = graph
        self.name = name
        self.type = type_
        self.inputs = list(inputs)
        self.attrs = attrs
        self.outputs: list = []
        self.control_inputs = list(control_inputs)
        self.device = device
        self._id = graph._next_id()
        self.meta: dict = {}  # annotations of passes (e.g. which variable a frozen constant came from)

    @property
    def op(self) -> "Node":
        return self

    def values(self) -> tuple:
        return tuple(self.outputs)

    def get_attr(self, name: str):
        return self.attrs[name]

    @property
    def scope(self) -> str:
        return self.name.rpartition("/")[0]

    def run(self, feed_dict=None, session=None) -> None:
        """Run this operation in `session` or the default session (TF's Operation.run)."""
        sess = session or get_default_session()
        if sess is None:
            raise GraphError(f"{self.name}.run(): no session given and no default session")
        sess.run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<slim.Node '{self.name}' type={self.type}>"

    __hash__ = object.__hash__


class Variable(Tensor):
    """A variable: a tensor whose value lives in the Session between runs (TF's tf.Variable).

    Construction (`slim.Variable(initial_value, ...)`), `initializer` and the `assign*` methods are
    installed by slimir.variables and slimir.ops.state, the modules that define them (the IR imports
    nothing above it).
    """

    __slots__ = ("initial_value_fn", "initial_value_tensor", "trainable", "_collections")

    def __new__(cls, *args, **kwargs):
        """`slim.Variable(initial_value, name=...)` creates a variable, as TF's tf.Variable."""
        if not args and not kwargs:
            return object.__new__(cls)
        return cls._create(*args, **kwargs)

    def __init__(self, *args, **kwargs):
        pass

    @property
    def device(self) -> str:
        return self.op.device

    @property
    def initializer(self) -> Node:
        return self._initializer_of([self])

    @property
    def initial_value(self):
        return self.initial_value_tensor

    def value(self) -> Tensor:
        return self

    def read_value(self) -> Tensor:
        return self

    def __repr__(self) -> str:
        return f"<slim.Variable '{self.name}' shape={self._shape} dtype={self.dtype.name}>"


# --------------------------------------------------------------------------------------------
# Variable scopes


class VariableScope:
    """TF1's VariableScope: a name for variables plus defaults (reuse, initializer, regularizer)."""

    def __init__(self, name: str, reuse=None, initializer=None, regularizer=None, dtype=_dt.float32,
                 original_name_scope: str = "", custom_getter=None):
        self.name = name
        self.reuse = reuse
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtype
        self.original_name_scope = original_name_scope
        self.custom_getter = custom_getter

    def reuse_variables(self) -> None:
        self.reuse = True

    def set_initializer(self, initializer) -> None:
        self.initializer = initializer

    def set_regularizer(self, regularizer) -> None:
        self.regularizer = regularizer

    def __repr__(self) -> str:
        return f"<VariableScope '{self.name}' reuse={self.reuse}>"


class _ReuseMode:
    def __repr__(self) -> str:
        return "slim.AUTO_REUSE"


AUTO_REUSE = _ReuseMode()


# --------------------------------------------------------------------------------------------
# The graph


class Graph:
    """A dataflow graph (TF's tf.Graph): nodes in creation order, which is a topological order."""

    def __init__(self):
        self.nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}
        self._names_in_use: dict[str, int] = {}
        self._collections: dict[str, list] = {}
        self._consumers: dict[int, list] = {}
        self._id_counter = 0
        self.seed: Optional[int] = None
        self._local = threading.local()
        self._var_store: dict[str, Variable] = {}
        self._var_scope_counts: dict[str, int] = {}
        self._var_scope_desc: dict[str, set] = {}  # scope name -> names of scopes opened below it
        self._finalized = False

    # -- per-thread scope state
    @property
    def _name_stack(self) -> str:
        return getattr(self._local, "name_stack", "")

    @_name_stack.setter
    def _name_stack(self, v: str) -> None:
        self._local.name_stack = v

    @property
    def _var_scope(self) -> VariableScope:
        s = getattr(self._local, "var_scope", None)
        if s is None:
            s = VariableScope("")
            self._local.var_scope = s
        return s

    @_var_scope.setter
    def _var_scope(self, s: VariableScope) -> None:
        self._local.var_scope = s

    @property
    def _control_deps(self) -> list:
        s = getattr(self._local, "control_deps", None)
        if s is None:
            s = []
            self._local.control_deps = s
        return s

    @property
    def _device_stack(self) -> list:
        s = getattr(self._local, "device_stack", None)
        if s is None:
            s = []
            self._local.device_stack = s
        return s

    def _next_id(self) -> int:
        self._id_counter += 1
        return self._id_counter

    # -- default graph
    @contextlib.contextmanager
    def as_default(self):
        """Make this graph the default graph inside the `with` block."""
        stack = _default_graph_stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    # -- names (TF1 semantics: one namespace for ops and name scopes, case-insensitive counting)
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = i + 1
        if i > 0:
            base = key
            while key in self._names_in_use:
                key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[key] = 1
            name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name: Optional[str]):
        """TF1 name_scope: a new unique scope; a name ending in '/' re-enters; None resets to root."""
        old = self._name_stack
        if not name:
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    @contextlib.contextmanager
    def device(self, device_name: Optional[str]):
        self._device_stack.append(device_name or "")
        try:
            yield
        finally:
            self._device_stack.pop()

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Optional[Iterable]):
        deps = self._control_deps
        saved = list(deps)
        if control_inputs is None:
            deps.clear()
        else:
            for c in control_inputs:
                node = c.op if isinstance(c, Tensor) else c
                if not isinstance(node, Node):
                    raise GraphError(f"control_dependencies expects tensors or ops, got {c!r}")
                self._check_mine(node, "control_dependencies")
                deps.append(node)
        try:
            yield
        finally:
            deps[:] = saved

    def _check_mine(self, item, what: str) -> None:
        g = item.graph
        if g is not self:
            raise GraphError(f"{what}: {item.name} belongs to another graph than the one being built")

    # -- nodes
    def add_node(self, type_: str, inputs: list, attrs: dict, out_specs: list, name: str,
                 exact_name: bool = False, tensor_cls=Tensor) -> Node:
        """Create a node (name uniquified under the current name scope) and its output tensors."""
        if self._finalized:
            raise GraphError(f"Graph is finalized and cannot be modified (adding {name})")
        if name.endswith("/"):  # TF: a name scope string used as an op name means exactly that name
            name, exact_name = name[:-1], True
        full = name if exact_name else self.unique_name(name)
        if exact_name:
            self._names_in_use.setdefault(full.lower(), 1)
        device = next((d for d in reversed(self._device_stack) if d), "")
        node = Node(self, full, type_, inputs, attrs, list(self._control_deps), device)
        for i, (shape, dtype) in enumerate(out_specs):
            if tensor_cls is Tensor or i > 0:
                t = Tensor(node, i, shape, dtype)
            else:
                t = tensor_cls.__new__(tensor_cls)
                Tensor.__init__(t, node, i, shape, dtype)
            node.outputs.append(t)
        for t in inputs:
            self._consumers.setdefault(id(t), []).append(node)
        self.nodes.append(node)
        self._by_name[full] = node
        return node

    # -- rewriting (passes work on their own copy of a graph)
    def consumers_of(self, t: Tensor) -> list:
        """The nodes that read `t` (a node appears once per input slot it reads `t` in)."""
        return self._consumers.get(id(t), [])

    def replace_uses(self, old: Tensor, new: Tensor, outputs: Optional[list] = None, exclude=()) -> int:
        """Make every consumer of `old` (but `exclude`) read `new`; also in the `outputs` list."""
        n = 0
        keep = []
        for node in self._consumers.get(id(old), []):
            if node in exclude:
                keep.append(node)
                continue
            for i, t in enumerate(node.inputs):
                if t is old:
                    node.inputs[i] = new
                    self._consumers.setdefault(id(new), []).append(node)
                    n += 1
        if keep:
            self._consumers[id(old)] = keep
        else:
            self._consumers.pop(id(old), None)
        if outputs is not None:
            for i, t in enumerate(outputs):
                if t is old:
                    outputs[i] = new
                    n += 1
        return n

    def take_name(self, node: Node) -> str:
        """Rename `node` (about to be replaced) out of the way and return its old name for reuse."""
        old = node.name
        if self._by_name.get(old) is node:
            del self._by_name[old]
        node.name = self.unique_name(old + "_replaced")
        self._by_name[node.name] = node
        return old

    def remove_nodes(self, dead) -> None:
        """Drop `dead` nodes (their outputs must have no consumers left)."""
        dead_ids = {id(n) for n in dead}
        if not dead_ids:
            return
        for n in dead:
            if self._by_name.get(n.name) is n:
                del self._by_name[n.name]
            for t in n.inputs:
                lst = self._consumers.get(id(t))
                if lst:
                    lst[:] = [c for c in lst if id(c) not in dead_ids]
        self.nodes = [n for n in self.nodes if id(n) not in dead_ids]

    def get_operation_by_name(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise GraphError(f"The graph has no operation named '{name}'") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        op, _, idx = name.rpartition(":")
        if not op:
            raise GraphError(f"'{name}' is not a tensor name (expected 'op_name:index')")
        node = self.get_operation_by_name(op)
        try:
            return node.outputs[int(idx)]
        except (ValueError, IndexError):
            raise GraphError(f"The operation '{op}' has no output {idx}") from None

    def get_operations(self) -> list:
        return list(self.nodes)

    # -- collections
    def add_to_collection(self, name: str, value) -> None:
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value) -> None:
        names = (names,) if isinstance(names, str) else set(names)
        for n in names:
            self.add_to_collection(n, value)

    def get_collection_ref(self, name: str) -> list:
        return self._collections.setdefault(name, [])

    def get_collection(self, name: str, scope: Optional[str] = None) -> list:
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        rx = re.compile(scope)
        return [x for x in items if getattr(x, "name", None) is not None and rx.match(x.name)]

    def get_all_collection_keys(self) -> list:
        return [k for k, v in self._collections.items() if v]

    def clear_collection(self, name: str) -> None:
        self._collections.pop(name, None)

    def finalize(self) -> None:
        """Make the graph read-only: adding a node afterwards raises (TF's Graph.finalize)."""
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    def __repr__(self) -> str:
        return f"<slim.Graph with {len(self.nodes)} nodes>"


# --------------------------------------------------------------------------------------------
# Default graph / session stacks (per thread, as TF)

_state = threading.local()
_global_default = [Graph()]


def _default_graph_stack() -> list:
    s = getattr(_state, "graphs", None)
    if s is None:
        s = []
        _state.graphs = s
    return s


def get_default_graph() -> Graph:
    """The innermost graph entered with `as_default()`, else the global default graph."""
    s = _default_graph_stack()
    return s[-1] if s else _global_default[0]


def reset_default_graph() -> None:
    """Replace the global default graph by a new, empty one."""
    if _default_graph_stack():
        raise GraphError("reset_default_graph() cannot be called inside a `with graph.as_default()` block")
    _global_default[0] = Graph()


def _session_stack() -> list:
    s = getattr(_state, "sessions", None)
    if s is None:
        s = []
        _state.sessions = s
    return s


def get_default_session():
    s = _session_stack()
    return s[-1] if s else None


# --------------------------------------------------------------------------------------------
# Scope context managers (module level, acting on the default graph)


def name_scope(name: Optional[str], default_name: Optional[str] = None, values=None):
    """TF1 `tf.name_scope(name, default_name, values)` on the graph of `values` or the default graph."""
    g = _graph_of(values) if values else get_default_graph()
    return g.name_scope(name if name is not None else default_name)


def get_variable_scope() -> VariableScope:
    return get_default_graph()._var_scope


def _unique_var_scope_name(g: Graph, prefix: str) -> str:
    cur = g._var_scope.name
    full = f"{cur}/{prefix}" if cur else prefix
    if g._var_scope_counts.get(full, 0) == 0:
        return prefix
    idx = 1
    while g._var_scope_counts.get(f"{full}_{idx}", 0) > 0:
        idx += 1
    return f"{prefix}_{idx}"


@contextlib.contextmanager
def variable_scope(name_or_scope=None, default_name: Optional[str] = None, values=None, reuse=None,
                   initializer=None, regularizer=None, dtype=None, custom_getter=None,
                   auxiliary_name_scope: bool = True, **unused):
    """TF1 `tf.variable_scope`: a scope for variable names plus a (uniquified) name scope."""
    g = _graph_of(values) if values else get_default_graph()
    old = g._var_scope
    if reuse is False:
        reuse = None
    if name_or_scope is None and default_name is None:
        raise ScopeError("variable_scope needs name_or_scope or default_name")
    if name_or_scope is None and reuse is True:
        raise ScopeError("reuse=True cannot be used without a name_or_scope")
    if name_or_scope is not None and not isinstance(name_or_scope, (str, VariableScope)):
        raise ScopeError(f"variable_scope: name_or_scope must be a string or a VariableScope, got {name_or_scope!r}")
    if isinstance(name_or_scope, VariableScope):
        ns_name = name_or_scope.name.split("/")[-1]
    elif name_or_scope is not None:
        ns_name = name_or_scope
    else:
        ns_name = default_name
    ns_cm = g.name_scope(ns_name) if (auxiliary_name_scope and ns_name) else contextlib.nullcontext(
        (g._name_stack + "/") if g._name_stack else "")
    with ns_cm as ns:
        if isinstance(name_or_scope, VariableScope):
            new_name = name_or_scope.name
            base = name_or_scope
            new_reuse = reuse if reuse is not None else (name_or_scope.reuse or old.reuse)
            orig_ns = name_or_scope.original_name_scope
        else:
            base = old
            name = name_or_scope if name_or_scope is not None else _unique_var_scope_name(g, default_name)
            new_name = f"{old.name}/{name}" if old.name else name
            new_reuse = True if (reuse is True or old.reuse is True) else (reuse or old.reuse)
            orig_ns = ns
        scope = VariableScope(
            new_name,
            reuse=new_reuse,
            initializer=initializer if initializer is not None else base.initializer,
            regularizer=regularizer if regularizer is not None else base.regularizer,
            dtype=_dt.as_dtype(dtype) if dtype is not None else base.dtype,
            original_name_scope=orig_ns,
            custom_getter=custom_getter if custom_getter is not None else base.custom_getter,
        )
        saved_counts = dict(g._var_scope_counts) if isinstance(name_or_scope, VariableScope) else None
        g._var_scope_counts[new_name] = g._var_scope_counts.get(new_name, 0) + 1
        parts = new_name.split("/")
        for i in range(1, len(parts)):
            g._var_scope_desc.setdefault("/".join(parts[:i]), set()).add(new_name)
        g._var_scope = scope
        try:
            yield scope
        finally:
            g._var_scope = old
            if saved_counts is not None:
                g._var_scope_counts = saved_counts
            else:
                for k in g._var_scope_desc.get(new_name, ()):
                    g._var_scope_counts[k] = 0


def _graph_of(values) -> Graph:
    """The graph of the tensors in `values` (default graph when none is a tensor)."""
    graph = None
    for v in _flatten(values):
        if isinstance(v, (Tensor, Node)):
            if graph is None:
                graph = v.graph
            elif v.graph is not graph:
                raise GraphError(f"{v.name} belongs to another graph than the other inputs")
    return graph if graph is not None else get_default_graph()


def _flatten(values):
    if isinstance(values, (list, tuple)):
        for v in values:
            yield from _flatten(v)
    elif isinstance(values, dict):
        for v in values.values():
            yield from _flatten(v)
    else:
        yield values


def get_collection(key: str, scope: Optional[str] = None) -> list:
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key: str) -> list:
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name: str, value) -> None:
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value) -> None:
    get_default_graph().add_to_collections(names, value)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name: Optional[str]):
    return get_default_graph().device(device_name)


def set_random_seed(seed: Optional[int]) -> None:
    """Set the graph-level seed: initial values and random ops become reproducible."""
    get_default_graph().seed = None if seed is None else int(seed)


_DEFAULT_GRAPH_SEED = 87654321


def rng_for(graph: Graph, op_seed: Optional[int], key: str) -> np.random.Generator:
    """A numpy Generator for a random op/initializer, deterministic when a seed is set (TF rules)."""
    if graph.seed is None and op_seed is None:
        return np.random.default_rng()
    gs = graph.seed if graph.seed is not None else _DEFAULT_GRAPH_SEED
    os_ = op_seed if op_seed is not None else _stable_hash(key)
    return np.random.default_rng([gs & 0xFFFFFFFF, os_ & 0xFFFFFFFF])


def _stable_hash(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode("utf-8"))


def get_seed(op_seed: Optional[int], key: str) -> Optional[int]:
    """An integer seed for an in-graph random op (None means: nondeterministic)."""
    g = get_default_graph()
    if g.seed is None and op_seed is None:
        return None
    gs = g.seed if g.seed is not None else _DEFAULT_GRAPH_SEED
    os_ = op_seed if op_seed is not None else _stable_hash(key)
    return (gs * 1000003 + os_) % (2**31 - 1)

