"""slim.data pipelines: providers, host tensors, train.batch/shuffle_batch, prefetch_queue, QueueRunners,
and learning.train / evaluate_once on provider-fed graphs without a feed_dict."""

from __future__ import annotations

import gc
import os
import threading
import time

import numpy as np
import pytest

import slimir as slim
from slimir.data import Dataset, DatasetDataProvider, DictDecoder, NumpyReader
from slimir.data import tfexample_decoder as tfd
from slimir.errors import DTypeError, InputPipelineError, InvalidArgumentError, OutOfRangeError


def _arrays(n=20, hw=4):
    rng = np.random.default_rng(0)
    return {"image": rng.integers(0, 256, size=(n, hw, hw, 1)).astype(np.uint8),
            "label": np.arange(n, dtype=np.int64)}


def _dataset(n=20, hw=4, arrays=None):
    arrays = arrays if arrays is not None else _arrays(n, hw)
    return Dataset(arrays, NumpyReader, DictDecoder(["image", "label"]), n,
                   {"image": "a small image", "label": "its index"}), arrays


_BASELINE: set = set()  # pipeline threads other tests left running (not this module's business)


def _pipeline_threads() -> list:
    """The slim.data pipeline threads started since this test began."""
    return [t for t in threading.enumerate() if t.name.startswith("slimir-") and t not in _BASELINE]


def _wait_no_pipeline_threads(timeout=5.0) -> list:
    end = time.monotonic() + timeout
    while _pipeline_threads() and time.monotonic() < end:
        gc.collect()
        time.sleep(0.02)
    return _pipeline_threads()


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    _BASELINE.clear()
    _BASELINE.update(t for t in threading.enumerate() if t.name.startswith("slimir-"))
    yield
    assert _wait_no_pipeline_threads() == []  # sessions closed or dropped: their threads ended


def _labels(sess, labels, steps):
    return [sess.run(labels).tolist() for _ in range(steps)]


def _drain(sess, fetch, limit=1000):
    out = []
    for _ in range(limit):
        try:
            out.append(sess.run(fetch))
        except OutOfRangeError:
            return out
    raise AssertionError("the input did not end")


# ------------------------------------------------------------------------------------------
# Order, shuffling, epochs


@pytest.mark.parametrize("num_threads", [1, 4])
def test_batches_in_reading_order_without_shuffle(num_threads):
    ds, arrays = _dataset(10)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        image, label = provider.get(["image", "label"])
        image = slim.to_float(image) / 255.0
        images, labels = slim.train.batch([image, label], batch_size=4, num_threads=num_threads, capacity=8)
        assert images.shape == [4, 4, 4, 1] and images.dtype is slim.float32
        assert labels.shape == [4] and labels.dtype is slim.int64
        with slim.Session() as sess:
            got = [sess.run([images, labels]) for _ in range(5)]
    flat = np.concatenate([lab for _, lab in got])
    np.testing.assert_array_equal(flat, np.arange(20) % 10)  # epochs repeat (num_epochs=None)
    imgs = np.concatenate([im for im, _ in got])
    np.testing.assert_allclose(imgs, arrays["image"][np.arange(20) % 10].astype(np.float32) / 255.0, rtol=1e-6)


def test_shuffle_is_a_permutation_per_epoch_and_deterministic_across_threads():
    ds, _ = _dataset(20)

    def run(num_threads, seed):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, shuffle=True, seed=seed, num_epochs=3)
            _, label = provider.get(["image", "label"])
            labels = slim.train.batch([label], batch_size=5, num_threads=num_threads)[0]
            with slim.Session() as sess:
                return np.concatenate(_drain(sess, labels))

    a1, a4, b = run(1, 7), run(4, 7), run(1, 8)
    assert len(a1) == 60
    epochs = a1.reshape(3, 20)
    for e in epochs:
        np.testing.assert_array_equal(np.sort(e), np.arange(20))
    assert not np.array_equal(epochs[0], np.arange(20))  # shuffled
    assert not np.array_equal(epochs[0], epochs[1])  # a new permutation each epoch
    np.testing.assert_array_equal(a1, a4)  # thread count does not matter
    assert not np.array_equal(a1, b)  # the seed does


