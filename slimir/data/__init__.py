"""slim.data: TF-Slim's input layer without TensorFlow: record formats, decoders, datasets, data providers
and host-side prefetching pipelines.

TFRecord files and tf.train.Example protos are read and written byte-compatibly with TensorFlow.

    provider = slim.data.DatasetDataProvider(dataset, shuffle=True, num_epochs=None)
    image, label = provider.get(['image', 'label'])         # host tensors (per-example values)
    images, labels = slim.train.batch([image, label], 32)   # graph placeholders, fed by threads

This package is front end: it builds host tensors and binds placeholders, and never imports the runtime.
"""

from . import (  # noqa: F401  # noqa: F401
                      batching,
                      data_decoder,
                      data_provider,
                      dataset,
                      dataset_data_provider,
                      example,
                      host,
                      parallel_reader,
                      prefetch_queue,
                      readers,
                      tfexample_decoder,
                      tfrecord,
)
from .batching import batch, shuffle_batch  # noqa: F401
from .data_decoder import DataDecoder  # noqa: F401
from .data_provider import DataProvider  # noqa: F401
from .dataset import Dataset  # noqa: F401
from .dataset_data_provider import DatasetDataProvider  # noqa: F401
from .example import (  # noqa: F401
                      BytesList,
                      Example,
                      Feature,
                      FeatureList,
                      FeatureLists,
                      Features,
                      FloatList,
                      Int64List,
                      SequenceExample,
                      example_from_dict,
                      example_to_dict,
)
from .host import HostTensor, string  # noqa: F401
from .parallel_reader import get_data_files, parallel_read, single_pass_read  # noqa: F401
from .readers import ImageFolderReader, IndexedTFRecordReader, NumpyReader, Reader, TFRecordReader  # noqa: F401
from .tfexample_decoder import (  # noqa: F401
                      DictDecoder,
                      FixedLenFeature,
                      FixedLenSequenceFeature,
                      TFExampleDecoder,
                      TFSequenceExampleDecoder,
                      VarLenFeature,
)
from .tfrecord import TFRecordOptions, TFRecordWriter, tf_record_iterator  # noqa: F401
