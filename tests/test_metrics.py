"""slim.metrics: TF-Slim's streaming metrics built in the graph, checked against TF-Slim's documented
values and metric_ops_test scenarios (weights, several updates, reset, AUC, top-k, IoU,
covariance/Pearson against numpy), and their use in summaries."""

import math

import numpy as np
import pytest

import slimir as slim
from slimir import errors, metrics

NAN = float("nan")
ROWS = [[0, 1], [-4.2, 9.1], [6.5, 0], [-3.2, 4.0]]


def _metric_var_names():
    local = {v.name for v in slim.get_collection(slim.GraphKeys.LOCAL_VARIABLES)}
    metric = {v.name for v in slim.get_collection(slim.GraphKeys.METRIC_VARIABLES)}
    assert local == metric
    return local


def _session():
    sess = slim.Session()
    sess.run(slim.local_variables_initializer())
    return sess


def _close(a, b, places=5):
    assert abs(float(a) - float(b)) < 10 ** -places, (a, b)


# ------------------------------------------------------------------------------------------
# Variables and collections


@pytest.mark.parametrize("build, names", [
    (lambda: metrics.streaming_mean(slim.ones([4, 3])), {"mean/count:0", "mean/total:0"}),
    (lambda: metrics.streaming_mean_tensor(slim.ones([4, 3])), {"mean/total_tensor:0", "mean/count_tensor:0"}),
    (lambda: metrics.streaming_accuracy(slim.ones([10, 1]), slim.ones([10, 1]), name="my_accuracy"),
     {"my_accuracy/count:0", "my_accuracy/total:0"}),
    (lambda: metrics.streaming_true_positives((0, 1, 0), (0, 1, 1)), {"true_positives/count:0"}),
    (lambda: metrics.streaming_false_negatives((0, 1, 0), (0, 1, 1)), {"false_negatives/count:0"}),
    (lambda: metrics.streaming_precision(slim.ones([10, 1]), slim.ones([10, 1])),
     {"precision/false_positives/count:0", "precision/true_positives/count:0"}),
    (lambda: metrics.streaming_recall(slim.ones([10, 1]), slim.ones([10, 1])),
     {"recall/false_negatives/count:0", "recall/true_positives/count:0"}),
    (lambda: metrics.streaming_auc(slim.ones([10, 1]), slim.ones([10, 1])),
     {"auc/true_positives:0", "auc/false_negatives:0", "auc/false_positives:0", "auc/true_negatives:0"}),
    (lambda: metrics.streaming_true_positives_at_thresholds((0.0, 1.0, 0.0), (0, 1, 1), thresholds=(0.15, 0.5)),
     {"true_positives:0"}),
    (lambda: metrics.streaming_mean_absolute_error(slim.ones([10, 1]), slim.ones([10, 1])),
     {"mean_absolute_error/count:0", "mean_absolute_error/total:0"}),
    (lambda: metrics.streaming_root_mean_squared_error(slim.ones([10, 1]), slim.ones([10, 1])),
     {"root_mean_squared_error/count:0", "root_mean_squared_error/total:0"}),
    (lambda: metrics.streaming_mean_relative_error(slim.ones([10, 1]), slim.ones([10, 1]), slim.ones([10, 1])),
     {"mean_relative_error/count:0", "mean_relative_error/total:0"}),
    (lambda: metrics.streaming_percentage_less(slim.ones([10, 1]), 2.0),
     {"percentage_below_threshold/count:0", "percentage_below_threshold/total:0"}),
    (lambda: metrics.streaming_mean_iou(slim.ones([10, 1]), slim.ones([10, 1]), num_classes=2),
     {"mean_iou/total_confusion_matrix:0"}),
    (lambda: metrics.streaming_recall_at_k(slim.ones([4, 3]), slim.ones([4], slim.int32), k=1),
     {"recall_at_1/count:0", "recall_at_1/total:0"}),
    (lambda: metrics.streaming_sparse_precision_at_k(slim.ones([4, 3]), slim.ones([4, 1], slim.int64), k=2),
     {"precision_at_2/true_positive_at_2:0", "precision_at_2/false_positive_at_2:0"}),
    (lambda: metrics.streaming_sparse_recall_at_k(slim.ones([4, 3]), slim.ones([4], slim.int64), k=1, class_id=2),
     {"recall_at_1_class2/true_positive_at_1_class2:0", "recall_at_1_class2/false_negative_at_1_class2:0"}),
    (lambda: metrics.streaming_covariance(slim.ones([10, 10]), slim.ones([10, 10])),
     {"covariance/comoment:0", "covariance/count:0", "covariance/mean_label:0", "covariance/mean_prediction:0"}),
    (lambda: metrics.streaming_pearson_correlation(slim.ones([10, 10]), slim.ones([10, 10])),
     {f"pearson_r/{s}/{v}:0" for s in ("covariance", "variance_predictions", "variance_labels")
      for v in ("comoment", "count", "mean_label", "mean_prediction")}),
    (lambda: metrics.streaming_concat(slim.ones([10]), max_size=20),
     {"streaming_concat/array:0", "streaming_concat/size:0"}),
    (lambda: metrics.count(slim.ones([4, 3])), {"count/count:0"}),
])
def test_metric_variables_are_local_and_named_as_tf(build, names):
    with slim.Graph().as_default():
        build()
        assert _metric_var_names() == names
        assert not slim.trainable_variables() and not slim.global_variables()


def test_second_metric_gets_its_own_scope():
    with slim.Graph().as_default():
        metrics.streaming_mean(slim.ones([2]))
        metrics.streaming_mean(slim.ones([2]))
        assert _metric_var_names() == {"mean/total:0", "mean/count:0", "mean_1/total:0", "mean_1/count:0"}


