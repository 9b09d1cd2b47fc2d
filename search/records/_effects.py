"""Cascading, measured: what each knob saves alone, and whether savings multiply when knobs are combined.

The orthogonality model of "Tu(r)ning AI Green" (Rajput, Saad, Sharma, 2025): knobs that act on different parts of
the work compound, so a combination saves 1 − Π(1 − sᵢ) of its knobs' single savings sᵢ. Here every sᵢ is measured
(a trial that differs from the baseline in exactly that knob, at exactly that value) and every prediction is set
beside the combination's own measurement. Nothing is interpolated: a value never measured alone has no sᵢ.

Savings are relative to the mean of every run of the baseline configuration (the baseline trial's runs at the
study's k seeds, and any repeat of it); the spread of those runs is the noise floor every verdict is judged against.
A trial measured at several seeds contributes each run (its trial number once per run).
The cascade sampler plans from the same numbers, so the plan and the report agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from greenknobs.search.records import _records as rec

Level = tuple[str, Any]  # (knob, value)
DEFAULT_NOISE = 0.05  # relative energy noise assumed while the baseline has run only once (said so in the report)


def level_key(changes: dict[str, Any]) -> frozenset[Level]:
    return frozenset((k, _hashable(v)) for k, v in changes.items())


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def phase_of(knob: str) -> str:
    from greenknobs.spaces import KNOBS_BY_NAME

    return KNOBS_BY_NAME[knob].phase if knob in KNOBS_BY_NAME else "?"


@dataclass(frozen=True)
class Run:
    """One complete trial, reduced to what the analysis needs."""

    number: int
    role: str
    changes: dict[str, Any]
    energy_j: float
    f1: float
    feasible: bool
    estimated: bool

    @property
    def key(self) -> frozenset[Level]:
        return level_key(self.changes)


def runs_of(trials: Iterable[FrozenTrial], baseline: dict[str, Any]) -> list[Run]:
    """Every run of the complete trials that stored their full configuration, every role (a repeat is a run like any
    other; a trial measured at k seeds gives k runs, each with the trial's feasibility)."""
    out = []
    for t in trials:
        if t.state != TrialState.COMPLETE or t.values is None or rec.CONFIG not in t.user_attrs:
            continue
        ua = t.user_attrs
        changes = rec.knob_differences(ua[rec.CONFIG], baseline)
        for m in rec.runs_of(t):
            out.append(Run(t.number, rec.role_of(t), changes, m.energy_j, m.f1, rec.is_feasible(t),
                           ua.get("energy_source") == "estimated"))
    return sorted(out, key=lambda r: r.number)


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


@dataclass(frozen=True)
class Reference:
    """The baseline configuration's runs: the denominator of every saving, and the noise floor."""

    runs: tuple[int, ...]
    energy_j: float
    energy_std: float | None
    f1: float
    f1_std: float | None

    @property
    def noise(self) -> float | None:
        """Relative spread of the baseline's joules (sample std / mean); None with a single run."""
        return self.energy_std / self.energy_j if self.energy_std is not None and self.energy_j > 0 else None

    @property
    def tolerance_unit(self) -> float:
        return self.noise if self.noise is not None else DEFAULT_NOISE

    def saving(self, energy_j: float) -> float:
        return 1.0 - energy_j / self.energy_j if self.energy_j > 0 else 0.0


def reference_of(runs: list[Run]) -> Reference | None:
    base = [r for r in runs if not r.changes]
    if not base:
        return None
    e, e_sd = _mean_std([r.energy_j for r in base])
    f, f_sd = _mean_std([r.f1 for r in base])
    return Reference(tuple(r.number for r in base), e, e_sd, f, f_sd)


@dataclass(frozen=True)
class Group:
    """Every run of one configuration (one set of changed knobs)."""

    changes: dict[str, Any]
    runs: tuple[int, ...]
    saving: float  # mean over runs, as a fraction
    saving_std: float | None
    f1: float
    f1_std: float | None
    feasible: bool  # every run feasible

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def key(self) -> frozenset[Level]:
        return level_key(self.changes)


def groups_of(runs: list[Run], ref: Reference) -> dict[frozenset[Level], Group]:
    by_key: dict[frozenset[Level], list[Run]] = {}
    for r in runs:
        if r.changes:
            by_key.setdefault(r.key, []).append(r)
    out = {}
    for key, rs in by_key.items():
        s, s_sd = _mean_std([ref.saving(r.energy_j) for r in rs])
        f, f_sd = _mean_std([r.f1 for r in rs])
        out[key] = Group(dict(rs[0].changes), tuple(r.number for r in rs), s, s_sd, f, f_sd, all(r.feasible for r in rs))
    return out


def singles_of(groups: dict[frozenset[Level], Group]) -> dict[Level, Group]:
    return {next(iter(k)): g for k, g in groups.items() if len(k) == 1}


def predicted_saving(savings: Iterable[float]) -> float:
    """The orthogonality model: each knob removes its share of what the others left."""
    return 1.0 - math.prod(1.0 - s for s in savings)


@dataclass(frozen=True)
class Cascade:
    """A multi-knob configuration: its measured saving beside the one its single-knob savings predict."""

    group: Group
    singles: dict[Level, float]  # the measured single saving of each of its levels that has one
    missing: tuple[Level, ...]  # its levels never measured alone
    predicted: float | None
    verdict: str  # compounds | synergy | overlap | conflict | unknown
    tolerance: float

    @property
    def observed(self) -> float:
        return self.group.saving

    @property
    def score(self) -> float | None:
        """observed / predicted: 1 is perfectly orthogonal, below 1 the knobs overlap, above they reinforce."""
        if self.predicted is None or abs(self.predicted) < 1e-9:
            return None
        return self.observed / self.predicted

    @property
    def phases(self) -> list[str]:
        return sorted({phase_of(k) for k in self.group.changes})


def tolerance(ref: Reference, n_knobs: int) -> float:
    """Two noise floors, widened for the k single measurements the prediction is built from (in quadrature)."""
    return 2.0 * ref.tolerance_unit * math.sqrt(n_knobs + 1)


def classify(observed: float, predicted: float, best_single: float, tol: float) -> str:
    """compounds: within noise of the product; synergy: above it; overlap: below it but not below the best knob
    alone; conflict: below the best knob alone (adding knobs undid savings)."""
    if observed > predicted + tol:
        return "synergy"
    if observed >= predicted - tol:
        return "compounds"
    if observed >= best_single - tol:
        return "overlap"
    return "conflict"


def cascades_of(groups: dict[frozenset[Level], Group], ref: Reference) -> list[Cascade]:
    singles = singles_of(groups)
    out = []
    for key, g in groups.items():
        if len(key) < 2:
            continue
        measured = {lv: singles[lv].saving for lv in sorted(key, key=str) if lv in singles}
        missing = tuple(lv for lv in sorted(key, key=str) if lv not in singles)
        tol = tolerance(ref, len(key))
        if missing:
            predicted, verdict = None, "unknown"
        else:
            predicted = predicted_saving(measured.values())
            verdict = classify(g.saving, predicted, max(measured.values()), tol)
        out.append(Cascade(g, measured, missing, predicted, verdict, tol))
    return sorted(out, key=lambda c: min(c.group.runs))


@dataclass
class Effects:
    """Everything the report says about single knobs and their combinations, from one study's trials."""

    reference: Reference | None
    runs: list[Run]
    singles: dict[Level, Group] = field(default_factory=dict)
    cascades: list[Cascade] = field(default_factory=list)

    @property
    def pairs(self) -> list[Cascade]:
        return [c for c in self.cascades if len(c.group.changes) == 2]


def effects_of(trials: Iterable[FrozenTrial], baseline: dict[str, Any]) -> Effects:
    runs = runs_of(trials, baseline)
    ref = reference_of(runs)
    if ref is None:
        return Effects(None, runs)
    groups = groups_of(runs, ref)
    return Effects(ref, runs, singles_of(groups), cascades_of(groups, ref))
