"""`slim.Session`: runs fetches of an IR graph on ONNX Runtime; variables live in the session.

Each distinct (fetches, fed tensors) set is lowered to ONNX and compiled once; later runs reuse it.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import abc
from typing import Any, Optional

import numpy as np

from slimir.errors import FailedPreconditionError, FeedError, GraphError, RuntimeExecutionError, SlimirError
from slimir.ir.analysis import needed_nodes, no_gc
from slimir.ir.graph import Graph, Node, Tensor, Variable, _session_stack, get_default_graph, rng_for
from slimir.ir.registry import get_op
from slimir.ops.state import format_print
from slimir.shape import fmt

from .lowering import DEFAULT_OPSET, Lowered, lower

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def resolve_providers(providers=None, device: Optional[str] = None) -> list:
    """ONNX Runtime providers for `device` ("cpu"/"cuda") or an explicit list; CPU when CUDA is absent."""
    import onnxruntime as ort

    if providers is not None:
        providers = list(providers)
        names = provider_names(providers)
        if CUDA in names and CUDA not in ort.get_available_providers():
            warnings.warn("slimir: CUDAExecutionProvider asked for, but this onnxruntime has none (install "
                          "onnxruntime-gpu instead of onnxruntime); running on the CPU", stacklevel=3)
            providers = [p for p, n in zip(providers, names) if n != CUDA] or [CPU]
        return providers
    if device is None or device.lower().startswith("cpu") or device == "":
        return [CPU]
    if device.lower().startswith(("cuda", "gpu", "/gpu")):
        if CUDA in ort.get_available_providers():
            return [CUDA, CPU]
        warnings.warn("slimir: device='cuda' asked for, but this onnxruntime has no CUDAExecutionProvider "
                      "(install onnxruntime-gpu instead of onnxruntime); running on the CPU", stacklevel=3)
        return [CPU]
    raise SlimirError(f"unknown device {device!r}: use 'cpu' or 'cuda'")


def provider_names(providers: list) -> list:
    """The provider names of a providers list whose items are names or (name, options) pairs."""
    return [p[0] if isinstance(p, (tuple, list)) else p for p in providers]


def _state_device(providers: list, state_device: Optional[str]) -> Optional[str]:
    """Where a Session keeps variables: None (numpy on the host), 'cpu' or 'cuda' (OrtValues there)."""
    names = provider_names(providers)
    if state_device is None:
        return "cuda" if names and names[0] == CUDA else None
    dev = state_device.lower()
    if dev == "cuda" and CUDA not in names:
        raise SlimirError("state_device='cuda' needs the CUDAExecutionProvider (device='cuda' with onnxruntime-gpu "
                          f"and a GPU); this session runs on {providers}")
    if dev not in ("cpu", "cuda"):
        raise SlimirError(f"unknown state_device {state_device!r}: use None, 'cpu' or 'cuda'")
    return dev


def node_placement(sess: "Session", fetches, feed_dict: Optional[dict] = None) -> list:
    """Where ONNX Runtime ran each node of the model that computes `fetches`: a list of
    (node name, op type, provider, output element types), from one profiled run (variables unchanged)."""
    import json as _json
    import os as _os
    import tempfile as _tempfile

    import onnxruntime as ort

    flat, _ = _flatten_fetches(fetches, sess.graph)
    feeds = sess._feeds(feed_dict)
    tensors = [f for f in flat if isinstance(f, Tensor) and f not in feeds and not _is_var(f)]
    ops = [f for f in flat if isinstance(f, Node)]
    comp = sess._compile(tensors, ops, list(feeds))
    if comp.sess is None:
        return []
    so = session_options()
    so.enable_profiling = True
    with _tempfile.TemporaryDirectory() as d:
        so.profile_file_prefix = _os.path.join(d, "placement")
        prof = ort.InferenceSession(comp.lowered.model.SerializeToString(), sess_options=so, providers=sess.providers)
        inputs = {}
        for name, t in zip(comp.input_names, comp.lowered.feeds + comp.lowered.variables):
            inputs[name] = feeds[t] if t in feeds else sess.variable_value(t)
        prof.run(None, inputs)
        path = prof.end_profiling()
        with open(path) as f:
            events = _json.load(f)
    out, seen = [], set()
    for ev in events:
        args = ev.get("args") or {}
        if ev.get("cat") != "Node" or "provider" not in args or not ev.get("name", "").endswith("_kernel_time"):
            continue
        name = ev["name"][: -len("_kernel_time")]
        if name in seen:
            continue
        seen.add(name)
        types = [k for o in args.get("output_type_shape", []) for k in o]
        out.append((name, args.get("op_name", ""), args["provider"], types))
    return out


def cpu_fallbacks(placement: list, provider: str = CUDA) -> list:
    """The nodes of `placement` not run by `provider`, except the integer shape computations ONNX Runtime
    keeps on the CPU on purpose (every output int64/int32/bool)."""
    shape_types = {"int64", "int32", "bool"}
    return [p for p in placement if p[2] != provider and not (p[3] and set(p[3]) <= shape_types)]


def session_options(intra_op_num_threads: Optional[int] = None, allow_spinning: Optional[bool] = None,
                    optimization_level: str = "all"):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization_level]
    if intra_op_num_threads:
        so.intra_op_num_threads = int(intra_op_num_threads)
    if allow_spinning is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    return so


# slimir's lowering already merges equal ONNX nodes (lowering._onnx_cse), so ONNX Runtime's own CSE finds
# nothing more; skipping it halves the load time of large training graphs (inception_v3: 5.8 -> 2.9 s)
REDUNDANT_ORT_OPTIMIZERS = ["CommonSubexpressionElimination"]


def ort_session(model, providers, options):
    """An InferenceSession for an in-memory model lowered by slimir; ORT failures become slimir errors."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=providers,
                                    disabled_optimizers=REDUNDANT_ORT_OPTIMIZERS)
    except Exception as e:  # onnxruntime raises its own exception types
        raise RuntimeExecutionError(f"ONNX Runtime could not load the lowered graph: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__


class _Compiled:
    __slots__ = ("lowered", "sess", "input_names", "output_names")

    def __init__(self, lowered: Lowered, sess):
        self.lowered = lowered
        self.sess = sess
        self.input_names = [i.name for i in sess.get_inputs()] if sess is not None else []
        self.output_names = [o.name for o in sess.get_outputs()] if sess is not None else []


class Session:
    """TF1-style session: `run(fetches, feed_dict)` on ONNX Runtime (CPU by default, CUDA on request)."""

    def __init__(self, target: str = "", graph: Optional[Graph] = None, config=None, providers=None,
                 device: Optional[str] = None, intra_op_num_threads: Optional[int] = None,
                 allow_spinning: Optional[bool] = None, opset: int = DEFAULT_OPSET, optimize: bool = True,
                 state_device: Optional[str] = None):
        """state_device: where variables live between runs: None keeps numpy arrays on the host (the default
        on CPU); 'cuda' (the default when CUDA runs the graphs) or 'cpu' keeps them as ONNX Runtime values
        on that device, so a train step moves only the batch in and the fetched values out."""
        self.graph = graph or get_default_graph()
        self.providers = resolve_providers(providers, device)
        self.state_device = _state_device(self.providers, state_device)
        self._options = session_options(intra_op_num_threads, allow_spinning)
        self.opset = opset
        self.optimize = optimize
        self._state: dict = {}  # Variable -> np.ndarray (its current value)
        self._spare: dict = {}  # Variable -> np.ndarray (the buffer the next assign writes into)
        self._cache: dict = {}
        self._bound_cache: dict = {}
        self._print_counts: dict = {}
        self._closed = False
        self._lock = threading.RLock()
        self._default_cm = None

    # -- context management
    def __enter__(self) -> "Session":
        _session_stack().append(self)
        self._graph_cm = self.graph.as_default()
        self._graph_cm.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._graph_cm.__exit__(*exc)
        stack = _session_stack()
        if stack and stack[-1] is self:
            stack.pop()
        self.close()

    def as_default(self):
        sess = self

        class _CM:
            def __enter__(self_inner):
                _session_stack().append(sess)
                return sess

            def __exit__(self_inner, *exc):
                _session_stack().pop()

        return _CM()

    def close(self) -> None:
        self._closed = True
        self._cache.clear()
        # stop this session's slim.data pipeline threads
        if self.graph.get_collection("input_bindings") or self.graph.get_collection("input_pipelines"):
            from slimir.inputs import stop_pipelines

            stop_pipelines(self.graph, self)

    # -- variable state
    def variable_value(self, var: Variable) -> np.ndarray:
        """The variable's current value (the session's own buffer: copy it before keeping it)."""
        try:
            v = self._state[var]
            return v if isinstance(v, np.ndarray) else v.numpy()  # a device value: copied to the host
        except KeyError:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized value {var.op.name} (run slim.global_variables_initializer() "
                "or restore a checkpoint first)") from None

    def set_variable_value(self, var: Variable, value) -> None:
        arr = np.asarray(value)
        if arr.ndim != len(var.shape) or any(d is not None and d != n for d, n in zip(var.shape, arr.shape)):
            raise FeedError(f"cannot set {var.op.name} of shape {list(var.shape)} to a value of shape "
                            f"{list(arr.shape)}")
        host = np.array(arr, dtype=var.dtype.np, order="C")
        if self.state_device is None:
            self._state[var] = host
        else:
            import onnxruntime as ort

            self._state[var] = ort.OrtValue.ortvalue_from_numpy(host, self.state_device, 0)

    def _device_value(self, var: Variable):
        """The variable's value as an OrtValue on `state_device` (host arrays written by others are moved)."""
        v = self._state.get(var)
        if v is None:
            self.variable_value(var)  # raises the uninitialized error
        if isinstance(v, np.ndarray):
            self.set_variable_value(var, v)
            v = self._state[var]
        return v

    def is_initialized(self, var: Variable) -> bool:
        return var in self._state

    def initialize(self, var_list) -> None:
        """Compute and store the initial values of `var_list` (what the init op does)."""
        for v in var_list:
            if v.initial_value_tensor is not None:
                value = self.run(v.initial_value_tensor)
            else:
                rng = rng_for(v.graph, v.op.attrs.get("seed"), v.op.name)
                value = v.initial_value_fn(rng)
            self.set_variable_value(v, value)

    # -- run
    def run(self, fetches, feed_dict: Optional[dict] = None, options=None, run_metadata=None) -> Any:
        """Evaluate `fetches` (a tensor, op, name, or a list/tuple/dict of them) with `feed_dict`."""
        if self._closed:
            raise SlimirError("Attempted to use a closed Session.")
        flat, rebuild = _flatten_fetches(fetches, self.graph)
        host = {i: f for i, f in enumerate(flat) if getattr(f, "_slimir_host_tensor", False)}
        if host:  # slim.data host tensors (a provider's items): the next example, computed on the host
            from slimir.data.batching import fetch_examples

            host = dict(zip(host, fetch_examples(list(host.values()), self)))
            flat = [f for i, f in enumerate(flat) if i not in host]
        feeds = self._feeds(feed_dict)
        bindings = self.graph.get_collection("input_bindings")
        if bindings:
            self._feed_bound(flat, feeds, bindings)
        with self._lock:
            values = self._run_flat(flat, feeds) if flat or not host else []
        if host:
            rest = iter(values)
            values = [host[i] if i in host else next(rest) for i in range(len(host) + len(values))]
        return rebuild(values)

    def _feed_bound(self, flat: list, feeds: dict, bindings: list) -> None:
        """Take one batch from each input binding whose placeholders these fetches need."""
        key = (tuple(id(f) for f in flat), tuple(sorted(id(t) for t in feeds)))
        wanted = self._bound_cache.get(key)
        if wanted is None:
            nodes = {id(n) for n in needed_nodes(flat, {id(t) for t in feeds})}
            wanted = [b for b in bindings if any(id(t.op) in nodes for t in b.tensors)]
            self._bound_cache[key] = wanted
        for b in wanted:
            for t, v in b.next_feed(self).items():
                if t not in feeds:
                    feeds[t] = check_feed(t, v)

    def _feeds(self, feed_dict) -> dict:
        out = {}
        for k, v in (feed_dict or {}).items():
            t = self.graph.get_tensor_by_name(k) if isinstance(k, str) else k
            if isinstance(t, Node):
                raise FeedError(f"cannot feed an operation ({t.name}); feed one of its output tensors")
            if not isinstance(t, Tensor):
                raise FeedError(f"feed_dict keys must be tensors or tensor names, got {k!r}")
            if t.graph is not self.graph:
                raise GraphError(f"cannot feed {t.name}: it belongs to another graph than this Session's")
            out[t] = check_feed(t, v)
        return out

    def _run_flat(self, flat: list, feeds: dict) -> list:
        fed_ids = tuple(sorted(id(t) for t in feeds))
        tensors = [f for f in flat if isinstance(f, Tensor) and f not in feeds and not _is_var(f)]
        ops = [f for f in flat if isinstance(f, Node)]
        key = (tuple(id(x) for x in tensors), tuple(id(x) for x in ops), fed_ids)
        comp = self._cache.get(key)
        if comp is None:
            comp = self._compile(tensors, ops, list(feeds))
            self._cache[key] = comp
        low = comp.lowered
        for node in low.python_nodes:
            if node.type == "init_variables":
                self.initialize(node.attrs["vars"])
        pre_vars = {f: self.variable_value(f).copy() for f in flat if _is_var(f) and f not in feeds}
        results: dict = {}
        if comp.sess is not None:
            try:
                outs = self._execute(comp, feeds)
            except SlimirError:
                raise
            except Exception as e:
                what = ", ".join(t.name for t in tensors[:4]) or "the requested ops"
                raise RuntimeExecutionError(f"running {what} failed in ONNX Runtime: {_first_line(e)}") from None
            for t, v in zip(low.outputs, outs):
                if v is not None and t is not None:
                    results.setdefault(id(t), v)
            for node, idxs in low.prints:
                self._print(node, [outs[i] for i in idxs])
        values = []
        for f in flat:
            if isinstance(f, Node):
                values.append(None)
            elif f in feeds:
                values.append(feeds[f])
            elif _is_var(f):
                values.append(pre_vars[f])
            else:
                values.append(results[id(f)])
        return values

    def _execute(self, comp: _Compiled, feeds: dict) -> list:
        """One ORT run with IO binding: inputs are bound without copies, and each variable written by an
        assign goes into the variable's spare buffer, which then becomes its value (two buffers per
        variable, swapped every run; an output never aliases an input)."""
        import onnxruntime as ort

        low = comp.lowered
        if self.state_device is not None:
            return self._execute_on_device(comp, feeds)
        binding = comp.sess.io_binding()
        for name, t in zip(comp.input_names, low.feeds + low.variables):
            arr = feeds[t] if t in feeds else self.variable_value(t)
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr))
        last_assign = {}
        for var, idx in low.assigns:
            last_assign[var] = idx
        written = {idx: var for var, idx in last_assign.items()}
        spares, grown = {}, {}
        for i, name in enumerate(comp.output_names):
            var = written.get(i)
            if var is None:
                binding.bind_output(name)
                continue
            if not var.shape.is_fully_defined():  # a variable whose shape changes (a growing buffer): ORT allocates
                grown[i] = var
                binding.bind_output(name)
                continue
            cur = self._state.get(var)
            spare = self._spare.get(var)
            if spare is None or cur is None or spare.shape != cur.shape or spare is cur:
                spare = np.empty(tuple(var.shape), var.dtype.np)
            spares[i] = spare
            binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(spare))
        comp.sess.run_with_iobinding(binding)
        ort_outs = binding.get_outputs()
        outs = []
        for i in range(len(comp.output_names)):
            if i in spares or i in grown:
                outs.append(None)
            else:
                outs.append(ort_outs[i].numpy())
        run_checks(low, outs)  # before any variable changes: a failed check leaves the state as it was
        for i, spare in spares.items():
            var = written[i]
            old = self._state.get(var)
            self._state[var] = spare
            if old is not None:
                self._spare[var] = old
        for i, var in grown.items():
            self._state[var] = ort_outs[i].numpy()
        for i in list(spares) + list(grown):  # a fetched assign returns the new value (a copy: buffers are reused)
            if i < len(low.outputs) and low.outputs[i] is not None:
                outs[i] = self._state[written[i]].copy()
        return outs

    def _execute_on_device(self, comp: _Compiled, feeds: dict) -> list:
        """_execute with the variables as OrtValues on `state_device`: they are bound in place, each assign
        writes into the variable's spare device buffer (two per variable, swapped every run), the batch is
        copied in by ONNX Runtime and only the other outputs come back to the host."""
        import onnxruntime as ort

        low = comp.lowered
        dev = self.state_device
        binding = comp.sess.io_binding()
        for name, t in zip(comp.input_names, low.feeds + low.variables):
            if t in feeds:
                binding.bind_cpu_input(name, np.ascontiguousarray(feeds[t]))
            else:
                binding.bind_ortvalue_input(name, self._device_value(t))
        written = {}
        for var, idx in low.assigns:
            written[var] = idx
        written = {idx: var for var, idx in written.items()}
        spares, grown = {}, {}
        for i, name in enumerate(comp.output_names):
            var = written.get(i)
            if var is None:
                binding.bind_output(name, "cpu")
                continue
            if not var.shape.is_fully_defined():  # a variable whose shape changes: ORT allocates it on `dev`
                grown[i] = var
                binding.bind_output(name, dev)
                continue
            spare = self._spare.get(var)
            if spare is None or spare is self._state.get(var):
                spare = ort.OrtValue.ortvalue_from_shape_and_type(list(var.shape), var.dtype.np, dev, 0)
            spares[i] = spare
            binding.bind_ortvalue_output(name, spare)
        binding.synchronize_inputs()
        comp.sess.run_with_iobinding(binding)
        binding.synchronize_outputs()
        ort_outs = binding.get_outputs()
        outs = [None if i in spares or i in grown else ort_outs[i].numpy() for i in range(len(comp.output_names))]
        run_checks(low, outs)  # before any variable changes: a failed check leaves the state as it was
        for i, spare in spares.items():
            var = written[i]
            old = self._state.get(var)
            self._state[var] = spare
            if old is not None and not isinstance(old, np.ndarray):
                self._spare[var] = old
        for i, var in grown.items():
            self._state[var] = ort_outs[i]
        for i in list(spares) + list(grown):  # a fetched assign returns the new value (copied to the host)
            if i < len(low.outputs) and low.outputs[i] is not None:
                outs[i] = self._state[written[i]].numpy()
        return outs

    def _compile(self, tensors: list, ops: list, feeds: list) -> _Compiled:
        """Lower what the fetches need (after the session pass pipeline, on a copy) and load it in ORT."""
        for t in tensors + ops:
            if t.graph is not self.graph:
                raise GraphError(f"cannot fetch {t.name}: it belongs to another graph than this Session's")
        with no_gc():
            if not self.optimize:
                low = lower(self.graph, tensors + ops, feeds, opset=self.opset, device=self._lowering_device())
            else:
                low = self._lower_optimized(tensors, ops, feeds)
        if not low.outputs:
            return _Compiled(low, None)
        return _Compiled(low, ort_session(low.model, self.providers, self._options))

    def _lowering_device(self) -> str:
        """'cuda' when ONNX Runtime's CUDA provider runs the models (lowerings pick kernels it has), else 'cpu'."""
        return "cuda" if CUDA in provider_names(self.providers) else "cpu"

    def _lower_optimized(self, tensors: list, ops: list, feeds: list) -> Lowered:
        from slimir.passes import SESSION_PIPELINE, clone, run

        fed = {id(t) for t in feeds}
        needed = needed_nodes(tensors + ops, fed)
        python_nodes = [n for n in needed if get_op(n.type).python_side]
        roots = list(tensors) + [n for n in needed if get_op(n.type).side_effect]
        cl = clone(self.graph, roots, feeds, variables="keep")
        outs = cl.outputs[:len(tensors)]
        keep = [cl.graph._by_name[n.name] for n in roots[len(tensors):]]
        # the passes replace the tensors they rewrite in this list: lower the rewritten ones (lowering the
        # fetches as they were before the passes would compute them a second time beside the optimised graph)
        targets = outs + [n.outputs[0] for n in keep]
        run(cl.graph, SESSION_PIPELINE, targets, inplace=True)
        low = lower(cl.graph, targets[:len(tensors)] + keep, cl.feeds, opset=self.opset,
                    device=self._lowering_device())
        orig = lambda v: v.op.meta.get("variable", v)  # noqa: E731
        low.feeds = list(feeds)
        low.variables = [orig(v) for v in low.variables]
        low.assigns = [(orig(v), i) for v, i in low.assigns]
        low.prints = [(self.graph._by_name.get(n.name, n), idx) for n, idx in low.prints]
        low.checks = [(self.graph._by_name.get(n.name, n), idx) for n, idx in low.checks]
        low.outputs = list(tensors) + [None] * (len(low.outputs) - len(tensors))
        low.python_nodes = python_nodes
        return low

    def _print(self, node: Node, values) -> None:
        n = self._print_counts.get(node, 0) + 1
        self._print_counts[node] = n
        first_n = node.attrs["first_n"]
        if first_n < 0 or n <= first_n:
            print(format_print(node, values), file=sys.stderr)

    def list_devices(self) -> list:
        return list(self.providers)