def test_shuffle_batch_seeded_is_reproducible_and_complete():
    ds, _ = _dataset(24)

    def run(num_threads):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
            _, label = provider.get(["image", "label"])
            [labels] = slim.train.shuffle_batch([label], batch_size=6, capacity=20, min_after_dequeue=10,
                                                num_threads=num_threads, seed=5)
            with slim.Session() as sess:
                return np.concatenate(_drain(sess, labels))

    a, b = run(1), run(3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.sort(a), np.arange(24))
    assert not np.array_equal(a, np.arange(24))


def test_random_map_rng_depends_on_example_and_epoch_not_on_threads():
    ds, _ = _dataset(6)

    def run(num_threads):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, shuffle=False, num_epochs=2, seed=11)
            _, label = provider.get(["image", "label"])
            noisy = label.map(lambda v, rng: np.float32(v) + rng.random(dtype=np.float32), shape=[],
                              dtype=slim.float32, random=True)
            batch = slim.train.batch([label, noisy], batch_size=3, num_threads=num_threads)
            with slim.Session() as sess:
                out = _drain(sess, batch)
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    (l1, n1), (l4, n4) = run(1), run(4)
    np.testing.assert_array_equal(l4, l1)
    np.testing.assert_array_equal(l1, np.tile(np.arange(6), 2))
    np.testing.assert_array_equal(n1, n4)
    frac = n1 - l1
    assert np.all((frac >= 0) & (frac < 1))
    assert not np.allclose(frac[:6], frac[6:])  # epoch 2 draws new numbers for the same examples
    assert len(set(frac[:6].tolist())) == 6


# ------------------------------------------------------------------------------------------
# End of input


def test_num_epochs_drops_partial_batch_then_out_of_range():
    ds, _ = _dataset(10)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        _, label = provider.get(["image", "label"])
        [labels] = slim.train.batch([label], batch_size=4)
        with slim.Session() as sess:
            assert _labels(sess, labels, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
            for _ in range(2):  # stays exhausted
                with pytest.raises(OutOfRangeError):
                    sess.run(labels)


def test_allow_smaller_final_batch():
    ds, _ = _dataset(10)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        image, label = provider.get(["image", "label"])
        images, labels = slim.train.batch([image, label], batch_size=4, allow_smaller_final_batch=True)
        assert images.shape == [None, 4, 4, 1] and labels.shape == [None]
        total = slim.reduce_sum(labels)
        with slim.Session() as sess:
            assert [sess.run(total) for _ in range(3)] == [6, 22, 17]
            with pytest.raises(OutOfRangeError):
                sess.run(total)


@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_are_disjoint_and_cover_the_dataset(shuffle):
    ds, _ = _dataset(13)
    got = []
    for k in range(2):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, shuffle=shuffle, seed=1, num_epochs=1, num_shards=2, shard_index=k)
            assert provider.num_shard_samples == (7 if k == 0 else 6)
            _, label = provider.get(["image", "label"])
            [labels] = slim.train.batch([label], batch_size=1)
            with slim.Session() as sess:
                got.append(np.concatenate(_drain(sess, labels)))
    assert sorted(got[0].tolist()) == list(range(0, 13, 2))
    assert sorted(got[1].tolist()) == list(range(1, 13, 2))
    if not shuffle:
        assert got[0].tolist() == list(range(0, 13, 2))


def test_bad_sharding_arguments():
    ds, _ = _dataset(4)
    with pytest.raises(InvalidArgumentError, match="shard_index"):
        DatasetDataProvider(ds, num_shards=2, shard_index=2)
    with pytest.raises(InvalidArgumentError, match="num_shards and shard_index"):
        DatasetDataProvider(ds, num_shards=2)


# ------------------------------------------------------------------------------------------
# Host tensors: operators and slim ops mapped per example


