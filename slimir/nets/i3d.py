"""I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", arXiv:1705.07750) as research/slim builds it
(nets/i3d.py): Inception v1 inflated to 3-D (S3D-G's base with 7x7x7 first kernel, full 3x3x3 convolutions
from Conv2d_2c_3x3 on and no gating), scope 'InceptionV1', on videos [batch, frames, height, width, 3].

    with slim.arg_scope(i3d.i3d_arg_scope()):
        logits, end_points = i3d.i3d(videos, num_classes=400, is_training=False)   # [b, 64, 224, 224, 3]
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..ops import math_ops
from ..regularizers import l2_regularizer
from . import s3dg
from .i3d_utils import conv3d_spatiotemporal

__all__ = ["i3d", "i3d_arg_scope", "i3d_base"]


def i3d_arg_scope(weight_decay=1e-7, batch_norm_decay=0.999, batch_norm_epsilon=0.001, use_renorm=False,
                  separable_conv3d=False):
    """The arg_scope I3D was trained with: L2 weight decay, relu and (unfused) batch norm on conv3d and
    conv3d_spatiotemporal; `separable_conv3d` makes the spatio-temporal convolutions separable."""
    bn = {"decay": batch_norm_decay, "epsilon": batch_norm_epsilon, "fused": False, "renorm": use_renorm,
          "variables_collections": {"beta": None, "gamma": None, "moving_mean": ["moving_vars"],
                                    "moving_variance": ["moving_vars"]}}
    with arg_scope([layers.conv3d, conv3d_spatiotemporal], weights_regularizer=l2_regularizer(weight_decay),
                   activation_fn=math_ops.relu, normalizer_fn=layers.batch_norm, normalizer_params=bn), \
            arg_scope([conv3d_spatiotemporal], separable=separable_conv3d) as sc:
        return sc


def i3d_base(inputs, final_endpoint="Mixed_5c", scope="InceptionV1"):
    """I3D up to `final_endpoint`; returns (net, end_points)."""
    return s3dg.s3dg_base(inputs, first_temporal_kernel_size=7, temporal_conv_startat="Conv2d_2c_3x3",
                          gating_startat=None, final_endpoint=final_endpoint, min_depth=16, depth_multiplier=1.0,
                          data_format="NDHWC", scope=scope)


def i3d(inputs, num_classes=1000, dropout_keep_prob=0.8, is_training=True, prediction_fn=layers.softmax,
        spatial_squeeze=True, reuse=None, scope="InceptionV1"):
    """I3D for video classification: `i3d_base`, then under 'Logits' a [2, 7, 7] average pool (reduced for
    small inputs), dropout, a 1x1x1 conv to `num_classes`, averaged over time. Returns (logits, end_points)."""
    with variable_scope(scope, "InceptionV1", [inputs, num_classes], reuse=reuse) as sc, \
            arg_scope([layers.batch_norm, layers.dropout], is_training=is_training):
        net, end_points = i3d_base(inputs, scope=sc)
        return s3dg._logits(net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze,
                            "NDHWC")


i3d.default_image_size = 224