@pytest.mark.parametrize("build", [
    lambda **kw: metrics.streaming_mean(slim.ones([4, 3]), **kw),
    lambda **kw: metrics.streaming_mean_tensor(slim.ones([4, 3]), **kw),
    lambda **kw: metrics.streaming_accuracy(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_true_negatives((0, 1, 0), (0, 1, 1), **kw),
    lambda **kw: metrics.streaming_precision(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_recall(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_auc(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_precision_at_thresholds(slim.ones([10, 1]), slim.ones([10, 1]), [0.5], **kw),
    lambda **kw: metrics.streaming_recall_at_thresholds(slim.ones([10, 1]), slim.ones([10, 1]), [0.5], **kw),
    lambda **kw: metrics.streaming_mean_squared_error(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_root_mean_squared_error(slim.ones([10, 1]), slim.ones([10, 1]), **kw),
    lambda **kw: metrics.streaming_mean_iou(slim.ones([10]), slim.ones([10]), 2, **kw),
    lambda **kw: metrics.streaming_recall_at_k(slim.ones([4, 3]), slim.ones([4], slim.int32), 1, **kw),
    lambda **kw: metrics.streaming_sparse_recall_at_k(slim.ones([4, 3]), slim.ones([4], slim.int64), 1, **kw),
    lambda **kw: metrics.streaming_covariance(slim.ones([10]), slim.ones([10]), **kw),
    lambda **kw: metrics.streaming_pearson_correlation(slim.ones([10]), slim.ones([10]), **kw),
    lambda **kw: metrics.streaming_concat(slim.ones([10]), max_size=3, **kw),
])
def test_metrics_and_updates_collections(build):
    with slim.Graph().as_default():
        value, _ = build(metrics_collections=["__metrics__"])
        assert slim.get_collection("__metrics__") == [value]
    with slim.Graph().as_default():
        _, update = build(updates_collections=["__updates__"])
        assert slim.get_collection("__updates__") == [update]


# ------------------------------------------------------------------------------------------
# Means, accuracy


def test_streaming_mean_documented_update_values():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [1, 2])
        mean, update = metrics.streaming_mean(values)
        with _session() as sess:
            got = [sess.run(update, {values: [row]}) for row in ROWS]
            np.testing.assert_allclose(got, [0.5, 1.475, 12.4 / 6.0, 1.65], rtol=1e-5)
            _close(sess.run(mean), 1.65)
            for _ in range(3):  # the value is idempotent
                _close(sess.run(mean), 1.65)


def test_streaming_mean_weighted_and_reset():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [1, 2])
        w1 = slim.placeholder(slim.float32, [1, 1])
        w2 = slim.placeholder(slim.float32, [1, 2])
        mean1, update1 = metrics.streaming_mean(values, w1)
        mean2, update2 = metrics.streaming_mean(values, w2)
        with _session() as sess:
            for row, a, b in zip(ROWS, [1, 0, 0, 1], [[1, 1], [1, 0], [0, 1], [0, 0]]):
                sess.run([update1, update2], {values: [row], w1: [[a]], w2: [b]})
            _close(sess.run(mean1), (0 + 1 - 3.2 + 4.0) / 4.0)
            _close(sess.run(mean2), (0 + 1 - 4.2 + 0) / 4.0)
            sess.run(slim.local_variables_initializer())  # reset
            assert sess.run(mean1) == 0.0
            _close(sess.run(update1, {values: [[2.0, 4.0]], w1: [[1.0]]}), 3.0)


def test_streaming_mean_tensor():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [1, 2])
        weights = slim.placeholder(slim.float32, [1, 1])
        mean, update = metrics.streaming_mean_tensor(values)
        wmean, wupdate = metrics.streaming_mean_tensor(values, weights)
        with _session() as sess:
            want = [[[0, 1]], [[-2.1, 5.05]], [[2.3 / 3., 10.1 / 3.]], [[-0.9 / 4., 3.525]]]
            for row, w, exp in zip(ROWS, [1, 0, 1, 0], want):
                got, _ = sess.run([update, wupdate], {values: [row], weights: [[w]]})
                np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sess.run(mean), [[-0.9 / 4., 3.525]], rtol=1e-5)
            np.testing.assert_allclose(sess.run(wmean), [[3.25, 0.5]], rtol=1e-5)
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [2, 2, 2])
        mean, update = metrics.streaming_mean_tensor(values)
        with _session() as sess:
            sess.run(update, {values: [[[1, 2], [1, 2]], [[1, 2], [1, 2]]]})
            sess.run(update, {values: [[[1, 2], [1, 2]], [[3, 4], [9, 10]]]})
            np.testing.assert_allclose(sess.run(mean), [[[1, 2], [1, 2]], [[2, 3], [5, 6]]])


def test_accuracy_documented_value_batch_and_streamed():
    with slim.Graph().as_default():
        acc, update = metrics.streaming_accuracy(slim.constant([0, 1, 2, 1]), slim.constant([0, 1, 1, 2]))
        with _session() as sess:
            assert sess.run(update) == 0.5
            assert sess.run(acc) == 0.5
    with slim.Graph().as_default():
        p = slim.placeholder(slim.float32, [1, 1])
        lab = slim.placeholder(slim.float32, [1, 1])
        w = slim.placeholder(slim.int64, [1, 1])
        acc, update = metrics.streaming_accuracy(p, lab)
        wacc, wupdate = metrics.streaming_accuracy(p, lab, w)
        with _session() as sess:
            for pv, lv, wv in zip([0, 1, 2, 1], [0, 1, 1, 2], [1, 1, 0, 0]):
                out = sess.run([update, wupdate], {p: [[pv]], lab: [[lv]], w: [[wv]]})
            assert out == [0.5, 1.0]
            assert sess.run([acc, wacc]) == [0.5, 1.0]


def test_accuracy_squeezes_and_weight_shapes():
    with slim.Graph().as_default():
        acc, update = metrics.streaming_accuracy(slim.ones([40, 1]), slim.ones([40]))
        predictions = slim.constant([1, 1, 1])
        labels = slim.expand_dims(slim.constant([1, 0, 0]), 1)
        weights = slim.expand_dims(slim.constant([100, 1, 1]), 1)
        wacc, wupdate = metrics.streaming_accuracy(predictions, labels, weights)
        wph = slim.placeholder(slim.int32, [3, 1])
        _, pupdate = metrics.streaming_accuracy(predictions, labels, wph)
        with _session() as sess:
            assert sess.run(update) == 1.0 and sess.run(acc) == 1.0
            assert sess.run(wupdate) > 0.95 and sess.run(wacc) > 0.95  # weights flattened, not broadcast
            assert sess.run(pupdate, {wph: [[100], [1], [1]]}) > 0.95
    with slim.Graph().as_default():
        with pytest.raises(ValueError):
            metrics.streaming_accuracy(slim.ones([10, 3]), slim.ones([10, 4]))
        with pytest.raises(ValueError):
            metrics.streaming_accuracy(slim.ones([10, 3]), slim.ones([10, 3]), slim.ones([9, 3]))


def test_uninitialized_metric_fails_and_value_is_idempotent():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [3])
        mean, update = metrics.streaming_mean(x)
        with slim.Session() as sess:
            with pytest.raises(errors.FailedPreconditionError):
                sess.run(mean)
            with pytest.raises(errors.FailedPreconditionError):
                sess.run(update, {x: [1, 2, 3]})
            sess.run(slim.local_variables_initializer())
            for v in ([1, 2, 3], [4, 5, 6]):
                sess.run(update, {x: v})
            # value and update fetched in one run: the value is the one from before the run
            before, after = sess.run([mean, update], {x: [7, 8, 9]})
            assert before == 3.5 and after == 5.0
            assert [sess.run(mean) for _ in range(3)] == [5.0] * 3


def test_count():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [1, 2])
        weights = slim.placeholder(slim.float32, [1, 2])
        c, update = metrics.count(values)
        wc, wupdate = metrics.count(values, weights)
        with _session() as sess:
            out = [sess.run([update, wupdate], {values: [r], weights: [[1, 0.5]]}) for r in ROWS]
            assert [o[0] for o in out] == [2.0, 4.0, 6.0, 8.0]
            assert sess.run([c, wc]) == [8.0, 6.0]