def test_host_tensor_operators_and_slim_ops():
    ds, arrays = _dataset(4)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        image, label = provider.get(["image", "label"])
        assert image.dtype is slim.uint8 and image.shape == [None, None, None] and label.shape == []
        centered = slim.to_float(image) - 128.0
        scaled = 2.0 * centered / 4.0
        lab = slim.expand_dims(slim.cast(label, slim.float32), 0) + 1
        label -= 1
        assert lab.shape == [1] and lab.dtype is slim.float32
        assert scaled.dtype is slim.float32
        tiled = scaled.map(lambda v: np.concatenate([v, v], axis=-1), shape=[4, 4, 2])
        out = slim.train.batch({"img": tiled, "lab": lab, "l": label}, batch_size=4)
        assert set(out) == {"img", "lab", "l"} and out["img"].shape == [4, 4, 4, 2]
        with slim.Session() as sess:
            v = sess.run(out)
    want = (arrays["image"].astype(np.float32) - 128.0) / 2.0
    np.testing.assert_allclose(v["img"], np.concatenate([want, want], -1))
    np.testing.assert_allclose(v["lab"], np.arange(4, dtype=np.float32)[:, None] + 1)
    np.testing.assert_array_equal(v["l"], np.arange(4) - 1)


def test_host_tensor_mistakes_are_clear_errors():
    ds, _ = _dataset(4)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        label = provider.get(["label"])[0]
        key = provider.get(["record_key"])[0]
        with pytest.raises(DTypeError, match="record_key|string"):
            slim.train.batch([key], batch_size=2)
        with pytest.raises(InvalidArgumentError, match="not a host tensor"):
            slim.train.batch([slim.constant(1.0)], batch_size=2)
        with pytest.raises(DTypeError, match="cannot use the value 0.5"):
            label + 0.5
        with pytest.raises(InvalidArgumentError, match="unknown item 'nope'"):
            provider.get(["nope"])
        other = DatasetDataProvider(ds, shuffle=False)
        with pytest.raises(InvalidArgumentError, match="different data providers"):
            slim.train.batch([label, other.get(["label"])[0]], batch_size=2)
        with pytest.raises(InvalidArgumentError, match="min_after_dequeue"):
            slim.train.shuffle_batch([label], batch_size=2, capacity=4, min_after_dequeue=4)


