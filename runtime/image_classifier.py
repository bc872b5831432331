"""research/slim's image classifier jobs: train_image_classifier, eval_image_classifier and
export_inference_graph, built the research/slim way (dataset -> provider -> preprocessing -> batch ->
network -> losses -> optimizer -> create_train_op -> learning.train) on slimir.

Each job takes a flags dataclass whose fields are research/slim's flag names; the `slimir train`,
`slimir eval` and `slimir export` commands fill them from the command line.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field

from slimir.errors import CheckpointError, InvalidArgumentError, NotFoundError

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


class JobError(InvalidArgumentError):
    """A bad flag value or combination for a classifier job (names the flag)."""


# ------------------------------------------------------------------------------------------------
# Flags (research/slim's names and defaults)


@dataclass
class TrainFlags:
    """train_image_classifier.py's flags. The distributed ones (master ... clone_on_cpu) map onto MPI
    data parallelism under `slimir launch -n N` (see `_replicas`)."""

    train_dir: str = "/tmp/tfmodel/"
    model_name: str = "inception_v3"
    dataset_name: str = "imagenet"
    dataset_split_name: str = "train"
    dataset_dir: str | None = None
    preprocessing_name: str | None = None
    labels_offset: int = 0
    batch_size: int = 32
    train_image_size: int | None = None
    max_number_of_steps: int | None = None
    num_epochs: int | None = None
    num_readers: int = 4
    num_preprocessing_threads: int = 4
    log_every_n_steps: int = 10
    save_summaries_secs: float = 600
    save_interval_secs: float = 600
    weight_decay: float = 0.00004
    optimizer: str = "rmsprop"
    adadelta_rho: float = 0.95
    adagrad_initial_accumulator_value: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    opt_epsilon: float = 1.0
    ftrl_learning_rate_power: float = -0.5
    ftrl_initial_accumulator_value: float = 0.1
    ftrl_l1: float = 0.0
    ftrl_l2: float = 0.0
    momentum: float = 0.9
    rmsprop_momentum: float = 0.9
    rmsprop_decay: float = 0.9
    learning_rate_decay_type: str = "exponential"
    learning_rate: float = 0.01
    end_learning_rate: float = 0.0001
    label_smoothing: float = 0.0
    learning_rate_decay_factor: float = 0.94
    num_epochs_per_decay: float = 2.0
    moving_average_decay: float | None = None
    checkpoint_path: str | None = None
    checkpoint_exclude_scopes: str | None = None
    trainable_scopes: str | None = None
    ignore_missing_vars: bool = False
    use_grayscale: bool = False
    skip_corrupt: bool = False
    device: str | None = None
    seed: int | None = 0
    progress: bool | None = None
    # distributed training (research/slim's flags; None: take it from the MPI world)
    master: str = ""
    worker_replicas: int | None = None
    task: int | None = None
    sync_replicas: bool = False
    replicas_to_aggregate: int | None = None
    num_ps_tasks: int = 0
    num_clones: int = 1
    clone_on_cpu: bool = False


@dataclass
class EvalFlags:
    """eval_image_classifier.py's flags, plus --loop for evaluation_loop."""

    checkpoint_path: str = "/tmp/tfmodel/"
    eval_dir: str | None = None
    model_name: str = "inception_v3"
    dataset_name: str = "imagenet"
    dataset_split_name: str = "test"
    dataset_dir: str | None = None
    preprocessing_name: str | None = None
    labels_offset: int = 0
    batch_size: int = 100
    max_num_batches: int | None = None
    eval_image_size: int | None = None
    num_preprocessing_threads: int = 4
    moving_average_decay: float | None = None
    use_grayscale: bool = False
    loop: bool = False
    eval_interval_secs: float = 60
    max_number_of_evaluations: int | None = None
    timeout: float | None = None
    device: str | None = None
    progress: bool | None = None


@dataclass
class ExportFlags:
    """export_inference_graph.py's flags, plus the trained weights and slimir's export options."""

    model_name: str = "inception_v3"
    output_file: str = ""
    is_training: bool = False
    image_size: int | None = None
    batch_size: int | None = None
    dataset_name: str | None = None
    dataset_dir: str | None = None
    num_classes: int | None = None
    labels_offset: int = 0
    use_grayscale: bool = False
    checkpoint_path: str | None = None
    optimize: bool = True
    target: str = "onnx"
    opset: int | None = None
    seed: int = 0


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
    from slimir.nets import nets_factory

    if model_name not in nets_factory.networks_map:
        raise JobError(f"--model_name: unknown network {model_name!r} (choose from "
                       f"{', '.join(sorted(nets_factory.networks_map))})")
    if num_classes <= 0:
        raise JobError(f"the network needs at least one class; the dataset has {num_classes} after --labels_offset")
    return nets_factory.get_network_fn(model_name, num_classes=num_classes, weight_decay=weight_decay,
                                       is_training=is_training)