def test_regression_errors():
    with slim.Graph().as_default():
        p = slim.constant([2, 4, 6, 8], shape=(1, 4), dtype=slim.float32)
        lab = slim.constant([1, 3, 2, 3], shape=(1, 4), dtype=slim.float32)
        w = slim.constant([0, 1, 0, 1], shape=(1, 4))
        mae = metrics.streaming_mean_absolute_error(p, lab, w)
        mse = metrics.streaming_mean_squared_error(p, lab, w)
        rmse = metrics.streaming_root_mean_squared_error(p, lab, w)
        mse3 = metrics.streaming_mean_squared_error(p[:, :3], lab[:, :3])
        rel = metrics.streaming_mean_relative_error(p, lab, normalizer=lab)
        rel0 = metrics.streaming_mean_relative_error(p, lab, normalizer=slim.zeros_like(lab))
        pl = slim.placeholder(slim.float32, [1, 3])
        ll = slim.placeholder(slim.float32, [1, 3])
        mse_b = metrics.streaming_mean_squared_error(pl, ll)
        with _session() as sess:
            ups = sess.run([m[1] for m in (mae, mse, rmse, mse3, rel, rel0)])
            vals = sess.run([m[0] for m in (mae, mse, rmse, mse3, rel, rel0)])
            want = [3, 13, math.sqrt(13), 6, np.mean(np.abs([1, 1, 4, 5]) / np.array([1, 3, 2, 3])), 0.0]
            np.testing.assert_allclose(ups, want, rtol=1e-6)
            np.testing.assert_allclose(vals, want, rtol=1e-6)
            sess.run(mse_b[1], {pl: [[10, 8, 6]], ll: [[1, 3, 2]]})
            _close(sess.run(mse_b[1], {pl: [[-4, 3, -1]], ll: [[2, 4, 6]]}), 208.0 / 6)


def test_percentage_less():
    with slim.Graph().as_default():
        values = slim.constant([2, 4, 6, 8], shape=(1, 4), dtype=slim.float32)
        weights = slim.constant([1, 0, 0, 1], shape=(1, 4), dtype=slim.float32)
        plain = [metrics.streaming_percentage_less(values, t, name=n) for t, n in ((100, "high"), (7, "medium"),
                                                                                   (1, "low"))]
        weighted = [metrics.streaming_percentage_less(values, t, weights=weights) for t in (100, 7, 1)]
        with _session() as sess:
            sess.run([u for _, u in plain])
            np.testing.assert_allclose(sess.run([v for v, _ in plain]), [1.0, 0.75, 0.0])
            assert sess.run([u for _, u in weighted]) == [1.0, 0.5, 0.0]
        assert metrics.percentage_less is metrics.streaming_percentage_less


# ------------------------------------------------------------------------------------------
# Counts, precision, recall


@pytest.mark.parametrize("fn, want", [
    (metrics.streaming_true_positives, 1), (metrics.streaming_false_negatives, 2),
    (metrics.streaming_false_positives, 4), (metrics.streaming_true_negatives, 5)])
def test_condition_counts(fn, want):
    preds = np.array(((1, 0, 1, 0), (0, 1, 1, 1), (0, 0, 0, 0)))
    labs = np.array(((0, 1, 1, 0), (1, 0, 0, 0), (0, 0, 0, 0)))
    with slim.Graph().as_default():
        outs = []
        for dtype in (slim.bool_, slim.int32, slim.float32):
            for expand_p in (False, True):
                p = slim.cast(slim.constant(preds), dtype)
                lab = slim.cast(slim.constant(labs), dtype)
                if expand_p:
                    p = slim.expand_dims(p, 2)
                outs.append(fn(p, lab))
        weighted = fn(slim.constant(preds), slim.constant(labs), weights=37.0)
        with _session() as sess:
            for value, update in outs:
                assert sess.run(value) == 0
                assert sess.run(update) == want
                assert sess.run(value) == want
            assert sess.run(weighted[1]) == 37.0 * want


def test_counts_at_thresholds():
    preds = ((0.9, 0.2, 0.8, 0.1), (0.2, 0.9, 0.7, 0.6), (0.1, 0.2, 0.4, 0.3))
    labs = ((0, 1, 1, 0), (1, 0, 0, 0), (0, 0, 0, 0))
    th = (0.15, 0.5, 0.85)
    with slim.Graph().as_default():
        tp = metrics.streaming_true_positives_at_thresholds(preds, labs, thresholds=th)
        tpw = metrics.streaming_true_positives_at_thresholds(preds, labs, weights=37.0, thresholds=th)
        fn = metrics.streaming_false_negatives_at_thresholds(preds, labs, thresholds=th)
        fp = metrics.streaming_false_positives_at_thresholds(preds, labs, thresholds=th)
        tn = metrics.streaming_true_negatives_at_thresholds(preds, labs, thresholds=th)
        with _session() as sess:
            np.testing.assert_array_equal(sess.run(tp[0]), [0, 0, 0])
            np.testing.assert_array_equal(sess.run(tp[1]), [3, 1, 0])
            np.testing.assert_array_equal(sess.run(tpw[1]), [111, 37, 0])
            np.testing.assert_array_equal(sess.run(fn[1]), [0, 2, 3])
            np.testing.assert_array_equal(sess.run(fp[1]), [7, 4, 2])
            np.testing.assert_array_equal(sess.run(tn[1]), [2, 5, 7])


def test_precision_and_recall():
    with slim.Graph().as_default():
        some = (slim.constant([1, 0, 1, 0], shape=(1, 4)), slim.constant([0, 1, 1, 0], shape=(1, 4)))
        p2 = slim.constant([[1, 0, 1, 0], [1, 0, 1, 0]])
        l2 = slim.constant([[0, 1, 1, 0], [1, 0, 0, 1]])
        w1 = slim.constant([[2], [5]])
        w2 = slim.constant([[1, 2, 3, 4], [4, 3, 2, 1]])
        cases = [
            (metrics.streaming_precision(*some), 0.5),
            (metrics.streaming_recall(*some), 0.5),
            (metrics.precision(p2, l2, weights=w1), (2.0 + 5.0) / ((2.0 + 2.0) + (5.0 + 5.0))),
            (metrics.precision(p2, l2, weights=w2), (3.0 + 4.0) / ((1.0 + 3.0) + (4.0 + 2.0))),
            (metrics.recall(p2, l2, weights=w1), (2.0 + 5.0) / (2.0 + 2.0 + 5.0 + 5.0)),
            (metrics.recall(p2, l2, weights=w2), (3.0 + 4.0) / ((2.0 + 3.0) + (4.0 + 1.0))),
            (metrics.streaming_precision(slim.zeros([4]), slim.zeros([4])), 0.0),
            (metrics.streaming_recall(slim.zeros([4]), slim.zeros([4])), 0.0),
            (metrics.streaming_false_positive_rate(*some), 0.5),
            (metrics.streaming_false_negative_rate(*some), 0.5),
        ]
        inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
        cases += [(metrics.streaming_precision(inputs, inputs), 1.0),
                  (metrics.streaming_recall(inputs, 1 - inputs), 0.0)]
        with _session() as sess:
            got = sess.run([u for (_, u), _ in cases])
            np.testing.assert_allclose(got, [w for _, w in cases], rtol=1e-6)
            np.testing.assert_allclose(sess.run([v for (v, _), _ in cases]), [w for _, w in cases], rtol=1e-6)