def test_shape_mismatch_names_the_record():
    ds, _ = _dataset(6)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        _, label = provider.get(["image", "label"])
        ragged = label.map(lambda v: np.zeros(int(v) // 3 + 1, np.float32))  # record 3 is longer
        [b] = slim.train.batch([ragged], batch_size=2)
        assert b.shape == [2, 1]
        with slim.Session() as sess:
            sess.run(b)
            with pytest.raises(InputPipelineError, match=r"record 3 .*shape \[2\].*\[1\]"):
                sess.run(b)
        [p] = slim.train.batch([ragged], batch_size=6, dynamic_pad=True)
        with slim.Session() as sess:
            v = sess.run(p)
    assert v.shape == (6, 2) and v[:3, 1].sum() == 0


# ------------------------------------------------------------------------------------------
# Errors inside the pipeline


def test_exception_in_map_surfaces_in_main_thread_naming_the_record():
    ds, _ = _dataset(8)

    def boom(v):
        if int(v) == 5:
            raise ValueError("bad label five")
        return v

    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        _, label = provider.get(["image", "label"])
        [labels] = slim.train.batch([label.map(boom, shape=[], dtype=slim.int64)], batch_size=2, num_threads=3)
        with slim.Session() as sess:
            assert _labels(sess, labels, 2) == [[0, 1], [2, 3]]
            with pytest.raises(InputPipelineError) as info:
                sess.run(labels)
            msg = str(info.value)
            assert "record 5 of in-memory source 0" in msg and "bad label five" in msg and "boom" in msg
            assert isinstance(info.value.__cause__, ValueError)
            with pytest.raises(InputPipelineError, match="record 5"):  # the failure persists
                sess.run(labels)


def _write_tfrecord(path, n, start=0):
    from slimir.data.example import example_from_dict

    with slim.data.TFRecordWriter(path) as w:
        for i in range(start, start + n):
            w.write(example_from_dict({"x": [float(i), 2.0 * i], "y": [i]}).SerializeToString())


def _tfrecord_dataset(path, n):
    decoder = tfd.TFExampleDecoder(
        {"x": tfd.FixedLenFeature([2], slim.float32), "y": tfd.FixedLenFeature([], slim.int64)},
        {"x": tfd.Tensor("x"), "y": tfd.Tensor("y")})
    return Dataset(path, slim.data.TFRecordReader, decoder, n, {"x": "pair", "y": "index"})


def test_tfrecord_dataset_end_to_end_and_error_names_file(tmp_path):
    path = str(tmp_path / "train-00000.tfrecord")
    _write_tfrecord(path, 7)
    ds = _tfrecord_dataset(path, 7)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        x, y = provider.get(["x", "y"])
        xb, yb = slim.train.batch([x, y], batch_size=3, num_threads=2)
        assert xb.shape == [3, 2]
        with slim.Session() as sess:
            out = _drain(sess, [xb, yb])
        np.testing.assert_array_equal(np.concatenate([o[1] for o in out]), np.arange(6))
        np.testing.assert_allclose(np.concatenate([o[0] for o in out]),
                                   np.stack([np.arange(6), 2 * np.arange(6)], 1))

        def fail_on_4(v):
            if int(v) == 4:
                raise RuntimeError("cannot use this one")
            return v

        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        _, y = provider.get(["x", "y"])
        [yb] = slim.train.batch([y.map(fail_on_4)], batch_size=1)
        with slim.Session() as sess:
            with pytest.raises(InputPipelineError) as info:
                _drain(sess, yb)
    assert f"record 4 of {path!r}" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_corrupt_tfrecord_surfaces_as_pipeline_error(tmp_path):
    path = str(tmp_path / "bad.tfrecord")
    _write_tfrecord(path, 5)
    data = bytearray((tmp_path / "bad.tfrecord").read_bytes())
    data[-6] ^= 0xFF  # damage the last record's data
    (tmp_path / "bad.tfrecord").write_bytes(bytes(data))
    ds = _tfrecord_dataset(path, 5)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        [yb] = slim.train.batch(provider.get(["y"]), batch_size=1)
        with slim.Session() as sess:
            assert [int(sess.run(yb)[0]) for _ in range(4)] == [0, 1, 2, 3]  # read before the damage
            with pytest.raises(InputPipelineError, match=r"reading the data sources failed: DataLossError: .*"
                                                         r"bad.tfrecord.*record 4"):
                sess.run(yb)


# ------------------------------------------------------------------------------------------
# Threads: QueueRunners, session close, prefetch_queue


def test_queue_runners_start_and_stop_threads():
    ds, _ = _dataset(8)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        _, label = provider.get(["image", "label"])
        [labels] = slim.train.batch([label], batch_size=2, num_threads=3)
        sess = slim.Session()
        with slim.queues.QueueRunners(sess):
            live = _pipeline_threads()
            assert len(live) == 4 and all(t.daemon for t in live)  # assembler + 3 workers
            assert _labels(sess, labels, 2) == [[0, 1], [2, 3]]
            with pytest.raises(slim.queues.NestedQueueRunnerError):
                with slim.queues.QueueRunners(sess):
                    pass
        assert _pipeline_threads() == []
        assert _labels(sess, labels, 1) == [[0, 1]]  # a later run starts again, from the beginning
        assert len(_pipeline_threads()) == 4
        sess.close()
        assert _pipeline_threads() == []


def test_start_queue_runners_and_coordinator():
    ds, _ = _dataset(8)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False)
        [labels] = slim.train.batch(provider.get(["label"]), batch_size=4)
        with slim.Session() as sess:
            coord = slim.train.Coordinator()
            threads = slim.train.start_queue_runners(sess, coord)
            assert len(threads) == 2
            assert sess.run(labels).tolist() == [0, 1, 2, 3]
            coord.request_stop()
            coord.join(threads)
            assert coord.should_stop() and _pipeline_threads() == []


def test_prefetch_queue_keeps_order_and_gives_distinct_batches_per_dequeue():
    ds, _ = _dataset(12)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        image, label = provider.get(["image", "label"])
        images, labels = slim.train.batch([image, label], batch_size=3, num_threads=2)
        q = slim.data.prefetch_queue.prefetch_queue([images, labels], capacity=2)
        images2, labels2 = q.dequeue()
        assert images2.shape == [3, 4, 4, 1] and labels2.dtype is slim.int64
        d = q.dequeue()
        with slim.Session() as sess:
            assert sess.run(labels2).tolist() == [0, 1, 2]
            a, b = sess.run([labels2, d[1]])
            assert sorted(a.tolist() + b.tolist()) == [3, 4, 5, 6, 7, 8]
            assert sess.run(labels2).tolist() == [9, 10, 11]
            with pytest.raises(OutOfRangeError):
                sess.run(labels2)


# ------------------------------------------------------------------------------------------
# learning.train and evaluation without a feed_dict


def _model(images, num_classes=3):
    net = slim.flatten(images)
    return slim.fully_connected(net, num_classes, activation_fn=None, scope="logits",
                                weights_initializer=slim.truncated_normal_initializer(stddev=0.1))


def _train_graph(ds, num_epochs, batch_size, seed=0):
    slim.set_random_seed(seed)
    provider = DatasetDataProvider(ds, num_readers=2, shuffle=True, seed=seed, num_epochs=num_epochs,
                                   common_queue_capacity=32, common_queue_min=8)
    image, label = provider.get(["image", "label"])
    image = slim.to_float(image) / 255.0  # the TF-Slim README's preprocessing shape
    image = image.map(lambda v: v - 0.5, shape=[4, 4, 1], dtype=slim.float32)
    label = label.map(lambda v: v % 3)
    images, labels = slim.train.batch([image, label], batch_size=batch_size, num_threads=2,
                                      capacity=5 * batch_size)
    logits = _model(images)
    slim.losses.sparse_softmax_cross_entropy(logits, labels)
    total_loss = slim.losses.get_total_loss()
    optimizer = slim.train.GradientDescentOptimizer(learning_rate=0.5)
    return slim.learning.create_train_op(total_loss, optimizer)


def test_readme_data_snippet_trains_without_feed_dict(tmp_path):
    ds, _ = _dataset(32)
    logdir = str(tmp_path / "train")
    with slim.Graph().as_default():
        train_op = _train_graph(ds, None, 8)
        loss = slim.learning.train(train_op, logdir, number_of_steps=6, save_summaries_secs=1e9,
                                   save_interval_secs=1e9, log_every_n_steps=0)
    assert np.isfinite(loss)
    ckpt = slim.train.latest_checkpoint(logdir)
    assert ckpt.endswith("-6") or "-6." in ckpt
    assert int(slim.train.load_variable(ckpt, "global_step")) == 6


def test_num_epochs_ends_training_with_final_checkpoint(tmp_path):
    ds, _ = _dataset(22)
    logdir = str(tmp_path / "train")
    with slim.Graph().as_default():
        train_op = _train_graph(ds, 1, 4)
        slim.learning.train(train_op, logdir, number_of_steps=100, save_summaries_secs=1e9, save_interval_secs=1e9,
                            log_every_n_steps=0)
    ckpt = slim.train.latest_checkpoint(logdir)
    assert int(slim.train.load_variable(ckpt, "global_step")) == 22 // 4  # the partial batch is dropped


def test_evaluate_once_over_provider_fed_graph(tmp_path):
    ds, arrays = _dataset(10)
    logdir = str(tmp_path / "model")
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 4, 4, 1])
        _model(images)
        slim.get_or_create_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, os.path.join(logdir, "model.ckpt"), global_step=3)
    w = slim.train.load_variable(path, "logits/weights")
    bias = slim.train.load_variable(path, "logits/biases")
    x = arrays["image"].reshape(10, -1).astype(np.float32) / 255.0
    pred = np.argmax(x @ w + bias, axis=1)
    labels_np = arrays["label"] % 3
    want = float(np.mean(pred[:8] == labels_np[:8]))  # two full batches of 4; the last 2 are dropped

    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        image, label = provider.get(["image", "label"])
        images, labels = slim.train.batch([slim.to_float(image) / 255.0, label % 3], batch_size=4)
        predictions = slim.argmax(_model(images), 1)
        slim.get_or_create_global_step()
        acc, update = slim.metrics.streaming_accuracy(predictions, labels)
        for _ in range(2):  # a second evaluation reads the input from the start again
            got = slim.evaluation.evaluate_once("", path, str(tmp_path / "eval"), num_evals=100, eval_op=update,
                                                final_op=acc)
            assert got == pytest.approx(want)


