"""slim.metrics' ranking, curve and agreement metrics (slimir/metrics/curves.py) and the growing
streaming_concat: the scenarios and values of TF-Slim's metric_ops_test (variables, collections,
idempotent values, documented numbers, weights, error types), plus numpy references over many updates."""

import math

import numpy as np
import pytest

import slimir as slim
from slimir import errors, metrics


def _local_names():
    local = {v.name for v in slim.get_collection(slim.GraphKeys.LOCAL_VARIABLES)}
    assert local == {v.name for v in slim.get_collection(slim.GraphKeys.METRIC_VARIABLES)}
    return local


def _session():
    sess = slim.Session()
    sess.run(slim.local_variables_initializer())
    return sess


def _update_then_value(build):
    """Build (value, update) in a fresh graph, run the update once; returns (update result, value)."""
    with slim.Graph().as_default():
        value, update = build()
        with _session() as sess:
            up = sess.run(update)
            return up, sess.run(value)


def _roc_auc_np(predictions, labels, weights=None):
    """Weighted ROC AUC with ties counting one half: P(score of a positive > score of a negative)."""
    p, y = np.asarray(predictions, np.float64), np.asarray(labels) > 0
    w = np.ones(len(p)) if weights is None else np.asarray(weights, np.float64)
    pos, neg = p[y], p[~y]
    wp, wn = w[y], w[~y]
    gt = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(wp @ gt @ wn / (wp.sum() * wn.sum()))


def _pr_auc_np(predictions, labels, weights=None):
    """Trapezoidal PR area with every distinct prediction as a threshold, starting at (recall 0, precision 1)."""
    p, y = np.asarray(predictions, np.float64), np.asarray(labels) > 0
    w = np.ones(len(p)) if weights is None else np.asarray(weights, np.float64)
    xs, ys = [0.0], [1.0]
    for t in np.unique(p)[::-1]:
        sel = p >= t
        tp = w[sel & y].sum()
        xs.append(tp / w[y].sum())
        ys.append(tp / w[sel].sum())
    xs, ys = np.array(xs), np.array(ys)
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.abs(np.diff(xs))))


# ------------------------------------------------------------------------------------------
# Variables and collections (TF-Slim's testVars / testMetricsCollection / testUpdatesCollection)

ONES = (10, 1)

BUILDERS = {
    "streaming_dynamic_auc": (
        lambda **kw: metrics.streaming_dynamic_auc(slim.ones(ONES), slim.ones(ONES), **kw),
        {"dynamic_auc/concat_labels/array:0", "dynamic_auc/concat_labels/size:0",
         "dynamic_auc/concat_preds/array:0", "dynamic_auc/concat_preds/size:0"}),
    "auc_with_confidence_intervals": (
        lambda **kw: metrics.auc_with_confidence_intervals(slim.ones(ONES, slim.int64), slim.ones(ONES), **kw),
        {f"auc_with_confidence_intervals/concat_{n}/{v}:0" for n in ("labels", "preds", "weights")
         for v in ("array", "size")}),
    "streaming_specificity_at_sensitivity": (
        lambda **kw: metrics.streaming_specificity_at_sensitivity(slim.ones(ONES), slim.ones(ONES), 0.7, **kw),
        {f"specificity_at_sensitivity/{n}:0" for n in
         ("true_positives", "false_negatives", "false_positives", "true_negatives")}),
    "streaming_sensitivity_at_specificity": (
        lambda **kw: metrics.streaming_sensitivity_at_specificity(slim.ones(ONES), slim.ones(ONES), 0.7, **kw),
        {f"sensitivity_at_specificity/{n}:0" for n in
         ("true_positives", "false_negatives", "false_positives", "true_negatives")}),
    "recall_at_precision": (
        lambda **kw: metrics.recall_at_precision(slim.ones(ONES), slim.ones(ONES), precision=0.7, **kw),
        {f"recall_at_precision/{n}:0" for n in
         ("true_positives", "false_negatives", "false_positives", "true_negatives")}),
    "precision_at_recall": (
        lambda **kw: metrics.precision_at_recall(slim.ones(ONES), slim.ones(ONES), target_recall=0.7, **kw),
        {f"precision_at_recall/{n}:0" for n in
         ("true_positives", "false_negatives", "false_positives", "true_negatives")}),
    "cohen_kappa": (
        lambda **kw: metrics.cohen_kappa(slim.ones(ONES), slim.ones(ONES), num_classes=2, **kw),
        {"cohen_kappa/po:0", "cohen_kappa/pe_row:0", "cohen_kappa/pe_col:0"}),
    "streaming_sparse_average_precision_at_k": (
        lambda **kw: metrics.streaming_sparse_average_precision_at_k(slim.ones((4, 5)), np.ones((4, 2), np.int64),
                                                                     3, **kw),
        {"average_precision_at_3/max:0", "average_precision_at_3/total:0"}),
    "streaming_sparse_average_precision_at_top_k": (
        lambda **kw: metrics.streaming_sparse_average_precision_at_top_k(np.ones((4, 3), np.int64),
                                                                         np.ones((4, 2), np.int64), **kw),
        {"average_precision_at_top_k/max:0", "average_precision_at_top_k/total:0"}),
    "streaming_concat": (
        lambda **kw: metrics.streaming_concat(slim.ones((10,)), **kw),
        {"streaming_concat/array:0", "streaming_concat/size:0"}),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_variables_and_collections(name):
    build, names = BUILDERS[name]
    with slim.Graph().as_default():
        value, update = build(metrics_collections=["__metrics__"], updates_collections=["__updates__"])
        assert _local_names() == names
        assert slim.get_collection("__metrics__") == [value]
        assert slim.get_collection("__updates__") == [update]
        assert not slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)