# ------------------------------------------------------------------------------------------
# AUC and thresholds


def _np_roc_auc(predictions, labels, weights=None):
    """The exact (weighted) ROC AUC: the probability a positive outranks a negative, ties half."""
    w = np.ones(len(predictions)) if weights is None else np.asarray(weights, np.float64)
    pos, neg = labels > 0, labels <= 0
    pp, wp = predictions[pos], w[pos]
    pn, wn = predictions[neg], w[neg]
    greater = (pp[:, None] > pn[None, :]) + 0.5 * (pp[:, None] == pn[None, :])
    return float((wp[:, None] * wn[None, :] * greater).sum() / (wp.sum() * wn.sum()))


def test_auc_values():
    with slim.Graph().as_default():
        p = slim.constant([1, 0, 1, 0], shape=(1, 4), dtype=slim.float32)
        lab = slim.constant([0, 1, 1, 0], shape=(1, 4))
        inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
        cases = [
            (metrics.streaming_auc(p, lab), 0.5, 5),
            (metrics.streaming_auc(p, lab, weights=slim.constant([2], shape=(1, 1))), 0.5, 5),
            (metrics.streaming_auc(p, lab, weights=slim.constant([1, 2, 3, 4], shape=(1, 4))), 0.7, 5),
            (metrics.streaming_auc(slim.constant([0.1, 0.4, 0.35, 0.8], shape=(1, 4)),
                                   slim.constant([0, 0, 1, 1], shape=(1, 4)), curve="PR"), 0.79166, 3),
            (metrics.streaming_auc(slim.constant([0.1, 0.4, 0.35, 0.8, 0.1, 0.135, 0.81], shape=(1, 7)),
                                   slim.constant([0, 0, 1, 0, 1, 0, 1], shape=(1, 7)), curve="PR"), 0.610317, 3),
            (metrics.streaming_auc(slim.constant([0.0, 0.1, 0.2, 0.33, 0.3, 0.4, 0.5], shape=(1, 7)),
                                   slim.constant([0, 0, 0, 0, 1, 1, 1], shape=(1, 7)), curve="PR"), 0.90277, 3),
            (metrics.streaming_auc(inputs.astype(np.float32), inputs), 1.0, 6),
            (metrics.streaming_auc(inputs.astype(np.float32), inputs, curve="PR"), 1.0, 6),
            (metrics.streaming_auc(inputs.astype(np.float32), (1 - inputs).astype(np.float32)), 0.0, 6),
            (metrics.streaming_auc(slim.zeros([4]), slim.zeros([4])), 1.0, 6),
            (metrics.streaming_auc(slim.ones([4]), slim.ones([4]), curve="PR"), 1.0, 6),
        ]
        with _session() as sess:
            ups = sess.run([u for (_, u), _, _ in cases])
            vals = sess.run([v for (v, _), _, _ in cases])
            for got_u, got_v, (_, want, places) in zip(ups, vals, cases):
                _close(got_u, want, places)
                _close(got_v, want, places)
    with slim.Graph().as_default():
        with pytest.raises(ValueError):
            metrics.streaming_auc(slim.ones([4]), slim.ones([4]), curve="XY")


def test_auc_over_batches_matches_numpy():
    rng = np.random.RandomState(1)
    n, batch = 1000, 100
    labels = rng.randint(0, 2, size=n)
    predictions = np.clip(0.4 + 0.2 * labels + rng.normal(0.0, 0.2, size=n), 0, 1).astype(np.float32)
    for weights in (None, rng.exponential(scale=1.0, size=n).astype(np.float32)):
        with slim.Graph().as_default():
            tp = slim.placeholder(slim.float32, [batch])
            tl = slim.placeholder(slim.float32, [batch])
            tw = slim.placeholder(slim.float32, [batch]) if weights is not None else None
            auc, update = metrics.streaming_auc(tp, tl, weights=tw, num_thresholds=500)
            with _session() as sess:
                for i in range(0, n, batch):
                    feed = {tp: predictions[i:i + batch], tl: labels[i:i + batch]}
                    if tw is not None:
                        feed[tw] = weights[i:i + batch]
                    sess.run(update, feed)
                _close(sess.run(auc), _np_roc_auc(predictions, labels, weights), 2)


def test_auc_summation_methods_and_predictions_out_of_range():
    with slim.Graph().as_default():
        p = slim.constant([0.1, 0.4, 0.35, 0.8], shape=(1, 4))
        lab = slim.constant([0, 0, 1, 1], shape=(1, 4))
        lo = metrics.streaming_auc(p, lab, summation_method="minoring")
        hi = metrics.streaming_auc(p, lab, summation_method="majoring")
        tr = metrics.streaming_auc(p, lab)
        ci = metrics.streaming_auc(p, lab, curve="PR", summation_method="careful_interpolation")
        x = slim.placeholder(slim.float32, [4])
        auc, update = metrics.streaming_auc(x, [0, 1, 1, 0])
        with _session() as sess:
            a, b, c, d = sess.run([lo[1], hi[1], tr[1], ci[1]])
            assert a <= c <= b
            _close(c, 0.75, 3)  # 3 of the 4 positive/negative pairs are ordered
            assert 0.7 < d < 0.9
            sess.run(update, {x: [0.2, 0.7, 0.9, 0.1]})
            before = sess.run(auc)
            with pytest.raises(errors.NumericsError, match=r"predictions must be in \[0, 1\]"):
                sess.run(update, {x: [1, -1, 1, -1]})
            assert sess.run(auc) == before  # the accumulators were not touched


def test_precision_recall_at_thresholds():
    with slim.Graph().as_default():
        p = slim.constant([[1, 0], [1, 0]], dtype=slim.float32)
        lab = slim.constant([[0, 1], [1, 0]])
        cases = []
        for w in (slim.constant([[0], [1]], dtype=slim.float32), slim.constant([[0, 0], [1, 1]], dtype=slim.float32)):
            cases.append((metrics.streaming_precision_at_thresholds(p, lab, [0.5, 1.1], weights=w), [1.0, 0.0]))
            cases.append((metrics.streaming_recall_at_thresholds(p, lab, [0.5, 1.1], weights=w), [1.0, 0.0]))
        p4 = slim.constant([1, 0, 1, 0], shape=(1, 4), dtype=slim.float32)
        l4 = slim.constant([0, 1, 1, 1], shape=(1, 4))
        cases.append((metrics.streaming_precision_at_thresholds(p4, l4, [-1.0, 2.0]), [0.75, 0.0]))
        cases.append((metrics.streaming_recall_at_thresholds(p4, l4, [-1.0, 2.0]), [1.0, 0.0]))
        cases.append((metrics.streaming_precision_at_thresholds(slim.zeros([4]), slim.zeros([4]), [0.5]), [0.0]))
        cases.append((metrics.streaming_false_positive_rate_at_thresholds(p4, l4, [0.5]), [1.0]))
        cases.append((metrics.streaming_false_negative_rate_at_thresholds(p4, l4, [0.5]), [2.0 / 3.0]))
        with _session() as sess:
            sess.run([u for (_, u), _ in cases])
            for (value, _), want in cases:
                np.testing.assert_allclose(sess.run(value), want, atol=1e-5)


