"""research/slim's image classifier jobs: train_image_classifier, eval_image_classifier and
export_inference_graph, built the research/slim way (dataset -> provider -> preprocessing -> batch ->
network -> losses -> optimizer -> create_train_op -> learning.train) on slimir.

Each job takes a flags dataclass of apps/flags.py, whose fields are research/slim's flag names; the `slimir
train`, `slimir eval` and `slimir export` commands fill them from the command line.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import slimir as slim
from slimir import datasets
from slimir.data import dataset_data_provider
from slimir.data.readers import TFRecordReader
from slimir.errors import CheckpointError, NotFoundError, SlimirError
from slimir.nets import nets_factory
from slimir.preprocessing import preprocessing_factory
from slimir.runtime import split_step
from slimir.runtime.checkpoint.assign import resolve_model_path
from slimir.runtime.export import export_onnx

from .flags import EvalFlags, ExportFlags, JobError, TrainFlags, check_required
from .replicas import _agree, _raise_agreed, _replicas, _steps_every_rank_can_run

log = logging.getLogger("slimir")

OPTIMIZERS = ("adadelta", "adagrad", "adam", "ftrl", "momentum", "rmsprop", "sgd")
DECAY_TYPES = ("exponential", "fixed", "polynomial")

# What export needs to know of a dataset without reading it: classes and image channels
# (research/slim's dataset modules' constants; digits is scikit-learn's 8x8 digits).
DATASET_INFO = {
    "digits": {"num_classes": 10, "channels": 1},
    "mnist": {"num_classes": 10, "channels": 1},
    "cifar10": {"num_classes": 10, "channels": 3},
    "flowers": {"num_classes": 5, "channels": 3},
    "imagenet": {"num_classes": 1001, "channels": 3},
}


# ------------------------------------------------------------------------------------------------
# Results


@dataclass
class TrainResult:
    train_dir: str
    checkpoint: str | None
    global_step: int
    loss: float | None
    seconds: float
    num_samples: int
    skipped_records: int = 0
    num_replicas: int = 1  # processes that trained data-parallel (MPI world size)
    is_chief: bool = True  # this process wrote train_dir (rank 0)


@dataclass
class EvalResult:
    checkpoint: str
    global_step: int
    metrics: dict = field(default_factory=dict)
    num_examples: int = 0
    eval_dir: str | None = None
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------
# Shared pieces


def _check_positive(flag: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise JobError(f"--{flag} must be positive, got {value}")


def _network_fn(model_name: str, num_classes: int, weight_decay: float = 0.0, is_training: bool = False):
    if model_name not in nets_factory.networks_map:
        raise JobError(f"--model_name: unknown network {model_name!r} (choose from "
                       f"{', '.join(sorted(nets_factory.networks_map))})")
    if num_classes <= 0:
        raise JobError(f"the network needs at least one class; the dataset has {num_classes} after --labels_offset")
    return nets_factory.get_network_fn(model_name, num_classes=num_classes, weight_decay=weight_decay,
                                       is_training=is_training)


def _preprocessing_fn(name: str, is_training: bool, use_grayscale: bool):
    if name not in preprocessing_factory.preprocessing_fn_map:
        raise JobError(f"--preprocessing_name: unknown preprocessing {name!r} (choose from "
                       f"{', '.join(sorted(preprocessing_factory.preprocessing_fn_map))}; it defaults to "
                       "--model_name)")
    return preprocessing_factory.get_preprocessing(name, is_training=is_training, use_grayscale=use_grayscale)


def _dataset(name: str, split: str, dataset_dir: str | None, skip_corrupt: bool = False):
    """slimir.datasets.get_dataset; with `skip_corrupt`, read through TFRecordReader(skip_corrupt=True)."""
    if dataset_dir is not None and not os.path.isdir(dataset_dir):
        raise NotFoundError(f"--dataset_dir {dataset_dir}: no such directory")
    dataset = datasets.get_dataset(name, split, dataset_dir)
    if skip_corrupt:
        reader = dataset.reader
        if not (reader is TFRecordReader or isinstance(reader, TFRecordReader)):
            raise JobError(f"--skip_corrupt: the {name} dataset is not read from TFRecord files "
                           f"({getattr(reader, '__name__', type(reader).__name__)}), nothing could be corrupt")
        dataset = datasets.get_dataset(name, split, dataset_dir, reader=TFRecordReader(skip_corrupt=True))
    return dataset


def _labels_what(f) -> str:
    """How a label-range error names the labels of a job."""
    offset = f" minus --labels_offset={f.labels_offset}" if f.labels_offset else ""
    return f"labels of {f.dataset_name}/{f.dataset_split_name}{offset}"


def _num_classes(dataset, labels_offset: int) -> int:
    n = int(dataset.num_classes) - int(labels_offset)
    if labels_offset < 0:
        raise JobError(f"--labels_offset must be >= 0, got {labels_offset}")
    return n


def _scopes(text: str | None) -> list:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def _check_moving_average_decay(value) -> None:
    if value is not None and not 0.0 < value <= 1.0:
        raise JobError(f"--moving_average_decay must be in (0, 1], got {value}")


def _check_averages_in(ckpt: str, names: list) -> None:
    """A JobError unless the checkpoint holds the moving averages `names`."""
    have = {n for n, _ in slim.train.list_variables(ckpt)}
    missing = [n for n in names if n not in have]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise JobError(f"--moving_average_decay: {ckpt} holds no moving average {missing[0]}{more}; it was trained "
                       "without --moving_average_decay (leave the flag out to evaluate the variables themselves)")


# ------------------------------------------------------------------------------------------------
# train


def _configure_learning_rate(f: TrainFlags, num_samples_per_epoch: int, global_step, replicas: int = 1):
    decay_steps = int(num_samples_per_epoch / f.batch_size * f.num_epochs_per_decay)
    decay_steps //= replicas  # a synchronous global step consumes `replicas` batches (research/slim's rule)
    if f.learning_rate_decay_type == "fixed":
        return slim.constant(float(f.learning_rate), name="fixed_learning_rate")
    if decay_steps < 1:
        raise JobError(f"--num_epochs_per_decay {f.num_epochs_per_decay} with --batch_size {f.batch_size} on "
                       f"{num_samples_per_epoch} examples gives {decay_steps} decay steps; it must be >= 1")
    if f.learning_rate_decay_type == "exponential":
        return slim.train.exponential_decay(float(f.learning_rate), global_step, decay_steps,
                                            float(f.learning_rate_decay_factor), staircase=True,
                                            name="exponential_decay_learning_rate")
    if f.learning_rate_decay_type == "polynomial":
        return slim.train.polynomial_decay(float(f.learning_rate), global_step, decay_steps,
                                           float(f.end_learning_rate), power=1.0, cycle=False,
                                           name="polynomial_decay_learning_rate")
    raise JobError(f"--learning_rate_decay_type: {f.learning_rate_decay_type!r} was not recognized (choose from "
                   f"{', '.join(DECAY_TYPES)})")


def _configure_optimizer(f: TrainFlags, learning_rate):
    name = f.optimizer
    if name == "adagrad":
        return slim.train.AdagradOptimizer(learning_rate,
                                           initial_accumulator_value=f.adagrad_initial_accumulator_value)
    if name == "adam":
        return slim.train.AdamOptimizer(learning_rate, beta1=f.adam_beta1, beta2=f.adam_beta2,
                                        epsilon=f.opt_epsilon)
    if name == "momentum":
        return slim.train.MomentumOptimizer(learning_rate, momentum=f.momentum, name="Momentum")
    if name == "rmsprop":
        return slim.train.RMSPropOptimizer(learning_rate, decay=f.rmsprop_decay, momentum=f.rmsprop_momentum,
                                           epsilon=f.opt_epsilon)
    if name == "sgd":
        return slim.train.GradientDescentOptimizer(learning_rate)
    if name == "adadelta":
        return slim.train.AdadeltaOptimizer(learning_rate, rho=f.adadelta_rho, epsilon=f.opt_epsilon)
    if name == "ftrl":
        return slim.train.FtrlOptimizer(learning_rate, learning_rate_power=f.ftrl_learning_rate_power,
                                        initial_accumulator_value=f.ftrl_initial_accumulator_value,
                                        l1_regularization_strength=f.ftrl_l1, l2_regularization_strength=f.ftrl_l2)
    raise JobError(f"--optimizer: {name!r} was not recognized (choose from {', '.join(OPTIMIZERS)})")


def _init_fn(f: TrainFlags):
    """Warm start from --checkpoint_path (model variables minus --checkpoint_exclude_scopes), unless the
    train_dir already holds a checkpoint (then training resumes from that, as research/slim)."""
    if f.checkpoint_path is None:
        return None
    if slim.train.latest_checkpoint(f.train_dir):
        log.info("Ignoring --checkpoint_path because a checkpoint already exists in %s", f.train_dir)
        return None
    exclusions = _scopes(f.checkpoint_exclude_scopes)
    variables = [v for v in slim.get_model_variables()
                 if not any(v.op.name.startswith(e) for e in exclusions)]
    if not variables:
        raise JobError(f"--checkpoint_exclude_scopes {f.checkpoint_exclude_scopes!r} excludes every model variable")
    path = _checkpoint_prefix(f.checkpoint_path, "--checkpoint_path")
    log.info("Fine-tuning from %s", path)
    return slim.assign_from_checkpoint_fn(path, variables, ignore_missing_vars=f.ignore_missing_vars)


def _checkpoint_prefix(path: str, flag: str) -> str:
    if not os.path.exists(path) and not any(os.path.exists(path + s) for s in (".safetensors", ".index")):
        raise NotFoundError(f"{flag} {path}: no such checkpoint file or directory")
    try:
        return resolve_model_path(path)
    except CheckpointError as e:
        raise CheckpointError(f"{flag}: {e}") from None


def _variables_to_train(f: TrainFlags):
    if f.trainable_scopes is None:
        return None
    out = []
    for scope in _scopes(f.trainable_scopes):
        found = slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES, scope)
        if not found:
            raise JobError(f"--trainable_scopes: no trainable variable under {scope!r}")
        out.extend(v for v in found if v not in out)
    return out


def _provider(dataset, **kwargs):
    return dataset_data_provider.DatasetDataProvider(dataset, **kwargs)


def _validate_train(f: TrainFlags) -> None:
    check_required(f)
    _check_positive("batch_size", f.batch_size)
    _check_positive("max_number_of_steps", f.max_number_of_steps, allow_none=True)
    _check_positive("num_epochs", f.num_epochs, allow_none=True)
    _check_positive("num_readers", f.num_readers)
    _check_positive("num_preprocessing_threads", f.num_preprocessing_threads)
    _check_positive("train_image_size", f.train_image_size, allow_none=True)
    _check_positive("learning_rate", f.learning_rate)
    _check_positive("log_every_n_steps", f.log_every_n_steps)
    if f.weight_decay < 0:
        raise JobError(f"--weight_decay must be >= 0, got {f.weight_decay}")
    if not 0.0 <= f.label_smoothing < 1.0:
        raise JobError(f"--label_smoothing must be in [0, 1), got {f.label_smoothing}")
    if f.optimizer not in OPTIMIZERS:
        raise JobError(f"--optimizer: {f.optimizer!r} was not recognized (choose from {', '.join(OPTIMIZERS)})")
    if f.learning_rate_decay_type not in DECAY_TYPES:
        raise JobError(f"--learning_rate_decay_type: {f.learning_rate_decay_type!r} was not recognized (choose "
                       f"from {', '.join(DECAY_TYPES)})")
    if f.max_number_of_steps is None and f.num_epochs is None:
        raise JobError("give --max_number_of_steps or --num_epochs (otherwise training never ends)")
    if f.device not in (None, "cpu", "cuda"):
        raise JobError(f"--device must be cpu or cuda, got {f.device!r}")
    _check_moving_average_decay(f.moving_average_decay)
    if f.optimizer == "adadelta" and not 0.0 <= f.adadelta_rho <= 1.0:
        raise JobError(f"--adadelta_rho must be in [0, 1], got {f.adadelta_rho}")
    if f.optimizer == "ftrl" and f.ftrl_learning_rate_power > 0:
        raise JobError(f"--ftrl_learning_rate_power must be <= 0, got {f.ftrl_learning_rate_power}")


def train_image_classifier(f: TrainFlags) -> TrainResult:
    """Train `f.model_name` on `f.dataset_name` into `f.train_dir` (research/slim's train_image_classifier).

    Under `slimir launch -n N` (mpiexec) with --sync_replicas the N processes train synchronous
    data-parallel: rank r reads shard r of the examples (i % N == r), the optimizer is wrapped in
    SyncReplicasOptimizer(opt, N, N) (every step averages all N replicas' gradients, so one global step
    consumes N batches of --batch_size), and only rank 0 writes checkpoints, summaries and progress."""
    _validate_train(f)
    comm = _replicas(f)
    if comm.size == 1:
        return _train_image_classifier(f, None, {})
    state = {"agreed": False}
    logger = logging.getLogger("slimir")
    level = logger.level
    if not comm.is_chief:  # one log: the chief's
        logger.setLevel(max(logging.WARNING, level))
    try:
        return _train_image_classifier(f, comm, state)
    except Exception as e:
        text = " ".join((str(e).strip() or type(e).__name__).split())
        if not state["agreed"]:  # failed while building: the others wait in the agreement, tell them
            problems = comm.allgather_obj(f"{type(e).__name__}: {text}")
            if comm.is_chief:
                raise
            _raise_agreed(comm, next(p for p in problems if p))
        if getattr(e, "agreed", False):
            raise
        # failed while training: the other ranks may be waiting in a collective; end the whole job
        print(f"slimir: error: rank {comm.rank} of {comm.size}: {text}", file=sys.stderr, flush=True)
        comm.abort(2 if isinstance(e, SlimirError) else 1)
        raise
    finally:
        logger.setLevel(level)


def _train_image_classifier(f: TrainFlags, comm, state: dict) -> TrainResult:
    _validate_train(f)
    t0 = time.time()
    replicas = 1 if comm is None else comm.size
    with slim.Graph().as_default():
        if f.seed is not None:
            slim.set_random_seed(f.seed)
        global_step = slim.create_global_step()
        dataset = _dataset(f.dataset_name, f.dataset_split_name, f.dataset_dir, f.skip_corrupt)
        num_classes = _num_classes(dataset, f.labels_offset)
        network_fn = _network_fn(f.model_name, num_classes, f.weight_decay, is_training=True)
        preprocessing_fn = _preprocessing_fn(f.preprocessing_name or f.model_name, True, f.use_grayscale)

        shards = {} if comm is None else {"num_shards": comm.size, "shard_index": comm.rank}  # rank r: i % N == r
        provider = _provider(dataset, num_readers=f.num_readers, common_queue_capacity=20 * f.batch_size,
                             common_queue_min=10 * f.batch_size, shuffle=True, num_epochs=f.num_epochs,
                             seed=f.seed, **shards)
        image, label = provider.get(["image", "label"])
        if f.labels_offset:
            label -= f.labels_offset
        size = f.train_image_size or network_fn.default_image_size
        image = preprocessing_fn(image, size, size)
        images, labels = slim.train.batch([image, label], batch_size=f.batch_size,
                                          num_threads=f.num_preprocessing_threads,
                                capacity=5 * f.batch_size)
        labels = slim.one_hot_encoding(slim.check_labels(labels, num_classes, _labels_what(f)), num_classes,
                                       check_labels=False)

        logits, end_points = network_fn(images)
        if "AuxLogits" in end_points:
            slim.losses.softmax_cross_entropy(end_points["AuxLogits"], labels, label_smoothing=f.label_smoothing,
                                              weights=0.4, scope="aux_loss")
        slim.losses.softmax_cross_entropy(logits, labels, label_smoothing=f.label_smoothing, weights=1.0)
        total_loss = slim.losses.get_total_loss()

        for loss in slim.get_collection(slim.GraphKeys.LOSSES):
            slim.summary.scalar(f"losses/{loss.op.name}", loss)
        slim.summary.scalar("total_loss", total_loss)
        for v in slim.get_model_variables():
            slim.summary.histogram(v.op.name, v)
        learning_rate = _configure_learning_rate(f, int(dataset.num_samples), global_step, replicas)
        slim.summary.scalar("learning_rate", learning_rate)
        optimizer = _configure_optimizer(f, learning_rate)
        sync = None
        if comm is not None:
            sync = optimizer = slim.train.SyncReplicasOptimizer(optimizer, replicas_to_aggregate=replicas,
                                                                total_num_replicas=replicas)
        elif f.sync_replicas:
            log.info("--sync_replicas with one process: plain training (launch N processes with slimir launch -n N)")
        update_ops = None
        if f.moving_average_decay:  # research/slim: the averages are updated with the step's update ops
            variable_averages = slim.train.ExponentialMovingAverage(f.moving_average_decay, global_step)
            update_ops = (slim.get_collection(slim.GraphKeys.UPDATE_OPS)
                          + [variable_averages.apply(slim.get_model_variables())])
        train_op = slim.learning.create_train_op(total_loss, optimizer, update_ops=update_ops,
                                                 variables_to_train=_variables_to_train(f))
        init_fn = _init_fn(f)
        # The input threads share the CPUs with ONNX Runtime: without spinning its pool yields them the
        # cores it waits on (CifarNet fed by its pipeline on 2 busy cores: 1.3-1.7x the images/s with
        # spinning, benchmarks/input_pipeline.py).
        device = "cpu" if f.clone_on_cpu else f.device
        steps, progress, dist = f.max_number_of_steps, f.progress, {}
        if comm is None:
            sess = slim.Session(device=device, allow_spinning=False)
        else:
            steps = _steps_every_rank_can_run(f, int(dataset.num_samples), replicas)
            progress = f.progress if comm.is_chief else False
            dist = {"master": comm, "sync_optimizer": sync}
            sess = slim.Session(device=device, allow_spinning=False, intra_op_num_threads=split_step.threads_per_rank())
            _agree(comm, state)
            log.info("training data-parallel on %d replicas: batch %d per replica, %d examples per global step",
                     replicas, f.batch_size, replicas * f.batch_size)
        try:
            loss = slim.learning.train(train_op, logdir=f.train_dir, init_fn=init_fn,
                                       number_of_steps=steps, log_every_n_steps=f.log_every_n_steps,
                                       save_summaries_secs=f.save_summaries_secs,
                                       save_interval_secs=f.save_interval_secs, progress=progress, session=sess,
                                       **dist)
            if comm is not None:  # the replicas end bitwise identical (the chief's checkpoint is everyone's)
                final_step = int(sess.run(global_step))
                h = split_step.check_replicas(sess, comm, final_step)
                log.info("the %d replicas agree bitwise at global step %d (variables hash %s)", replicas,
                         final_step, h[:12])
        finally:
            sess.close()
    ckpt = slim.train.latest_checkpoint(f.train_dir)
    step = _step_of(ckpt) if comm is None else final_step
    records = {}  # distinct corrupt records (a record read in every epoch is skipped every time)
    for p, i, _off, why in (list(getattr(dataset.reader, "skipped", [])) if f.skip_corrupt else []):
        records.setdefault((p, i), why)
    skipped = len(records)
    if skipped:
        log.warning("skipped %d corrupt record(s): %s", skipped,
                    "; ".join(f"{p} record {i} ({why})" for (p, i), why in list(records.items())[:5]))
    return TrainResult(train_dir=f.train_dir, checkpoint=ckpt, global_step=step,
                       loss=None if loss is None else float(loss), seconds=time.time() - t0,
                       num_samples=int(dataset.num_samples), skipped_records=skipped, num_replicas=replicas,
                       is_chief=comm is None or comm.is_chief)


def _step_of(ckpt: str | None) -> int:
    if not ckpt:
        return 0
    tail = ckpt.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# ------------------------------------------------------------------------------------------------
# eval


def _want_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else bool(progress)


class _ProgressHook:
    """A tqdm bar over the batches of one evaluation (an evaluation SessionRunHook)."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def begin(self):
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="batch", desc="eval", dynamic_ncols=True, leave=False)

    def after_run(self, run_context, run_values):
        if self.bar is not None:
            self.bar.update(1)

    def end(self, session):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _validate_eval(f: EvalFlags) -> None:
    check_required(f)
    _check_positive("batch_size", f.batch_size)
    _check_positive("max_num_batches", f.max_num_batches, allow_none=True)
    _check_positive("eval_image_size", f.eval_image_size, allow_none=True)
    _check_positive("num_preprocessing_threads", f.num_preprocessing_threads)
    _check_positive("max_number_of_evaluations", f.max_number_of_evaluations, allow_none=True)
    if f.eval_interval_secs < 0:
        raise JobError(f"--eval_interval_secs must be >= 0, got {f.eval_interval_secs}")
    if f.device not in (None, "cpu", "cuda"):
        raise JobError(f"--device must be cpu or cuda, got {f.device!r}")
    _check_moving_average_decay(f.moving_average_decay)