def _preprocessing_fn(name: str, is_training: bool, use_grayscale: bool):
    from slimir.preprocessing import preprocessing_factory

    if name not in preprocessing_factory.preprocessing_fn_map:
        raise JobError(f"--preprocessing_name: unknown preprocessing {name!r} (choose from "
                       f"{', '.join(sorted(preprocessing_factory.preprocessing_fn_map))}; it defaults to "
                       "--model_name)")
    return preprocessing_factory.get_preprocessing(name, is_training=is_training, use_grayscale=use_grayscale)


def _dataset(name: str, split: str, dataset_dir: str | None, skip_corrupt: bool = False):
    """slimir.datasets.get_dataset; with `skip_corrupt`, read through TFRecordReader(skip_corrupt=True)."""
    from slimir import datasets
    from slimir.data.readers import TFRecordReader

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
    import slimir as slim

    have = {n for n, _ in slim.train.list_variables(ckpt)}
    missing = [n for n in names if n not in have]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise JobError(f"--moving_average_decay: {ckpt} holds no moving average {missing[0]}{more}; it was trained "
                       "without --moving_average_decay (leave the flag out to evaluate the variables themselves)")


# ------------------------------------------------------------------------------------------------
# train


def _configure_learning_rate(f: TrainFlags, num_samples_per_epoch: int, global_step, replicas: int = 1):
    import slimir as slim

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
    import slimir as slim

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
    import slimir as slim

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
    from .checkpoint.assign import resolve_model_path

    if not os.path.exists(path) and not any(os.path.exists(path + s) for s in (".safetensors", ".index")):
        raise NotFoundError(f"{flag} {path}: no such checkpoint file or directory")
    try:
        return resolve_model_path(path)
    except CheckpointError as e:
        raise CheckpointError(f"{flag}: {e}") from None


def _variables_to_train(f: TrainFlags):
    import slimir as slim

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
    from slimir.data import dataset_data_provider

    return dataset_data_provider.DatasetDataProvider(dataset, **kwargs)


def _batch(*args, **kwargs):
    """slim.train.batch (slimir.data.batching.batch)."""
    import slimir as slim

    fn = getattr(slim.train, "batch", None)
    if fn is None:
        from slimir.data.batching import batch as fn
    return fn(*args, **kwargs)


def _validate_train(f: TrainFlags) -> None:
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


# ------------------------------------------------------------------------------------------------
# distributed training: research/slim's flags on MPI data parallelism


def _replica_problem(f: TrainFlags, rank: int, size: int) -> str | None:
    """What is wrong with the distributed flags for this process (rank of a world of size), or None."""
    launch = f"slimir launch -n {f.worker_replicas or 2} -- slimir train ... --sync_replicas"
    if f.num_clones != 1:
        return (f"--num_clones {f.num_clones}: model_deploy clones (several devices in one process) are not "
                "supported; run one process per device with `slimir launch -n N -- slimir train ... "
                "--sync_replicas` (synchronous data-parallel over MPI), --num_clones 1")
    if f.num_ps_tasks:
        return (f"--num_ps_tasks {f.num_ps_tasks}: parameter servers are not supported; slimir trains "
                "synchronous data-parallel over MPI (all-reduce): `slimir launch -n N -- slimir train ... "
                "--sync_replicas` with --num_ps_tasks 0")
    if f.master not in ("", "local", "mpi"):
        return (f"--master {f.master!r}: TensorFlow servers are not supported; leave --master out (under "
                "`slimir launch` / mpiexec the MPI world is the cluster)")
    if f.clone_on_cpu and f.device == "cuda":
        return "--clone_on_cpu with --device cuda: choose one (--clone_on_cpu means --device cpu)"
    if f.worker_replicas is not None and f.worker_replicas != size:
        how = (f"start it with `{launch}`" if size == 1
               else f"leave --worker_replicas out or make it {size}")
        return (f"--worker_replicas {f.worker_replicas} but this job has {size} process(es) (the MPI world "
                f"size); {how}")
    if f.task is not None and f.task != rank:
        return (f"--task {f.task} but this process is rank {rank} of {size}: under slimir launch the task "
                "index is the MPI rank; leave --task out")
    if size > 1 and not f.sync_replicas:
        return (f"{size} processes without --sync_replicas would be asynchronous (parameter-server) training, "
                f"which slimir does not support; add --sync_replicas (the gradients of all {size} replicas "
                "are averaged every step)")
    if f.replicas_to_aggregate is not None and f.replicas_to_aggregate != size:
        return (f"--replicas_to_aggregate {f.replicas_to_aggregate} with {size} process(es): slimir aggregates "
                f"every replica's gradients each step (no backup workers); leave it out or make it {size}")
    return None


