"""Checkpoint readers (installed as `slimir.runtime.checkpoint`): TF V2 tensor bundles in pure Python,
so published TF-Slim checkpoints restore without TensorFlow."""

from slimir.crc32c import crc32c, mask, masked_crc32c, unmask
from .tf_bundle import (TFCheckpointReader, is_tf_checkpoint, latest_tf_checkpoint, list_variables, load_checkpoint,
                        read_checkpoint_state, resolve_tf_checkpoint)

__all__ = ["TFCheckpointReader", "crc32c", "is_tf_checkpoint", "latest_tf_checkpoint", "list_variables",
           "load_checkpoint", "mask", "masked_crc32c", "read_checkpoint_state", "resolve_tf_checkpoint", "unmask"]
