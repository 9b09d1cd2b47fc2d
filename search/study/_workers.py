"""Several workers on one study. Optuna owns the coordination — every worker asks the shared storage for its next
trial — so a worker is just `greenknobs worker` (one process, any host), and `greenknobs run --workers N` starts N of
them on this host, each with its own GPU, or its share of the CPU cores when there is no GPU.

Metering decides what may run side by side: a GPU's energy counter cannot tell two trials apart, nor can RAPL's
CPU-package counter, so trials that share either are refused. Each worker gets cores of its own (CPU affinity):
the estimate meter charges idle power for the cores a process may use, so two workers on one core would each
charge it; a GPU worker that meters only some of the host's GPUs leaves the shared CPU packages unmetered, and
says so (objectives/energy/_factory.py).

Each worker samples with a seed of its own: were every worker seeded with the study's seed, TPE's random
start-up, GP's and NSGA-II's draws would be the same in every process, and the workers would train the same
configurations side by side. See `Worker` for how the seed is derived and why it is stable across restarts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
    from greenknobs.spaces import detect_hardware

    detect_hardware.cache_clear()


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


# -- a sampler seed per worker -----------------------------------------------------------------------------------
WORKER_ATTR = "greenknobs.worker"  # trial user attr: the identity of the worker that ran the trial
SAMPLER_SEED = "greenknobs.sampler_seed"  # trial user attr: the seed of that worker's sampler
_label: str | None = None  # how this process joined: None = `run`, one process; "" or a name = `worker`


@contextlib.contextmanager
def joined_as_worker(label: str = "") -> Iterator[None]:
    """`greenknobs worker` opens its study inside this block: the process is one of possibly several workers, named
    `label` (`run --workers` names its workers w1, w2, ...; `--label` names one by hand). Outside it (and after it,
    for a caller such as a test that goes on in the same process) a study opened is a one-process study's."""
    global _label
    previous, _label = _label, label
    try:
        yield
    finally:
        _label = previous


@dataclass(frozen=True)
class Worker:
    """Who samples in this process, and with which seed.

    - `greenknobs run` (one process): identity "" and the study's own seed, as before workers had seeds: a study run
      by one process is reproducible on any machine.
    - `greenknobs worker` (and each worker `run --workers N` starts): identity = host name + the worker's label
      (w1, w2, ... from `run --workers`, or `--label`), or, without a label, host name + its GPUs
      (CUDA_VISIBLE_DEVICES) + its cores (CPU affinity). Several workers with the same identity on one host (three
      plain `greenknobs worker` started side by side) take slots 0, 1, 2, ... in start order, held through a lock
      file for the process's life, so a restarted worker takes a free slot again; slot n > 0 adds "#n".
    - seed = the study's seed for identity "", else the first 4 bytes of sha256("<study seed>|<identity>").

    Nothing here depends on the process id or the clock: the same workers on the same hosts draw the same seeds after
    any restart, and a different study seed gives every worker a different one."""

    identity: str
    seed: int


_WORKERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # study object -> Worker
_SLOTS: dict[str, tuple[int, Any]] = {}  # lock key -> (slot, the open lock file that holds it)


def worker_seed(study_seed: int, identity: str) -> int:
    if not identity:
        return study_seed
    return int.from_bytes(hashlib.sha256(f"{study_seed}|{identity}".encode()).digest()[:4], "big")


def _hardware_identity() -> str:
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    cores = _core_list()
    parts = ([f"gpu={gpus}"] if gpus else []) + ([f"cpus={_ranges(cores)}"] if cores else [])
    return ",".join(parts) or "cpu"


def _ranges(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5": short and stable."""
    runs: list[list[int]] = []
    for c in sorted(cores):
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _slot(key: str) -> int:
    """The lowest slot no live process on this host holds for `key` (study + identity), held until this process
    ends. flock locks die with their process, so a killed worker's slot is free at once."""
    if key in _SLOTS:
        return _SLOTS[key][0]
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one slot; distinct labels still tell workers apart
        return 0
    folder = Path(tempfile.gettempdir()) / "greenknobs-workers"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    for n in range(1024):
        try:
            folder.mkdir(mode=0o1777, exist_ok=True)
            fh = open(folder / f"{digest}.{n}.lock", "a+")
        except OSError:  # a folder this user cannot write: without slots, labels still tell workers apart
            return 0
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        _SLOTS[key] = (n, fh)
        return n
    return 0


def worker_of(ctx: Any) -> Worker:
    """This process's worker identity and sampler seed for the study in `ctx` (`prepare_worker` settles them)."""
    known = _WORKERS.get(ctx.study)
    if known is not None:
        return known
    if _label is None:
        base = ""
    else:
        base = f"{socket.gethostname()}/{_label or _hardware_identity()}"
    slot = _slot(f"{ctx.study.study_name}|{ctx.spec.storage_url()}|{base}")
    identity = f"{base}#{slot}" if slot else base
    worker = Worker(identity, worker_seed(ctx.spec.seed, identity))
    _WORKERS[ctx.study] = worker
    return worker


def seed_sampler(ctx: Any) -> Worker:
    """Give this process's sampler its worker's seed (open_study built it with the study's seed)."""
    from greenknobs.search.samplers import make_sampler

    worker = worker_of(ctx)
    if worker.seed != ctx.spec.seed:
        ctx.study.sampler = make_sampler(ctx.spec.sampler, worker.seed, ctx.space, ctx.spec)
    return worker


def prepare_worker(ctx: Any) -> None:
    """What this process settles on its host before its first trial (`open_study` calls it, so `run`, `worker` and
    every other command that runs trials do): the sampler takes this worker's seed (`Worker`); GPU power caps a
    stopped worker left on this host are restored, or the start is refused with the command that restores them
    (`_power`); and the pipeline learns the study's space, whose first-use costs its warm-up pays
    (objectives/_warmup.py)."""
    from greenknobs.search.study import _power

    ctx.pipeline.warm_space = ctx.space
    seed_sampler(ctx)
    _power.guard(ctx)
