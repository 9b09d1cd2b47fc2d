"""Strategies, one study per (strategy, budget, replicate), and what is scored of it.

The metric, per study, in that study's own terms:
- each candidate (the engine's noise-aware Pareto set, `records.pareto_trials`) becomes a point (energy ratio =
  its mean joules / the study's baseline mean, F1 share = its mean F1 / the baseline mean);
- the reference point is fixed before anything runs at (1.0, min_f1_retention);
- **HV gained** = the area those points dominate inside the reference box. The baseline sits at (1, 1) on the box's
  edge: it adds nothing, so a study that found no measurable saving above the floor scores exactly 0.
On the simulator the same candidates are also scored at their true (noise-free) values ("true HV": a candidate
whose true retention is below the floor adds nothing), and each recommendation is checked against the truth.

Replicate r: training seeds 100·r (+1, +2 for the noise floor; +3.. for confirmation) for every strategy (common
random numbers: the same baseline runs, the same seed for every search run), sampler seed r.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks.measure import TASKS as STUDY_FILES  # task -> study file, one table for the real runs and the studies

NUM_LABELS = {"fortunes": 5, "project": 2, "default": 5}
# name -> (what it is, grey-box?)
STRATEGIES: dict[str, tuple[str, bool]] = {
    "random": ("Optuna RandomSampler", False),
    "anchored": ("baseline-anchored random perturbation: 1-3 knobs changed at random", False),
    "nsga2": ("Optuna NSGA-II, population = a third of the search runs (at least 4)", False),
    "tpe": ("Optuna TPE (multivariate, group, 5 start-up trials)", False),
    "gp": ("Optuna GPSampler (5 start-up trials)", False),
    "tpe-warm": ("the cascade's screening trials, then TPE", True),
    "gp-warm": ("the cascade's screening trials, then GP", True),
    "cascade": ("screen single knobs, combine savers by predicted saving, then TPE", True),
}


def training_seed(rep: int) -> int:
    return 100 * rep


def make_strategy(name: str, sampler_seed: int, space: Any, spec: Any) -> optuna.samplers.BaseSampler:
    from benchmarks.searchbench.controls import CONTROLS, make_control
    from greenknobs.search.samplers import make_sampler

    if name in CONTROLS:
        return make_control(name, sampler_seed, space, spec)
    if name == "nsga2":
        search = spec.n_trials - spec.baseline_repeats
        return optuna.samplers.NSGAIISampler(seed=sampler_seed, population_size=max(4, search // 3))
    return make_sampler(name, sampler_seed, space, spec)


def load_spec(task: str, name: str, budget: int, rep: int, storage: str):
    from greenknobs.search.study import load_spec as _load

    spec = _load(STUDY_FILES[task])
    spec.name, spec.storage, spec.n_trials, spec.seed = name, storage, budget, training_seed(rep)
    # Samplers are compared on whole runs: early stopping off (the simulator has no learning curves, and a stop
    # would change what a strategy's trials measured), and no wall-clock limit (the budget counts training runs).
    spec.early_stop, spec.timeout_s = "off", None
    return spec


# -- scoring ------------------------------------------------------------------------------------------------------
def hv_gained(points: Sequence[tuple[float, float]], floor: float) -> float:
    """Area dominated by (energy ratio, F1 share) points in the box [0, 1] × [floor, ∞) (energy minimized, share
    maximized), reference (1.0, floor)."""
    from greenknobs.search.analysis import hypervolume_2d

    return hypervolume_2d([(e, -s) for e, s in points], (1.0, -floor))


class _Prefix:
    """A study seen up to trial `upto`: its trials so far; everything else (directions, records) is the study's."""

    def __init__(self, study: optuna.Study, trials: list, upto: int) -> None:
        self._study = study
        self._trials = [t for t in trials if t.number <= upto]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list:
        return [t for t in self._trials if states is None or t.state in states]


@dataclass
class StudyScore:
    strategy: str
    budget: int
    rep: int
    runs: int
    hv: float
    true_hv: float | None
    candidates: int
    curve: list[dict[str, float]]  # after each finished trial: runs, joules spent (÷ baseline mean), hv, true_hv
    recommended: list[dict[str, Any]] = field(default_factory=list)
    spent_j: float = 0.0
    confirm_j: float = 0.0
    baseline_j: float = 0.0
    baseline_f1: float = 0.0