def test_evaluation_loop_reads_the_input_from_the_start_for_each_checkpoint(tmp_path):
    ds, arrays = _dataset(8)
    ckdir = str(tmp_path / "model")
    g_train = slim.Graph()
    with g_train.as_default():
        _model(slim.placeholder(slim.float32, [None, 4, 4, 1]))
        slim.get_or_create_global_step()
        train_sess = slim.Session()
        train_sess.run(slim.global_variables_initializer())
        saver = slim.train.Saver()
        first = saver.save(train_sess, os.path.join(ckdir, "model.ckpt"), global_step=1)
    w = slim.train.load_variable(first, "logits/weights")
    bias = slim.train.load_variable(first, "logits/biases")
    pred = np.argmax(arrays["image"].reshape(8, -1).astype(np.float32) / 255.0 @ w + bias, axis=1)
    want = float(np.mean(pred == arrays["label"] % 3))

    class SaveNext:
        calls = 0

        def end(self, session):
            SaveNext.calls += 1
            if SaveNext.calls == 1:
                with g_train.as_default():
                    saver.save(train_sess, os.path.join(ckdir, "model.ckpt"), global_step=2)

    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        image, label = provider.get(["image", "label"])
        images, labels = slim.train.batch([slim.to_float(image) / 255.0, label % 3], batch_size=4)
        predictions = slim.argmax(_model(images), 1)
        slim.get_or_create_global_step()
        acc, update = slim.metrics.streaming_accuracy(predictions, labels)
        n_value, n_update = slim.metrics.count(slim.to_float(labels))
        final = slim.evaluation.evaluation_loop("", ckdir, str(tmp_path / "eval"), num_evals=100,
                                                eval_op=[update, n_update], final_op=[acc, n_value],
                                                eval_interval_secs=0, max_number_of_evaluations=2, timeout=10,
                                                hooks=[SaveNext()])
    train_sess.close()
    assert SaveNext.calls == 2
    assert final[0] == pytest.approx(want) and final[1] == 8  # the second checkpoint saw all 8 examples