def test_precision_recall_at_thresholds_over_batches():
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 2, size=1000).astype(np.float32)
    predictions = np.clip(0.4 + 0.2 * labels + rng.normal(0.0, 0.2, size=1000), 0, 1).astype(np.float32)
    pos = predictions > 0.3
    tp, fp, fn = np.sum(pos & (labels == 1)), np.sum(pos & (labels == 0)), np.sum(~pos & (labels == 1))
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [10])
        y = slim.placeholder(slim.float32, [10])
        prec, prec_op = metrics.streaming_precision_at_thresholds(x, y, [0.3])
        rec, rec_op = metrics.streaming_recall_at_thresholds(x, y, [0.3])
        with _session() as sess:
            for i in range(0, 1000, 10):
                sess.run([prec_op, rec_op], {x: predictions[i:i + 10], y: labels[i:i + 10]})
            _close(sess.run(prec)[0], tp / (1e-7 + tp + fp), 4)
            _close(sess.run(rec)[0], tp / (1e-7 + tp + fn), 4)


def test_curve_points():
    with slim.Graph().as_default():
        points, update = metrics.streaming_curve_points(labels=[0, 1, 1, 0], predictions=[0.9, 0.8, 0.3, 0.1],
                                                        num_thresholds=3)
        with _session() as sess:
            sess.run(update)
            got = sess.run(points)
            assert got.shape == (3, 2)
            np.testing.assert_allclose(got[0], [1.0, 1.0], atol=1e-5)  # threshold -eps: all positive
            np.testing.assert_allclose(got[-1], [0.0, 0.0], atol=1e-5)  # threshold 1+eps: none


# ------------------------------------------------------------------------------------------
# Mean IoU


def test_mean_iou_documented_value_and_streamed():
    with slim.Graph().as_default():
        miou, update = metrics.streaming_mean_iou(slim.constant([0, 1, 2, 1, 0]), slim.constant([0, 1, 1, 2, 1]), 3)
        p = slim.placeholder(slim.int32, [1, 1])
        lab = slim.placeholder(slim.int32, [1, 1])
        smiou, supdate = metrics.streaming_mean_iou(p, lab, 3)
        with _session() as sess:
            np.testing.assert_array_equal(sess.run(update), [[1, 0, 0], [1, 1, 1], [0, 1, 0]])
            want = np.mean([1.0 / 2.0, 1.0 / 4.0, 0.0])
            _close(sess.run(miou), want, 6)
            for pv, lv in zip([0, 1, 2, 1, 0], [0, 1, 1, 2, 1]):
                sess.run(supdate, {p: [[pv]], lab: [[lv]]})
            _close(sess.run(smiou), want, 6)


