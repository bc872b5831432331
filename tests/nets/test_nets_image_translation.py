"""pix2pix and CycleGAN (slimir.nets.pix2pix, slimir.nets.cyclegan) against research/slim's nets and the
scenarios of pix2pix_test.py and cyclegan_test.py: output sizes, blocks and layers, the PatchGAN's patch
grid, the ResNet generator's shapes (non-square, unknown sizes, kernel sizes 3-6) and input checks; variable
names; parameter counts; the resize-based upsampling (pix2pix's default 'nn_upsample_conv', CycleGAN's
'nn_upsample_conv' and 'bilinear_upsample_conv') against TF1's resize rules; ONNX export equal to the Session;
training steps (also through REFLECT padding) that lower the loss."""

import functools

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, num_params, shape, train_generic

import slimir as slim
from slimir import errors
from slimir.nets import cyclegan, nets_factory, pix2pix
from slimir.ops.conv import conv2d_reference
from slimir.ops.image import resize_reference


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


def _small_blocks():
    return [pix2pix.Block(b.num_filters // 32, b.decoder_keep_prob) for b in pix2pix._default_generator_blocks()]


@pytest.mark.parametrize("method", ["conv2d_transpose", "nn_upsample_conv"])
def test_generator_output_size(method):
    with slim.Graph().as_default(), slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        images = _ph(2, 256, 256, 3)
        logits, _ = pix2pix.pix2pix_generator(images, 4, blocks=_small_blocks(), upsample_method=method)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(logits, {images: np.ones((2, 256, 256, 3), np.float32)})
    assert out.shape == (2, 256, 256, 4)


def test_generator_blocks_layers_and_names():
    with slim.Graph().as_default(), slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        blocks = [pix2pix.Block(64, 0.5), pix2pix.Block(128, 0)]
        _, ep = pix2pix.pix2pix_generator(_ph(2, 256, 256, 3), 4, blocks=blocks, upsample_method="conv2d_transpose")
        assert sum(k.startswith("encoder") for k in ep) == sum(k.startswith("decoder") for k in ep) == len(blocks)
        assert shape(ep["predictions"]) == [2, 256, 256, 4]
    with slim.Graph().as_default(), slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        _, ep = pix2pix.pix2pix_generator(_ph(1, 256, 256, 3), 3, upsample_method="conv2d_transpose")
        assert shape(ep["encoder6"]) == [1, 2, 2, 512] and shape(ep["decoder6"]) == [1, 256, 256, 64]
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v["encoder/Conv/weights"] == [4, 4, 3, 64] and v["encoder/Conv/biases"] == [64]
        assert v["encoder/Conv_1/InstanceNorm/gamma"] == [128]
        assert v["encoder/Conv_6/biases"] == [512]  # the innermost layer has no normalizer
        assert v["decoder/Conv2d_transpose_1/weights"] == [4, 4, 512, 1024]  # skip connection doubles the input
        assert v["output/Conv/weights"] == [4, 4, 64, 3]
        # derived from the architecture (transposed-conv upsampling has the 4x4 conv's weights)
        assert num_params(slim.trainable_variables()) == 48_839_875
    with slim.Graph().as_default(), slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        _, ep = pix2pix.pix2pix_generator(_ph(1, 256, 256, 3), 3)  # research/slim's default: resize + 4x4 conv
        assert shape(ep["decoder0"]) == [1, 4, 4, 512] and shape(ep["decoder6"]) == [1, 256, 256, 64]
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v["decoder/Conv/weights"] == [4, 4, 512, 512] and v["decoder/Conv_1/weights"] == [4, 4, 1024, 512]
        assert v["decoder/Conv_6/InstanceNorm/beta"] == [64] and "decoder/Conv_6/biases" not in v
        assert num_params(slim.trainable_variables()) == 48_839_875
        resizes = [n for n in slim.get_default_graph().nodes if n.type == "resize"]
        assert [n.attrs["size"] for n in resizes] == [(2 ** (i + 2),) * 2 for i in range(7)]
        assert all(n.attrs["method"] == "nearest" and not n.attrs["align_corners"]
                   and not n.attrs["half_pixel_centers"] for n in resizes)  # TF1's tf.image.resize
    with slim.Graph().as_default(), pytest.raises(ValueError, match="Unknown method"):
        pix2pix.pix2pix_generator(_ph(1, 256, 256, 3), 3, upsample_method="bicubic")


def _resize_nodes():
    return [n for n in slim.get_default_graph().nodes if n.type == "resize"]


def test_pix2pix_nn_upsample_conv_values():
    """upsample(method='nn_upsample_conv'): each pixel repeated kernel_size times (nearest neighbour at an integer
    scale) at the run-time size, then a 4x4 SAME conv with bias, no activation."""
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, None, None, 4])
        y = pix2pix.upsample(x, 6, [2, 3])
        (resize,) = _resize_nodes()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            r, out, w, b = sess.run([resize.outputs[0], y, *slim.get_variables("Conv")], {x: xv})
    want = np.repeat(np.repeat(xv, 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(r, want)
    assert out.shape == (2, 6, 15, 6)
    np.testing.assert_allclose(out, conv2d_reference(want, w, (1, 1), (1, 1), "SAME", "NHWC") + b, rtol=1e-5,
                               atol=1e-5)


def test_discriminator_four_layers():
    """pix2pix_test.test_four_layers: the patch grid of 256x256 images with padding 2: 35x35."""
    def out_size(n, stride=2):
        return (n + 2 * 2 - 4) // stride + 1

    size = out_size(out_size(out_size(out_size(out_size(256))), stride=1), stride=1)
    with slim.Graph().as_default(), slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        logits, ep = pix2pix.pix2pix_discriminator(_ph(2, 256, 256, 3), num_filters=[64, 128, 256, 512])
        assert shape(logits) == shape(ep["predictions"]) == [2, size, size, 1] == [2, 35, 35, 1]
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v["conv0/weights"] == [4, 4, 3, 64] and v["conv4/weights"] == [4, 4, 512, 1]
        assert num_params(slim.trainable_variables()) == 2_765_633  # derived from the architecture
    with slim.Graph().as_default():
        logits, _ = pix2pix.pix2pix_discriminator(_ph(2, 64, 64, 3), [8, 16, 32], padding=0)
        assert shape(logits) == [2, 8, 8, 1]  # 64 -> 31 -> 14 (stride 2), 11, 8 (stride 1), all VALID 4x4


@pytest.mark.parametrize("shape_", [[4, 32, 32, 3], [3, 64, 64, 3], [2, 80, 400, 3]])
def test_cyclegan_generator_graph(shape_):
    with slim.Graph().as_default():
        out, ep = cyclegan.cyclegan_generator_resnet(_ph(*shape_))
        assert shape(out) == shape_
        assert shape(ep["encoder_2"]) == [shape_[0], shape_[1] // 4, shape_[2] // 4, 256]


def test_cyclegan_unknown_dims_kernel_sizes_and_errors():
    with slim.Graph().as_default():
        out, _ = cyclegan.cyclegan_generator_resnet(_ph(None, 32, None, 3))
        assert shape(out) == [None, 32, None, 3]
    for k in (3, 4, 5, 6):
        with slim.Graph().as_default():
            out, _ = cyclegan.cyclegan_generator_resnet(_ph(None, 32, 32, 3), kernel_size=k)
            assert shape(out) == [None, 32, 32, 3]
    for h in (29, 30, 31):
        with slim.Graph().as_default(), pytest.raises(ValueError, match="height must be a multiple of 4"):
            cyclegan.cyclegan_generator_resnet(_ph(None, h, 32, 3))
        with slim.Graph().as_default(), pytest.raises(ValueError, match="width must be a multiple of 4"):
            cyclegan.cyclegan_generator_resnet(_ph(None, 32, h, 3))


@pytest.mark.slow
def test_cyclegan_inference_names_and_counts():
    with slim.Graph().as_default():
        images = _ph(2, 32, 32, 3)
        out, _ = cyclegan.cyclegan_generator_resnet(images)
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v["input/Conv/weights"] == [7, 7, 3, 64]
        assert v["residual_blocks/block_5/Conv_1/InstanceNorm/beta"] == [256]
        assert v["decoder/decoder2/upconv/Conv2d_transpose/weights"] == [3, 3, 64, 128]
        assert v["output/Conv/biases"] == [3]
        assert num_params(slim.trainable_variables()) == 7_841_219  # derived from the architecture
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            res = sess.run(out, {images: np.zeros((2, 32, 32, 3), np.float32)})
    assert res.shape == (2, 32, 32, 3) and np.all(np.abs(res) <= 1)


@pytest.mark.parametrize("method, align_corners", [("nn_upsample_conv", False), ("bilinear_upsample_conv", False),
                                                   ("bilinear_upsample_conv", True)])
def test_cyclegan_resize_upsampling(method, align_corners):
    """cyclegan_upsample with a resize: TF1's nearest / bilinear rules (legacy pixel centres, `align_corners` for
    bilinear) to `stride` times the run-time size, REFLECT padding by 1, a 3x3 VALID conv (relu, bias)."""
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((2, 3, 4, 2)).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, None, None, 2])
        y = cyclegan.cyclegan_upsample(x, 5, [2, 2], method=method, align_corners=align_corners)
        (resize,) = _resize_nodes()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            r, out, w, b = sess.run([resize.outputs[0], y, *slim.get_variables("upconv/Conv")], {x: xv})
    kind = "nearest" if method == "nn_upsample_conv" else "bilinear"
    want = resize_reference(xv, (6, 8), kind, align_corners, False)
    np.testing.assert_allclose(r, want, rtol=1e-6, atol=1e-6)
    if kind == "nearest":
        np.testing.assert_array_equal(r, np.repeat(np.repeat(xv, 2, axis=1), 2, axis=2))
    padded = np.pad(want, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    np.testing.assert_allclose(out, np.maximum(conv2d_reference(padded, w, (1, 1), (1, 1), "VALID", "NHWC") + b, 0),
                               rtol=1e-5, atol=1e-5)
    up = functools.partial(cyclegan.cyclegan_upsample, method=method, align_corners=align_corners)
    with slim.Graph().as_default():
        out, ep = cyclegan.cyclegan_generator_resnet(_ph(1, 32, 32, 3), upsample_fn=up)
        assert shape(out) == [1, 32, 32, 3] and shape(ep["decoder1"]) == [1, 16, 16, 128]
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v["decoder/decoder2/upconv/Conv/weights"] == [3, 3, 128, 64]


def test_factory_entries():
    for name in ("pix2pix_generator", "pix2pix_discriminator", "cyclegan_generator"):
        assert name in nets_factory.generative_map and nets_factory.input_shape(name) == [256, 256, 3]
    with slim.Graph().as_default():
        out, _ = nets_factory.get_generative_network_fn("pix2pix_generator")(_ph(1, 256, 256, 3))
        assert shape(out) == [1, 256, 256, 3]
        assert any("InstanceNorm" in v.op.name for v in slim.global_variables())  # built under its arg_scope


@pytest.mark.parametrize("upsample_method", ["nn_upsample_conv", "conv2d_transpose"])
def test_pix2pix_onnx_export_matches_session(upsample_method):
    no_dropout = [pix2pix.Block(8, 0), pix2pix.Block(16, 0), pix2pix.Block(16, 0)]

    def generator(x):
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            return pix2pix.pix2pix_generator(x, 3, blocks=no_dropout, upsample_method=upsample_method)

    check_export(generator, (2, 32, 32, 3))


@pytest.mark.parametrize("pad_mode", ["REFLECT", "SYMMETRIC", "CONSTANT"])
def test_discriminator_onnx_export_matches_session(pad_mode):
    def discriminator(x):
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            return pix2pix.pix2pix_discriminator(x, [8, 16, 32, 64], pad_mode=pad_mode)

    check_export(discriminator, (2, 32, 32, 3))


@pytest.mark.parametrize("method", ["conv2d_transpose", "nn_upsample_conv", "bilinear_upsample_conv"])
def test_cyclegan_onnx_export_matches_session(method):
    up = functools.partial(cyclegan.cyclegan_upsample, method=method)
    check_export(lambda x: cyclegan.cyclegan_generator_resnet(x, num_filters=8, num_resnet_blocks=2, upsample_fn=up),
                 (2, 32, 32, 3))


@pytest.mark.parametrize("upsample_method", ["nn_upsample_conv", "conv2d_transpose"])
def test_generator_training_steps_reduce_the_loss(upsample_method):
    def generator(rng):
        x = _ph(4, 32, 32, 3)
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            _, ep = pix2pix.pix2pix_generator(x, 3, blocks=[pix2pix.Block(8, 0), pix2pix.Block(16, 0)],
                                              upsample_method=upsample_method)
        slim.losses.absolute_difference(ep["predictions"], rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32))
        return {x: rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)}

    assert_decreasing(train_generic(generator))


