"""Cross-check run in the ort-training profile (tests/runtime/test_ort_training.py starts it with that venv's python).

Trains TF-Slim's lenet from the same initial weights on the same batches with slimir's built-in backend
(one ONNX train-step model on onnxruntime's inference API) and through ONNX Runtime's training API
(slimir.runtime.ort_training), with SGD and with AdamW; then a batch-norm net (moving statistics written
back), the checkpoint round trip (ORT CheckpointState <-> slimir safetensors, scope names) and
export_model_for_inferencing. Prints one JSON object on the last line of stdout.

    .venv-ort-training/bin/python tests/runtime/ort_training_crosscheck.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import slimir as slim
from slimir.nets import lenet
from slimir.runtime import ort_training

STEPS = 20
BATCH = 16


def batches(n: int, seed: int = 0):
    """Digit-like batches: 28x28 noise with a bright 7x7 block whose position is the label (learnable)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = rng.integers(0, 10, BATCH)
        x = rng.normal(0.0, 0.3, (BATCH, 28, 28, 1)).astype(np.float32)
        for i, c in enumerate(y):
            r, col = divmod(int(c), 4)
            x[i, 7 * r:7 * r + 7, 7 * col:7 * col + 7, 0] += 1.0
        out.append((x, y.astype(np.int64)))
    return out


def lenet_graph(optimizer_fn):
    g = slim.Graph()
    with g.as_default():
        slim.get_default_graph().seed = 1234
        images = slim.placeholder(slim.float32, [None, 28, 28, 1], name="images")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=1e-4)):
            logits, _ = lenet.lenet(images, num_classes=10, is_training=False)
        slim.losses.sparse_softmax_cross_entropy(logits, labels)
        total = slim.losses.get_total_loss()
        train_op = slim.learning.create_train_op(total, optimizer_fn())
    return g, images, labels, logits, total, train_op


def initial_values(g) -> dict:
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
    return {v.op.name: sess.variable_value(v).copy() for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)}


def builtin(optimizer_fn, init: dict, data) -> list:
    g, images, labels, _, _, train_op = lenet_graph(optimizer_fn)
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES):
            if v.op.name in init and sess.variable_value(v).shape == init[v.op.name].shape:
                sess.set_variable_value(v, init[v.op.name])
        return [float(sess.run(train_op, {images: x, labels: y})) for x, y in data]


def ort(optimizer_fn, init: dict, data, art_dir: str):
    g, images, labels, logits, total, _ = lenet_graph(optimizer_fn)
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES):
            if v.op.name in init:
                sess.set_variable_value(v, init[v.op.name])
    fwd = ort_training.export_forward(total, session=sess, extra_outputs={"logits": logits})
    trainer = ort_training.OrtTrainer(fwd, optimizer_fn(), art_dir)
    losses = [trainer.step({images: x, labels: y}) for x, y in data]
    return losses, trainer, sess, g, images, logits


def bn_graph():
    g = slim.Graph()
    with g.as_default():
        slim.get_default_graph().seed = 7
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y = slim.placeholder(slim.int64, [None], name="y")
        net = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm,
                          normalizer_params={"is_training": True, "decay": 0.9, "scale": True}, scope="conv")
        net = slim.flatten(net)
        logits = slim.fully_connected(net, 3, activation_fn=None, scope="logits")
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        total = slim.losses.get_total_loss()
        train_op = slim.learning.create_train_op(total, slim.train.GradientDescentOptimizer(0.05))
    return g, x, y, total, train_op


