"""Several workers on one study. Optuna owns the coordination — every worker asks the shared storage for its next
trial — so a worker is just `greenknobs worker` (one process, any host), and `greenknobs run --workers N` starts N of
them on this host, each with its own GPU, or its share of the CPU cores when there is no GPU.

Metering decides what may run side by side: a GPU's energy counter cannot tell two trials apart, nor can RAPL's
CPU-package counter, so trials that share either are refused. Each worker gets cores of its own (CPU affinity):
the estimate meter charges idle power for the cores a process may use, so two workers on one core would each
charge it; a GPU worker that meters only some of the host's GPUs leaves the shared CPU packages unmetered, and
says so (objectives/energy/_factory.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.search.study._storage import storage_kind

# RDB storages: a worker that stops beating for 4 intervals (2 minutes) has its trial failed and queued again.
HEARTBEAT_S = 30
_RDB = ("sqlite", "postgresql", "mysql")


def heartbeat_for(url: str) -> int | None:
    return HEARTBEAT_S if storage_kind(url) in _RDB else None


def check_shared_storage(url: str, workers: int, what: str = "several workers") -> None:
    """Refuse storages that several processes cannot share."""
    kind = storage_kind(url)
    if kind == "sqlite":
        raise GreenknobsError(
            f"{what} on a SQLite file would fight over its single write lock (trials fail with 'database is "
            "locked'): use the journal file (the default, one host) or PostgreSQL (several hosts) as --storage")
    if kind == "memory" and workers > 1:
        raise GreenknobsError(f"{what} cannot share an in-memory storage: use the journal file (the default) or PostgreSQL")


class Interrupted(KeyboardInterrupt):
    """SIGTERM handled like Ctrl-C: the running trial ends FAIL "interrupted", the worker exits with status 130."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block SIGTERM (sent by schedulers, `kill`, `run --workers`) raises `Interrupted`, as Ctrl-C does."""
    def raise_interrupted(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
    except ValueError:  # not the main thread (e.g. called from a library user's thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


CPUS_ENV = "GREENKNOBS_CPUS"  # the cores a worker started by `run --workers` is pinned to, e.g. "2,3"


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _core_list() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform: the workers share every core, as before
        return []


def _shares(workers: int) -> list[list[int]]:
    """Equal, disjoint core sets, one per worker (left-over cores stay unused: equal shares give every worker the
    same search space, since cpu_threads' levels depend on the cores a worker has)."""
    cores = _core_list()
    if not cores:
        return [[] for _ in range(workers)]
    if workers > len(cores):
        raise GreenknobsError(
            f"--workers {workers} on {len(cores)} CPU core(s): each worker needs a core of its own (a shared core's "
            f"idle power would be charged to every worker on it, and their trials would slow each other): "
            f"use --workers {len(cores)} at most")
    size = len(cores) // workers
    return [cores[i * size:(i + 1) * size] for i in range(workers)]


def _pin_coordinator(share: list[int]) -> None:
    """This process creates the study before its workers start; it takes the first worker's share, so that the
    space it records is the one every worker sees (hardware detection reads the allotted cores)."""
    if not share or set(share) == set(_core_list()):
        return
    os.sched_setaffinity(0, share)
    from greenknobs.spaces import _hardware

    _hardware.detect.cache_clear()


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries for the workers."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def plan(workers: int, meter_source: str) -> tuple[list[dict[str, str]], int, str]:
    """Per worker: its environment additions (its GPU, its cores); the torch threads each gets; and one line saying
    how it was split. With several workers this process is pinned to the first worker's cores (`_pin_coordinator`)."""
    gpus = visible_gpus()
    cores = cpu_cores()
    if gpus and workers > len(gpus):
        raise GreenknobsError(
            f"--workers {workers} but {len(gpus)} GPU(s) visible: two trials sharing one GPU cannot be metered "
            f"apart, so run at most one worker per GPU (--workers {len(gpus)})")
    if not gpus and meter_source == "measured-cpu" and workers > 1:
        raise GreenknobsError(
            f"--workers {workers} on one CPU measured through RAPL: the package counter cannot tell the workers' "
            "joules apart; run one worker per host, or set energy = \"estimate\" in [study]")
    shares = _shares(workers) if workers > 1 else [[]]
    threads = len(shares[0]) or max(1, cores // workers)
    envs: list[dict[str, str]] = [{CPUS_ENV: ",".join(map(str, share))} if share else {} for share in shares]
    pinned = "; cores " + " | ".join(",".join(map(str, s)) for s in shares) if shares[0] else ""
    if workers > 1:
        _pin_coordinator(shares[0])
    if gpus:
        for env, gpu in zip(envs, gpus):
            env["CUDA_VISIBLE_DEVICES"] = gpu
        return envs, threads, (f"{workers} workers, one GPU each ({', '.join(gpus[:workers])}), {threads} CPU "
                               f"thread(s) each{pinned}")
    share = f"{cores} CPU core(s), no GPU: {threads} torch thread(s) per worker (cores // workers){pinned}"
    return envs, threads, f"{workers} workers on {share}"


def _pinning(cores: str) -> Any:
    """Popen's preexec_fn for a worker: runs in the child before it starts, and pins it to the cores `plan` gave it
    (the child's environment is not in place yet, so the cores come in the closure)."""
    if not cores:
        return None
    share = [int(c) for c in cores.split(",")]
    return lambda: os.sched_setaffinity(0, share)


def worker_command(study_file: str, url: str, name: str, budget: int, *, timeout_s: float | None, sampler: str | None,
                   seed: int | None, threads: int, label: str) -> list[str]:
    cmd = [sys.executable, "-m", "greenknobs", "worker", study_file, "--storage", url, "--study-name", name,
           "--n-trials", str(budget), "--threads", str(threads), "--label", label]
    if timeout_s is not None:
        cmd += ["--timeout", repr(timeout_s)]
    if sampler is not None:
        cmd += ["--sampler", sampler]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd


def run_workers(commands: list[list[str]], envs: list[dict[str, str]]) -> tuple[list[int], bool]:
    """Start the workers and wait for all of them. Ctrl-C or SIGTERM here is passed on to each worker once, and
    each ends its trial as interrupted. Returns their exit statuses and whether they were interrupted."""
    interrupted = []
    children: list[subprocess.Popen] = []

    def forward(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for cmd, env in zip(commands, envs):
            # Their own session: a terminal's Ctrl-C reaches this process only, which passes it on exactly once.
            # Pinned before it starts: torch sizes its thread pool and hardware detection counts cores at startup.
            children.append(subprocess.Popen(cmd, env={**os.environ, **env}, start_new_session=True,
                                             preexec_fn=_pinning(env.get(CPUS_ENV, ""))))
        codes = [child.wait() for child in children]
    finally:
        for child in children:  # only if this process itself is failing: do not leave workers behind
            if child.poll() is None:
                child.terminate()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return codes, bool(interrupted)


def prepare_worker(ctx: Any) -> None:
    """What this process settles on its host before its first trial (`open_study` calls it, so `run`, `worker` and
    every other command that runs trials do): GPU power caps a stopped worker left on this host are restored, or
    the start is refused with the command that restores them (`_power`); and the pipeline learns the study's space,
    whose first-use costs its warm-up pays (objectives/_warmup.py)."""
    from greenknobs.search.study import _power

    ctx.pipeline.warm_space = ctx.space
    _power.guard(ctx)