def test_precision_recall_at_equal_thresholds_variables():
    for name, prefix in ((None, "precision_recall_at_equal_thresholds"), ("foo", "foo")):
        with slim.Graph().as_default():
            metrics.precision_recall_at_equal_thresholds(slim.constant([True]), slim.constant([0.42]), name=name)
            assert _local_names() == {f"{prefix}/variables/tp_buckets:0", f"{prefix}/variables/fp_buckets:0"}


def _auc_field(result, update):
    return result.auc, update


@pytest.mark.parametrize("build", [
    lambda p, l: metrics.streaming_dynamic_auc(l, p),
    lambda p, l: metrics.streaming_dynamic_auc(l, p, curve="PR"),
    lambda p, l: _auc_field(*metrics.auc_with_confidence_intervals(l, p)),
    lambda p, l: metrics.streaming_specificity_at_sensitivity(p, l, sensitivity=0.7),
    lambda p, l: metrics.streaming_sensitivity_at_specificity(p, l, specificity=0.7),
    lambda p, l: metrics.recall_at_precision(l, p, precision=0.7),
    lambda p, l: metrics.precision_at_recall(l, p, target_recall=0.7),
    lambda p, l: metrics.cohen_kappa(l[:, :1], slim.cast(p[:, :1] * 2.0, slim.int64), 3),
], ids=["dynamic_auc", "dynamic_auc_pr", "auc_ci", "spec_at_sens", "sens_at_spec", "recall_at_precision",
        "precision_at_recall", "cohen_kappa"])
def test_value_is_idempotent(build):
    """Ten updates with random batches, then ten reads of the value give the same number."""
    with slim.Graph().as_default():
        p = slim.random_uniform((10, 3), maxval=1, seed=1)
        labels = slim.cast(slim.random_uniform((10, 3), maxval=2, seed=2) > 1.0, slim.int64)
        value, update = build(p, labels)
        with _session() as sess:
            for _ in range(10):
                sess.run(update)
            first = float(sess.run(value))
            assert all(float(sess.run(value)) == first for _ in range(10))


# ------------------------------------------------------------------------------------------
# streaming_dynamic_auc