class InteractiveSession(Session):
    """A Session that installs itself as the default session on creation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _session_stack().append(self)

    def close(self) -> None:
        stack = _session_stack()
        if stack and stack[-1] is self:
            stack.pop()
        super().close()


def run_checks(low: Lowered, outs: list) -> None:
    """Raise the error of the first check op (check_numerics, check_labels, assert) whose value in this run
    fails."""
    for node, i in low.checks:
        err = get_op(node.type).extra["check"](node, outs[i:i + len(node.outputs)])
        if err is not None:
            raise err


def _is_var(t) -> bool:
    return isinstance(t, Variable)


def _flatten_fetches(fetches, graph: Graph):
    """Flatten nested fetches into a list, with a function that rebuilds the structure from values."""
    flat: list = []

    def walk(f):
        if isinstance(f, (list, tuple)) and not isinstance(f, str):
            subs = [walk(x) for x in f]
            kind = type(f)
            if hasattr(f, "_fields"):
                return lambda vals: kind(*[s(vals) for s in subs])
            return lambda vals: kind(s(vals) for s in subs) if kind is tuple else [s(vals) for s in subs]
        if isinstance(f, dict):
            subs = {k: walk(v) for k, v in f.items()}
            kind = type(f)
            return lambda vals: kind((k, s(vals)) for k, s in subs.items())
        if hasattr(f, "_fetch_tensors"):  # merged summaries, metrics: fetch tensors, then post-process
            sub = walk(f._fetch_tensors())
            return lambda vals: f._fetch_result(sub(vals))
        if hasattr(f, "values") and callable(f.values) and not isinstance(f, (Tensor, Node)):
            return walk(list(f.values()))
        if isinstance(f, (abc.ValuesView, abc.KeysView, abc.Set)):  # e.g. names_to_updates.values()
            return walk(list(f))
        item = _resolve(f, graph)
        i = len(flat)
        flat.append(item)
        return lambda vals: vals[i]

    rebuild = walk(fetches)
    return flat, rebuild


def _resolve(f, graph: Graph):
    if isinstance(f, (Tensor, Node)) or getattr(f, "_slimir_host_tensor", False):
        return f
    if isinstance(f, str):
        return graph.get_tensor_by_name(f) if ":" in f else graph.get_operation_by_name(f)
    if f is None:
        raise SlimirError("Fetch argument None has invalid type <class 'NoneType'>")
    raise SlimirError(f"Fetch argument {f!r} has invalid type {type(f).__name__}: fetch tensors, ops or their names")


def check_feed(t: Tensor, value: np.ndarray) -> np.ndarray:
    """Validate and convert a fed value against a tensor's static shape and dtype."""
    arr = np.asarray(value)
    want = t.dtype
    if arr.dtype != want.np:
        ok = (want.is_floating and arr.dtype.kind in "fiub") or (want.is_integer and arr.dtype.kind in "iub") \
            or (want.is_bool and arr.dtype.kind == "b")
        if not ok or (want.is_integer and arr.dtype.kind == "f"):
            raise FeedError(f"cannot feed a value of dtype {arr.dtype} to {t.name} of dtype {want.name}")
        arr = arr.astype(want.np)
    s = t.shape
    if len(s) != arr.ndim or any(d is not None and d != a for d, a in zip(s, arr.shape)):
        raise FeedError(f"cannot feed a value of shape {fmt(arr.shape)} to {t.name}, which has shape {fmt(s)}")
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")
