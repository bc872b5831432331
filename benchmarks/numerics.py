"""Float32 accuracy of what slimir's Session computes, against float64 truth (issue 12's measurements).

Prints, for the slimir installed in the running interpreter (run it once per checkout for a before/after):

  * l2_loss of a VGG fc6-sized float32 tensor ([25088, 4096], N(0, 0.01)): the Session's value, the float64
    value, the relative error;
  * the regularization loss (weight decay 5e-4) of vgg_16, alexnet_v2, overfeat and lenet at their
    initializers' values: relative error against float64;
  * inception_v1 at 224x224, batch 2, inception_v1_arg_scope(), is_training=True, dropout_keep_prob=1,
    loss = mean(logits^2), variables at their initializers: the total loss's error and the worst
    gradient error, max|a - b| / max|truth| per variable, of the Session and of the numpy reference run in
    float32 (each op computed exactly, then rounded to float32) — once with each evaluation taking its own
    branch decisions (ReLU masks, max-pool argmaxes), once with the Session's decisions fed to the references
    (boolean masks, and max-pool argmaxes where the slimir version has them as tensors);
  * the time of a ReduceSum over N, H, W of [32, 56, 56, 64] as the Session runs it.

The float64 truth is the same IR graph run by slimir's numpy references with every float32 value widened to
float64 (a small interpreter here, so that older slimir versions without `evaluate(compute_dtype=...)` can
be measured too).

    python benchmarks/numerics.py [--skip-inception]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _widened_evaluate(fetches, feed, variables):
    """slimir's reference interpreter with float32 values widened to float64 at every node."""
    from slimir.ir.analysis import needed_nodes
    from slimir.ir.registry import get_op

    def widen(a):
        a = np.asarray(a)
        return a.astype(np.float64) if a.dtype.kind == "f" and a.dtype.itemsize < 8 else a

    values = {id(t): widen(v) for t, v in feed.items()}
    for node in needed_nodes(fetches, set(values)):
        if node.type in ("init_variables", "no_op"):
            continue
        if node.type == "variable":
            out = widen(variables[node.outputs[0]])
        else:
            out = get_op(node.type).reference(*[values[id(t)] for t in node.inputs], **node.attrs)
        outs = out if isinstance(out, tuple) else (out,)
        for t, v in zip(node.outputs, outs):
            values[id(t)] = widen(v)
    return [values[id(f)] for f in fetches]


def _rel(a, b) -> float:
    return abs(float(a) - float(b)) / abs(float(b))


def l2_loss_fc6() -> dict:
    import slimir as slim

    w = np.random.default_rng(0).standard_normal((25088, 4096), np.float32) * np.float32(0.01)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [25088, 4096])
        with slim.Session() as sess:
            got = float(sess.run(slim.nn.l2_loss(x), {x: w}))
    truth = float(np.sum(np.square(w, dtype=np.float64))) / 2
    return {"session": got, "float64": truth, "rel_err": _rel(got, truth)}


def regularization_losses() -> dict:
    import slimir as slim
    from slimir.ir.graph import GraphKeys
    from slimir.nets import nets_factory

    out = {}
    for name, size, ch in [("vgg_16", 224, 3), ("alexnet_v2", 224, 3), ("overfeat", 231, 3), ("lenet", 28, 1)]:
        g = slim.Graph()
        with g.as_default():
            slim.set_random_seed(1)
            images = slim.placeholder(slim.float32, [1, size, size, ch])
            nets_factory.get_network_fn(name, 1000, weight_decay=5e-4, is_training=False)(images)
            reg = slim.add_n(g.get_collection(GraphKeys.REGULARIZATION_LOSSES))
            with slim.Session() as sess:
                sess.run(slim.global_variables_initializer())
                vals = {v: sess.variable_value(v) for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES)}
                got = float(sess.run(reg))
        truth = float(_widened_evaluate([reg], {}, vals)[0])
        out[name] = {"session": got, "float64": truth, "rel_err": _rel(got, truth)}
    return out