class _RandomAccessReader:
    """A reader with random access (num_records/read_record): rows of an in-memory dict of arrays."""

    def list_sources(self, data_sources):
        return list(data_sources)

    def num_records(self, source):
        return len(source["label"])

    def read_record(self, source, i):
        if source["label"][i] == -1:
            raise OSError("unreadable row")
        return {k: v[i] for k, v in source.items()}

    def read(self, source):
        for i in range(self.num_records(source)):
            yield f"rows:{i}", self.read_record(source, i)


def test_random_access_reader_exact_permutations_shards_and_errors():
    n = 300  # more than the shuffle buffer: only a random-access reader can give a full permutation
    parts = [{"label": np.arange(0, 100, dtype=np.int64)}, {"label": np.arange(100, n, dtype=np.int64)}]
    ds = Dataset(parts, _RandomAccessReader, DictDecoder(["label"]), n, {"label": "index"})

    def run(num_threads, **kw):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, num_epochs=2, seed=4, **kw)
            assert provider.source.random_access
            [labels] = slim.train.batch(provider.get(["label"]), batch_size=10, num_threads=num_threads)
            with slim.Session() as sess:
                return np.concatenate(_drain(sess, labels))

    a, b = run(1), run(4)
    np.testing.assert_array_equal(a, b)
    e0, e1 = a[:n], a[n:]
    np.testing.assert_array_equal(np.sort(e0), np.arange(n))
    np.testing.assert_array_equal(np.sort(e1), np.arange(n))
    assert e0[:50].max() > 256 and not np.array_equal(e0, e1)
    s0, s1 = run(2, shuffle=True, num_shards=3, shard_index=0), run(2, shuffle=False, num_shards=3, shard_index=1)
    assert sorted(s0[:100].tolist()) == list(range(0, n, 3)) and s1[:100].tolist() == list(range(1, n, 3))

    broken = [{"label": np.array([0, 1, -1, 3], np.int64)}]
    ds2 = Dataset(broken, _RandomAccessReader, DictDecoder(["label"]), 4, {"label": "index"})
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds2, shuffle=False, num_epochs=1)
        [labels] = slim.train.batch(provider.get(["label"]), batch_size=1)
        with slim.Session() as sess:
            with pytest.raises(InputPipelineError, match=r"record 2 of .*OSError: unreadable row"):
                _drain(sess, labels)