def test_mean_iou_weights_missing_classes_and_confusion_matrix():
    with slim.Graph().as_default():
        p10 = slim.concat([slim.constant(0, shape=[5]), slim.constant(1, shape=[5])], 0)
        l10 = slim.concat([slim.constant(0, shape=[3]), slim.constant(1, shape=[7])], 0)
        w10 = slim.concat([slim.constant(0, shape=[1]), slim.constant(1, shape=[8]), slim.constant(0, shape=[1])], 0)
        plain = metrics.streaming_mean_iou(p10, l10, 2)
        weighted = metrics.streaming_mean_iou(p10, l10, 2, weights=w10)
        labels3 = slim.constant([[[0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 0, 1]], [[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]])
        preds3 = slim.constant([[[0, 0, 2, 1, 1, 0], [0, 1, 2, 2, 0, 1]], [[0, 0, 2, 1, 1, 1], [1, 1, 2, 0, 0, 0]]])
        missing = metrics.streaming_mean_iou(preds3, labels3, 3)
        small = metrics.streaming_mean_iou(slim.constant([0]), slim.constant([0]), 2)
        wrong = metrics.streaming_mean_iou(slim.zeros([40]), slim.ones([40]), 2)
        right = metrics.streaming_mean_iou(slim.zeros([40]), slim.zeros([40]), 1)
        pw = slim.placeholder(slim.int32, [1, 1])
        lw = slim.placeholder(slim.int32, [1, 1])
        ww = slim.placeholder(slim.float32, [1, 1])
        streamed = metrics.streaming_mean_iou(pw, lw, 2, weights=ww)
        with _session() as sess:
            np.testing.assert_array_equal(sess.run(plain[1]), [[3, 0], [2, 5]])
            _close(sess.run(plain[0]), np.mean([3. / 5., 5. / 7.]), 6)
            np.testing.assert_array_equal(sess.run(weighted[1]), [[2, 0], [2, 4]])
            _close(sess.run(weighted[0]), np.mean([2. / 4., 4. / 6.]), 6)
            np.testing.assert_array_equal(sess.run(missing[1]), [[7, 4, 3], [3, 5, 2], [0, 0, 0]])
            _close(sess.run(missing[0]), (7 / 17 + 5 / 14 + 0 / 5) / 3, 6)
            np.testing.assert_array_equal(sess.run(small[1]), [[1, 0], [0, 0]])
            assert sess.run(small[0]) == 1.0
            np.testing.assert_array_equal(sess.run(wrong[1]), [[0, 0], [40, 0]])
            assert sess.run(wrong[0]) == 0.0
            assert sess.run(right[1])[0, 0] == 40 and sess.run(right[0]) == 1.0
            for a, b, c in zip([0, 1, 0, 1, 0, 1], [0, 1, 1, 0, 0, 1], [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]):
                sess.run(streamed[1], {pw: [[a]], lw: [[b]], ww: [[c]]})
            _close(sess.run(streamed[0]), np.mean([2.0 / 3.0, 1.0 / 2.0]), 6)


def test_mean_iou_errors():
    with slim.Graph().as_default():
        with pytest.raises(ValueError):
            metrics.streaming_mean_iou(slim.ones([10, 3]), slim.ones([10, 4]), 2)
        with pytest.raises(ValueError):
            metrics.streaming_mean_iou(slim.ones([10]), slim.ones([10]), 2, weights=slim.zeros([9]))
        x = slim.placeholder(slim.int32, [3])
        miou, update = metrics.streaming_mean_iou(x, [0, 1, 1], 2)
        with _session() as sess:
            sess.run(update, {x: [0, 1, 1]})
            with pytest.raises(errors.NumericsError, match="num_classes=2"):
                sess.run(update, {x: [0, 2, 1]})
            assert sess.run(miou) == 1.0


# ------------------------------------------------------------------------------------------
# Top-k


TOPK_PREDS = np.array([[0.1, 0.2, 0.7], [0.6, 0.2, 0.2], [0.0, 0.9, 0.1], [0.2, 0.0, 0.8]], np.float32)


@pytest.mark.parametrize("k, weights, want", [(1, None, 0.25), (2, None, 0.5), (3, None, 1.0),
                                              (2, [0, 1, 0, 1], 1.0)])
def test_recall_at_k_and_sparse_recall_agree(k, weights, want):
    with slim.Graph().as_default():
        labels = slim.constant([0, 0, 0, 0], dtype=slim.int64)
        w = None if weights is None else slim.constant(weights, dtype=slim.float32)
        recall, update = metrics.streaming_recall_at_k(TOPK_PREDS, labels, k=k, weights=w)
        sp_recall, sp_update = metrics.streaming_sparse_recall_at_k(TOPK_PREDS, slim.reshape(labels, [4, 1]), k=k,
                                                                   weights=w)
        with _session() as sess:
            assert sess.run([update, sp_update]) == [want, want]
            assert sess.run([recall, sp_recall]) == [want, want]


def test_recall_at_k_ties_count_as_in_top_k():
    with slim.Graph().as_default():
        preds = np.array([[0.5, 0.5, 0.5], [0.2, 0.7, 0.7], [0.1, np.nan, 0.9]], np.float32)
        _, update = metrics.streaming_recall_at_k(preds, np.array([2, 2, 2], np.int32), k=1)
        _, update2 = metrics.streaming_recall_at_k(TOPK_PREDS, np.array([3, 0, 1, 2], np.int32), k=3)
        with _session() as sess:
            # rows 0 and 1: the label ties at the top, so it is in the top 1 (in_top_k); row 2 has a NaN
            _close(sess.run(update), 2.0 / 3.0, 6)
            _close(sess.run(update2), 0.75, 6)


SPARSE_PREDS_1 = [[0.1, 0.3, 0.2, 0.4], [0.1, 0.2, 0.3, 0.4]]
SPARSE_LABELS_1 = np.array([[3], [2]], np.int64)
SPARSE_PREDS_5 = [[0.5, 0.1, 0.6, 0.3, 0.8, 0.0, 0.7, 0.2, 0.4, 0.9],
                  [0.3, 0.0, 0.7, 0.2, 0.4, 0.9, 0.5, 0.8, 0.1, 0.6]]
SPARSE_TOPK_5 = [[9, 4, 6, 2, 0], [5, 7, 2, 9, 6]]
SPARSE_LABELS_5 = np.array([[2, 7, 8], [1, 2, 5]], np.int64)
SPARSE_LABELS_5_OUT = np.array([[2, 7, -1, 8], [1, 2, 5, 10]], np.int64)

PRECISION_CASES = [  # (predictions, top-k ids, labels, k, class_id, expected)
    *[(SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, c, NAN) for c in (-1, 0, 1, 2, 4)],
    (SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, 3, 0.5),
    (SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, None, 0.5),
    *[(SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, c, NAN) for c in (-1, 1, 3, 8, 10)],
    *[(SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, c, 0.0) for c in (0, 4, 6, 9)],
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 2, 1.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 5, 1.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 7, 0.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, None, 3.0 / 10),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5_OUT, 5, None, 3.0 / 10),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5_OUT, 5, 2, 1.0),
]
RECALL_CASES = [
    *[(SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, c, NAN) for c in (-1, 0, 1, 4)],
    (SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, 2, 0.0),
    (SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, 3, 1.0),
    (SPARSE_PREDS_1, [[3], [3]], SPARSE_LABELS_1, 1, None, 0.5),
    *[(SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, c, NAN) for c in (0, 3, 4, 6, 9, 10)],
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 8, 0.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 2, 1.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 5, 1.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, 7, 0.0),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5, 5, None, 3.0 / 6),
    (SPARSE_PREDS_5, SPARSE_TOPK_5, SPARSE_LABELS_5_OUT, 5, None, 3.0 / 8),  # out-of-range labels count as misses
]


def _check_sparse(cases, by_scores, by_top_k):
    with slim.Graph().as_default():
        built = []
        for preds, top, labels, k, class_id, want in cases:
            built.append((by_scores(slim.constant(preds, dtype=slim.float32), labels, k, class_id), want))
            built.append((by_top_k(slim.constant(top, dtype=slim.int32), labels, class_id), want))
        with slim.Session() as sess:
            for (value, _), _ in built:
                with pytest.raises(errors.FailedPreconditionError):
                    sess.run(value)
            sess.run(slim.local_variables_initializer())
            ups = sess.run([u for (_, u), _ in built])
            vals = sess.run([v for (v, _), _ in built])
    for got_u, got_v, (_, want) in zip(ups, vals, built):
        if math.isnan(want):
            assert math.isnan(got_u) and math.isnan(got_v)
        else:
            assert got_u == want and got_v == want
        assert np.asarray(got_v).dtype == np.float64


def test_sparse_precision_at_k_tf_cases():
    _check_sparse(PRECISION_CASES,
                  lambda p, lab, k, c: metrics.streaming_sparse_precision_at_k(p, lab, k, class_id=c),
                  lambda t, lab, c: metrics.streaming_sparse_precision_at_top_k(t, lab, class_id=c))


def test_sparse_recall_at_k_tf_cases():
    _check_sparse(RECALL_CASES,
                  lambda p, lab, k, c: metrics.streaming_sparse_recall_at_k(p, lab, k, class_id=c),
                  lambda t, lab, c: metrics.sparse_recall_at_top_k(lab, t, class_id=c))


