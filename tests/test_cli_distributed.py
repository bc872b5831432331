"""research/slim's distributed flags on `slimir train`: `slimir launch -n 2 -- slimir train ... --sync_replicas`
trains synchronous data-parallel over MPI (real processes), and the flags slimir cannot honour (parameter
servers, asynchronous training, backup workers, model_deploy clones, a --task or --worker_replicas that
contradicts the MPI world) stop with one `slimir: error:` line and status 2.

Exact equality with a single-process run on the concatenated batch is not asserted here: `slimir train`
always shuffles (as research/slim), and each rank shuffles its own shard (examples i % 2 == rank), so
the two runs see different examples at each step. tests/test_distributed.py proves the equality with
fixed batches; here the two replicas must end bitwise identical (checked by hash after the last step)
and the loss must go down.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slimir.runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _mpiexec():
    try:
        import mpi4py  # noqa: F401

        from slimir.runtime.launch import find_mpiexec

        return find_mpiexec()
    except Exception:
        return None


needs_mpi = pytest.mark.skipif(_mpiexec() is None, reason="mpi4py/mpiexec not installed (pip install 'slimir[mpi]')")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           PYTHONUNBUFFERED="1")
TRAIN = ["train", "--model_name", "lenet", "--dataset_name", "digits", "--max_number_of_steps", "20",
         "--batch_size", "16", "--train_image_size", "8", "--num_preprocessing_threads", "1", "--num_readers", "1"]


def _launch(train_dir, *extra, timeout=90):
    slimir = [sys.executable, "-m", "slimir.runtime.cli"]
    cmd = [*slimir, "launch", "-n", "2", "--", *slimir, *TRAIN, "--train_dir", str(train_dir), *extra]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@needs_mpi
def test_launch_two_ranks_sync_replicas_trains_data_parallel_and_only_the_chief_writes(tmp_path):
    d = tmp_path / "train"
    proc = _launch(d, "--sync_replicas", "--log_every_n_steps", "5")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # one writer: rank 0's single checkpoint at step 20 (saved at the end) and one event file
    files = sorted(p.name for p in d.iterdir())
    assert [f for f in files if f.startswith("model.ckpt")] == ["model.ckpt-20.safetensors"], files
    assert len([f for f in files if f.startswith("events.out.tfevents")]) == 1, files
    assert (d / "checkpoint").read_text().count("model.ckpt-20") >= 1
    # one report and one log (the chief's), both replicas bitwise equal after the last step
    assert out.count("trained lenet on digits/train") == 1, out
    assert "on 2 replicas (data-parallel): global step 20" in out, out
    assert out.count("global step 20: loss") == 1, out
    assert "the 2 replicas agree bitwise at global step 20" in out, out
    assert "batch 16 per replica, 32 examples per global step" in out, out
    losses = {int(s): float(v) for s, v in re.findall(r"global step (\d+): loss = ([0-9.]+)", out)}
    assert sorted(losses) == [5, 10, 15, 20], out
    assert losses[20] < losses[5] and losses[20] < 2.0, losses  # ln(10) = 2.30 at the start


@needs_mpi
def test_launch_two_ranks_without_sync_replicas_is_a_clear_error(tmp_path):
    proc = _launch(tmp_path / "train")
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("slimir: error:")]
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr  # the chief reports; the worker exits quietly
    assert "asynchronous" in lines[0] and "--sync_replicas" in lines[0], lines
    assert not (tmp_path / "train").exists()


@needs_mpi
def test_launch_task_must_be_the_rank(tmp_path):
    proc = _launch(tmp_path / "train", "--sync_replicas", "--task", "0")
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("slimir: error:")]
    assert proc.returncode != 0
    assert lines == ["slimir: error: rank 1: --task 0 but this process is rank 1 of 2: under slimir launch the "
                     "task index is the MPI rank; leave --task out"], proc.stderr


FAIL_ON_RANK_1 = """
import sys
from slimir.errors import NotFoundError
from slimir.runtime import image_classifier as ic
from slimir.runtime.cli import main
from slimir.runtime.distributed import get_communicator
real = ic._dataset
def _dataset(*a, **k):  # a folder that only rank 0's node has
    if get_communicator().rank == 1:
        raise NotFoundError("--dataset_dir /data/digits: no such directory")
    return real(*a, **k)
