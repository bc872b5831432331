"""pix2pix and CycleGAN (slimir.nets.pix2pix, slimir.nets.cyclegan) against research/slim's nets and the
scenarios of pix2pix_test.py and cyclegan_test.py: output sizes, blocks and layers, the PatchGAN's patch
grid, the ResNet generator's shapes (non-square, unknown sizes, kernel sizes 3-6) and input checks; variable
names; parameter counts; ONNX export equal to the Session; training steps that lower the loss.

The resize-based upsampling options (pix2pix's default 'nn_upsample_conv', CycleGAN's 'nn_upsample_conv' and
'bilinear_upsample_conv') need slimir.ops.image_ops, and training through REFLECT padding needs its
gradient: those tests run where the build has them."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, num_params, shape, train_generic

import slimir as slim
from slimir import errors
from slimir.nets import cyclegan, nets_factory, pix2pix


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


def _has_image_ops():
    try:
        from slimir.ops import image_ops  # noqa: F401
    except ImportError:
        return False
    return True


def _has_reflect_gradient():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [1, 3, 3, 1])
        try:
            slim.gradients(slim.reduce_sum(slim.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")), [x])
        except errors.SlimirError:
            return False
    return True


def _small_blocks():
    return [pix2pix.Block(b.num_filters // 32, b.decoder_keep_prob) for b in pix2pix._default_generator_blocks()]


@pytest.mark.parametrize("method", ["conv2d_transpose", "nn_upsample_conv"])
def test_generator_output_size(method):
    if method == "nn_upsample_conv" and not _has_image_ops():
        with slim.Graph().as_default(), pytest.raises(ValueError, match="image_ops"):
            pix2pix.pix2pix_generator(_ph(2, 256, 256, 3), 4, upsample_method=method)
        pytest.skip("nn_upsample_conv needs slimir.ops.image_ops")
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
    with slim.Graph().as_default(), pytest.raises(ValueError, match="Unknown method"):
        pix2pix.pix2pix_generator(_ph(1, 256, 256, 3), 3, upsample_method="bicubic")


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


@pytest.mark.parametrize("method", ["nn_upsample_conv", "bilinear_upsample_conv"])
def test_cyclegan_resize_upsampling(method):
    import functools

    up = functools.partial(cyclegan.cyclegan_upsample, method=method)
    with slim.Graph().as_default():
        if not _has_image_ops():
            with pytest.raises(ValueError, match="image_ops"):
                cyclegan.cyclegan_generator_resnet(_ph(1, 32, 32, 3), upsample_fn=up)
            pytest.skip(f"{method} needs slimir.ops.image_ops")
        out, ep = cyclegan.cyclegan_generator_resnet(_ph(1, 32, 32, 3), upsample_fn=up)
        assert shape(out) == [1, 32, 32, 3] and shape(ep["decoder1"]) == [1, 16, 16, 128]


def test_factory_entries():
    for name in ("pix2pix_generator", "pix2pix_discriminator", "cyclegan_generator"):
        assert name in nets_factory.generative_map and nets_factory.input_shape(name) == [256, 256, 3]
    with slim.Graph().as_default():
        out, _ = nets_factory.get_generative_network_fn("pix2pix_generator")(_ph(1, 256, 256, 3))
        assert shape(out) == [1, 256, 256, 3]
        assert any("InstanceNorm" in v.op.name for v in slim.global_variables())  # built under its arg_scope


def test_onnx_export_matches_session():
    no_dropout = [pix2pix.Block(8, 0), pix2pix.Block(16, 0), pix2pix.Block(16, 0)]

    def generator(x):
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            return pix2pix.pix2pix_generator(x, 3, blocks=no_dropout, upsample_method="conv2d_transpose")

    def discriminator(x):
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            return pix2pix.pix2pix_discriminator(x, [8, 16, 32, 64])

    check_export(generator, (2, 32, 32, 3))
    check_export(discriminator, (2, 32, 32, 3))
    check_export(lambda x: cyclegan.cyclegan_generator_resnet(x, num_filters=8, num_resnet_blocks=2), (2, 32, 32, 3))


def test_training_steps_reduce_the_losses():
    def generator(rng):
        x = _ph(4, 32, 32, 3)
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            _, ep = pix2pix.pix2pix_generator(x, 3, blocks=[pix2pix.Block(8, 0), pix2pix.Block(16, 0)],
                                              upsample_method="conv2d_transpose")
        slim.losses.absolute_difference(ep["predictions"], rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32))
        return {x: rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)}

    def discriminator(pad_mode):
        def build(rng):
            x = _ph(4, 32, 32, 3)
            with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
                logits, _ = pix2pix.pix2pix_discriminator(x, [8, 16, 32], pad_mode=pad_mode)
            labels = rng.integers(0, 2, (4, 1, 1, 1)).astype(np.float32) * np.ones(shape(logits), np.float32)
            slim.losses.sigmoid_cross_entropy(logits, labels)
            return {x: rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)}

        return build

    assert_decreasing(train_generic(generator))
    assert_decreasing(train_generic(discriminator("CONSTANT")))
    if _has_reflect_gradient():
        assert_decreasing(train_generic(discriminator("REFLECT")))


def test_cyclegan_training_steps_reduce_the_loss():
    if not _has_reflect_gradient():
        with slim.Graph().as_default():
            x = _ph(2, 16, 16, 3)
            out, _ = cyclegan.cyclegan_generator_resnet(x, num_filters=8, num_resnet_blocks=1)
            with pytest.raises(errors.SlimirError, match="REFLECT"):
                slim.gradients(slim.reduce_sum(out), [x])
        pytest.skip("training through REFLECT padding needs its gradient (mirror-pad gradient)")

    def build(rng):
        x = _ph(2, 16, 16, 3)
        out, _ = cyclegan.cyclegan_generator_resnet(x, num_filters=8, num_resnet_blocks=1)
        slim.losses.absolute_difference(out, rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32))
        return {x: rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)}

    assert_decreasing(train_generic(build))