def test_enqueue_many_splits_each_value_into_examples():
    ds, arrays = _dataset(6)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=False, num_epochs=1)
        image, label = provider.get(["image", "label"])
        pair_images = image.map(lambda v: np.stack([v, v[:, ::-1]]), shape=[2, 4, 4, 1])
        pair_labels = label.map(lambda v: np.array([v, 100 + v]), shape=[2])
        images, labels = slim.train.batch([pair_images, pair_labels], batch_size=4, enqueue_many=True)
        assert images.shape == [4, 4, 4, 1] and labels.shape == [4]
        with slim.Session() as sess:
            out = _drain(sess, [images, labels])
    assert np.concatenate([o[1] for o in out]).tolist() == [0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105]
    np.testing.assert_array_equal(out[0][0][1], arrays["image"][0][:, ::-1])


def test_tf_slim_module_spellings_and_empty_dataset():
    assert slim.dataset_data_provider.DatasetDataProvider is DatasetDataProvider
    assert callable(slim.prefetch_queue.prefetch_queue) and callable(slim.parallel_reader.parallel_read)
    assert slim.dataset.Dataset is Dataset and slim.tfexample_decoder.TFExampleDecoder is tfd.TFExampleDecoder
    empty, _ = _dataset(0, arrays={"image": np.zeros((0, 4, 4, 1), np.uint8), "label": np.zeros(0, np.int64)})
    with pytest.raises(InvalidArgumentError, match="no records"):
        DatasetDataProvider(empty)


def test_graph_ops_on_host_tensors_map_their_numpy_reference():
    arrays = {"x": np.arange(24, dtype=np.float32).reshape(4, 2, 3), "y": np.arange(4, dtype=np.int64)}
    ds = Dataset(arrays, NumpyReader, DictDecoder(["x", "y"]), 4, {"x": "", "y": ""})
    with slim.Graph().as_default():
        x, y = DatasetDataProvider(ds, shuffle=False).get(["x", "y"])
        outs = {"mean": slim.reduce_mean(x), "rows": slim.reduce_sum(x, axis=1), "t": slim.transpose(x, [1, 0]),
                "oh": slim.one_hot(y, 5), "cat": slim.concat([x, x * 0.0], axis=0), "clip": slim.clip_by_value(x, 2., 5.),
                "r": slim.reshape(x, [3, 2]), "relu": slim.nn.relu(x - 3.0)}
        assert outs["oh"].shape == [5] and outs["r"].shape == [3, 2] and outs["mean"].shape == []
        batched = slim.train.batch(outs, batch_size=4)
        assert batched["cat"].shape == [4, 4, 3] and batched["oh"].dtype is slim.float32
        with slim.Session() as sess:
            v = sess.run(batched)
    xs = arrays["x"]
    np.testing.assert_allclose(v["mean"], xs.mean(axis=(1, 2)))
    np.testing.assert_allclose(v["rows"], xs.sum(axis=2))  # axis 1 of each example
    np.testing.assert_allclose(v["t"], xs.transpose(0, 2, 1))
    np.testing.assert_array_equal(v["oh"], np.eye(5, dtype=np.float32)[:4])
    np.testing.assert_allclose(v["cat"], np.concatenate([xs, 0 * xs], axis=1))
    np.testing.assert_allclose(v["clip"], np.clip(xs, 2, 5))
    np.testing.assert_allclose(v["r"], xs.reshape(4, 3, 2))
    np.testing.assert_allclose(v["relu"], np.maximum(xs - 3, 0))


def test_session_runs_a_providers_items_one_example_at_a_time():
    """TF-Slim's walkthrough: sess.run([image, label]) on the provider's items inside QueueRunners."""
    ds, arrays = _dataset(5)
    with slim.Graph().as_default():
        provider = DatasetDataProvider(ds, shuffle=True, seed=2, num_epochs=1, common_queue_capacity=4,
                                       common_queue_min=1)
        image, label = provider.get(["image", "label"])
        scaled = slim.to_float(image) / 255.0
        total = slim.reduce_sum(slim.constant([1.0, 2.0]))
        with slim.Session() as sess:
            with slim.queues.QueueRunners(sess):
                seen = []
                for _ in range(5):
                    np_image, np_label, np_scaled, t = sess.run([image, label, scaled, total])
                    i = int(np_label)
                    np.testing.assert_array_equal(np_image, arrays["image"][i])  # a matching pair
                    np.testing.assert_allclose(np_scaled, arrays["image"][i] / np.float32(255.0), rtol=1e-6)
                    assert t == 3.0
                    seen.append(i)
                with pytest.raises(OutOfRangeError):
                    sess.run(label)
            assert _pipeline_threads() == []
    assert sorted(seen) == [0, 1, 2, 3, 4] and seen != [0, 1, 2, 3, 4]