def batchnorm_check(art_dir: str) -> dict:
    rng = np.random.default_rng(3)
    data = [(rng.normal(1.0, 2.0, (8, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 8)) for _ in range(5)]
    g, x, y, total, train_op = bn_graph()
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        init = {v.op.name: sess.variable_value(v).copy() for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)}
        fwd = ort_training.export_forward(total, session=sess)
        built = [float(sess.run(train_op, {x: a, y: b})) for a, b in data]
        stats_builtin = {v.op.name: sess.variable_value(v).tolist() for v in g.get_collection(
            slim.GraphKeys.GLOBAL_VARIABLES) if "moving" in v.op.name}
    trainer = ort_training.OrtTrainer(fwd, slim.train.GradientDescentOptimizer(0.05), art_dir)
    losses = [trainer.step({x: a, y: b}) for a, b in data]
    params = trainer.parameters()
    training_bn_nodes = [n.op_type for n in ort_training.onnx.load(trainer.paths["eval_model.onnx"]).graph.node
                         if n.op_type == "BatchNormalization"]
    eval_loss = float(np.asarray(trainer.evaluate({x: data[0][0], y: data[0][1]})[0]))
    return {"builtin": built, "ort": losses, "frozen": fwd.frozen_params, "requires_grad": fwd.requires_grad,
            "stats_builtin": stats_builtin, "stats_ort": {k: params[k].tolist() for k in stats_builtin},
            "stats_initial": {k: init[k].tolist() for k in stats_builtin},
            "eval_batchnorm_nodes": training_bn_nodes, "eval_loss": eval_loss}


def roundtrip_check(trainer, sess, g, images, logits, out_dir: str, data) -> dict:
    """ORT CheckpointState -> slimir session -> safetensors checkpoint; ORT checkpoint file -> names."""
    trainer.to_session(sess)
    with g.as_default():
        saver = slim.train.Saver()
        prefix = saver.save(sess, os.path.join(out_dir, "model.ckpt"), global_step=trainer.global_step)
    reader = slim.train.load_variable if hasattr(slim.train, "load_variable") else None
    from slimir.runtime.checkpoint.saver import CheckpointReader

    rd = CheckpointReader(prefix)
    ort_params = trainer.parameters()
    ckpt_path = trainer.save_checkpoint(os.path.join(out_dir, "ort_checkpoint"))
    from_file = ort_training.load_checkpoint_parameters(ckpt_path)
    max_diff_ckpt = max(float(np.max(np.abs(rd.get_tensor(k) - v))) for k, v in ort_params.items())
    max_diff_file = max(float(np.max(np.abs(from_file[k] - v))) for k, v in ort_params.items())
    # deployable model
    import onnxruntime as rt

    path = trainer.export_model_for_inferencing(os.path.join(out_dir, "inference.onnx"), ["logits"])
    inf = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = data[0][0]
    got = inf.run(["logits"], {"images": x})[0]
    want = sess.run(logits, {images: x})
    # slimir session -> CheckpointState (from_session) leaves the parameters unchanged
    before = trainer.parameters()
    trainer.from_session(sess)
    after = trainer.parameters()
    return {"names": sorted(ort_params), "ckpt_names": sorted(rd.list_variables() if hasattr(rd, "list_variables")
                                                              else []),
            "file_names": sorted(from_file), "max_diff_ckpt": max_diff_ckpt, "max_diff_file": max_diff_file,
            "inference_inputs": [i.name for i in inf.get_inputs()],
            "inference_max_diff": float(np.max(np.abs(got - want))), "inference_scale": float(np.max(np.abs(want))),
            "from_session_diff": max(float(np.max(np.abs(before[k] - after[k]))) for k in before),
            "global_step_session": int(sess.variable_value(slim.get_global_step(g))), "reader": reader is not None}


def learning_train_check(logdir: str, data) -> dict:
    """slim.learning.train(..., backend='ort-training') from input bindings: 6 steps, then resume to 10."""
    from slimir.runtime.checkpoint.saver import CheckpointReader, latest_checkpoint

    out = {}
    for steps, start in ((6, 0), (10, 6)):
        opt = slim.train.GradientDescentOptimizer(0.05)
        g, images, labels, _, _, train_op = lenet_graph(lambda o=opt: o)
        with g.as_default():
            slim.inputs.bind([images, labels], iter(data[start:]))
            last = slim.learning.train(train_op, logdir, number_of_steps=steps, backend="ort-training",
                                       optimizer=opt)
        ckpt = latest_checkpoint(logdir)
        out[f"ckpt_{steps}"] = os.path.basename(ckpt)
        out[f"last_loss_{steps}"] = last
        out[f"step_{steps}"] = int(CheckpointReader(ckpt).get_tensor("global_step"))
    # ort_training.train with feed_fn (batches keyed by input name), no logdir, losses via step_callback
    opt = slim.train.GradientDescentOptimizer(0.05)
    g, images, labels, _, _, train_op = lenet_graph(lambda: opt)
    it = iter(data)
    seen = []
    with g.as_default():
        ort_training.train(train_op, None, opt, 3, feed_fn=lambda: dict(zip(("images", "labels"), next(it))),
                           step_callback=lambda step, loss: seen.append((step, loss)))
    out["feed_fn_steps"] = seen
    return out