@pytest.mark.parametrize("pad_mode", ["REFLECT", "SYMMETRIC", "CONSTANT"])
def test_discriminator_training_steps_reduce_the_loss(pad_mode):
    def discriminator(rng):
        x = _ph(4, 32, 32, 3)
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            logits, _ = pix2pix.pix2pix_discriminator(x, [8, 16, 32], pad_mode=pad_mode)
        labels = rng.integers(0, 2, (4, 1, 1, 1)).astype(np.float32) * np.ones(shape(logits), np.float32)
        slim.losses.sigmoid_cross_entropy(logits, labels)
        return {x: rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)}

    assert_decreasing(train_generic(discriminator))


@pytest.mark.parametrize("method", ["conv2d_transpose", "bilinear_upsample_conv"])
def test_cyclegan_training_steps_reduce_the_loss(method):
    """Through the REFLECT pads (the mirror-pad gradient) and, for 'bilinear_upsample_conv', the resize gradient."""
    up = functools.partial(cyclegan.cyclegan_upsample, method=method)

    def build(rng):
        x = _ph(2, 16, 16, 3)
        out, _ = cyclegan.cyclegan_generator_resnet(x, num_filters=8, num_resnet_blocks=1, upsample_fn=up)
        slim.losses.absolute_difference(out, rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32))
        return {x: rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)}

    assert_decreasing(train_generic(build))


def test_resize_upsampling_of_run_time_sizes_has_no_gradient():
    """A resize to a size known only at run time (unknown input height and width) runs, but its gradient needs
    static sizes: a clear ShapeError naming the resize, not a failure inside ONNX Runtime."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [1, None, None, 2])
        y = pix2pix.upsample(x, 3, [2, 2])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert sess.run(y, {x: np.ones((1, 3, 5, 2), np.float32)}).shape == (1, 6, 10, 3)
        with pytest.raises(errors.ShapeError, match="ResizeNearestNeighbor.*static"):
            slim.gradients(slim.reduce_sum(y), [x])
