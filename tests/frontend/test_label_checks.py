"""Labels outside [0, num_classes) (issue 17): sparse_softmax_cross_entropy, one_hot_encoding and the
image-classifier jobs check their labels in the graph and raise TF's "Received a label value of 7 which is
outside the valid range of [0, 3)", naming the tensor, in training, evaluation and plain sess.run alike, before
any variable changes; check_labels=False gives TF's unchecked results (NaN, a zero one-hot row)."""

import numpy as np
import pytest

import slimir as slim
from slimir.errors import InvalidArgumentError

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-2.0, 1.0, 4.0]], np.float32)


def _xent(logits, labels):
    """numpy: mean over examples of -log_softmax(logits)[label]."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def _expect_bad_label(info, value, num_classes, tensor):
    text = str(info.value)
    assert f"Received a label value of {value} which is outside the valid range of [0, {num_classes})" in text, text
    assert tensor in text, text


@pytest.mark.parametrize("bad, value", [([0, 7, 2], 7), ([0, 1, -1], -1), ([3, 1, 2], 3)])
def test_sparse_softmax_cross_entropy_rejects_a_label_out_of_range(bad, value):
    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int64, [None], name="labels")
        loss = slim.losses.sparse_softmax_cross_entropy(slim.constant(LOGITS), labels)
        with slim.Session() as sess:
            np.testing.assert_allclose(sess.run(loss, {labels: [0, 1, 2]}), _xent(LOGITS, [0, 1, 2]), rtol=1e-6)
            with pytest.raises(InvalidArgumentError) as info:
                sess.run(loss, {labels: np.array(bad)})
            _expect_bad_label(info, value, 3, "labels:0")


def test_the_check_is_switchable_off_and_tf_nn_checks_too():
    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int32, [None], name="y")
        logits = slim.constant(LOGITS)
        unchecked = slim.losses.sparse_softmax_cross_entropy(logits, labels, check_labels=False)
        per_example = slim.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        raw = slim.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits, check_labels=False)
        with slim.Session() as sess:
            assert np.isnan(sess.run(unchecked, {labels: [0, 7, 2]}))  # TF on GPU: NaN, silently
            with pytest.raises(InvalidArgumentError) as info:
                sess.run(per_example, {labels: [0, 7, 2]})
            _expect_bad_label(info, 7, 3, "y:0")
            got = sess.run(raw, {labels: [0, 7, 2]})
            assert np.isnan(got[1]) and np.all(np.isfinite(got[[0, 2]]))


def test_constant_labels_out_of_range_fail_when_the_graph_is_built():
    with slim.Graph().as_default():
        with pytest.raises(InvalidArgumentError) as info:
            slim.losses.sparse_softmax_cross_entropy(slim.constant(LOGITS), np.array([0, 5, 1]))
        assert "Received a label value of 5 which is outside the valid range of [0, 3)" in str(info.value)


def test_one_hot_encoding_checks_and_can_give_tfs_zero_row():
    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int64, [None], name="labels")
        checked = slim.one_hot_encoding(labels, 3)
        unchecked = slim.one_hot_encoding(labels, 3, check_labels=False)
        loss = slim.losses.softmax_cross_entropy(slim.constant(LOGITS), checked)
        with slim.Session() as sess:
            np.testing.assert_array_equal(sess.run(checked, {labels: [2, 0, 1]}),
                                          np.eye(3, dtype=np.float32)[[2, 0, 1]])
            np.testing.assert_allclose(sess.run(loss, {labels: [0, 1, 2]}), _xent(LOGITS, [0, 1, 2]), rtol=1e-6)
            for fetch in (checked, loss):
                with pytest.raises(InvalidArgumentError) as info:
                    sess.run(fetch, {labels: [0, 9, 1]})
                _expect_bad_label(info, 9, 3, "labels:0")
            np.testing.assert_array_equal(sess.run(unchecked, {labels: [0, 9, 1]}),
                                          [[1, 0, 0], [0, 0, 0], [0, 1, 0]])


def _classifier(labels):
    x = slim.constant(np.eye(3, 4, dtype=np.float32))
    logits = slim.fully_connected(x, 3, activation_fn=None, scope="logits")
    slim.losses.sparse_softmax_cross_entropy(logits, labels)
    return logits


def test_a_training_step_with_a_bad_label_raises_before_changing_any_variable(tmp_path):
    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int64, [3], name="labels")
        _classifier(labels)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(0.1))
        variables = slim.global_variables()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(train_op, {labels: [0, 1, 2]})
            before = [np.array(sess.variable_value(v)) for v in variables]
            with pytest.raises(InvalidArgumentError) as info:
                sess.run(train_op, {labels: [0, 1, 4]})
            _expect_bad_label(info, 4, 3, "labels:0")
            for v, b in zip(variables, before):
                np.testing.assert_array_equal(sess.variable_value(v), b)
        # the same in learning.train, at the third step
        feeds = iter([[0, 1, 2], [2, 1, 0], [0, 3, 1]])
        with pytest.raises(InvalidArgumentError) as info:
            slim.learning.train(train_op, str(tmp_path), number_of_steps=10, feed_fn=lambda: {labels: next(feeds)},
                                log_every_n_steps=0)
        _expect_bad_label(info, 3, 3, "labels:0")
    assert int(slim.train.load_variable(str(tmp_path), "global_step")) == 2


def test_evaluation_with_a_bad_label_raises(tmp_path):
    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int64, [3], name="labels")
        logits = _classifier(labels)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
        mean_loss, update = slim.metrics.streaming_mean(slim.losses.get_total_loss())
        accuracy, acc_update = slim.metrics.streaming_accuracy(slim.argmax(logits, 1), labels)
        value = slim.evaluation.evaluate_once("", path, str(tmp_path / "eval"), num_evals=1,
                                              eval_op=[update, acc_update], final_op=accuracy,
                                              feed_fn=lambda: {labels: [0, 1, 2]})
        assert 0.0 <= value <= 1.0
        with pytest.raises(InvalidArgumentError) as info:
            slim.evaluation.evaluate_once("", path, str(tmp_path / "eval"), num_evals=1, eval_op=[update, acc_update],
                                          final_op=mean_loss, feed_fn=lambda: {labels: [0, 1, 8]})
        _expect_bad_label(info, 8, 3, "labels:0")


def test_the_check_op_is_a_checked_identity_in_the_reference_too():
    from slimir.ir import reference

    with slim.Graph().as_default():
        labels = slim.placeholder(slim.int32, [None], name="labels")
        checked = slim.check_labels(labels, 4, "my labels")
        with slim.Session() as sess:
            np.testing.assert_array_equal(sess.run(checked, {labels: [3, 0, 2]}), [3, 0, 2])
            with pytest.raises(InvalidArgumentError, match=r"my labels.*label value of 4 .*\[0, 4\)"):
                sess.run(checked, {labels: [3, 4, 2]})
        np.testing.assert_array_equal(reference.evaluate([checked], {labels: np.array([1, 2], np.int32)})[0], [1, 2])
        with pytest.raises(InvalidArgumentError, match=r"label value of -3"):
            reference.evaluate([checked], {labels: np.array([1, -3], np.int32)})
        with pytest.raises(Exception, match="integer"):
            slim.check_labels(slim.constant(np.ones(2, np.float32)), 4)


@pytest.mark.slow
def test_slimir_train_and_eval_with_labels_shifted_out_of_range(tmp_path, capsys):
    """--labels_offset=1 on the 10 digit classes (labels 0..9 become -1..8 for 9 logits): one error line."""
    pytest.importorskip("sklearn")
    from slimir.apps import cli

    common = ["--model_name=lenet", "--dataset_name=digits", "--labels_offset=1", "--batch_size=500"]
    rc = cli.main(["train", *common, f"--train_dir={tmp_path / 'train'}", "--max_number_of_steps=2",
                   "--train_image_size=8", "--num_readers=1", "--num_preprocessing_threads=1"])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.startswith("slimir: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "Received a label value of -1 which is outside the valid range of [0, 9)" in lines[0], lines[0]
    assert not list((tmp_path / "train").glob("*.safetensors"))
    # evaluation: a 9-class checkpoint evaluated with the shifted labels
    with slim.Graph().as_default():
        from slimir.nets import nets_factory

        images = slim.placeholder(slim.float32, [None, 8, 8, 1])
        nets_factory.get_network_fn("lenet", 9, is_training=False)(images)
        slim.get_or_create_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            ckpt = slim.train.Saver().save(sess, str(tmp_path / "nine" / "model.ckpt"), global_step=0)
    rc = cli.main(["eval", *common, f"--checkpoint_path={ckpt}", "--eval_image_size=8",
                   f"--eval_dir={tmp_path / 'eval'}", "--num_preprocessing_threads=1"])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.startswith("slimir: error:")]
    assert len(lines) == 1 and "Received a label value of -1 which is outside the valid range of [0, 9)" in lines[0]