def test_random_preprocessing_on_provider_items_is_thread_count_independent():
    from slimir.preprocessing import preprocessing_factory

    rng = np.random.default_rng(0)
    arrays = {"image": rng.integers(0, 256, (6, 20, 24, 3)).astype(np.uint8), "label": np.arange(6)}
    ds = Dataset(arrays, NumpyReader, DictDecoder(["image", "label"]), 6, {"image": "", "label": ""})

    def run(num_threads):
        with slim.Graph().as_default():
            image, label = DatasetDataProvider(ds, shuffle=False, seed=1).get(["image", "label"])
            fn = preprocessing_factory.get_preprocessing("inception_v1", is_training=True)
            images, labels = slim.train.batch([fn(image, 16, 16), label], batch_size=6, num_threads=num_threads)
            assert images.shape == [6, 16, 16, 3]
            with slim.Session() as sess:
                return sess.run([images, labels]), sess.run(images)

    (a, la), a2 = run(1)
    (b, _), _ = run(3)
    np.testing.assert_array_equal(la, np.arange(6))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) <= 1.0) and not np.allclose(a, a2)  # [-1, 1]; the next epoch draws new crops


def test_parallel_read_gives_keys_and_serialized_records(tmp_path):
    from slimir.data.example import example_to_dict

    paths = [str(tmp_path / f"part-{i}.tfrecord") for i in range(2)]
    for i, p in enumerate(paths):
        _write_tfrecord(p, 3 + i)
    with slim.Graph().as_default():
        key, value = slim.data.parallel_read(str(tmp_path / "part-*.tfrecord"), slim.data.TFRecordReader,
                                             num_epochs=1, shuffle=False)
        assert key.dtype is slim.data.string and value.dtype is slim.data.string
        y = value.map(lambda v: np.int64(example_to_dict(v)["y"][0]), shape=[], dtype=slim.int64)
        with slim.Session() as sess:
            got = []
            while True:
                try:
                    got.append(sess.run([key, y]))
                except OutOfRangeError:
                    break
    assert [k for k, _ in got] == [f"{paths[0]}:{i}" for i in range(3)] + [f"{paths[1]}:{i}" for i in range(4)]
    assert [int(v) for _, v in got] == [0, 1, 2, 0, 1, 2, 3]
    with pytest.raises(slim.errors.NotFoundError, match="nothing-here"):
        slim.data.parallel_read(str(tmp_path / "nothing-here-*"), slim.data.TFRecordReader)


def test_indexed_tfrecord_reader_gives_exact_seeded_permutations(tmp_path):
    paths = [str(tmp_path / f"p{j}.tfrecord") for j in range(2)]
    for j, p in enumerate(paths):
        _write_tfrecord(p, 150, start=150 * j)
    ds = _tfrecord_dataset(str(tmp_path / "p*.tfrecord"), 300)
    ds.reader = slim.data.readers.IndexedTFRecordReader

    def run(num_threads):
        with slim.Graph().as_default():
            provider = DatasetDataProvider(ds, shuffle=True, seed=3, num_epochs=1)
            assert provider.source.random_access
            x, y = provider.get(["x", "y"])
            xb, yb = slim.train.batch([x, y], batch_size=50, num_threads=num_threads)
            with slim.Session() as sess:
                out = _drain(sess, [xb, yb])
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    (x1, y1), (x4, y4) = run(1), run(4)
    np.testing.assert_array_equal(y1, y4)
    np.testing.assert_array_equal(x1, x4)
    np.testing.assert_array_equal(np.sort(y1), np.arange(300))
    assert (y1[:50] >= 150).any() and (y1[:50] < 150).any()  # one permutation over both files
    np.testing.assert_allclose(x1[:, 1], 2 * y1)
