"""Studies on a simulated task (objectives/_simulated.py): the whole study engine in milliseconds per trial, with
responses the test chooses, so each verdict rule can be driven to either side of its line."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenknobs.objectives import Response, SimulatedPipeline
from greenknobs.spaces import Hardware

CPU = Hardware(device="cpu", cpu_cores=2, missing={c: "needs a CUDA GPU" for c in
                                                   ("cuda", "fp16", "pin-memory", "power-limit", "bnb-layers")})
KNOBS = ["max_length", "padding", "attention", "batch_size", "infer_batch_size", "quantization"]
BASE_J = 100.0


@dataclass
class Task:
    """A response table: knob changes -> (share of the baseline's joules, F1 change), with seeded noise.

    `energy_sd` and `f1_sd` are the seed-to-seed spread of every configuration (relative, and absolute F1).
    Every call is logged as (changes, seed, split)."""

    effects: dict[frozenset, tuple[float, float]] = field(default_factory=dict)
    base_f1: float = 0.70
    energy_sd: float = 0.01
    f1_sd: float = 0.005
    degenerate: set[frozenset] = field(default_factory=set)
    curves: dict[frozenset, tuple[tuple[float, float, bool], ...]] = field(default_factory=dict)  # by changes
    calls: list[tuple[frozenset, int, str]] = field(default_factory=list)
    baseline: dict[str, Any] = field(default_factory=dict)
    monitor_j: float = 0.0  # what scoring one report's slice costs (early stopping)

    def changes(self, config: Mapping[str, Any]) -> frozenset:
        return frozenset((k, v) for k, v in config.items() if k in self.baseline and self.baseline[k] != v)

    def effect(self, key: frozenset) -> tuple[float, float]:
        """A listed change set's effect; otherwise its single knobs' composed (joules multiply, F1 changes add)."""
        if key in self.effects or len(key) < 2:
            return self.effects.get(key, (1.0, 0.0))
        share, df1 = 1.0, 0.0
        for lv in key:
            s, d = self.effects.get(frozenset([lv]), (1.0, 0.0))
            share, df1 = share * s, df1 + d
        return share, df1

    def __call__(self, config: Mapping[str, Any], seed: int, split: str) -> Response:
        key = self.changes(config)
        self.calls.append((key, seed, split))
        share, df1 = self.effect(key)
        rng = _rng(f"{sorted(key)}|{seed}|{split}")
        energy = BASE_J * share * (1 + rng.gauss(0, self.energy_sd))
        f1 = self.base_f1 + df1 + rng.gauss(0, self.f1_sd)
        return Response({"data": 0.02 * energy, "model": 0.03 * energy, "training": 0.8 * energy,
                         "inference": 0.15 * energy}, f1, degenerate=key in self.degenerate,
                        curve=self.curves.get(key, ()), monitor_j=self.monitor_j)


def _rng(key: str) -> random.Random:
    """A generator seeded by a hash of `key`: Random(str) seeds from the string's own bytes too, and the first Gauss
    draws of keys that differ in one character came out nearly equal (all within 0.6 sd of each other at 5 seeds)."""
    import hashlib

    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def make_spec(tmp_path: Path, name: str = "sim", n_trials: int = 8, sampler: str = "random",
              knobs: list[str] = KNOBS, **study: Any):
    from greenknobs.search.study import load_spec

    lines = [f'name = "{name}"', f'sampler = "{sampler}"', f"n_trials = {n_trials}", "seed = 0",
             'energy = "estimate"'] + [f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
                                       for k, v in study.items()]
    path = tmp_path / f"{name}.toml"
    path.write_text("[study]\n" + "\n".join(lines) + '\n\n[task]\nname = "fortunes-tiny"\n\n[search]\nknobs = '
                    + repr(knobs).replace("'", '"') + "\n", encoding="utf-8")
    spec = load_spec(path)
    spec.storage = f"journal:{tmp_path / (name + '.journal')}"
    return spec


def open_simulated(tmp_path: Path, task: Task, *, enqueue: list[dict[str, Any]] = (), n_trials: int = 8,
                   notes: Any = None, **study: Any):
    """A study on `task` with the given search configurations queued (knob changes from the baseline), in order;
    `notes`: the dashboard notes' writer (none: the engine writes none)."""
    from greenknobs.search import records as rec
    from greenknobs.search.study import ensure_baseline, open_study

    spec = make_spec(tmp_path, n_trials=n_trials, **study)
    pipeline = SimulatedPipeline(spec.task, task, hardware=CPU)
    ctx = open_study(spec, pipeline=pipeline, notes=notes)
    task.baseline = ctx.space.baseline()
    ensure_baseline(ctx)
    for changes in enqueue:
        ctx.study.enqueue_trial(ctx.space.params_of(ctx.space.complete(changes)), user_attrs={rec.ROLE: "search"})
    return ctx


def run_simulated(tmp_path: Path, task: Task, show_progress: bool = False, **kw: Any):
    from greenknobs.search.study import run_study

    ctx = open_simulated(tmp_path, task, **kw)
    run_study(ctx, show_progress=show_progress)
    return ctx


def level(**changes: Any) -> frozenset:
    return frozenset(changes.items())


Respond = Callable[[Mapping[str, Any], int, str], Response]
