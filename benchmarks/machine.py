"""Machine facts and timing helpers shared by the benchmarks (no numpy import at module level: the BLAS
thread environment must be set before numpy loads)."""

from __future__ import annotations

import os
import platform
import time


def set_thread_env(threads: int) -> None:
    """BLAS/OpenMP pools of numpy and torch sized like ONNX Runtime's (before numpy loads; children inherit)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentile(xs: list, q: float) -> float:
    """Linear-interpolated q-th percentile (0..100)."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _best_of(fn, tries: int) -> float:
    fn()  # warm-up (thread pool start, page faults)
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_matmul_gflops(n: int = 2048, tries: int = 7) -> float:
    """Best-of-`tries` float32 n x n matmul GFLOP/s through numpy (a multiply-add counts 2)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    return 2.0 * n ** 3 / _best_of(lambda: np.matmul(a, b, out=out), tries) / 1e9


def ort_matmul_gflops(threads: int, providers=("CPUExecutionProvider",), n: int = 2048, tries: int = 7) -> float:
    """The same matmul as one ONNX MatMul in ONNX Runtime (MLAS, which uses AVX-512 where numpy's bundled
    OpenBLAS may pick AVX2 kernels): the ceiling ORT's Gemms and Convs run against."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=list(providers))
    rng = np.random.default_rng(0)
    feed = {k: rng.standard_normal((n, n), dtype=np.float32) for k in ("a", "b")}
    return 2.0 * n ** 3 / _best_of(lambda: sess.run(None, feed), tries) / 1e9