def score_study(study: optuna.Study, strategy: str, budget: int, rep: int, truth: Callable | None = None,
                confirmed: Mapping[int, Any] | None = None, confirm_j: float = 0.0) -> StudyScore:
    from greenknobs.search import records as rec

    floor = rec.noise_floor(study)
    base_e, base_f1 = floor.energy_j[0], floor.f1[0]
    r_min = floor.min_retention
    trials = study.get_trials(deepcopy=False)
    finished = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)),
                      key=lambda t: t.number)
    truths: dict[int, dict[str, Any]] = {}

    def true_point(t) -> tuple[float, float] | None:
        if truth is None:
            return None
        if t.number not in truths:
            truths[t.number] = truth(t.user_attrs[rec.CONFIG])
        g = truths[t.number]
        return None if g["degenerate"] else (g["energy_ratio"], g["retention"])

    def hvs(view) -> tuple[float, float | None, int]:
        cands = rec.pareto_trials(view)
        pts = [(t.values[0] / base_e, t.values[1] / base_f1) for t in cands]
        true = None
        if truth is not None:
            true = hv_gained([p for p in (true_point(t) for t in cands) if p is not None], r_min)
        return hv_gained(pts, r_min), true, len(cands)

    curve, runs, spent = [], 0, 0.0
    for t in finished:
        runs += rec.budget_runs(t, 3)
        spent += rec.spent_j(t) - (rec.result_of(t).warmup_energy_j if rec.result_of(t) else 0.0)
        hv, true, _ = hvs(_Prefix(study, trials, t.number))
        curve.append({"runs": runs, "spent": spent / base_e, "hv": hv, "true_hv": true if true is not None else math.nan})
    hv, true, n = hvs(study)
    recs = []
    for number, p in (confirmed or {}).items():
        t = next(x for x in trials if x.number == number)
        row = {"trial": number, "recommended": p.recommended, "saving": p.saving.mean, "retention": p.retention.mean}
        if truth is not None:
            g = truth(t.user_attrs[rec.CONFIG])
            row.update(true_ratio=g["energy_ratio"], true_retention=g["retention"], true_degenerate=g["degenerate"],
                       false=bool(g["degenerate"] or g["retention"] < r_min or g["energy_ratio"] >= 1.0))
        recs.append(row)
    return StudyScore(strategy, budget, rep, runs, hv, true, n, curve, recs, spent, confirm_j, base_e, base_f1)


# -- overhead: the sampler's and the storage's calls, timed directly ----------------------------------------------
class Timer:
    """Wall and CPU seconds of the sampler's and the storage's public calls (outermost call only, so a sampler's own
    storage reads count as sampler time and nothing counts twice)."""

    SAMPLER_CALLS = ("before_trial", "infer_relative_search_space", "sample_relative", "sample_independent",
                     "after_trial")

    def __init__(self) -> None:
        self.wall = {"sampler": 0.0, "storage": 0.0}
        self.cpu = {"sampler": 0.0, "storage": 0.0}
        self._depth = 0

    def _wrap(self, fn: Callable, kind: str) -> Callable:
        def timed(*a: Any, **kw: Any) -> Any:
            if self._depth:
                return fn(*a, **kw)
            self._depth += 1
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                self.wall[kind] += time.perf_counter() - w0
                self.cpu[kind] += time.process_time() - c0
                self._depth -= 1
        return timed

    def attach(self, study: optuna.Study) -> None:
        from greenknobs.search.records import storage_of

        for name in self.SAMPLER_CALLS:
            setattr(study.sampler, name, self._wrap(getattr(study.sampler, name), "sampler"))
        storage = storage_of(study)
        for name in dir(type(storage)):
            if not name.startswith("_") and callable(getattr(storage, name, None)):
                setattr(storage, name, self._wrap(getattr(storage, name), "storage"))

    def joules(self, kind: str, cores: int = 2, idle_w: float = 3.0, busy_w: float = 10.0) -> float:
        """The estimate meter's formula (objectives/energy/_estimate.py) applied to the timed calls."""
        return self.wall[kind] * cores * idle_w + self.cpu[kind] * (busy_w - idle_w)


# -- one simulated study ------------------------------------------------------------------------------------------
def simulated_hardware():
    from greenknobs.spaces import Hardware

    # This machine's space: 2 CPU cores; no CUDA, so no fp16, pin_memory or power caps; bitsandbytes' layers (at a
    # CPU's cost) are not searched unless a study names them, and the benchmark studies do not.
    return Hardware(device="cpu", cpu_cores=2, missing={c: "needs a CUDA GPU" for c in
                                                       ("cuda", "fp16", "pin-memory", "power-limit", "bnb-layers")})


def sim_study(sim: Any, task: str, strategy: str, budget: int, rep: int, *, confirm: bool = True,
              timer: Timer | None = None, keep_study: bool = False) -> StudyScore | optuna.Study:
    from greenknobs.objectives import SimulatedPipeline
    from greenknobs.search import records as rec
    from greenknobs.search.analysis import Notes
    from greenknobs.search.study import confirm_pareto, confirm_study, open_study, run_study

    spec = load_spec(task, f"{task}-{strategy}-b{budget}-r{rep}", budget, rep, ":memory:")
    pipeline = SimulatedPipeline(spec.task, sim.respond, hardware=simulated_hardware(), num_labels=NUM_LABELS[task])
    ctx = open_study(spec, pipeline=pipeline, notes=Notes())
    ctx.study.sampler = make_strategy(strategy, rep, ctx.space, spec)
    if timer is not None:
        timer.attach(ctx.study)
    run_study(ctx, show_progress=False)
    if keep_study:
        return ctx.study
    confirmed, confirm_j = {}, 0.0
    if confirm and rec.pareto_trials(ctx.study):
        confirmed = confirm_pareto(ctx)
        twin = confirm_study(ctx.study, create=False)
        confirm_j = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False))  # spent: a served run's inference
    return score_study(ctx.study, strategy, budget, rep, sim.truth, confirmed, confirm_j)
