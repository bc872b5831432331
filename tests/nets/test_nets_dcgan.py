"""DCGAN (slimir.nets.dcgan) against research/slim's nets/dcgan.py and the scenarios of dcgan_test.py: the
generator's and discriminator's end points and depths, their input checks; zero-debiased batch norm;
parameter counts; ONNX export (also through `slimir export`); training steps that lower the losses."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, num_params, shape, train_generic

import slimir as slim
from slimir import errors
from slimir.nets import dcgan, nets_factory


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


def test_generator_graph():
    for i, batch in zip(range(3, 7), range(3, 8)):
        final_size = 2 ** i
        with slim.Graph().as_default():
            image, ep = dcgan.generator(_ph(batch, 64), depth=32, final_size=final_size)
            assert shape(image) == [batch, final_size, final_size, 3]
            assert set(ep) == {f"deconv{j}" for j in range(1, i)} | {"logits"}
            for j in range(1, i):
                assert shape(ep[f"deconv{j}"])[-1] == 32 * 2 ** (i - j - 1)
            assert shape(ep["deconv1"])[1:3] == [4, 4]


def test_generator_invalid_input():
    with slim.Graph().as_default():
        with pytest.raises(errors.ShapeError, match="rank 2"):
            dcgan.generator(_ph(3, 64, 1))
        with pytest.raises(ValueError, match="must be a power of 2"):
            dcgan.generator(_ph(3, 64), final_size=30)
        with pytest.raises(ValueError, match="must be greater than 8"):
            dcgan.generator(_ph(3, 64), final_size=4)


def test_discriminator_graph():
    for i, batch in zip(range(1, 6), range(3, 8)):
        width = 2 ** i
        with slim.Graph().as_default():
            logits, ep = dcgan.discriminator(_ph(batch, width, width, 3), depth=32)
            assert shape(logits) == [batch, 1]
            assert set(ep) == {f"conv{j}" for j in range(1, i + 1)} | {"logits"}
            for j in range(1, i + 1):
                assert shape(ep[f"conv{j}"])[-1] == 32 * 2 ** (j - 1)


def test_discriminator_invalid_input():
    with slim.Graph().as_default():
        with pytest.raises(errors.ShapeError, match="rank 4"):
            dcgan.discriminator(_ph(3, 32, 32))
        with pytest.raises(errors.ShapeError, match="known"):
            dcgan.discriminator(_ph(5, 32, None, 3))
        with pytest.raises(ValueError, match="not have equal width and height"):
            dcgan.discriminator(_ph(5, 32, 16, 3))
        with pytest.raises(ValueError, match="not a power of 2"):
            dcgan.discriminator(_ph(5, 30, 30, 3))


def test_variable_names_and_parameter_counts():
    """Derived from the architecture: generator 3,277,955 values (final_size 32, depth 64, noise 64),
    discriminator 11,147,201 (32x32x3 images); batch norm (beta, no gamma) with zero-debiased moving means."""
    with slim.Graph().as_default():
        image, _ = dcgan.generator(_ph(2, 64))
        g_vars = slim.trainable_variables()
        assert num_params(g_vars) == 3_277_955
        dcgan.discriminator(image)
        d_vars = [v for v in slim.trainable_variables() if v not in g_vars]
        assert num_params(d_vars) == 11_147_201
        names = {v.op.name: v.shape.as_list() for v in slim.global_variables()}
        assert names["Generator/deconv1/weights"] == [4, 4, 512, 64]
        assert names["Generator/deconv4/biases"] == [64]
        assert names["Generator/logits/weights"] == [1, 1, 64, 3]
        assert names["Discriminator/conv1/biases"] == [64]  # the first conv is not normalised
        assert names["Discriminator/conv5/weights"] == [4, 4, 512, 1024]
        assert names["Discriminator/Conv/weights"] == [1, 1, 1024, 1]
        assert names["Discriminator/conv2/BatchNorm/moving_mean/biased"] == [128]
        assert names["Discriminator/conv2/BatchNorm/moving_mean/local_step"] == []
        model = {v.op.name for v in slim.get_model_variables()}
        assert "Discriminator/conv2/BatchNorm/moving_mean/biased" not in model  # global, as TF's get_variable
        # one moving-mean (grouped zero-debias) and one moving-variance update per batch norm
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) == 2 * 7


def test_zero_debiased_moving_mean_values():
    """TF's assign_moving_average(zero_debias=True): after t steps the moving mean is
    sum_i (1-d) d^(t-i) m_i / (1 - d^t), so the first step gives the batch mean itself."""
    rng = np.random.default_rng(0)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [8, 3])
        y = slim.batch_norm(x, decay=0.9, zero_debias_moving_mean=True, updates_collections=None, scope="bn")
        moving = slim.get_variables_by_name("moving_mean")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            means = []
            for t in range(1, 4):
                xv = (rng.normal(size=(8, 3)) + t).astype(np.float32)
                sess.run(y, {x: xv})
                means.append(xv.astype(np.float64).mean(0))
                w = np.array([0.1 * 0.9 ** (t - 1 - i) for i in range(t)])
                want = (w[:, None] * np.array(means)).sum(0) / (1 - 0.9 ** t)
                np.testing.assert_allclose(sess.run(moving), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_onnx_export_matches_session():
    check_export(lambda x: dcgan.generator(x, is_training=False), (2, 64))
    check_export(lambda x: dcgan.discriminator(x, is_training=False), (2, 32, 32, 3))


@pytest.mark.slow
def test_factory_and_cli(tmp_path, capsys):
    from slimir.apps import cli

    assert set(nets_factory.generative_map) >= {"dcgan_generator", "dcgan_discriminator"}
    assert nets_factory.input_shape("dcgan_generator") == [64]
    assert nets_factory.input_shape("dcgan_discriminator") == [32, 32, 3]
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dcgan_generator" in out and "generative" in out
    for name in ("dcgan_generator", "dcgan_discriminator"):
        path = tmp_path / f"{name}.onnx"
        assert cli.main(["export", name, "-o", str(path)]) == 0
        assert path.is_file()
        import onnx

        onnx.checker.check_model(str(path), full_check=True)


def test_training_steps_reduce_the_losses():
    def discriminator(rng):
        images = slim.placeholder(slim.float32, [8, 16, 16, 3])
        labels = slim.placeholder(slim.float32, [8, 1])
        logits, _ = dcgan.discriminator(images, depth=16)
        slim.losses.sigmoid_cross_entropy(logits, labels)
        return {images: rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32),
                labels: rng.integers(0, 2, (8, 1)).astype(np.float32)}

    def generator(rng):
        noise = slim.placeholder(slim.float32, [8, 64])
        image, _ = dcgan.generator(noise, depth=16, final_size=16)
        slim.losses.mean_squared_error(slim.tanh(image), rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32))
        return {noise: rng.normal(size=(8, 64)).astype(np.float32)}

    assert_decreasing(train_generic(discriminator))
    assert_decreasing(train_generic(generator))
