"""The one slimir error hierarchy.

Every mistake a user can make raises a `SlimirError`; subclasses also derive from the builtin
exception TF-Slim raises in the same situation, so `except ValueError` keeps working.
"""

from __future__ import annotations


class SlimirError(Exception):
    """Base class of every error slimir raises on purpose."""


class ShapeError(SlimirError, ValueError):
    """Shapes or ranks that do not fit an op or a layer."""


class InvalidArgumentError(SlimirError, ValueError):
    """An argument value that is out of range or unknown (padding, data_format, sizes...)."""


class DTypeError(SlimirError, TypeError):
    """A dtype that an op or initializer does not accept."""


class ScopeError(SlimirError, ValueError):
    """Variable-scope misuse: reusing missing variables, creating existing ones, bad arg_scope keys."""


class GraphError(SlimirError, ValueError):
    """Mixing tensors of different graphs, or referring to things a graph does not hold."""


class FeedError(SlimirError, ValueError):
    """A feed_dict value with the wrong shape or dtype, or a placeholder left unfed."""


class FailedPreconditionError(SlimirError, RuntimeError):
    """Reading a variable before it was initialised, and similar run-time ordering mistakes."""


class RuntimeExecutionError(SlimirError, RuntimeError):
    """ONNX Runtime refused or failed to run a compiled graph (the ORT message is attached)."""


class CheckpointError(SlimirError, ValueError):
    """A checkpoint that cannot be read or does not fit the variables it is restored into."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint or its state file could not be written (disk full, file size limit, permissions).

    Also an OSError, with the errno of the failure; the message names the file, the global step and the
    last good checkpoint, which the failed write left intact."""

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.errno, self.filename = errno, filename

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NumericsError(SlimirError, ArithmeticError):
    """A checked tensor (check_numerics; the loss in training) became NaN or Inf."""


class OutOfRangeError(SlimirError):
    """An input pipeline bound to placeholders has no more data (TF's OutOfRangeError)."""


class DataLossError(SlimirError, IOError):
    """A data file (TFRecord, image) is corrupt or truncated: a checksum or a length does not match."""


class NotFoundError(SlimirError, FileNotFoundError):
    """A file, directory or dataset split that an input pipeline needs does not exist."""


class InputPipelineError(SlimirError, RuntimeError):
    """A reader, decoder or map of an input pipeline failed; names the record (the original is chained)."""


class NotAvailableError(SlimirError, AttributeError):
    """A TensorFlow name that slimir's `tf` namespace does not provide; the message says what to use instead
    (an AttributeError too, so hasattr()/getattr(..., default) keep working)."""
