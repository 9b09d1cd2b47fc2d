"""Multi-objective early stopping: stop a run whose fate is sealed, judged on both objectives and the noise.

Optuna prunes single-objective studies only (`Trial.report` refuses multi-objective ones, optuna#3450). greenknobs
knows the two things that decide a run's worth: the F1 floor with the noise around it (records/_noise.py), and the
joules already spent against the cheapest feasible point so far. A monitored run reports at 25%, 50% and 75% of its
optimizer steps (objectives/_pipeline.py `Report`: the F1 on a fixed evaluation slice, whether the slice got one
class only, the joules so far). Three rules, each decided from *completed* runs only (their curves and final F1):

- **hopeless on F1**: the slice F1 plus the rise completed runs showed to their end stays below the floor by more
  than the noise. "Safe" takes the largest rise any completed run showed from the report *before* this one, as if
  this run learned one report interval behind every run it is compared with, so it never judges F1 at a run's first
  report; "aggressive" takes the 90th percentile of the rises from the same report. Why the shift: the completed
  runs are mostly the baseline's, and a configuration that learns more slowly (a shorter window, fewer steps) rises
  more than any of them did. On the default study a 32-token window was at 0.446 on the slice at 50% of training,
  the baseline's largest rise from 50% was +0.092, and it ended at 0.605, a feasible candidate: the same-report
  bound stopped it; the shifted bound (the baseline's largest rise from 25%, +0.332) does not
  (tests/search/test_early_stop.py replays those measured curves);
- **dominated on energy**: the joules already spent exceed, by the energy noise, those of a feasible trial whose F1
  is at least this run's best possible (its slice F1 plus that largest rise) — it can never reach the front;
- **degenerate early**: one class on the slice at the first report, when no completed run that did the same ever
  recovered ("safe" also needs one that did the same and did not recover: evidence, not its absence).

A stopped trial is PRUNED with its rule, curve and joules; its joules count in the study's spend; it is marked
infeasible so TPE learns it was bad. `replay` applies the rules to completed studies after the fact: a rule that
*would* have stopped a run that ended feasible is a false stop, and "safe" must have none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from greenknobs.search.records import _records as rec
from greenknobs.search.records._noise import NoiseFloor

MODES = ("off", "monitor", "safe", "aggressive")  # monitor: report and record, never stop
CURVE = "greenknobs.curve"  # user attr of a stopped trial: its run's reports (a completed run keeps its in RUNS)
STOPPED = "greenknobs.stopped"  # trial user attr: {"rule", "reason", "at", "spent_j"} of a stopped run
AGGRESSIVE_QUANTILE = 0.9


@dataclass(frozen=True)
class Point:
    at: float
    f1: float
    one_class: bool
    energy_j: float
    monitor_j: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Point:
        return cls(float(d["at"]), float(d["f1"]), bool(d["one_class"]), float(d["energy_j"]),
                   float(d.get("monitor_j", 0.0)))


@dataclass(frozen=True)
class Completed:
    """A completed, monitored run: its reports, where it ended, and what it cost."""

    curve: tuple[Point, ...]
    final_f1: float
    degenerate: bool


@dataclass(frozen=True)
class Feasible:
    energy_j: float
    f1: float


@dataclass(frozen=True)
class Stop:
    rule: str  # hopeless-f1 | dominated | degenerate-early
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason}


class StopRun(Exception):
    """Raised from a run's monitor to stop it; the pipeline attaches the joules it burned and its curve."""

    def __init__(self, stop: Stop, point: Point) -> None:
        super().__init__(stop.reason)
        self.stop, self.point = stop, point


SAME_REPORT = 0.1  # reports are due at 25%, 50%, 75%: whole optimizer steps put them a little after (1 epoch of 38
# steps reports at 26.3%, 52.6%, 78.9%), never near the next one, so "the same report" is the nearest within 0.1


def _index(point: Point, curve: Sequence[Point]) -> int | None:
    """The report of `curve` due at the same share of training as `point` (None: that curve has no such report)."""
    near = [(abs(p.at - point.at), i) for i, p in enumerate(curve) if abs(p.at - point.at) < SAME_REPORT]
    return min(near)[1] if near else None


def rises(point: Point, history: Iterable[Completed], earlier: int = 0) -> list[float]:
    """How much each completed run's F1 rose to its end from the report at this share of training (`earlier` = 1:
    from the report before it; a run with no report that early gives no evidence)."""
    return [rise for rise, _ in _rises_from(point, history, earlier)]