def eval_image_classifier(f: EvalFlags) -> EvalResult:
    """Accuracy and recall@5 of the checkpoint(s) at `f.checkpoint_path` (research/slim's
    eval_image_classifier; with `f.loop`, evaluation_loop over the new checkpoints of a directory)."""
    _validate_eval(f)
    t0 = time.time()
    if f.loop:
        if not os.path.isdir(f.checkpoint_path):
            raise NotFoundError(f"--checkpoint_path {f.checkpoint_path}: --loop needs a directory of checkpoints")
        ckpt = None
    else:
        ckpt = _checkpoint_prefix(f.checkpoint_path, "--checkpoint_path")
    eval_dir = f.eval_dir or os.path.join(f.checkpoint_path if os.path.isdir(f.checkpoint_path)
                                          else os.path.dirname(os.path.abspath(f.checkpoint_path)), "eval")
    with slim.Graph().as_default():
        tf_global_step = slim.get_or_create_global_step()
        dataset = _dataset(f.dataset_name, f.dataset_split_name, f.dataset_dir)
        num_classes = _num_classes(dataset, f.labels_offset)
        network_fn = _network_fn(f.model_name, num_classes, is_training=False)
        preprocessing_fn = _preprocessing_fn(f.preprocessing_name or f.model_name, False, f.use_grayscale)
        num_samples = int(dataset.num_samples)
        # one pass over the split, the final batch smaller: every example counts once (evaluation restarts
        # the input for each checkpoint, so --loop does the same for each new checkpoint)
        provider = _provider(dataset, shuffle=False, common_queue_capacity=2 * f.batch_size,
                             common_queue_min=f.batch_size, num_epochs=1)
        image, label = provider.get(["image", "label"])
        if f.labels_offset:
            label -= f.labels_offset
        size = f.eval_image_size or network_fn.default_image_size
        image = preprocessing_fn(image, size, size)
        images, labels = slim.train.batch([image, label], batch_size=f.batch_size,
                                          num_threads=f.num_preprocessing_threads,
                                capacity=5 * f.batch_size, allow_smaller_final_batch=True)
        labels = slim.check_labels(labels, num_classes, _labels_what(f))  # (streaming_accuracy cannot tell)
        logits, _ = network_fn(images)
        predictions = slim.argmax(logits, 1)
        k = min(5, num_classes)
        names_to_values, names_to_updates = slim.metrics.aggregate_metric_map({
            "Accuracy": slim.metrics.streaming_accuracy(predictions, labels),
            f"Recall_{k}": slim.metrics.streaming_recall_at_k(logits, labels, k),
        })
        for name, value in names_to_values.items():
            slim.summary.scalar(f"eval/{name}", value)
        if f.moving_average_decay:  # the averages (`<var>/ExponentialMovingAverage`) into the model variables
            variable_averages = slim.train.ExponentialMovingAverage(f.moving_average_decay, tf_global_step)
            variables_to_restore = variable_averages.variables_to_restore(slim.get_model_variables())
            variables_to_restore[tf_global_step.op.name] = tf_global_step
            if ckpt is not None:
                _check_averages_in(ckpt, [variable_averages.average_name(v) for v in slim.get_model_variables()])
        else:
            variables_to_restore = slim.get_variables_to_restore()
        num_batches = f.max_num_batches or math.ceil(num_samples / f.batch_size)
        kwargs = {"num_evals": num_batches, "eval_op": list(names_to_updates.values()),
                  "final_op": names_to_values, "variables_to_restore": variables_to_restore,
                  "session_config": {"device": f.device} if f.device else None,
                  "hooks": [_ProgressHook(num_batches)] if _want_progress(f.progress) else None}
        if f.loop:
            values = slim.evaluation.evaluation_loop("", f.checkpoint_path, eval_dir,
                                                     eval_interval_secs=f.eval_interval_secs,
                                                     max_number_of_evaluations=f.max_number_of_evaluations,
                                                     timeout=f.timeout, **kwargs)
            ckpt = slim.train.latest_checkpoint(f.checkpoint_path)
        else:
            values = slim.evaluation.evaluate_once("", ckpt, eval_dir, **kwargs)
    seen = num_samples if f.max_num_batches is None else num_batches * f.batch_size
    metrics = {} if values is None else {n: float(v) for n, v in values.items()}
    return EvalResult(checkpoint=ckpt or "", global_step=_step_of(ckpt), metrics=metrics,
                      num_examples=min(seen, num_samples), eval_dir=eval_dir,
                      seconds=time.time() - t0)