def test_dynamic_auc_documented_values():
    def auc(labels, predictions, **kw):
        return _update_then_value(lambda: metrics.streaming_dynamic_auc(slim.constant(labels),
                                                                        slim.constant(predictions), **kw))[1]

    assert auc([1, 1, 1], [1.0, 1.0, 1.0]) == 0  # one class only: 0, not an error
    assert auc([0, 0, 0], [1.0, 1.0, 1.0]) == 0
    assert auc([1, 0, 1, 0], [2.5, -2.5, 2.5, -2.5]) == pytest.approx(1.0)  # any real predictions
    inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
    assert auc(inputs, inputs) == 1
    assert auc([0, 1, 1, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert auc((1 - inputs).astype(np.float32), inputs.astype(np.float32)) == pytest.approx(0)
    assert auc([0, 0, 1, 1], np.float32([0.1, 0.4, 0.35, 0.8]), curve="PR") == pytest.approx(0.79166, abs=1e-5)
    assert auc([0, 0, 1, 0, 1, 0, 1], np.float32([0.1, 0.4, 0.35, 0.8, 0.1, 0.135, 0.81]),
               curve="PR") == pytest.approx(0.610317, abs=1e-6)
    assert auc(np.array([[0, 0, 0, 0, 1, 1, 1]]), np.float32([[0.0, 0.1, 0.2, 0.33, 0.3, 0.4, 0.5]]),
               curve="PR") == pytest.approx(0.90277, abs=1e-5)


def test_dynamic_auc_errors():
    with slim.Graph().as_default():
        with pytest.raises(ValueError, match="curve must be either ROC or PR, TEST_CURVE unknown"):
            metrics.streaming_dynamic_auc(slim.ones(ONES), slim.ones(ONES), curve="TEST_CURVE")
        with pytest.raises(ValueError, match="Shapes .* are incompatible"):
            metrics.streaming_dynamic_auc(slim.zeros([6]), slim.ones([5]))
        labels = slim.placeholder(slim.int32, [3])
        auc, update = metrics.streaming_dynamic_auc(labels, slim.constant([1, 0.5, 0]))
        with _session() as sess:
            sess.run(update, {labels: [1, 0, 1]})
            for bad, message in (([2, 1, 0], "at least one is >1"), ([1, 0, -1], "at least one is <0")):
                with pytest.raises(errors.InvalidArgumentError, match=f"labels must be 0 or 1, {message}"):
                    sess.run(update, {labels: bad})
            # the failed updates appended nothing
            stored = {v.op.name: v for v in slim.get_collection(slim.GraphKeys.METRIC_VARIABLES)}
            assert sess.run(stored["dynamic_auc_1/concat_labels/array"]).tolist() == [1, 0, 1]
            assert float(sess.run(auc)) == pytest.approx(0.5)  # positives 1.0 and 0.0 against a negative 0.5


@pytest.mark.parametrize("curve, weighted", [("ROC", False), ("ROC", True), ("PR", False), ("PR", True)])
def test_dynamic_auc_over_many_updates(curve, weighted):
    """100 batches of 10 (TF-Slim's testWithMultipleUpdates / testWithWeights), checked after every batch
    against numpy over everything seen so far; predictions rounded to 2 decimals so that ties happen."""
    rng = np.random.RandomState(1)
    with slim.Graph().as_default():
        lab_t = slim.placeholder(slim.int32, [10])
        pred_t = slim.placeholder(slim.float32, [10])
        w_t = slim.placeholder(slim.float32, [10]) if weighted else None
        auc, update = metrics.streaming_dynamic_auc(lab_t, pred_t, curve=curve, weights=w_t)
        labels, preds, weights = [], [], []
        with _session() as sess:
            for _ in range(100):
                new_labels = rng.randint(0, 2, size=10)
                new_preds = np.round(0.4 + 0.2 * new_labels + rng.normal(0.0, 0.2, size=10), 2).astype(np.float32)
                new_weights = rng.uniform(0.0, 3.0, size=10).astype(np.float32)
                feed = {lab_t: new_labels, pred_t: new_preds}
                if weighted:
                    feed[w_t] = new_weights
                sess.run(update, feed)
                labels.append(new_labels)
                preds.append(new_preds)
                weights.append(new_weights)
                ref = _roc_auc_np if curve == "ROC" else _pr_auc_np
                want = ref(np.concatenate(preds), np.concatenate(labels),
                           np.concatenate(weights) if weighted else None)
                assert float(sess.run(auc)) == pytest.approx(want, abs=1e-9)


# ------------------------------------------------------------------------------------------
# auc_with_confidence_intervals


CI_CASES = [  # (predictions, labels, weights, (auc, lower, upper)) from TF-Slim's tests
    ([0., 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.8, 1.0], [0, 0, 1, 0, 0, 1, 0, 1, 1, 0], None,
     (0.66666667, 0.27826795, 0.91208512)),
    ([1.0, 0.6, 0., 0.3, 0.4, 0.2, 0.5, 0.3, 0.6, 0.8], [0, 1, 0, 1, 0, 0, 1, 0, 0, 1], None,
     (0.66666667, 0.27826795, 0.91208512)),
    ([0., 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.8, 1.0], [0, 0, 1, 0, 0, 1, 0, 1, 1, 0],
     [0.5, 0.6, 1.2, 1.5, 2.0, 2.0, 1.5, 1.2, 0.6, 0.5], (0.65151515, 0.28918604, 0.89573906)),
    ([0, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.8, 1.0], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], None, (1.0, 1.0, 1.0)),
    ([0, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.6, 0.8, 1.0], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], None, (0.0, 0.0, 0.0)),
    ([2.5, -2.5, .5, -.5, 1], [1, 0, 1, 0, 0], None, (0.83333333, 0.15229267, 0.99286517)),
    ([1., 1., 1., 1., 1.], [1, 1, 1, 1, 1], None, (0.0, 0.0, 0.0)),
    ([0., 0., 0., 0., 0.], [0, 0, 0, 0, 0], None, (0.0, 0.0, 0.0)),
    ([1., 1., 0., 1., 0., 0.], [1, 1, 1, 0, 0, 0], [0.1] * 6, (0.0, 0.0, 0.0)),  # weights sum < 1: not added
]


@pytest.mark.parametrize("predictions, labels, weights, expected", CI_CASES)
def test_auc_with_confidence_intervals_documented_values(predictions, labels, weights, expected):
    def build():
        w = None if weights is None else slim.constant(np.float32(weights))
        return metrics.auc_with_confidence_intervals(slim.constant(np.int64(labels)),
                                                     slim.constant(np.float32(predictions)), weights=w)

    _, got = _update_then_value(build)
    assert type(got).__name__ == "AucData" and got._fields == ("auc", "lower", "upper")
    assert all(np.asarray(v).dtype == np.float32 for v in got)
    np.testing.assert_allclose([float(v) for v in got], expected, rtol=1e-6, atol=1e-6)


def test_auc_with_confidence_intervals_over_many_updates_and_options():
    rng = np.random.RandomState(1)
    with slim.Graph().as_default():
        lab_t = slim.placeholder(slim.int32, [50])
        pred_t = slim.placeholder(slim.float32, [50])
        result, update = metrics.auc_with_confidence_intervals(lab_t, pred_t)
        plain, update_plain = metrics.auc_with_confidence_intervals(lab_t, pred_t, alpha=0.9,
                                                                    logit_transformation=False)
        labels, preds = [], []
        with _session() as sess:
            for _ in range(100):
                new_labels = rng.randint(0, 2, size=50)
                new_preds = (0.4 + 0.2 * new_labels + rng.normal(0.0, 0.2, size=50)).astype(np.float32)
                sess.run([update, update_plain], {lab_t: new_labels, pred_t: new_preds})
                labels.append(new_labels)
                preds.append(new_preds)
                want = _roc_auc_np(np.concatenate(preds), np.concatenate(labels))
                assert float(sess.run(result.auc)) == pytest.approx(want, rel=1e-5)
            auc, lo, hi = (float(v) for v in sess.run(result))
            assert lo < auc < hi and hi - lo < 0.05  # 5000 examples: a narrow interval
            p_auc, p_lo, p_hi = (float(v) for v in sess.run(plain))
            assert p_auc == pytest.approx(auc) and (p_lo + p_hi) / 2 == pytest.approx(p_auc)  # symmetric
            assert p_hi - p_lo < hi - lo  # a 90% interval is narrower than a 95% one
        with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
            metrics.auc_with_confidence_intervals(lab_t, pred_t, alpha=1.0)
        labels_bad = slim.placeholder(slim.int64, [5])
        _, update_bad = metrics.auc_with_confidence_intervals(labels_bad, slim.constant([1, 0.5, 0, 1, 0]))
        with _session() as sess:
            for bad, message in (([2, 1, 0, 1, 0], ">1"), ([1, 0, -1, 1, 0], "<0")):
                with pytest.raises(errors.InvalidArgumentError, match=f"at least one is {message}"):
                    sess.run(update_bad, {labels_bad: bad})