def _rises_from(point: Point, history: Iterable[Completed], earlier: int) -> list[tuple[float, float]]:
    """`rises`, each with the share of training it was measured from (named in a stop's reason)."""
    out = []
    for h in history:
        i = _index(point, h.curve)
        if i is not None and i - earlier >= 0:
            out.append((h.final_f1 - h.curve[i - earlier].f1, h.curve[i - earlier].at))
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def decide(point: Point, first: bool, history: Sequence[Completed], floor: NoiseFloor, feasible: Sequence[Feasible],
           mode: str) -> Stop | None:
    """Whether a run that just reported `point` should stop now (None: go on). `first`: its first report."""
    if mode not in ("safe", "aggressive"):
        return None
    safe = mode == "safe"
    seen = _rises_from(point, history, earlier=1 if safe else 0)
    if safe and len(seen) < 3:
        seen = []  # too little evidence of how far runs recover from here (and never at the first report)
    if seen:
        rise, since = max(seen) if safe else (_quantile([r for r, _ in seen], AGGRESSIVE_QUANTILE), point.at)
        best = min(1.0, point.f1 + max(rise, 0.0))
        margin = floor.f1_margin(1)
        if best < floor.f1_floor - margin:
            source = (f"the largest rise a completed run showed from {100 * since:.0f}% "
                      f"of its training, a report earlier (+{rise:.4f}),"
                      if safe else f"the 90th-percentile rise completed runs showed from there (+{rise:.4f})")
            return Stop("hopeless-f1", f"F1 {point.f1:.4f} on the slice at {100 * point.at:.0f}% of training; even "
                                       f"{source} leaves it below the floor {floor.f1_floor:.4f} by more than the "
                                       f"noise ({margin:.4f})")
        margin_j = floor.saving_margin_j(1)
        cheaper = [f for f in feasible if f.f1 >= best and point.energy_j > f.energy_j + margin_j]
        if cheaper:
            c = min(cheaper, key=lambda f: f.energy_j)
            return Stop("dominated", f"{point.energy_j:,.1f} J spent at {100 * point.at:.0f}% of training, more than a "
                                     f"feasible trial's {c.energy_j:,.1f} J (+{margin_j:,.1f} J noise) whose F1 {c.f1:.4f} "
                                     f"it cannot beat (at best {best:.4f})")
    if first and point.one_class:
        same = [h for h in history if h.curve and h.curve[0].one_class]
        recovered = [h for h in same if not h.degenerate]
        if not recovered and (same or mode == "aggressive"):
            return Stop("degenerate-early", f"one class on the slice at {100 * point.at:.0f}% of training; "
                                            f"{len(same)} completed run(s) did the same and none recovered")
    return None


# -- reading a study ---------------------------------------------------------------------------------------------
def curve_of(trial: FrozenTrial) -> tuple[Point, ...]:
    """The first run's reports (a stopped trial's, or a completed trial's first run's)."""
    if trial.user_attrs.get(CURVE):
        return tuple(Point.from_dict(d) for d in trial.user_attrs[CURVE])
    runs = trial.user_attrs.get(rec.RUNS) or [{}]
    return tuple(Point.from_dict(d) for d in runs[0].get("curve", []))


def history_of(trials: Iterable[FrozenTrial], before: int | None = None) -> list[Completed]:
    """Every monitored run of the complete trials (finished before trial number `before`, if given): the
    baseline's k seeds are evidence from the start."""
    out = []
    for t in trials:
        if t.state != TrialState.COMPLETE or (before is not None and t.number >= before):
            continue
        for run in t.user_attrs.get(rec.RUNS, []):
            if run.get("curve"):
                out.append(Completed(tuple(Point.from_dict(d) for d in run["curve"]), float(run["f1"]),
                                     bool(run.get("degenerate", False))))
    return out


def feasible_of(trials: Iterable[FrozenTrial], before: int | None = None) -> list[Feasible]:
    return [Feasible(float(t.values[0]), float(t.values[1])) for t in trials
            if rec.is_feasible(t) and t.values is not None and (before is None or t.number < before)
            and rec.role_of(t) in ("baseline", "search")]


# -- checked against doing nothing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Replayed:
    trial: int
    stop: Stop | None
    at: float | None  # share of training at the stop
    spent_j: float | None  # joules the run had spent when it would have stopped (its slice scoring left out)
    energy_j: float  # what the run cost in full (first run)
    ended_feasible: bool
    monitor_spent_j: float | None = None  # what scoring its slices had cost by then

    @property
    def false_stop(self) -> bool:
        return self.stop is not None and self.ended_feasible


def replay(trials: Sequence[FrozenTrial], floor: NoiseFloor, mode: str) -> list[Replayed]:
    """Apply the rules to every completed, monitored search trial as if it were running, with only what had
    completed before it: which would have stopped, where, and whether it ended feasible (a false stop). As in a live
    study, a run the replay stops ends there: it is no evidence (curve, final F1, feasible point) for later runs."""
    out = []
    ended: set[int] = set()  # trials the replay stopped
    for t in sorted(trials, key=lambda t: t.number):
        if t.state != TrialState.COMPLETE or rec.role_of(t) != "search" or not curve_of(t):
            continue
        kept = [u for u in trials if u.number not in ended]
        history = history_of(kept, before=t.number)
        feasible = feasible_of(kept, before=t.number)
        curve = curve_of(t)
        stop = None
        for i, point in enumerate(curve):
            stop = decide(point, i == 0, history, floor, feasible, mode)
            if stop is not None:
                ended.add(t.number)
                break
        first = rec.runs_of(t)[0]
        out.append(Replayed(t.number, stop, point.at if stop else None, point.energy_j if stop else None,
                            first.energy_j, rec.is_feasible(t), point.monitor_j if stop else None))
    return out


def scoring_j(trial: FrozenTrial) -> float:
    """What scoring a trial's slices cost: a completed trial keeps it apart (`monitor_energy_j`, over its runs); a
    stopped one has it in its joules burned, and its curve's last report says how much."""
    if trial.user_attrs.get(STOPPED):
        curve = curve_of(trial)
        return curve[-1].monitor_j if curve else 0.0
    return float(trial.user_attrs.get("monitor_energy_j", 0.0))


def projected_j(trial: FrozenTrial) -> float | None:
    """What a stopped run would have cost in full: its joules so far scaled to 100% of its training steps (a linear
    projection, inference left out: an estimate, said so wherever shown)."""
    stopped = trial.user_attrs.get(STOPPED)
    curve = curve_of(trial)
    if not stopped or not curve:
        return None
    last = curve[-1]
    return last.energy_j / last.at if last.at > 0 else None
