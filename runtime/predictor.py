"""`OnnxPredictor`: batch inference of an exported model on any data engine (Ray Data, Spark, Dask, MPI).

    pred = slim.distributed.OnnxPredictor("model.onnx", outputs=["probs"])
    out = pred({"x": images})          # {"probs": array}; the InferenceSession is built on first use

The object holds only the model path and options, so it pickles cheaply to any worker; each worker
process builds one ONNX Runtime session the first time it is called and keeps it (a per-process cache
keyed by path, file size and time, providers and threads), so a task-per-block engine such as Dask does
not rebuild it per task. Examples:

Ray Data (a callable class gives one session per actor):

    import ray
    ds = ray.data.from_numpy(images)                       # a column named "data"
    preds = ds.map_batches(OnnxPredictor, fn_constructor_args=("model.onnx",),
                           fn_constructor_kwargs={"input_names": {"data": "x"}},
                           batch_size=256, batch_format="numpy", concurrency=4, num_cpus=1)
    # on GPUs: fn_constructor_kwargs={"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}, num_gpus=1

Spark (`predict_batch_udf` calls make_predict_fn once per Python worker):

    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType
    pred = OnnxPredictor("model.onnx", outputs=["probs"])
    classify = predict_batch_udf(pred.make_predict_fn, return_type=ArrayType(FloatType()), batch_size=256,
                                 input_tensor_shapes=[[224, 224, 3]])
    df.withColumn("probs", classify("image"))

Dask (`map_blocks` on an array of inputs; pass `dtype`/`chunks` so Dask does not call it on a dummy block):

    import dask.array as da
    x = da.from_zarr("images.zarr").rechunk((256, 224, 224, 3))
    pred = OnnxPredictor("model.onnx", outputs=["probs"])
    probs = x.map_blocks(pred.predict_array, dtype=np.float32, chunks=(256, 1000), drop_axis=[2, 3])

MPI: give each rank its strided share of the batches and combine counts with `comm.allreduce_`.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, List, Optional, Union

import numpy as np

from slimir.errors import InvalidArgumentError

__all__ = ["OnnxPredictor"]

_SESSIONS: dict = {}
_LOCK = threading.Lock()


def _session(path: str, providers: tuple, threads: Optional[int]):
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, providers, threads)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.log_severity_level = 3
            if threads:
                so.intra_op_num_threads = int(threads)
            sess = ort.InferenceSession(path, sess_options=so, providers=list(providers))
            _SESSIONS[key] = sess
        return sess


class OnnxPredictor:
    """A picklable callable around an exported `.onnx` file; the ORT session is built lazily per process.

    path: the model; outputs: output names to return (default all); input_names: {batch column: model
    input} renames; providers: ORT providers (CPU by default); intra_op_num_threads: threads per session.
    """

    def __init__(self, path: str, outputs: Optional[List[str]] = None,
                 input_names: Optional[Dict[str, str]] = None, providers: Optional[List[str]] = None,
                 intra_op_num_threads: Optional[int] = None):
        if not os.path.isfile(path):
            raise InvalidArgumentError(f"OnnxPredictor: no model file at {path!r} (export one with slim.export_onnx)")
        self.path = os.path.abspath(path)
        self.outputs = list(outputs) if outputs else None
        self.input_names = dict(input_names or {})
        self.providers = tuple(providers or ["CPUExecutionProvider"])
        self.intra_op_num_threads = intra_op_num_threads

    @property
    def session(self):
        """This process's InferenceSession for the model (built on first use)."""
        return _session(self.path, self.providers, self.intra_op_num_threads)

    def _feeds(self, batch) -> dict:
        inputs = self.session.get_inputs()
        if isinstance(batch, np.ndarray):
            if len(inputs) != 1:
                raise InvalidArgumentError(f"OnnxPredictor: the model has {len(inputs)} inputs "
                                           f"{[i.name for i in inputs]}; pass a dict of arrays")
            return {inputs[0].name: batch}
        if not isinstance(batch, dict):
            raise InvalidArgumentError(f"OnnxPredictor: a batch is a numpy array or a dict of arrays, got "
                                       f"{type(batch).__name__}")
        wanted = {i.name for i in inputs}
        feeds = {}
        for col, value in batch.items():
            name = self.input_names.get(col, col)
            if name in wanted:
                feeds[name] = np.asarray(value)
        missing = wanted - set(feeds)
        if missing:
            raise InvalidArgumentError(f"OnnxPredictor: the batch has no column for model input(s) {sorted(missing)} "
                                       f"(columns: {sorted(batch)}; map them with input_names=)")
        return feeds

    def __call__(self, batch: Union[np.ndarray, Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        """Run one batch (Ray Data's numpy batch format: a dict of arrays); returns {output: array}."""
        feeds = self._feeds(batch)
        names = self.outputs or [o.name for o in self.session.get_outputs()]
        values = self.session.run(names, feeds)
        return dict(zip(names, values))

    def predict_array(self, block: np.ndarray) -> np.ndarray:
        """One array in, the first requested output out (Dask `map_blocks`)."""
        out = self(np.ascontiguousarray(block))
        return next(iter(out.values()))

    def make_predict_fn(self):
        """Spark `predict_batch_udf`'s factory: builds the session now, returns a function of numpy arrays
        (one per input column, in model-input order) giving one array, or a dict for several outputs."""
        sess = self.session
        input_names = [i.name for i in sess.get_inputs()]

        def predict(*arrays):
            if len(arrays) != len(input_names):
                raise InvalidArgumentError(f"OnnxPredictor: expected {len(input_names)} input columns "
                                           f"{input_names}, got {len(arrays)}")
            out = self(dict(zip(input_names, arrays)))
            return next(iter(out.values())) if len(out) == 1 else out

        return predict

    def __getstate__(self) -> dict:
        return dict(self.__dict__)  # path and options only: the session lives in the per-process cache

    def __repr__(self) -> str:
        return f"<slim.distributed.OnnxPredictor {self.path!r} providers={list(self.providers)}>"
