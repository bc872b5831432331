"""A small network written the way research/slim writes its nets (TF-core calls with TensorFlow's keyword names
mixed with slim layers), ported by changing only the two import lines:

    import tensorflow.compat.v1 as tf   ->   import slimir.tf as tf
    import tf_slim as slim              ->   import slimir as slim

Used by tests/frontend/test_tf_port.py. The helpers follow research/slim's own: fixed padding as in resnet_utils,
nearest-neighbour upsampling with reflection padding as in pix2pix/cyclegan, a data-format choice as in nasnet.
"""

import slimir.tf as tf
import slimir as slim


def tiny_net_arg_scope(weight_decay=0.00004, stddev=0.09):
    """Defines the default arg scope (research/slim style: regularizer, initializer, batch norm)."""
    batch_norm_params = {'decay': 0.9, 'epsilon': 0.001, 'updates_collections': tf.GraphKeys.UPDATE_OPS}
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        weights_initializer=tf.truncated_normal_initializer(stddev=stddev),
                        activation_fn=tf.nn.relu):
        with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm, normalizer_params=batch_norm_params):
            with slim.arg_scope([slim.batch_norm], **batch_norm_params) as sc:
                return sc


def fixed_padding(inputs, kernel_size, rate=1):
    """Pads the input along the spatial dimensions independently of input size (resnet_utils)."""
    kernel_size_effective = kernel_size + (kernel_size - 1) * (rate - 1)
    pad_total = kernel_size_effective - 1
    pad_beg = pad_total // 2
    pad_end = pad_total - pad_beg
    return tf.pad(tensor=inputs, paddings=[[0, 0], [pad_beg, pad_end], [pad_beg, pad_end], [0, 0]])


def upsample(net, num_outputs, pad_mode='REFLECT'):
    """Nearest-neighbour upsampling by 2 then a 3x3 valid convolution (cyclegan_upsample, 'nn_upsample_conv')."""
    with tf.compat.v1.variable_scope('upconv'):
        net_shape = tf.shape(input=net)
        height = net_shape[1]
        width = net_shape[2]
        spatial_pad_1 = tf.constant([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=tf.int32)
        net = tf.image.resize(net, [2 * height, 2 * width], method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        net = tf.pad(tensor=net, paddings=spatial_pad_1, mode=pad_mode)
        return slim.conv2d(net, num_outputs, kernel_size=[3, 3], padding='valid')


def tiny_net(images, num_classes=5, is_training=True, dropout_keep_prob=0.8, reuse=None, scope='TinyNet',
             data_format='NHWC'):
    """A tiny encoder / decoder / classifier.

    Args:
      images: a tensor of size [batch_size, height, width, 3].
      num_classes: number of predicted classes.
      is_training: whether batch norm and dropout are in training mode.
      dropout_keep_prob: the fraction to keep before the logits.
      reuse: whether or not the network and its variables should be reused.
      scope: optional variable_scope.
      data_format: 'NHWC' or 'NCHW' for the first convolution (NCHW falls back to NHWC without a GPU, as nasnet).

    Returns:
      logits: the pre-softmax activations, a tensor of size [batch_size, num_classes].
      end_points: a dictionary from components of the network to their activation.
    """
    end_points = {}
    images.get_shape().assert_has_rank(4)
    if not tf.test.is_gpu_available() and data_format == 'NCHW':
        tf.compat.v1.logging.info('A GPU is not available on the machine, setting data_format to NHWC.')
        data_format = 'NHWC'
    with tf.compat.v1.variable_scope(scope, 'TinyNet', [images], reuse=reuse) as sc:
        end_points_collection = sc.original_name_scope + '_end_points'
        with slim.arg_scope([slim.conv2d, slim.max_pool2d], outputs_collections=end_points_collection), \
                slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net = fixed_padding(images, 3)
            if data_format == 'NCHW':
                net = tf.transpose(a=net, perm=[0, 3, 1, 2])
            net = slim.conv2d(net, 16, [3, 3], stride=2, padding='VALID', data_format=data_format, scope='conv1')
            if data_format == 'NCHW':
                net = tf.transpose(a=net, perm=[0, 2, 3, 1])
            net.get_shape().assert_is_compatible_with([None, None, None, 16])
            end_points['conv1'] = net
            skip = net
            net = slim.max_pool2d(net, [2, 2], scope='pool1')
            net = upsample(net, 16)
            net = tf.concat(values=[net, skip], axis=3)
            end_points['decoder'] = net
            # Channels first and back, as code converting data formats does.
            net = tf.transpose(a=tf.transpose(a=net, perm=[0, 3, 1, 2]), perm=[0, 2, 3, 1])
            net = tf.nn.leaky_relu(net, alpha=0.2)
            net = tf.reduce_mean(input_tensor=net, axis=[1, 2], keepdims=True, name='global_pool')
            end_points['global_pool'] = net
            net = slim.dropout(net, dropout_keep_prob, scope='Dropout_1b')
            logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                 scope='Conv2d_1c_1x1')
            logits = tf.squeeze(input=logits, axis=[1, 2], name='SpatialSqueeze')
            tf.compat.v1.logging.info('%s logits: %s', sc.name, logits.get_shape())
            end_points['Logits'] = logits
            end_points['Predictions'] = slim.softmax(logits, scope='Predictions')
    return logits, end_points


tiny_net.default_image_size = 16