# ------------------------------------------------------------------------------------------
# precision_recall_at_equal_thresholds

PR_EQUAL = [  # (predictions, labels, weights, expected) with num_thresholds=3, from TF-Slim's tests
    ([[1]], [[True]], None, dict(tp=[1, 1, 1], fp=[0, 0, 0], tn=[0, 0, 0], fn=[0, 0, 0], precision=[1, 1, 1],
                                 recall=[1, 1, 1])),
    ([[0]], [[False]], None, dict(tp=[0, 0, 0], fp=[1, 0, 0], tn=[0, 1, 1], fn=[0, 0, 0], precision=[0, 0, 0],
                                  recall=[0, 0, 0])),
    ([[1]], [[False]], None, dict(tp=[0, 0, 0], fp=[1, 1, 1], tn=[0, 0, 0], fn=[0, 0, 0], precision=[0, 0, 0],
                                  recall=[0, 0, 0])),
    ([[0]], [[True]], None, dict(tp=[1, 0, 0], fp=[0, 0, 0], tn=[0, 0, 0], fn=[0, 1, 1], precision=[1, 0, 0],
                                 recall=[1, 0, 0])),
    ([[0.2, 0.3, 0.4, 0.6, 0.7, 0.8]], [[True, False, False, True, True, True]], None,
     dict(tp=[4, 3, 0], fp=[2, 0, 0], tn=[0, 2, 2], fn=[0, 1, 4], precision=[2.0 / 3.0, 1.0, 0.0],
          recall=[1.0, 0.75, 0.0])),
    ([[0.2, 0.3, 0.4, 0.6, 0.7, 0.8]], [[True, False, False, True, True, True]], [[0.0, 0.5, 2.0, 0.0, 0.5, 1.0]],
     dict(tp=[1.5, 1.5, 0.0], fp=[2.5, 0.0, 0.0], tn=[0.0, 2.5, 2.5], fn=[0.0, 0.0, 1.5],
          precision=[0.375, 1.0, 0.0], recall=[1.0, 1.0, 0.0])),
]


@pytest.mark.parametrize("predictions, labels, weights, expected, dtype",
                         [c + (np.float32,) for c in PR_EQUAL] +
                         [PR_EQUAL[4] + (dt,) for dt in (np.float64, np.float16)])  # TF-Slim's dtype cases
def test_precision_recall_at_equal_thresholds(predictions, labels, weights, expected, dtype):
    with slim.Graph().as_default():
        w = None if weights is None else slim.constant(np.asarray(weights, dtype))
        result, update = metrics.precision_recall_at_equal_thresholds(
            slim.constant(np.array(labels)), slim.constant(np.asarray(predictions, dtype)), weights=w, num_thresholds=3)
        assert result._fields == ("tp", "fp", "tn", "fn", "precision", "recall", "thresholds")
        assert all(t.dtype is slim.as_dtype(dtype) for t in result)
        with _session() as sess:
            sess.run(update)
            got = sess.run(result._asdict())
            again = sess.run(result._asdict())
    for key, want in dict(expected, thresholds=[0.0, 0.5, 1.0]).items():
        assert got[key].dtype == dtype
        np.testing.assert_allclose(got[key], want, atol=1e-3 if dtype is np.float16 else 1e-6, err_msg=key)
        np.testing.assert_array_equal(got[key], again[key])  # idempotent