def _replicas(f: TrainFlags):
    """The MPI world (slim.distributed.init(): size 1 when not launched by mpiexec) after checking the
    distributed flags on every rank; a problem on any rank raises the same JobError on all of them."""
    from .distributed import init

    comm = init("mpi")
    problem = _replica_problem(f, comm.rank, comm.size)
    if comm.size == 1:
        if problem:
            raise JobError(problem)
        return comm
    problems = comm.allgather_obj(problem)
    bad = [(r, p) for r, p in enumerate(problems) if p]
    if bad:
        _raise_agreed(comm, bad[0][1] if bad[0][0] == 0 else f"rank {bad[0][0]}: {bad[0][1]}")
    return comm


def _raise_agreed(comm, message: str):
    """Raise the error every rank agreed on; only the chief prints it (the others exit quietly, status 2)."""
    e = JobError(message)
    e.quiet = not comm.is_chief
    raise e


def _steps_every_rank_can_run(f: TrainFlags, num_samples: int, size: int) -> int | None:
    """With --num_epochs, the global steps after which the smallest shard runs out (every rank must run the
    same number of steps: a rank at the end of its input would leave the others waiting in the all-reduce)."""
    if f.num_epochs is None:
        return f.max_number_of_steps
    fewest = min(len(range(k, num_samples, size)) for k in range(size))
    steps = fewest * f.num_epochs // f.batch_size
    if steps < 1:
        raise JobError(f"--num_epochs {f.num_epochs}: each of the {size} shards of {num_samples} examples gives "
                       f"fewer than one batch of {f.batch_size}")
    return steps if f.max_number_of_steps is None else min(steps, f.max_number_of_steps)


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
        from slimir.errors import SlimirError

        text = " ".join((str(e).strip() or type(e).__name__).split())
        if not state["agreed"]:  # failed while building: the others wait in the agreement, tell them
            problems = comm.allgather_obj(f"{type(e).__name__}: {text}")
            if comm.is_chief:
                raise
            _raise_agreed(comm, next(p for p in problems if p))
        if getattr(e, "agreed", False):
            raise
        # failed while training: the other ranks may be waiting in a collective; end the whole job
        import sys

        print(f"slimir: error: rank {comm.rank} of {comm.size}: {text}", file=sys.stderr, flush=True)
        comm.abort(2 if isinstance(e, SlimirError) else 1)
        raise
    finally:
        logger.setLevel(level)


def _agree(comm, state: dict) -> None:
    """Every rank built its graph (or reports why not): the point after which a failure aborts the job."""
    problems = comm.allgather_obj(None)
    state["agreed"] = True
    bad = [(r, p) for r, p in enumerate(problems) if p]
    if bad:
        r, p = bad[0]
        try:
            _raise_agreed(comm, f"rank {r}: {p}")
        except JobError as e:
            e.agreed = True
            raise