def inception_v1_gradients() -> dict:
    import slimir as slim
    from slimir.ir.analysis import needed_nodes
    from slimir.ir.graph import GraphKeys
    from slimir.nets import inception_v1
    from slimir.ir.reference import evaluate

    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(1)
        images = slim.placeholder(slim.float32, [2, 224, 224, 3], name="images")
        with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
            logits, _ = inception_v1.inception_v1(images, 1000, is_training=True, dropout_keep_prob=1.0)
        loss = slim.reduce_mean(logits * logits)
        tv = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        grads = slim.gradients(loss, tv)
    fetch = [loss] + grads
    feed = {images: np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype(np.float32)}
    decisions = [t for n in needed_nodes(fetch, {id(images)}) if n.type not in ("placeholder", "const")
                 for t in n.outputs if t.dtype is slim.bool_ or n.type == "max_pool_argmax"]
    with slim.Session(graph=g) as sess:
        sess.run(slim.global_variables_initializer())
        vals = {v: sess.variable_value(v) for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES)}
        got = sess.run(fetch + decisions, feed)
    shared = dict(feed)
    shared.update(zip(decisions, got[len(fetch):]))
    got = got[:len(fetch)]
    out = {"max_pool_argmax_shared": any(n.type == "max_pool_argmax" for n in g.get_operations())}
    for mode, fd in (("own decisions", feed), ("shared decisions", shared)):
        truth = _widened_evaluate(fetch, fd, vals)
        ref32 = evaluate(fetch, fd, vals)

        def err(a, t):
            return float(np.abs(np.asarray(a, np.float64) - t).max()) / max(float(np.abs(t).max()), 1e-30)

        rows = [(err(a, t), err(r, t), v.op.name) for v, a, r, t in zip(tv, got[1:], ref32[1:], truth[1:])]
        worst = max(rows)
        out[mode] = {"loss_rel_err": _rel(got[0], truth[0]), "loss_rel_err_ref32": _rel(ref32[0], truth[0]),
                     "worst_grad_err": worst[0], "worst_var": worst[2],
                     "worst_grad_err_ref32": max(r[1] for r in rows),
                     "bound_ratio": max(a / max(3 * r, 2e-3) for a, r, _ in rows)}
    return out


def reduction_time() -> dict:
    import slimir as slim

    x = np.random.default_rng(0).standard_normal((32, 56, 56, 64), np.float32)
    with slim.Graph().as_default():
        p = slim.placeholder(slim.float32, [None, 56, 56, 64])
        s = slim.reduce_sum(p, [0, 1, 2])
        with slim.Session(intra_op_num_threads=2) as sess:
            sess.run(s, {p: x})
            ts = []
            for _ in range(50):
                t0 = time.perf_counter()
                got = sess.run(s, {p: x})
                ts.append(time.perf_counter() - t0)
    truth = x.astype(np.float64).sum((0, 1, 2))
    return {"median_ms": 1e3 * float(np.median(ts)), "p10_ms": 1e3 * float(np.percentile(ts, 10)),
            "max_rel_err": float(np.max(np.abs(got - truth) / np.abs(truth)))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-inception", action="store_true")
    args = ap.parse_args(argv)
    import slimir

    print(f"slimir at {slimir.__file__}, python {sys.version.split()[0]}")
    r = l2_loss_fc6()
    print(f"l2_loss fc6 [25088,4096]: session {r['session']:.3f} float64 {r['float64']:.3f} "
          f"rel err {r['rel_err']:.2e}")
    for name, r in regularization_losses().items():
        print(f"regularization loss {name:10s}: rel err {r['rel_err']:.2e} (value {r['float64']:.6g})")
    r = reduction_time()
    print(f"ReduceSum [32,56,56,64] over N,H,W: median {r['median_ms']:.2f} ms (p10 {r['p10_ms']:.2f}), "
          f"max rel err {r['max_rel_err']:.2e}")
    if not args.skip_inception:
        r = inception_v1_gradients()
        print(f"inception_v1 224x224 batch 2 (max-pool argmax shareable: {r['max_pool_argmax_shared']})")
        for mode in ("own decisions", "shared decisions"):
            m = r[mode]
            print(f"  {mode:16s}: loss rel err {m['loss_rel_err']:.2e} (ref32 {m['loss_rel_err_ref32']:.2e}); "
                  f"worst gradient err {m['worst_grad_err']:.2e} ({m['worst_var']}), ref32 worst "
                  f"{m['worst_grad_err_ref32']:.2e}; bound ratio (<= 1 holds) {m['bound_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