def test_precision_recall_at_equal_thresholds_streams_and_checks():
    """201 thresholds over several batches against a numpy count of p >= t; TF's errors."""
    rng = np.random.default_rng(3)
    with slim.Graph().as_default():
        p_t = slim.placeholder(slim.float32, [None, 3])
        l_t = slim.placeholder(slim.as_dtype(np.bool_), [None, 3])
        result, update = metrics.precision_recall_at_equal_thresholds(l_t, p_t)
        preds, labels = [], []
        with _session() as sess:
            for n in (7, 1, 30):
                p = np.round(rng.random((n, 3)), 3).astype(np.float32)
                lab = rng.random((n, 3)) < 0.4
                sess.run(update, {p_t: p, l_t: lab})
                preds.append(p.ravel())
                labels.append(lab.ravel())
            got = sess.run(result._asdict())
            with pytest.raises(errors.InvalidArgumentError, match=r"predictions must be in \[0, 1\]"):
                sess.run(update, {p_t: [[0.5, 1.5, 0.1]], l_t: [[True, False, True]]})
            np.testing.assert_array_equal(sess.run(result.tp), got["tp"])  # the failed update changed nothing
        p, lab = np.concatenate(preds), np.concatenate(labels)
        buckets = np.floor(p * np.float32(200)).astype(int)  # TF's bucketing of each prediction
        thresholds = np.linspace(0, 1, 201)
        tp = np.array([np.sum((buckets >= i) & lab) for i in range(201)])
        fp = np.array([np.sum((buckets >= i) & ~lab) for i in range(201)])
        np.testing.assert_allclose(got["tp"], tp)
        np.testing.assert_allclose(got["fp"], fp)
        np.testing.assert_allclose(got["fn"], lab.sum() - tp)
        np.testing.assert_allclose(got["tn"], (~lab).sum() - fp)
        np.testing.assert_allclose(got["precision"], tp / np.maximum(1e-7, tp + fp), rtol=1e-6)
        np.testing.assert_allclose(got["recall"], tp / np.maximum(1e-7, tp + lab.sum() - tp), rtol=1e-6)
        np.testing.assert_allclose(got["thresholds"], thresholds, rtol=1e-6)
        with pytest.raises(TypeError):
            metrics.precision_recall_at_equal_thresholds(slim.constant([1, 0]), slim.constant([0.5, 0.2]))


# ------------------------------------------------------------------------------------------
# Specificity at sensitivity, sensitivity at specificity


def _at(fn, predictions, labels, target, weights=None, **kw):
    def build():
        w = None if weights is None else slim.constant(weights)
        return fn(slim.constant(np.float32(predictions)), slim.constant(labels), target, weights=w, **kw)

    up, value = _update_then_value(build)
    assert float(up) == pytest.approx(float(value))
    return float(value)


LABELS10 = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_specificity_at_sensitivity():
    spec = metrics.streaming_specificity_at_sensitivity
    inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
    assert _at(spec, inputs, inputs, 0.7) == 1
    assert _at(spec, [0.1, 0.2, 0.4, 0.3, 0.0, 0.1, 0.45, 0.5, 0.8, 0.9], LABELS10, 0.8) == pytest.approx(1.0)
    low = [0.1, 0.2, 0.4, 0.3, 0.0, 0.1, 0.2, 0.2, 0.26, 0.26]
    assert _at(spec, low, LABELS10, 0.4) == pytest.approx(0.6)
    assert _at(spec, low, LABELS10, 0.4, weights=[3]) == pytest.approx(0.6)
    assert _at(spec, low, LABELS10, 0.4, weights=list(range(1, 11))) == pytest.approx(8.0 / 15.0)
    with slim.Graph().as_default(), pytest.raises(ValueError, match="`sensitivity` must be in the range"):
        spec(slim.ones(ONES), slim.ones(ONES), 1.5)


def test_sensitivity_at_specificity():
    sens = metrics.streaming_sensitivity_at_specificity
    inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
    assert _at(sens, inputs, inputs, 0.7) == 1
    assert _at(sens, [0.0, 0.1, 0.2, 0.3, 0.4, 0.1, 0.45, 0.5, 0.8, 0.9], LABELS10, 0.8) == pytest.approx(0.8)
    low = [0.0, 0.1, 0.2, 0.3, 0.4, 0.01, 0.02, 0.25, 0.26, 0.26]
    assert _at(sens, low, LABELS10, 0.4) == pytest.approx(0.6)
    assert _at(sens, low, LABELS10, 0.4, weights=list(range(1, 11))) == pytest.approx(0.675)
    with slim.Graph().as_default(), pytest.raises(ValueError, match="`specificity` must be in the range"):
        sens(slim.ones(ONES), slim.ones(ONES), -0.1)


# ------------------------------------------------------------------------------------------
# recall_at_precision, precision_at_recall


def _rp(predictions, labels, precision, weights=None, **kw):
    def build():
        w = None if weights is None else slim.constant(weights)
        return metrics.recall_at_precision(slim.constant(labels), slim.constant(np.float32(predictions)),
                                           precision=precision, weights=w, **kw)

    up, value = _update_then_value(build)
    assert float(up) == pytest.approx(float(value))
    return float(value)


