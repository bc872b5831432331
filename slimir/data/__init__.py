"""slim.data: TF-Slim's input layer without TensorFlow (record formats, decoders, datasets, providers).

TFRecord files and tf.train.Example protos are read and written byte-compatibly with TensorFlow.
"""

from . import data_decoder, dataset, example, readers, tfexample_decoder, tfrecord  # noqa: F401
from .data_decoder import DataDecoder  # noqa: F401
from .dataset import Dataset  # noqa: F401
from .example import (BytesList, Example, Feature, FeatureList, FeatureLists, Features, FloatList,  # noqa: F401
                      Int64List, SequenceExample, example_from_dict, example_to_dict)
from .readers import ImageFolderReader, NumpyReader, Reader, TFRecordReader  # noqa: F401
from .tfexample_decoder import DictDecoder, FixedLenFeature, TFExampleDecoder, VarLenFeature  # noqa: F401
from .tfrecord import TFRecordOptions, TFRecordWriter, tf_record_iterator  # noqa: F401