def test_sparse_at_k_weights_duplicates_ties_and_3d():
    with slim.Graph().as_default():
        p5 = slim.constant(SPARSE_PREDS_5)
        # weights per row: row 0 has 1 hit in 3 labels... row weights 0 and 1 keep only row 1
        rec_w = metrics.streaming_sparse_recall_at_k(p5, SPARSE_LABELS_5, 5, weights=slim.constant([0.0, 1.0]))
        prec_w = metrics.streaming_sparse_precision_at_k(p5, SPARSE_LABELS_5, 5, weights=slim.constant([2.0, 1.0]))
        # a repeated label counts once (TF's set semantics)
        rec_dup = metrics.streaming_sparse_recall_at_k(p5, np.array([[2, 2, 8], [1, 2, 5]], np.int64), 5)
        # ties go to the lower class id, as TF's top_k: class 0 is in the top 1, class 1 is not
        ties = slim.constant([[0.5, 0.5, 0.1]])
        tie0 = metrics.streaming_sparse_precision_at_k(ties, np.array([[0]], np.int64), 1)
        tie1 = metrics.streaming_sparse_precision_at_k(ties, np.array([[1]], np.int64), 1)
        # [D1, D2, num_classes] predictions with [D1, D2] labels
        p3 = slim.constant([SPARSE_PREDS_1, SPARSE_PREDS_1])
        rec3 = metrics.streaming_sparse_recall_at_k(p3, np.array([[3, 2], [3, 3]], np.int64), 1)
        with _session() as sess:
            assert sess.run(rec_w[1]) == 2.0 / 3.0  # row 1: labels {1,2,5}, top-5 holds 2 and 5
            assert sess.run(prec_w[1]) == (2.0 * 1 + 1.0 * 2) / (2.0 * 5 + 1.0 * 5)
            assert sess.run(rec_dup[1]) == 3.0 / 5.0  # label sets {2, 8} and {1, 2, 5}: hits 2 and 2, 5
            assert sess.run([tie0[1], tie1[1]]) == [1.0, 0.0]
            assert sess.run(rec3[1]) == 3.0 / 4.0
    with slim.Graph().as_default():
        with pytest.raises(ValueError, match="at least k"):
            metrics.streaming_sparse_precision_at_k(slim.ones([2, 3]), np.array([[0], [1]], np.int64), k=4)


# ------------------------------------------------------------------------------------------
# Covariance and Pearson


def test_covariance_single_updates():
    with slim.Graph().as_default():
        r = slim.cast(slim.constant(np.arange(10)), slim.float32)
        same = metrics.streaming_covariance(r, r)
        diff = metrics.streaming_covariance(slim.constant([2, 4, 6], shape=(1, 3), dtype=slim.float32),
                                            slim.constant([1, 3, 2], shape=(1, 3), dtype=slim.float32))
        weighted = metrics.streaming_covariance(slim.constant([2, 4, 6, 8], shape=(1, 4), dtype=slim.float32),
                                                slim.constant([1, 3, 2, 7], shape=(1, 4), dtype=slim.float32),
                                                weights=slim.constant([0, 1, 3, 1], shape=(1, 4), dtype=slim.float32))
        pr = metrics.streaming_pearson_correlation(slim.constant([2, 4, 6], dtype=slim.float32),
                                                   slim.constant([1, 3, 2], dtype=slim.float32))
        with _session() as sess:
            assert math.isnan(sess.run(same[0]))  # count <= 1: NaN
            cases = [(same, np.cov(np.arange(10), np.arange(10))[0, 1]), (diff, np.cov([2, 4, 6], [1, 3, 2])[0, 1]),
                     (weighted, np.cov([2, 4, 6, 8], [1, 3, 2, 7], fweights=[0, 1, 3, 1])[0, 1]),
                     (pr, np.corrcoef([2, 4, 6], [1, 3, 2])[0, 1])]
            ups = sess.run([u for (_, u), _ in cases])
            for got, (_, want) in zip(ups, cases):
                _close(got, want, 5)
            for (value, _), want in cases:
                _close(sess.run(value), want, 5)


