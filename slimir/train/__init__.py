"""`slim.train`: TF1's tf.train namespace for slimir.

    opt = slim.train.MomentumOptimizer(learning_rate=0.01, momentum=0.9)
    train_op = opt.minimize(loss, global_step=slim.train.get_or_create_global_step())

optimizer / optimizers: the Optimizer base class and TF1's optimisers; schedules: the learning-rate decays;
moving_averages: ExponentialMovingAverage; sync_replicas: SyncReplicasOptimizer. The global-step helpers,
the input batching (`batch`, `shuffle_batch`, `start_queue_runners`, `Coordinator`) and checkpointing
(`Saver`, `latest_checkpoint`, ...) are defined where they live (slimir.variables, slimir.data, slimir.queues,
slimir.runtime.checkpoint) and named here as tf.train names them. This namespace is the one front-end
module that re-exports runtime names (the import contract in pyproject.toml records that exception).
"""

from ..data.batching import batch, shuffle_batch
from ..queues import Coordinator, start_queue_runners
from ..runtime.checkpoint.saver import (
    CheckpointReader,
    Saver,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    list_variables,
    load_variable,
)
from ..variables import create_global_step, get_global_step, get_or_create_global_step
from .moving_averages import ExponentialMovingAverage
from .optimizer import TRAIN_OP, Optimizer
from .optimizers import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamOptimizer,
    AdamWOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    RMSPropOptimizer,
)
from .schedules import cosine_decay, exponential_decay, piecewise_constant, polynomial_decay
from .sync_replicas import SyncReplicasOptimizer

NewCheckpointReader = CheckpointReader


def global_step(sess, global_step_tensor) -> int:
    """The current value of the global step as a Python int (TF's tf.train.global_step)."""
    return int(sess.run(global_step_tensor))


__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "AdamWOptimizer", "CheckpointReader", "Coordinator",
    "ExponentialMovingAverage", "FtrlOptimizer", "GradientDescentOptimizer", "MomentumOptimizer",
    "NewCheckpointReader", "Optimizer", "RMSPropOptimizer", "Saver", "SyncReplicasOptimizer", "TRAIN_OP", "batch",
    "checkpoint_exists", "cosine_decay", "create_global_step", "exponential_decay", "get_checkpoint_state",
    "get_global_step", "get_or_create_global_step", "global_step", "latest_checkpoint", "list_variables",
    "load_variable", "piecewise_constant", "polynomial_decay", "shuffle_batch", "start_queue_runners",
]
