"""The compiled training step: ONE standard-ONNX model (forward, loss, backward, update) per train op."""

import numpy as np
import onnx
import pytest

import slimir as slim
from slimir.nets import cifarnet, lenet


@pytest.mark.parametrize("net, shape", [(lenet.lenet, [8, 28, 28, 1]), (cifarnet.cifarnet, [8, 32, 32, 3])])
def test_train_step_is_one_standard_onnx_model(net, shape):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, shape, name="x")
        y = slim.placeholder(slim.int64, [shape[0]], name="y")
        logits, _ = net(x, num_classes=10, is_training=True)
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.AdamOptimizer(1e-3))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            feed = {x: np.random.rand(*shape).astype(np.float32), y: np.random.randint(0, 10, shape[0])}
            before = {v: sess.run(v) for v in slim.trainable_variables()}
            loss = sess.run(train_op, feed)
            compiled = [c for c in sess._cache.values() if c.sess is not None]
            train = next(c for c in compiled if c.lowered.assigns)
            model = train.lowered.model
            # every trainable variable, its two Adam slots, the beta powers and the global step are written
            written = {v.op.name for v, _ in train.lowered.assigns}
            changed = [v for v in before if not np.array_equal(before[v], sess.run(v))]
    assert np.isfinite(loss)
    onnx.checker.check_model(model, full_check=True)
    assert {n.domain or "ai.onnx" for n in model.graph.node} == {"ai.onnx"}
    assert not {n.op_type for n in model.graph.node} & {"Gradient", "Momentum", "Adagrad", "Adam"}
    assert {v.op.name for v in before} <= written and "global_step" in written
    assert len(changed) == len(before)
