"""Real runs for the benchmarks, one at a time, each holding the machine (benchmarks/_cpu.py).

    python -m benchmarks.measure calibrate fortunes      # the runs the simulator is built from (and validated on)
    python -m benchmarks.measure calibrate project       # the same for the second task (Devign functions by project)
    python -m benchmarks.measure cost fortunes           # one baseline run: what a run costs, before planning

Every run is one line of benchmarks/.studies/measure-<task>.jsonl (git-ignored; a rerun skips what is there, so an
interrupted campaign resumes). Beside each result it records the 1-minute load average when the machine was granted
and the CPU seconds *other* processes used during the run (/proc/stat busy time minus this process's): the estimate
meter charges idle cores for wall time, so a run that shared the machine reads high. A run whose foreign CPU share
exceeds FOREIGN_MAX is measured again (at most twice) and the contaminated reading kept, marked, for the record.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STUDIES = HERE / ".studies"
TASKS = {"fortunes": HERE / "studies" / "fortunes-scaled.toml", "project": HERE / "studies" / "project-scaled.toml",
         "default": HERE.parent / "studies" / "default.toml"}
FOREIGN_MAX = 0.10  # share of the machine's core-seconds other processes may take during a published run
_HZ = os.sysconf("SC_CLK_TCK")


def _busy_s() -> float:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / _HZ


def _own_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


CHUNK_S = 420.0  # a campaign holds the machine for at most this long at a time (several runs), then lets others in
_held: dict[str, float] = {}


@contextlib.contextmanager
def held_machine() -> Iterator[dict[str, float]]:
    """Hold the machine for one run (or go on holding it, within a chunk of CHUNK_S); fills {load_1min,
    foreign_cpu_s, foreign_share, wall_s} when it ends."""
    from benchmarks._cpu import exclusive_cpu

    info: dict[str, float] = {}
    with (contextlib.nullcontext(os.getloadavg()[0]) if _held else exclusive_cpu()) as load:
        info["load_1min"] = load
        b0, o0, w0 = _busy_s(), _own_s(), time.perf_counter()
        try:
            yield info
        finally:
            wall = time.perf_counter() - w0
            foreign = max(0.0, (_busy_s() - b0) - (_own_s() - o0))
            info.update(wall_s=wall, foreign_cpu_s=foreign, foreign_share=foreign / max(1e-9, wall * (os.cpu_count() or 1)))


def load_task(name: str, pipeline: Any = None):
    """(spec, pipeline, space) of a benchmark task, the estimate meter, the study's space warmed."""
    from greenknobs.objectives import Pipeline, RunAborted
    from greenknobs.objectives.energy import make_meter
    from greenknobs.search.study import load_spec

    if name == "project":
        from benchmarks import project_data

        project_data.build()
    spec = load_spec(TASKS[name])
    if pipeline is None:
        pipeline = Pipeline(spec.task, meter=make_meter(spec.energy, watts_per_core=spec.watts_per_core), seed=spec.seed)
    space = pipeline.space(search=spec.search, ranges=spec.ranges, fixed=spec.fixed, baseline=spec.baseline)
    pipeline.warm_space = space
    return spec, pipeline, space


@contextlib.contextmanager
def chunk() -> Iterator[None]:
    """Hold the machine across several runs until CHUNK_S have passed (checked between runs: `chunk_over`)."""
    from benchmarks._cpu import exclusive_cpu

    with exclusive_cpu():
        _held["since"] = time.perf_counter()
        try:
            yield
        finally:
            _held.clear()


def chunk_over() -> bool:
    return time.perf_counter() - _held.get("since", -1e9) > CHUNK_S


def key_of(changes: Mapping[str, Any], seed: int, split: str) -> str:
    return hashlib.sha1(json.dumps([sorted(changes.items()), seed, split], default=str).encode()).hexdigest()[:16]


def read_runs(task: str) -> list[dict[str, Any]]:
    path = STUDIES / f"measure-{task}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure(task: str, plan: Sequence[tuple[str, dict[str, Any], int, str]], pipeline: Any = None) -> list[dict]:
    """Run every (group, changes, seed, split) of `plan` not yet in the task's jsonl; returns every stored row."""
    spec, pipeline, space = load_task(task, pipeline)
    STUDIES.mkdir(parents=True, exist_ok=True)
    path = STUDIES / f"measure-{task}.jsonl"
    done = {r["key"] for r in read_runs(task) if not r.get("contaminated")}
    todo = [p for p in plan if key_of(p[1], p[2], p[3]) not in done]
    print(f"{task}: {len(plan) - len(todo)} of {len(plan)} runs stored, {len(todo)} to run", file=sys.stderr, flush=True)
    i = 0
    while i < len(todo):
        with chunk():
            while i < len(todo) and not chunk_over():
                _measure_one(i, todo, task, space, pipeline, path)
                i += 1
        time.sleep(5)  # between chunks: let a waiting test suite (`flock -s`) take the machine
    return read_runs(task)


def _measure_one(i: int, todo: list, task: str, space: Any, pipeline: Any, path: Path) -> None:
    from greenknobs.objectives import RunAborted

    group, changes, seed, split = todo[i]
    try:
        config = space.complete(changes)
    except Exception as err:  # a drawn combination the space refuses (e.g. a knob whose parent is off)
        print(f"skipped {changes}: {err}", file=sys.stderr)
        return
    runner = pipeline.for_split(split)
    for attempt in range(3):
        with held_machine() as held:
            try:
                r = runner.run(config, seed=seed)
                row = {"ok": True, "f1": r.f1, "energy_j": r.energy_j, "phase_energy_j": r.phase_energy_j,
                       "phase_time_s": r.phase_time_s, "time_s": r.time_s, "degenerate": r.degenerate,
                       "chance_f1": r.chance_f1, "reused": r.reused_phases, "warmup_j": r.warmup_energy_j,
                       "source": r.energy_source, "result": r.to_dict()}
            except Exception as err:  # a configuration that cannot train is a result too
                cause = err.cause if isinstance(err, RunAborted) else err
                row = {"ok": False, "error": f"{type(cause).__name__}: {str(cause)[:200]}",
                       "energy_j": err.energy_j if isinstance(err, RunAborted) else 0}
        row.update(key=key_of(changes, seed, split), group=group, changes=changes, seed=seed, split=split,
                   attempt=attempt, date=time.strftime("%Y-%m-%d %H:%M:%S"), **held)
        row["contaminated"] = held["foreign_share"] > FOREIGN_MAX
        with path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        print(f"[{i + 1}/{len(todo)}] {group} {changes} seed {seed} {split}: "
              f"{row.get('energy_j', 0):.0f} J F1 {row.get('f1', float('nan')):.3f} {held['wall_s']:.1f} s "
              f"foreign {100 * held['foreign_share']:.0f}% load {held['load_1min']:.2f}", file=sys.stderr, flush=True)
        if not row["contaminated"]:
            break
        time.sleep(20)  # let whatever shared the machine finish


def main(argv: Sequence[str] | None = None) -> None:
    from greenknobs.search.cli import quiet_libraries

    quiet_libraries()
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["calibrate", "cost"])
    ap.add_argument("task", choices=sorted(TASKS))
    ap.add_argument("--part", default="all")
    args = ap.parse_args(argv)
    if args.what == "cost":
        measure(args.task, [("baseline", {}, 0, "validation")])
        return
    from benchmarks import calibration

    measure(args.task, calibration.plan(args.task, args.part))


if __name__ == "__main__":
    main()
