"""S3D-G (Xie et al., "Rethinking Spatiotemporal Feature Learning", arXiv:1712.04851) as research/slim builds
it (nets/s3dg.py): Inception v1 inflated to 3-D with separable spatio-temporal convolutions and self-gating,
scope 'InceptionV1', end points 'Conv2d_1a_7x7' ... 'Mixed_5c', on videos [batch, frames, height, width, 3].

    with slim.arg_scope(s3dg.s3dg_arg_scope()):
        logits, end_points = s3dg.s3dg(videos, num_classes=400, is_training=False)   # [b, 64, 224, 224, 3]
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import variable_scope
from ..initializers import truncated_normal_initializer
from ..ops import array_ops, math_ops
from ..regularizers import l2_regularizer
from . import i3d_utils
from .i3d_utils import conv3d_spatiotemporal, inception_block_v1_3d

__all__ = ["s3dg", "s3dg_arg_scope", "s3dg_base", "self_gating"]


def _trunc_normal(stddev):
    return truncated_normal_initializer(0.0, stddev)


def s3dg_arg_scope(weight_decay=1e-7, batch_norm_decay=0.999, batch_norm_epsilon=0.001):
    """The arg_scope S3D-G was trained with: L2 weight decay, relu and (unfused) batch norm on conv3d and
    conv3d_spatiotemporal (moving statistics also in the 'moving_vars' collection), separable
    spatio-temporal convolutions."""
    bn = {"decay": batch_norm_decay, "epsilon": batch_norm_epsilon, "fused": False,
          "variables_collections": {"beta": None, "gamma": None, "moving_mean": ["moving_vars"],
                                    "moving_variance": ["moving_vars"]}}
    with arg_scope([layers.conv3d, conv3d_spatiotemporal], weights_regularizer=l2_regularizer(weight_decay),
                   activation_fn=math_ops.relu, normalizer_fn=layers.batch_norm, normalizer_params=bn), \
            arg_scope([conv3d_spatiotemporal], separable=True) as sc:
        return sc


def self_gating(input_tensor, scope, data_format="NDHWC"):
    """Feature gating: the spatio-temporal average through a 1x1x1 conv ('<scope>/self_gating/transformer_W')
    and a sigmoid scales each channel of `input_tensor`."""
    c, d, h, w = (data_format.index(a) for a in "CDHW")
    shape = list(input_tensor.shape)
    t, width, height, channels = shape[d], shape[w], shape[h], shape[c]
    avg = layers.avg_pool3d(input_tensor, [t, width, height], stride=1, data_format=data_format,
                                  scope=scope + "/self_gating/avg_pool3d")
    weights = layers.conv3d(avg, channels, [1, 1, 1], activation_fn=None, normalizer_fn=None,
                                  biases_initializer=None, data_format=data_format,
                                  weights_initializer=_trunc_normal(0.01), scope=scope + "/self_gating/transformer_W")
    multiples = [1, t, width, height]
    multiples.insert(c, 1)
    weights = math_ops.sigmoid(array_ops.tile(weights, multiples))
    return math_ops.multiply(weights, input_tensor)


# (end point, kind, arguments): 'conv' layers, 'pool' windows / strides, 'mixed' block widths
_LAYERS = [
    ("Conv2d_1a_7x7", "first", None),
    ("MaxPool_2a_3x3", "pool", ([1, 3, 3], [1, 2, 2])),
    ("Conv2d_2b_1x1", "conv1", 64),
    ("Conv2d_2c_3x3", "conv3", 192),
    ("MaxPool_3a_3x3", "pool", ([1, 3, 3], [1, 2, 2])),
    ("Mixed_3b", "mixed", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "mixed", (128, 128, 192, 32, 96, 64)),
    ("MaxPool_4a_3x3", "pool", ([3, 3, 3], [2, 2, 2])),
    ("Mixed_4b", "mixed", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "mixed", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "mixed", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "mixed", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "mixed", (256, 160, 320, 32, 128, 128)),
    ("MaxPool_5a_2x2", "pool", ([2, 2, 2], [2, 2, 2])),
    ("Mixed_5b", "mixed", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "mixed", (384, 192, 384, 48, 128, 128)),
]


def s3dg_base(inputs, first_temporal_kernel_size=3, temporal_conv_startat="Conv2d_2c_3x3",
              gating_startat="Conv2d_2c_3x3", final_endpoint="Mixed_5c", min_depth=16, depth_multiplier=1.0,
              data_format="NDHWC", scope="InceptionV1"):
    """S3D-G (and I3D, its special case) up to `final_endpoint`: temporal kernels of 3 from
    `temporal_conv_startat` on (1 before; None: never), self-gating from `gating_startat` on (None: never),
    widths max(int(d * depth_multiplier), min_depth). Returns (net, end_points)."""
    if data_format not in ("NDHWC", "NCDHW"):
        raise InvalidArgumentError(f"s3dg: data_format must be NDHWC or NCDHW, got {data_format!r}")
    if depth_multiplier <= 0:
        raise InvalidArgumentError("s3dg: depth_multiplier is not greater than zero.")
    if first_temporal_kernel_size not in (1, 3, 5, 7):
        raise InvalidArgumentError("s3dg: first_temporal_kernel_size can only be 1, 3, 5 or 7.")

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    def gating_fn(x, scope):
        return self_gating(x, scope, data_format=data_format)

    end_points = {}
    t = 1
    gate = None
    with variable_scope(scope, "InceptionV1", [inputs]), \
            arg_scope([layers.conv3d], weights_initializer=_trunc_normal(0.01)), \
            arg_scope([layers.conv3d, layers.max_pool3d, conv3d_spatiotemporal], stride=1,
                      data_format=data_format, padding="SAME"):
        net = inputs
        for name, kind, args in _LAYERS:
            if temporal_conv_startat == name:
                t = 3
            if gating_startat == name:
                gate = gating_fn
            if kind == "first":
                net = conv3d_spatiotemporal(net, depth(64), [first_temporal_kernel_size, 7, 7], stride=2,
                                            separable=False, scope=name)
            elif kind == "pool":
                net = layers.max_pool3d(net, args[0], stride=args[1], scope=name)
            elif kind == "conv1":
                net = layers.conv3d(net, depth(args), [1, 1, 1], scope=name)
            elif kind == "conv3":
                net = conv3d_spatiotemporal(net, depth(args), [t, 3, 3], scope=name)
                if gate is not None:
                    net = self_gating(net, scope=name, data_format=data_format)
            else:
                net = inception_block_v1_3d(net, *(depth(d) for d in args), temporal_kernel_size=t,
                                            self_gating_fn=gate, data_format=data_format, scope=name)
            end_points[name] = net
            if final_endpoint == name:
                return net, end_points
    raise InvalidArgumentError(f"s3dg: Unknown final endpoint {final_endpoint}")


def _logits(net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze, data_format):
    with variable_scope("Logits"):
        if data_format.startswith("NC"):
            net = array_ops.transpose(net, [0, 2, 3, 4, 1])
        kernel = i3d_utils.reduced_kernel_size_3d(net, [2, 7, 7])
        net = layers.avg_pool3d(net, kernel, stride=1, data_format="NDHWC", scope="AvgPool_0a_7x7")
        net = layers.dropout(net, dropout_keep_prob, scope="Dropout_0b")
        logits = layers.conv3d(net, num_classes, [1, 1, 1], activation_fn=None, normalizer_fn=None,
                                     data_format="NDHWC", scope="Conv2d_0c_1x1")
        logits = math_ops.reduce_mean(logits, axis=1)
        if spatial_squeeze:
            logits = array_ops.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


def s3dg(inputs, num_classes=1000, first_temporal_kernel_size=3, temporal_conv_startat="Conv2d_2c_3x3",
         gating_startat="Conv2d_2c_3x3", final_endpoint="Mixed_5c", min_depth=16, depth_multiplier=1.0,
         dropout_keep_prob=0.8, is_training=True, prediction_fn=layers.softmax, spatial_squeeze=True, reuse=None,
         data_format="NDHWC", scope="InceptionV1"):
    """S3D-G for video classification: `s3dg_base`, then under 'Logits' a [2, 7, 7] average pool (reduced for
    small inputs), dropout, a 1x1x1 conv to `num_classes`, averaged over time. Returns (logits, end_points)."""
    with variable_scope(scope, "InceptionV1", [inputs, num_classes], reuse=reuse) as sc, \
            arg_scope([layers.batch_norm, layers.dropout], is_training=is_training):
        net, end_points = s3dg_base(inputs, first_temporal_kernel_size=first_temporal_kernel_size,
                                    temporal_conv_startat=temporal_conv_startat, gating_startat=gating_startat,
                                    final_endpoint=final_endpoint, min_depth=min_depth,
                                    depth_multiplier=depth_multiplier, data_format=data_format, scope=sc)
        return _logits(net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze, data_format)


s3dg.default_image_size = 224