def _train_image_classifier(f: TrainFlags, comm, state: dict) -> TrainResult:
    import slimir as slim

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
        images, labels = _batch([image, label], batch_size=f.batch_size, num_threads=f.num_preprocessing_threads,
                                capacity=5 * f.batch_size)
        labels = slim.one_hot_encoding(labels, num_classes)

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
            from .split_step import check_replicas, threads_per_rank

            steps = _steps_every_rank_can_run(f, int(dataset.num_samples), replicas)
            progress = f.progress if comm.is_chief else False
            dist = {"master": comm, "sync_optimizer": sync}
            sess = slim.Session(device=device, allow_spinning=False, intra_op_num_threads=threads_per_rank())
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
                h = check_replicas(sess, comm, final_step)
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
    import sys

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
    import slimir as slim

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
        images, labels = _batch([image, label], batch_size=f.batch_size, num_threads=f.num_preprocessing_threads,
                                capacity=5 * f.batch_size, allow_smaller_final_batch=True)
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
    channels; the size is `image_size` or the network's default. The input is named 'images' (slimir's convention; research/slim says 'input')."""
    import slimir as slim

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
    from slimir.nets import nets_factory

    generative = f.model_name in nets_factory.generative_map
    if f.model_name not in nets_factory.networks_map and not generative:
        raise JobError(f"--model_name: unknown network {f.model_name!r} (choose from "
                       f"{', '.join(sorted(nets_factory.networks_map) + sorted(nets_factory.generative_map))})")
    if generative:
        graph = slim.Graph()
        with graph.as_default():
            slim.set_random_seed(f.seed)
            shape = nets_factory.input_shape(f.model_name, f.image_size, channels)
            inputs = slim.placeholder(slim.float32, [f.batch_size] + shape, name="images")
            net, _ = nets_factory.get_generative_network_fn(f.model_name, is_training=f.is_training)(inputs)
        return graph, inputs, net
    if num_classes is None:
        from .cli import _default_num_classes

        num_classes = _default_num_classes(nets_factory.networks_map[f.model_name])
    if channels is None:
        channels = 1 if f.model_name == "lenet" else 3
    shape = nets_factory.input_shape(f.model_name, f.image_size, channels)
    graph = slim.Graph()
    with graph.as_default():
        slim.set_random_seed(f.seed)
        images = slim.placeholder(slim.float32, [f.batch_size] + shape, name="images")
        network_fn = nets_factory.get_network_fn(f.model_name, num_classes=num_classes, is_training=f.is_training)
        logits, _ = network_fn(images)
    return graph, images, logits


def export_inference_graph(f: ExportFlags):
    """Write `f.model_name` as ONNX to `f.output_file` with the weights of `f.checkpoint_path` (or the
    initial values drawn with `f.seed`); returns the onnx ModelProto."""
    import slimir as slim

    from .export import export_onnx

    out = f.output_file
    if not out:
        raise JobError("--output_file is required")
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


def flags_from(cls, namespace) -> object:
    """A flags dataclass from an argparse namespace whose dests are the field names."""
    names = {fl.name for fl in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(namespace).items() if k in names})


# ------------------------------------------------------------------------------------------------
# the main job


@dataclass
class DemoResult:
    train: TrainResult
    eval: EvalResult
    onnx_path: str


DEMO_IMAGE_SIZE = 8  # the digits as they are: LeNet (5x5 convs, SAME padding, two 2x2 pools) runs on 8x8 inputs


def run_demo(train_dir: str | None = None, steps: int = 1500, batch_size: int = 64, learning_rate: float = 1e-3,
             device: str | None = None, image_size: int = DEMO_IMAGE_SIZE, progress: bool | None = None,
             verbose: bool = True) -> DemoResult:
    """Train LeNet on the embedded digits, evaluate it on the test split and export it to ONNX, with the
    same jobs as `slimir train` / `eval` / `export`; prints where the results are when `verbose`."""
    import tempfile

    train_dir = train_dir or tempfile.mkdtemp(prefix="slimir-lenet-")
    tf = TrainFlags(train_dir=train_dir, model_name="lenet", dataset_name="digits", dataset_split_name="train",
                    batch_size=batch_size, train_image_size=image_size, max_number_of_steps=steps, num_readers=1,
                    num_preprocessing_threads=2, log_every_n_steps=100, save_summaries_secs=20,
                    save_interval_secs=60, weight_decay=1e-4, optimizer="adam", opt_epsilon=1e-8,
                    learning_rate=learning_rate, learning_rate_decay_type="fixed", device=device, seed=0,
                    progress=progress)
    tr = train_image_classifier(tf)
    ef = EvalFlags(checkpoint_path=train_dir, eval_dir=os.path.join(train_dir, "eval"), model_name="lenet",
                   dataset_name="digits", dataset_split_name="test", batch_size=200, eval_image_size=image_size,
                   num_preprocessing_threads=2, device=device)
    ev = eval_image_classifier(ef)
    onnx_path = os.path.join(train_dir, "lenet_digits.onnx")
    export_inference_graph(ExportFlags(model_name="lenet", output_file=onnx_path, dataset_name="digits",
                                       image_size=image_size, checkpoint_path=tr.checkpoint))
    if verbose:
        acc = ev.metrics.get("Accuracy", float("nan"))
        loss = "-" if tr.loss is None else f"{tr.loss:.4f}"
        print(f"trained LeNet on digits/train ({tr.num_samples} images): global step {tr.global_step} in "
              f"{tr.seconds:.1f} s (final loss {loss})")
        print(f"test accuracy: {acc:.4f} on {ev.num_examples} held-out digits (recall@5 "
              f"{ev.metrics.get('Recall_5', float('nan')):.4f})")
        print(f"checkpoints and TensorBoard logs: {train_dir}   (tensorboard --logdir {train_dir})")
        print(f"ONNX model: {onnx_path}   (inputs: images [batch, {image_size}, {image_size}, 1] = "
              "(pixel - 128) / 128)")
    return DemoResult(train=tr, eval=ev, onnx_path=onnx_path)