ic._dataset = _dataset
sys.exit(main(sys.argv[1:]))
"""


@needs_mpi
def test_a_rank_failing_while_building_ends_the_job_with_its_error(tmp_path):
    # rank 0 builds its graph and waits for the others before training; rank 1's error reaches it there
    script = tmp_path / "fail_on_rank_1.py"
    script.write_text(FAIL_ON_RANK_1)
    cmd = [_mpiexec(), "-n", "2", "--bind-to", "none", sys.executable, str(script), *TRAIN, "--train_dir",
           str(tmp_path / "train"), "--sync_replicas"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=60, cwd=ROOT)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("slimir: error:")]
    assert proc.returncode == 2, proc.stderr
    assert lines == ["slimir: error: rank 1: NotFoundError: --dataset_dir /data/digits: no such directory"], proc.stderr
    assert not (tmp_path / "train").exists()


# ------------------------------------------------------------------------------------------ in one process


def _err(capsys, *argv, train_dir="/nonexistent/never-written"):
    rc = main([*TRAIN, "--train_dir", train_dir, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


@pytest.mark.parametrize("argv, words", [
    (["--worker_replicas", "2"], ["--worker_replicas 2", "1 process", "slimir launch -n 2"]),
    (["--task", "1"], ["--task 1", "rank 0 of 1"]),
    (["--num_ps_tasks", "1"], ["parameter servers are not supported", "MPI"]),
    (["--sync_replicas", "--replicas_to_aggregate", "2"], ["--replicas_to_aggregate 2", "no backup workers"]),
    (["--num_clones", "2"], ["--num_clones 2", "not supported", "slimir launch -n N"]),
    (["--master", "grpc://localhost:2222"], ["--master", "not supported"]),
    (["--clone_on_cpu", "--device", "cuda"], ["--clone_on_cpu", "--device cuda"]),
])
def test_unsupported_or_inconsistent_distributed_flags_are_one_line(capsys, argv, words):
    rc, err = _err(capsys, *argv)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("slimir: error: "), err
    for w in words:
        assert w in err[0], (w, err)
    assert not os.path.exists("/nonexistent/never-written")


def test_research_slim_defaults_given_explicitly_train_one_process(tmp_path, capsys):
    d = tmp_path / "train"
    rc = main([*TRAIN, "--train_dir", str(d), "--max_number_of_steps", "3", "--sync_replicas", "--worker_replicas",
               "1", "--task", "0", "--replicas_to_aggregate", "1", "--num_ps_tasks", "0", "--num_clones", "1",
               "--clone_on_cpu", "--master", ""])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "global step 3" in out.out
    assert (d / "model.ckpt-3.safetensors").exists()


def test_switches_take_absl_spellings(tmp_path, capsys):
    """research/slim command lines write switches as --flag=True / --noflag (absl); both parse."""
    d = tmp_path / "train"
    rc = main([*TRAIN, "--train_dir", str(d), "--max_number_of_steps", "2", "--sync_replicas=True",
               "--clone_on_cpu=false"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert (d / "model.ckpt-2.safetensors").exists()
    rc, err = _err(capsys, "--sync_replicas=maybe")
    assert rc == 2 and len(err) == 1 and "--sync_replicas" in err[0] and "true or false" in err[0], err


@needs_mpi
def test_launch_does_not_restart_after_a_usage_error(tmp_path):
    slimir = [sys.executable, "-m", "slimir.runtime.cli"]
    cmd = [*slimir, "launch", "-n", "2", "--max-restarts", "2", "--", *slimir, *TRAIN,
           "--train_dir", str(tmp_path / "train"), "--num_ps_tasks", "1", "--sync_replicas"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "not restarting" in proc.stderr and "relaunching" not in proc.stderr, proc.stderr
