"""Issue 16 item 3: real-style model code (tests/frontend/slim_style_net.py, written the research/slim way with
TF-core calls and TF's keyword names, imported through `import slimir.tf as tf` / `import slimir as slim`) builds with
research/slim's names, trains a few steps with a decreasing loss and exports to ONNX that passes the full checker."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import slim_style_net as net_module

import slimir as slim
import slimir.tf as tf


def test_builds_with_research_slim_names(caplog):
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 16, 16, 3], name='images')
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            with slim.arg_scope(net_module.tiny_net_arg_scope()):
                logits, end_points = net_module.tiny_net(images, num_classes=5, data_format='NCHW')
        assert logits.shape == [None, 5] and logits.op.name == 'TinyNet/SpatialSqueeze'
        assert end_points['conv1'].shape == [None, 8, 8, 16]
        assert end_points['decoder'].shape == [None, 8, 8, 32]  # 4x4 pooled, upsampled to 8x8, concatenated
        assert end_points['Predictions'].op.name == 'TinyNet/Predictions/Softmax'
        names = sorted(v.op.name for v in tf.trainable_variables())
        assert names == ['TinyNet/Conv2d_1c_1x1/biases', 'TinyNet/Conv2d_1c_1x1/weights',
                         'TinyNet/conv1/BatchNorm/beta', 'TinyNet/conv1/weights',
                         'TinyNet/upconv/Conv/BatchNorm/beta', 'TinyNet/upconv/Conv/weights']
        assert len(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)) == 3
        assert any("TinyNet logits: [None, 5]" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_trains_and_exports(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 16, 16, 3)).astype(np.float32)
    y = (x[:, :8].mean(axis=(1, 2, 3)) > 0).astype(np.int32) + 2 * (x[..., 0].mean(axis=(1, 2)) > 0)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        images = tf.placeholder(tf.float32, [None, 16, 16, 3], name='images')
        labels = tf.placeholder(tf.int32, [None], name='labels')
        with slim.arg_scope(net_module.tiny_net_arg_scope()):
            logits, _ = net_module.tiny_net(images, num_classes=4, is_training=True)
            eval_logits, _ = net_module.tiny_net(images, num_classes=4, is_training=False, reuse=True)
        tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        total_loss = tf.losses.get_total_loss()
        optimizer = tf.train.MomentumOptimizer(learning_rate=0.05, momentum=0.9)
        train_op = slim.learning.create_train_op(total_loss, optimizer)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            losses = [float(sess.run(train_op, {images: x, labels: y})) for _ in range(8)]
            want = sess.run(eval_logits, {images: x})
            path = str(tmp_path / "tiny_net.onnx")
            slim.export_onnx(eval_logits, path, session=sess)
    assert losses[-1] < losses[0] and np.all(np.isfinite(losses)), losses
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert any(n.op_type == "Gather" for n in model.graph.node)  # the nearest-neighbour upsampling, TF's rows