def test_recall_at_precision():
    inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1))
    assert _rp(inputs, inputs, 1.0) == 1
    assert _rp([1, .9, .8, .7, .6, .5, .4, .3], [1, 1, 1, 1, 0, 0, 0, 1], 0.8) == pytest.approx(0.8)
    assert _rp([1, .9, .8, .7, .6, .5, .4, .3, .2, .1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 1], 0.4) == pytest.approx(2 / 3)
    assert _rp([1, .9, .8, .7, .6], [1, 1, 0, 0, 1], 0.4, weights=[1, 1, 3, 4, 1]) == pytest.approx(2 / 3)
    # strict mode, 11 thresholds: precisions [0.3 0.2 0.1 0 ...], recalls [1 2/3 1/3 0 ...]
    p, lab = [.2, .3, .5, .6, .7, .8, .9, .9, .9, .1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert _rp(p, lab, 0.9, num_thresholds=11, strict_mode=False) == pytest.approx(1.0)  # closest precision
    assert _rp(p, lab, 0.9, num_thresholds=11, strict_mode=True) == 0.0  # 0.9 is never reached
    assert _rp(p, lab, 0.2, num_thresholds=11, strict_mode=True) == pytest.approx(2 / 3)
    with slim.Graph().as_default(), pytest.raises(ValueError, match="`precision` must be in the range"):
        metrics.recall_at_precision(slim.ones(ONES), slim.ones(ONES), precision=2.0)


def test_precision_at_recall():
    def pr(predictions, labels, target, weights=None):
        def build():
            w = None if weights is None else slim.constant(weights)
            return metrics.precision_at_recall(slim.constant(labels), slim.constant(np.float32(predictions)),
                                               target_recall=target, weights=w)

        up, value = _update_then_value(build)
        assert float(up) == pytest.approx(float(value))
        return float(value)

    inputs = np.random.RandomState(1).randint(0, 2, size=(100, 1)).astype(np.float32)
    assert pr(inputs, inputs, 0.7) == 1
    assert pr(inputs, 1 - inputs, 0.2) == pytest.approx(float(np.mean(1 - inputs)))  # the label prior
    assert pr([0.1, 0.2, 0.5, 0.3, 0.0, 0.1, 0.45, 0.5, 0.8, 0.9], LABELS10, 0.8) == pytest.approx(0.8)
    assert pr([0.1, 0.2, 0.7, 0.3, 0.0, 0.1, 0.45, 0.5, 0.6, 0.9], LABELS10, 0.4) == pytest.approx(2 / 3)
    p = [0.0, 0.1, 0.2, 0.3, 0.4, 0.1, 0.22, 0.25, 0.31, 0.35]
    for dtype in (bool, np.int32, np.float32):
        assert pr(p, np.array(LABELS10).astype(dtype), 0.8, weights=list(range(1, 11))) == pytest.approx(34 / 43)
    with slim.Graph().as_default(), pytest.raises(ValueError, match="`target_recall` must be in the range"):
        metrics.precision_at_recall(slim.ones(ONES), slim.ones(ONES), target_recall=-1)


# ------------------------------------------------------------------------------------------
# cohen_kappa


def _table_to_samples(table):
    pairs = [(i, j) for i in range(table.shape[0]) for j in range(table.shape[1]) for _ in range(table[i, j])]
    pairs = np.array(pairs)
    return pairs[:, 0], pairs[:, 1]


def _kappa_np(labels, predictions, num_classes, weights=None):
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
    table = np.zeros((num_classes, num_classes))
    np.add.at(table, (labels, predictions), w)
    n = table.sum()
    pe = (table.sum(0) * table.sum(1)).sum() / n
    return (np.trace(table) - pe) / (n - pe)


def test_cohen_kappa_documented_values():
    labels, predictions = _table_to_samples(np.array([[9, 3, 1], [4, 8, 2], [2, 1, 6]]))
    for dtype in (np.int16, np.int32, np.int64):
        for shape in ((len(labels),), (len(labels), 1)):
            for weights in (None, np.ones_like(labels)):
                up, value = _update_then_value(lambda s=shape, d=dtype, w=weights: metrics.cohen_kappa(
                    slim.constant(labels.reshape(s).astype(d)), slim.constant(predictions.reshape(s).astype(d)), 3,
                    weights=w))
                assert round(float(up), 2) == 0.45 and round(float(value), 2) == 0.45
                assert float(value) == pytest.approx(_kappa_np(labels, predictions, 3))
    inputs = np.arange(100) % 4
    for preds, want in ((inputs, 1.0), ((inputs + 1) % 4, -0.333333333333)):
        up, value = _update_then_value(lambda p=preds: metrics.cohen_kappa(slim.constant(inputs),
                                                                           slim.constant(np.float32(p)), 4))
        assert float(up) == pytest.approx(want, abs=1e-5) and float(value) == pytest.approx(want, abs=1e-5)
    weights = (np.arange(len(labels)) % 5) / 5.0
    _, value = _update_then_value(lambda: metrics.cohen_kappa(slim.constant(labels),
                                                              slim.constant(np.float32(predictions)), 4,
                                                              weights=weights))
    assert float(value) == pytest.approx(0.453466583385, abs=1e-5)


def test_cohen_kappa_over_many_updates_and_errors():
    labels, predictions = _table_to_samples(np.array([[90, 30, 10, 20], [40, 80, 20, 30], [20, 10, 60, 35],
                                                      [15, 25, 30, 25]]))
    weights = (np.arange(len(labels)) % 5) / 5.0
    batch = len(labels) // 10
    with slim.Graph().as_default():
        p_t = slim.placeholder(slim.float32, (batch,))
        l_t = slim.placeholder(slim.int32, (batch,))
        w_t = slim.placeholder(slim.float32, (batch,))
        kappa, update = metrics.cohen_kappa(l_t, p_t, 4, weights=w_t)
        assert all(v.dtype is slim.float64 for v in slim.get_collection(slim.GraphKeys.METRIC_VARIABLES))
        with _session() as sess:
            for i in range(0, batch * 10, batch):
                sess.run(update, {l_t: labels[i:i + batch], p_t: predictions[i:i + batch], w_t: weights[i:i + batch]})
            assert float(sess.run(kappa)) == pytest.approx(0.289965397924, abs=1e-5)
            before = float(sess.run(kappa))
            bad = labels[:batch].copy()
            bad[3] = 4
            with pytest.raises(errors.InvalidArgumentError, match="labels` out of bound"):
                sess.run(update, {l_t: bad, p_t: predictions[:batch], w_t: weights[:batch]})
            assert float(sess.run(kappa)) == before
        with pytest.raises(ValueError, match="num_classes"):
            metrics.cohen_kappa(slim.placeholder(slim.int32, (4, 1)), slim.placeholder(slim.float32, (4, 1)), 1)
        with pytest.raises(ValueError):
            metrics.cohen_kappa(slim.placeholder(slim.int32, (4, 2)), slim.placeholder(slim.float32, (4, 1)), 3)
        with pytest.raises(ValueError):
            metrics.cohen_kappa(slim.placeholder(slim.int32, (4, 1)), slim.placeholder(slim.float32, (4, 2)), 3)


# ------------------------------------------------------------------------------------------
# Sparse average precision@k (TF-Slim's test_average_precision)

EX1 = dict(labels=(0, 1, 2, 3, 4), predictions=(0.2, 0.1, 0.0, 0.4, 0.0, 0.5, 0.3), top_k=(5, 3, 6, 0, 1, 2),
           ap=(0.0, 0.5 / 2, 0.5 / 3, (0.5 + 2.0 / 4) / 4))
EX2 = dict(labels=(0, 2, 4, 5, 6), predictions=(0.3, 0.5, 0.0, 0.4, 0.0, 0.1, 0.2), top_k=(1, 3, 0, 6, 5),
           ap=(0.0, 0.0, (1.0 / 3) / 3, (1.0 / 3 + 2.0 / 4) / 4))


def _ap(predictions, labels, k, weights=None, top_k=None):
    with slim.Graph().as_default():
        w = None if weights is None else slim.constant(np.float32(weights))
        if top_k is None:
            metric, update = metrics.streaming_sparse_average_precision_at_k(
                slim.constant(np.float32(predictions)), np.array(labels, np.int64), k, weights=w)
        else:
            metric, update = metrics.streaming_sparse_average_precision_at_top_k(top_k, np.array(labels, np.int64),
                                                                                 weights=w)
        assert metric.dtype is slim.float64
        with slim.Session() as sess:
            with pytest.raises(errors.FailedPreconditionError):
                sess.run(metric)
            sess.run(slim.local_variables_initializer())
            return float(sess.run(update)), float(sess.run(metric))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_average_precision_at_k(k):
    for ex in (EX1, EX2):
        want = ex["ap"][k - 1]
        assert _ap([ex["predictions"]], [ex["labels"]], k) == pytest.approx((want, want))
        assert _ap(None, [ex["labels"]], k, top_k=(ex["top_k"][:k],)) == pytest.approx((want, want))
    both = [[EX1["labels"], EX2["labels"]], [EX1["predictions"], EX2["predictions"]]]
    top_k = (EX1["top_k"][:k], EX2["top_k"][:k])
    mean = (EX1["ap"][k - 1] + EX2["ap"][k - 1]) / 2
    assert _ap(both[1], both[0], k) == pytest.approx((mean, mean))
    assert _ap(None, both[0], k, top_k=top_k) == pytest.approx((mean, mean))
    weighted = (0.3 * EX1["ap"][k - 1] + 0.6 * EX2["ap"][k - 1]) / 0.9
    assert _ap(both[1], both[0], k, weights=(0.3, 0.6)) == pytest.approx((weighted, weighted))
    assert _ap(None, both[0], k, weights=(0.3, 0.6), top_k=top_k) == pytest.approx((weighted, weighted))
    # labels outside [0, num_classes) are ignored
    out_of_range = [(-1, 0, 1, 2, 3, 4, 7)]
    assert _ap([EX1["predictions"]], out_of_range, k) == pytest.approx((EX1["ap"][k - 1],) * 2)
    assert _ap(None, out_of_range, k, top_k=(EX1["top_k"][:k],)) == pytest.approx((EX1["ap"][k - 1],) * 2)


def test_average_precision_without_labels_is_nan_and_shape_checks():
    assert all(math.isnan(v) for v in _ap([EX1["predictions"]], [[-1, -1]], 2))
    with slim.Graph().as_default():
        labels = np.array(((1,), (2,)), np.int64)
        with pytest.raises(ValueError):  # the last dimension of the ranked ids must be static
            metrics.streaming_sparse_average_precision_at_top_k(slim.placeholder(slim.int64, (2, None)), labels)
        with pytest.raises(ValueError):  # labels of a higher rank than the ranked ids
            metrics.streaming_sparse_average_precision_at_top_k((2, 1), labels)
        metrics.streaming_sparse_average_precision_at_top_k(((2,), (1,)), labels)
        with pytest.raises(ValueError, match="Invalid k=0"):
            metrics.streaming_sparse_average_precision_at_k(slim.ones((2, 3)), labels, 0)


# ------------------------------------------------------------------------------------------
# streaming_concat without max_size: a buffer that grows


def test_streaming_concat_grows_and_resets():
    with slim.Graph().as_default():
        values = slim.placeholder(slim.int32, [None])
        concatenated, update = metrics.streaming_concat(values)
        assert isinstance(concatenated, slim.Tensor) and concatenated.name == "streaming_concat/concat:0"
        with _session() as sess:
            assert sess.run(concatenated).tolist() == []
            assert int(sess.run(update, {values: [0, 1, 2]})) == 3
            assert sess.run(concatenated).tolist() == [0, 1, 2]
            sess.run([update], {values: [3, 4]})
            sess.run([update], {values: [5, 6, 7, 8, 9]})
            got = sess.run(concatenated)
            assert got.dtype == np.int32 and got.tolist() == list(range(10))
            sess.run(slim.local_variables_initializer())
            assert sess.run(concatenated).tolist() == []
            sess.run(update, {values: [3, 4]})
            assert sess.run(concatenated).tolist() == [3, 4]


def test_streaming_concat_along_another_axis():
    with slim.Graph().as_default():
        values = slim.reshape(slim.constant([0, 1, 2]), (3, 1))
        concatenated, update = metrics.streaming_concat(values, axis=-1)
        with _session() as sess:
            for _ in range(10):
                sess.run([update])
            np.testing.assert_array_equal(sess.run(concatenated), [[0] * 10, [1] * 10, [2] * 10])


@pytest.mark.parametrize("state_device", [None, "cpu"])
def test_streaming_concat_over_many_updates(state_device):
    """500 batches of 0 to 7 rows of [2, 3] blocks concatenated along axis 1, against numpy after each batch;
    with state_device='cpu' the buffer lives as an ONNX Runtime value between runs."""
    rng = np.random.default_rng(0)
    with slim.Graph().as_default():
        values = slim.placeholder(slim.float64, [2, None, 3])
        concatenated, update = metrics.streaming_concat(values, axis=1)
        parts = []
        with slim.Session(state_device=state_device) as sess:
            sess.run(slim.local_variables_initializer())
            for step in range(500):
                batch = rng.standard_normal((2, int(rng.integers(0, 8)), 3))
                parts.append(batch)
                size = sess.run(update, {values: batch})
                assert int(size) == sum(p.shape[1] for p in parts)
                if step % 50 == 0 or step == 499:
                    np.testing.assert_array_equal(sess.run(concatenated), np.concatenate(parts, axis=1))


# ------------------------------------------------------------------------------------------
# Distributed evaluation: growing buffers merge in rank order


class _TwoRanks:
    """A world of two where this process plays rank 0 and `peer` is rank 1's gathered metric state."""

    size, rank, is_chief = 2, 0, True

    def __init__(self, peer=None):
        self.peer, self.sent = peer, None

    def allgather_obj(self, obj):
        self.sent = obj
        return [obj, self.peer if self.peer is not None else obj]


def test_distributed_merge_of_growing_buffers():
    from slimir.runtime.distributed import merge_metric_variables

    rng = np.random.default_rng(5)
    p0, p1 = rng.random(13), rng.random(8)
    l0, l1 = rng.integers(0, 2, 13), rng.integers(0, 2, 8)
    with slim.Graph().as_default() as g:
        pred = slim.placeholder(slim.float32, [None])
        lab = slim.placeholder(slim.int32, [None])
        auc, update = metrics.streaming_dynamic_auc(lab, pred)
        concat, concat_update = metrics.streaming_concat(pred)
        kappa, kappa_update = metrics.cohen_kappa(lab, slim.cast(pred > 0.5, slim.int32), 2)
        ops = [update, concat_update, kappa_update]
        with _session() as rank0, _session() as rank1:
            rank0.run(ops, {pred: p0, lab: l0})
            rank1.run(ops, {pred: p1, lab: l1})
            capture = _TwoRanks()
            merge_metric_variables(rank1, g, capture)  # only to capture rank 1's state
            merge_metric_variables(rank0, g, _TwoRanks(capture.sent))
            np.testing.assert_allclose(rank0.run(concat), np.float32(np.concatenate([p0, p1])))
            assert float(rank0.run(auc)) == pytest.approx(_roc_auc_np(np.float32(np.concatenate([p0, p1])),
                                                                      np.concatenate([l0, l1])))
            both = np.concatenate([l0, l1])
            assert float(rank0.run(kappa)) == pytest.approx(_kappa_np(both, (np.concatenate([p0, p1]) > 0.5)
                                                                      .astype(int), 2))


# ------------------------------------------------------------------------------------------
# The mechanisms underneath: run-time assertions, variables whose shape changes


def test_run_time_assertion_raises_invalid_argument_before_any_write():
    from slimir.ops.state import assert_all

    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None])
        total = slim.Variable(np.float32(0.0), name="total")
        check = assert_all(x >= 0.0, "x must be non-negative")
        with slim.control_dependencies([check]):
            update = slim.assign(total, total + slim.reduce_sum(x))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert float(sess.run(update, {x: [1.0, 2.0]})) == 3.0
            with pytest.raises(errors.InvalidArgumentError, match="x must be non-negative") as info:
                sess.run(update, {x: [1.0, -2.0]})
            assert isinstance(info.value, errors.SlimirError) and isinstance(info.value, ValueError)
            assert float(sess.run(total)) == 3.0  # the failed run wrote nothing
            sess.run(check, {x: []})  # an empty condition holds


def test_growing_variable_can_be_set_and_keeps_its_static_shape():
    with slim.Graph().as_default():
        metrics.streaming_concat(slim.placeholder(slim.float32, [None, 2]))
        array = next(v for v in slim.get_collection(slim.GraphKeys.METRIC_VARIABLES) if v.op.name.endswith("array"))
        assert list(array.shape) == [None, 2]
        with _session() as sess:
            assert sess.run(array).shape == (0, 2)
            sess.set_variable_value(array, np.ones((5, 2), np.float32))
            assert sess.run(array).shape == (5, 2)
            with pytest.raises(errors.FeedError):
                sess.set_variable_value(array, np.ones((5, 3), np.float32))