@pytest.mark.parametrize("weighting", ["none", "weights", "singleton"])
def test_covariance_and_pearson_over_batches_match_numpy(weighting):
    rng = np.random.RandomState(123)
    n, stride = 100, 10
    predictions = rng.randn(n)
    labels = 0.5 * predictions + rng.randn(n)
    if weighting == "weights":
        weights = np.tile(np.arange(n // stride), n // stride).astype(np.float64)
        rng.shuffle(weights)
        weights[0:stride] = 0.0
    elif weighting == "singleton":  # one non-zero weight per batch
        weights = (np.arange(n).reshape(n // stride, stride) % stride == 0)
        for row in weights:
            rng.shuffle(row)
        weights = weights.reshape(n).astype(np.float64)
    else:
        weights = None
    with slim.Graph().as_default():
        tp = slim.placeholder(slim.float32, [stride])
        tl = slim.placeholder(slim.float32, [stride])
        tw = slim.placeholder(slim.float32, [stride]) if weights is not None else None
        cov, cov_update = metrics.streaming_covariance(tp, tl, weights=tw)
        r, r_update = metrics.streaming_pearson_correlation(tp, tl, weights=tw)
        with _session() as sess:
            for i in range(n // stride):
                s = slice(stride * i, stride * (i + 1))
                feed = {tp: predictions[s], tl: labels[s]}
                if tw is not None:
                    feed[tw] = weights[s]
                got_cov, got_r = sess.run([cov_update, r_update], feed)
                fw = None if weights is None else weights[:stride * (i + 1)]
                if fw is not None and fw.sum() <= 1:
                    assert math.isnan(got_cov) and math.isnan(got_r)
                    continue
                cmat = np.cov(predictions[:stride * (i + 1)], labels[:stride * (i + 1)], fweights=fw)
                _close(got_cov, cmat[0, 1], 4)
                _close(got_r, cmat[0, 1] / np.sqrt(cmat[0, 0] * cmat[1, 1]), 4)
                _close(sess.run(cov, feed), cmat[0, 1], 4)
                _close(sess.run(r, feed), cmat[0, 1] / np.sqrt(cmat[0, 0] * cmat[1, 1]), 4)


# ------------------------------------------------------------------------------------------
# Concat


def test_streaming_concat_variable_batches_and_reset():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.int32, [None])
        concatenated, update = metrics.streaming_concat(values, max_size=20)
        with _session() as sess:
            assert sess.run(concatenated).tolist() == []
            assert sess.run(update, {values: [0, 1, 2]}) == 3
            assert sess.run(concatenated).tolist() == [0, 1, 2]
            sess.run([update], {values: [3, 4]})
            assert sess.run(concatenated).tolist() == [0, 1, 2, 3, 4]
            sess.run([update], {values: [5, 6, 7, 8, 9]})
            np.testing.assert_array_equal(concatenated.eval(session=sess), np.arange(10))
            sess.run(slim.local_variables_initializer())
            sess.run(update, {values: [3, 4]})
            assert sess.run(concatenated).tolist() == [3, 4]


def test_streaming_concat_max_size_axis_and_dtypes():
    with slim.Graph().as_default():
        concatenated, update = metrics.streaming_concat(slim.constant(np.arange(3, dtype=np.int32)), max_size=5)
        c2d, update2d = metrics.streaming_concat(slim.reshape(slim.constant(np.arange(3, dtype=np.int32)), (3, 1)),
                                                 axis=-1, max_size=10)
        x = slim.placeholder(slim.float32, [None, 2])
        cf, updatef = metrics.streaming_concat(x, max_size=4)
        with _session() as sess:
            out = []
            for _ in range(3):
                sess.run(update)
                out.append(sess.run(concatenated).tolist())
            assert out == [[0, 1, 2], [0, 1, 2, 0, 1], [0, 1, 2, 0, 1]]
            for _ in range(10):
                sess.run([update2d])
            np.testing.assert_array_equal(sess.run(c2d), [[0] * 10, [1] * 10, [2] * 10])
            sess.run(updatef, {x: [[0.5, -1.5]]})
            sess.run(updatef, {x: [[1.25, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]})
            got = sess.run(cf)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, [[0.5, -1.5], [1.25, 2.0], [3.0, 4.0], [5.0, 6.0]])


def test_streaming_concat_errors():
    with slim.Graph().as_default():
        with pytest.raises(ValueError, match="max_size"):
            metrics.streaming_concat(slim.placeholder(slim.float32, [None]))
        values = slim.zeros((2, 3))
        with pytest.raises(ValueError):
            metrics.streaming_concat(values, axis=-3, max_size=3)
        with pytest.raises(ValueError):
            metrics.streaming_concat(values, axis=2, max_size=3)
        with pytest.raises(ValueError):
            metrics.streaming_concat(slim.placeholder(slim.float32, [None, None]), max_size=3)


# ------------------------------------------------------------------------------------------
# Aggregation, summaries, the README's evaluation snippets


def test_aggregate_metrics_and_metric_map():
    with slim.Graph().as_default():
        with pytest.raises(ValueError):
            metrics.aggregate_metrics()
        predictions = slim.placeholder(slim.float32, [None])
        labels = slim.placeholder(slim.float32, [None])
        mae = metrics.streaming_mean_absolute_error(predictions, labels)
        mse = metrics.streaming_mean_squared_error(predictions, labels)
        values, updates = metrics.aggregate_metrics(mae, mse)
        assert values == [mae[0], mse[0]] and updates == [mae[1], mse[1]]
        v1, u1 = metrics.aggregate_metrics(mae)
        assert v1 == [mae[0]] and u1 == [mae[1]]
        names_to_values, names_to_updates = metrics.aggregate_metric_map({
            "eval/mean_absolute_error": mae, "eval/mean_squared_error": mse})
        assert list(names_to_values) == ["eval/mean_absolute_error", "eval/mean_squared_error"]
        assert names_to_values["eval/mean_squared_error"] is mse[0]
        assert names_to_updates["eval/mean_absolute_error"] is mae[1]
        # the README loop: run the updates over batches, then read the values
        rng = np.random.RandomState(0)
        p, t = rng.randn(5, 8), rng.randn(5, 8)
        with _session() as sess:
            for i in range(5):
                sess.run(list(names_to_updates.values()), {predictions: p[i], labels: t[i]})
            got = dict(zip(names_to_values, sess.run(list(names_to_values.values()))))
        _close(got["eval/mean_absolute_error"], np.mean(np.abs(p - t)), 5)
        _close(got["eval/mean_squared_error"], np.mean((p - t) ** 2), 5)


def test_values_feed_summary_scalar_print_and_merge(capfd):
    from tensorboardX.proto.summary_pb2 import Summary

    with slim.Graph().as_default():
        predictions = slim.placeholder(slim.int64, [None], name="predictions")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        names_to_values, names_to_updates = metrics.aggregate_metric_map({
            "accuracy": metrics.accuracy(predictions, labels),
            "precision": metrics.precision(predictions, labels),
            "recall": metrics.recall(predictions, labels),
        })
        summary_ops = []
        for metric_name, metric_value in names_to_values.items():
            op = slim.summary.scalar(metric_name, metric_value)
            op = slim.Print(op, [metric_value], metric_name)
            summary_ops.append(op)
        merged = slim.summary.merge(summary_ops)
        with _session() as sess:
            sess.run(list(names_to_updates.values()), {predictions: [1, 0, 1, 1], labels: [1, 1, 0, 1]})
            sess.run(list(names_to_updates.values()), {predictions: [0, 0], labels: [0, 1]})
            record = sess.run(merged)
    summary = Summary()
    summary.ParseFromString(record)
    got = {v.tag: v.simple_value for v in summary.value}
    assert set(got) == {"accuracy", "precision", "recall"}
    _close(got["accuracy"], 3.0 / 6.0, 6)
    _close(got["precision"], 2.0 / 3.0, 6)
    _close(got["recall"], 2.0 / 4.0, 6)
    err = capfd.readouterr().err
    assert "accuracy[0.5]" in err and "recall[0.5]" in err


def test_update_ops_work_as_eval_ops_in_one_run():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None])
        y = slim.placeholder(slim.float32, [None])
        ops = metrics.aggregate_metric_map({
            "mean": metrics.streaming_mean(x), "auc": metrics.streaming_auc(x, y),
            "pearson": metrics.streaming_pearson_correlation(x, y), "iou": metrics.streaming_mean_iou(
                slim.cast(x > 0.5, slim.int32), slim.cast(y, slim.int32), 2)})
        update_all = slim.group(*ops[1].values())
        rng = np.random.RandomState(3)
        xs, ys = rng.rand(4, 16).astype(np.float32), rng.randint(0, 2, (4, 16)).astype(np.float32)
        with _session() as sess:
            for i in range(4):
                sess.run(update_all, {x: xs[i], y: ys[i]})
            got = sess.run(ops[0])
        _close(got["mean"], xs.mean(), 5)
        _close(got["pearson"], np.corrcoef(xs.ravel(), ys.ravel())[0, 1], 4)
        _close(got["auc"], _np_roc_auc(xs.ravel(), ys.ravel()), 2)


def test_short_names():
    assert metrics.accuracy is metrics.streaming_accuracy
    assert metrics.precision is metrics.streaming_precision
    assert metrics.recall is metrics.streaming_recall
    assert slim.metrics is metrics


def test_streaming_mean_and_accuracy_over_1e7_examples_are_exact():
    """10^7 examples in 1,000 batches: float32 accumulators would drift (and stop counting past 2**24);
    slimir's are float64, so the mean and the accuracy equal the exact values to 1e-7."""
    rng = np.random.default_rng(0)
    n_batches, size = 1000, 10_000
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float32, [None], name="values")
        pred = slim.placeholder(slim.int64, [None], name="pred")
        lab = slim.placeholder(slim.int64, [None], name="lab")
        mean, mean_update = metrics.streaming_mean(values)
        acc, acc_update = metrics.streaming_accuracy(pred, lab)
        cnt, cnt_update = metrics.count(values)
        total, hits = 0.0, 0
        with slim.Session() as sess:
            sess.run(slim.local_variables_initializer())
            for _ in range(n_batches):
                v = rng.random(size, np.float32) + np.float32(1e3)
                p = rng.integers(0, 3, size)
                q = rng.integers(0, 3, size)
                sess.run([mean_update, acc_update, cnt_update], {values: v, pred: p, lab: q})
                total += float(np.sum(v, dtype=np.float64))
                hits += int(np.sum(p == q))
            got_mean, got_acc, got_cnt = sess.run([mean, acc, cnt])
    n = n_batches * size
    assert got_cnt == n and np.asarray(got_mean).dtype == np.float32
    assert abs(float(got_mean) - total / n) / (total / n) <= 1e-7
    assert abs(float(got_acc) - hits / n) <= 1e-7 * (hits / n)