# ------------------------------------------------------------------------------------------------
# export


def build_inference_graph(f: ExportFlags):
    """(graph, input placeholder, logits) of `f.model_name` for export, as research/slim's
    export_inference_graph: `dataset_name` gives the class count (minus labels_offset) and the image
    channels; the size is `image_size` or the network's default. The input is named 'images' (slimir's
    convention; research/slim says 'input')."""
    num_classes = f.num_classes
    channels = None
    if f.dataset_name is not None:
        info = DATASET_INFO.get(f.dataset_name)
        if info is None and f.dataset_dir:  # a dataset converted from an image folder: its dataset_info.json
            info = {"num_classes": int(_dataset(f.dataset_name, "train", f.dataset_dir).num_classes), "channels": 3}
        if info is None:
            raise JobError(f"--dataset_name: unknown dataset {f.dataset_name!r} (choose from "
                           f"{', '.join(sorted(DATASET_INFO))}, or give the --dataset_dir of a converted one)")
        if num_classes is None:
            num_classes = info["num_classes"] - f.labels_offset
        channels = info["channels"]
    if f.use_grayscale:
        channels = 1
    _check_positive("image_size", f.image_size, allow_none=True)
    _check_positive("batch_size", f.batch_size, allow_none=True)
    if f.model_name not in nets_factory.network_names():
        raise JobError(f"--model_name: unknown network {f.model_name!r} (choose from "
                       f"{', '.join(nets_factory.network_names())})")
    return nets_factory.build_network(f.model_name, num_classes=num_classes, image_size=f.image_size,
                                      batch_size=f.batch_size, seed=f.seed, is_training=f.is_training,
                                      channels=channels)


def export_inference_graph(f: ExportFlags):
    """Write `f.model_name` as ONNX to `f.output_file` with the weights of `f.checkpoint_path` (or the
    initial values drawn with `f.seed`); returns the onnx ModelProto."""
    check_required(f)
    out = f.output_file
    if os.path.isdir(out):
        raise JobError(f"--output_file {out}: is a directory, give a file name")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise JobError(f"--output_file {out}: the folder {parent} does not exist")
    ckpt = _checkpoint_prefix(f.checkpoint_path, "--checkpoint_path") if f.checkpoint_path else None
    graph, _images, logits = build_inference_graph(f)
    kwargs = {"optimize": f.optimize, "target": f.target}
    if f.opset is not None:
        kwargs["opset"] = f.opset
    with graph.as_default():
        if ckpt is None:
            return export_onnx(logits, out, **kwargs)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            slim.assign_from_checkpoint_fn(ckpt, slim.get_model_variables())(sess)
            return export_onnx(logits, out, session=sess, **kwargs)