def builtin_loss_check(art_dir: str, data) -> dict:
    """ORT's own CrossEntropyLoss on the logits vs slimir's sparse_softmax_cross_entropy, SGD, 5 steps."""
    g = slim.Graph()
    with g.as_default():
        g.seed = 99
        images = slim.placeholder(slim.float32, [None, 28, 28, 1], name="images")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        logits, _ = lenet.lenet(images, num_classes=10, is_training=False)
        loss = slim.losses.sparse_softmax_cross_entropy(logits, labels)
        train_op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.05))
        sess = slim.Session(graph=g)
        sess.run(slim.global_variables_initializer())
        fwd = ort_training.export_forward(logits, session=sess, builtin_loss="CrossEntropyLoss")
        built = [float(sess.run(train_op, {images: x, labels: y})) for x, y in data[:5]]
    sess_graph = g
    trainer = ort_training.OrtTrainer(fwd, slim.train.GradientDescentOptimizer(0.05), art_dir)
    losses = [trainer.step({images: x, "labels": y}) for x, y in data[:5]]
    errors = {}
    x, y = data[0]
    for key, feed in (("shape", {images: x[:, :14], "labels": y}), ("missing", {images: x}),
                      ("nan", {images: np.full_like(x, np.nan), "labels": y})):
        try:
            trainer.step(feed)
            errors[key] = None
        except Exception as e:  # noqa: BLE001 - the type and message are what is checked
            errors[key] = [type(e).__name__, str(e)]
    # after the failed steps, training goes on exactly as slimir's (no stale gradients, parameters untouched)
    for xb, yb in data[5:7]:
        with sess_graph.as_default():
            built.append(float(sess.run(train_op, {images: xb, labels: yb})))
        losses.append(trainer.step({images: xb, "labels": yb}))
    import onnxruntime as rt

    path = trainer.export_model_for_inferencing(os.path.join(art_dir, "inference.onnx"))
    inf = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    with sess_graph.as_default():
        trainer.to_session(sess)
        want = sess.run(logits, {images: data[0][0]})
    got = inf.run(None, {"images": data[0][0]})[0]
    return {"builtin": built, "ort": losses, "inputs": sorted(trainer.input_names), "errors": errors,
            "inference_outputs": [o.name for o in inf.get_outputs()],
            "inference_max_diff": float(np.max(np.abs(got - want)))}


def main(out_dir: str) -> None:
    import onnxruntime

    data = batches(STEPS)
    sgd = lambda: slim.train.GradientDescentOptimizer(0.05)
    lr, wd = 1e-3, 1e-2  # ORT AdamW weight_decay wd  <->  slimir AdamW weight_decay lr * wd
    adamw = lambda: slim.train.AdamWOptimizer(weight_decay=lr * wd, learning_rate=lr, epsilon=1e-8)
    g, *_ = lenet_graph(sgd)
    init = initial_values(g)
    result = {"onnxruntime": onnxruntime.__version__, "torch_imported": "torch" in sys.modules}
    for name, fn in (("sgd", sgd), ("adamw", adamw)):
        result[f"{name}_builtin"] = builtin(fn, init, data)
        losses, trainer, sess, g2, images, logits = ort(fn, init, data, os.path.join(out_dir, name))
        result[f"{name}_ort"] = losses
        if name == "adamw":
            result["optimizer_spec"] = trainer.spec.__dict__ | {"betas": list(trainer.spec.betas)}
            result["roundtrip"] = roundtrip_check(trainer, sess, g2, images, logits, os.path.join(out_dir, name), data)
            import onnx

            result["ir_versions"] = {a: onnx.load(trainer.paths[a]).ir_version for a in ort_training.ARTIFACTS[:3]}
    result["batchnorm"] = batchnorm_check(os.path.join(out_dir, "bn"))
    result["learning_train"] = learning_train_check(os.path.join(out_dir, "logdir"), data)
    result["builtin_loss"] = builtin_loss_check(os.path.join(out_dir, "builtin_loss"), data)
    result["torch_imported"] = "torch" in sys.modules
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
