"""The noise floor and paired comparisons: how large a difference must be before greenknobs calls it real.

Two stages, two kinds of evidence (see ../shared/DESIGN.md, "How a verdict is reached"):

- **Search (validation split), screening.** The baseline runs at k training seeds at the start of every study; the
  spread of its joules and F1 is the noise floor. A trial's saving must exceed the 95% Student-t bound of the
  difference between its mean and the baseline's mean (k − 1 degrees of freedom: with k = 3 the standard deviation
  itself is uncertain, and a plain 2σ would call one no-change trial in eleven a saving), or it is "no measurable
  saving" and never a candidate. Its F1 must clear the floor by `Z` = 2 standard errors, or it is re-measured at the
  baseline's other seeds (paired with them) before it may enter the Pareto set: a screen, since every candidate's
  F1 is judged again on held-out data below.
- **Confirmation (test split), the verdict.** Every Pareto candidate and the baseline run again at the same K fresh
  seeds. Per seed, saving = 1 − J_candidate / J_baseline and retention = F1_candidate / F1_baseline; their means
  carry Student-t 95% intervals over the K pairs. "Recommended" means the retention interval lies above the floor
  and the saving interval above 0. Ratios are taken per seed against a baseline F1 of a non-degenerate model, never
  against a near-zero denominator.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Z = 2.0  # standard errors an F1 must clear the floor by at search time (a screen; confirmation uses t intervals)
CONFIDENCE = 0.95  # of the confirmation intervals


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


@dataclass(frozen=True)
class RunMeasure:
    """One run of a configuration at one training seed: what a verdict needs of it."""

    seed: int
    energy_j: float
    f1: float
    degenerate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "energy_j": self.energy_j, "f1": self.f1, "degenerate": self.degenerate}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunMeasure:
        return cls(int(d["seed"]), float(d["energy_j"]), float(d["f1"]), bool(d.get("degenerate", False)))


@dataclass(frozen=True)
class Verdict:
    """A search trial judged against the noise floor (validation split)."""

    saving_j: float  # baseline mean − this configuration's mean joules
    saving_margin_j: float  # what a real saving must exceed
    f1_over_floor: float  # this configuration's mean F1 − the F1 floor
    f1_margin: float  # how far from the floor its F1 must be to be judged on this many runs
    runs: int
    degenerate: bool
    needs_more_seeds: bool  # within noise of the floor and more paired seeds are available
    undecided: bool  # within noise of the floor and not (yet) re-measured: never feasible
    feasible: bool
    reason: str  # one line: why feasible or not

    @property
    def measurable_saving(self) -> bool:
        return self.saving_j > self.saving_margin_j

    def constraints(self) -> dict[str, float]:
        """Optuna constraints (feasible when every value is <= 0), in units a reader can check: joules, F1."""
        return {
            "f1_floor": -self.f1_over_floor,
            "saving_j": self.saving_margin_j - self.saving_j,
            "degenerate": 1.0 if self.degenerate else 0.0,
            "undecided": 1.0 if self.undecided else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class NoiseFloor:
    """The baseline configuration measured at k training seeds on the split the search scores."""

    runs: tuple[RunMeasure, ...]
    min_retention: float

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r.seed for r in self.runs)

    @property
    def energy_j(self) -> tuple[float, float | None]:
        return _mean_std([r.energy_j for r in self.runs])

    @property
    def f1(self) -> tuple[float, float | None]:
        return _mean_std([r.f1 for r in self.runs])

    @property
    def f1_floor(self) -> float:
        return self.min_retention * self.f1[0]

    def saving_margin_j(self, runs: int = 1) -> float:
        """The 95% Student-t bound of (a mean over `runs` runs − the baseline's mean over n), both with the baseline's
        spread and its n − 1 degrees of freedom; infinite while the baseline has a single run (no spread known)."""
        sd = self.energy_j[1]
        return t_quantile(self.n - 1) * sd * math.sqrt(1 / runs + 1 / self.n) if sd is not None else math.inf

    def f1_margin(self, runs: int = 1) -> float:
        """Z standard errors of (a mean F1 over `runs` runs − the floor), the floor being min_retention × a mean
        over n runs."""
        sd = self.f1[1]
        if sd is None:
            return math.inf
        return Z * sd * math.sqrt(1 / runs + self.min_retention**2 / self.n)

    def judge(self, runs: Sequence[RunMeasure], max_runs: int | None = None) -> Verdict:
        """The search-time verdict on a configuration's runs (validation split). `max_runs`: how many seeds it may
        be measured at in all (the baseline's n by default: re-measurement is paired with the baseline's seeds)."""
        max_runs = self.n if max_runs is None else max_runs
        k = len(runs)
        energy = statistics.fmean(r.energy_j for r in runs)
        f1 = statistics.fmean(r.f1 for r in runs)
        saving_j = self.energy_j[0] - energy
        margin_j = self.saving_margin_j(k)
        over = f1 - self.f1_floor
        margin_f1 = self.f1_margin(k)
        degenerate = any(r.degenerate for r in runs)
        measurable = saving_j > margin_j
        within = abs(over) <= margin_f1
        more = within and measurable and not degenerate and k < max_runs
        undecided = within and measurable and not degenerate and (more or k == 1)
        if degenerate:
            feasible, reason = False, "degenerate: it does not beat a label-blind predictor"
        elif saving_j <= 0:
            feasible, reason = False, (f"no saving: it costs {_pct(saving_j, self.energy_j[0])}"
                                       + (", beyond the noise" if saving_j < -margin_j else ""))
        elif not measurable:
            feasible, reason = False, (f"no measurable saving: {_pct(saving_j, self.energy_j[0])} is within the "
                                       f"baseline's energy noise (a saving must exceed {margin_j:,.1f} J)")
        elif over < -margin_f1:
            feasible, reason = False, f"F1 below the floor by more than the noise ({over:+.4f}, noise {margin_f1:.4f})"
        elif not within:
            feasible, reason = True, f"F1 above the floor by more than the noise ({over:+.4f}, noise {margin_f1:.4f})"
        elif more:
            feasible, reason = False, f"F1 within noise of the floor ({over:+.4f}, noise {margin_f1:.4f}): re-measured"
        elif k > 1 and over >= 0:
            feasible, reason = True, (f"F1 within noise of the floor; its mean over {k} seeds is above it "
                                      f"({over:+.4f}): confirmation on the test split decides")
        elif k > 1:
            feasible, reason = False, f"F1 within noise of the floor; its mean over {k} seeds is below it ({over:+.4f})"
        else:
            feasible, reason = False, (f"F1 within noise of the floor ({over:+.4f}, noise {margin_f1:.4f}) and not "
                                       "re-measured (no budget left): undecided")
        return Verdict(saving_j, margin_j, over, margin_f1, k, degenerate, more, undecided, feasible, reason)

    def summary(self) -> dict[str, Any]:
        e, e_sd = self.energy_j
        f, f_sd = self.f1
        return {"runs": self.n, "seeds": list(self.seeds), "energy_j_mean": e, "energy_j_std": e_sd, "f1_mean": f,
                "f1_std": f_sd, "f1_floor": self.f1_floor, "min_f1_retention": self.min_retention,
                "saving_margin_j": self.saving_margin_j(1), "f1_margin": self.f1_margin(1)}

    def text(self, word: str = "", split: str = "validation") -> str:
        """One line people read: the floor, its runs and seeds, and what a difference must exceed. `word` says how
        the joules were had when not measured ("estimated", "simulated"; records.energy_word)."""
        e, e_sd = self.energy_j
        f, f_sd = self.f1
        label = f", {word}" if word else ""
        if self.n < 2:
            return (f"noise floor: the baseline was measured once (seed {self.seeds[0]}): {e:,.1f} J{label}, "
                    f"F1 {f:.4f}; no spread known, so no saving can be called measurable")
        return (f"noise floor ({split}, baseline at {self.n} seeds {', '.join(map(str, self.seeds))}): "
                f"{e:,.1f} ± {e_sd:,.1f} J{label}, F1 {f:.4f} ± {f_sd:.4f} (mean ± std); a single run must save "
                f"more than {self.saving_margin_j(1):,.1f} J ({100 * self.saving_margin_j(1) / e:.1f}%) to count, "
                f"and an F1 within {self.f1_margin(1):.4f} of the floor {self.f1_floor:.4f} is re-measured")


def t_quantile(dof: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student-t quantile (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, dof))


def floor_of(runs: Iterable[RunMeasure], min_retention: float) -> NoiseFloor:
    by_seed: dict[int, RunMeasure] = {}
    for r in runs:
        by_seed.setdefault(r.seed, r)  # a same-seed repeat measures the meter only: the first run of a seed counts
    return NoiseFloor(tuple(by_seed[s] for s in sorted(by_seed)), min_retention)


# -- confirmation: paired, on held-out data -----------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None  # None with fewer than two pairs: no interval
    high: float | None
    std: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "std": self.std}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        return cls(d["mean"], d.get("low"), d.get("high"), d.get("std"))


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean with its Student-t interval (scipy), or no interval from a single value."""
    mean, sd = _mean_std(values)
    if sd is None:
        return Interval(mean, None, None, None)
    half = t_quantile(len(values) - 1, confidence) * sd / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, sd)


@dataclass(frozen=True)
class Paired:
    """A candidate against the baseline at the same seeds on the test split."""

    seeds: tuple[int, ...]
    saving: Interval  # fraction of the baseline's joules saved, per seed then averaged
    retention: Interval  # candidate F1 / baseline F1, per seed then averaged
    energy_j: Interval  # the candidate's joules (mean over its runs)
    f1: Interval  # the candidate's test F1
    baseline_energy_j: Interval
    baseline_f1: Interval
    degenerate_runs: int
    min_retention: float
    recommended: bool
    reason: str
    missing_seeds: tuple[int, ...] = field(default=())

    @property
    def n(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            out[k] = v.to_dict() if isinstance(v, Interval) else list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Paired:
        kw = dict(d)
        for k in ("saving", "retention", "energy_j", "f1", "baseline_energy_j", "baseline_f1"):
            kw[k] = Interval.from_dict(kw[k])
        kw["seeds"] = tuple(kw["seeds"])
        kw["missing_seeds"] = tuple(kw.get("missing_seeds", ()))
        return cls(**{k: v for k, v in kw.items() if k in cls.__dataclass_fields__})


def paired(candidate: Mapping[int, RunMeasure], baseline: Mapping[int, RunMeasure], min_retention: float,
           seeds: Sequence[int] | None = None) -> Paired:
    """Pair a candidate's test runs with the baseline's by seed and decide whether it is recommended."""
    wanted = tuple(seeds) if seeds is not None else tuple(sorted(set(candidate) | set(baseline)))
    both = tuple(s for s in wanted if s in candidate and s in baseline)
    missing = tuple(s for s in wanted if s not in both)
    if not both:
        nothing = Interval(math.nan, None, None, None)
        return Paired((), nothing, nothing, nothing, nothing, nothing, nothing, 0, min_retention, False,
                      "not confirmed: no seed measured for both it and the baseline on the test split", missing)
    c = [candidate[s] for s in both]
    b = [baseline[s] for s in both]
    saving = t_interval([1.0 - x.energy_j / y.energy_j for x, y in zip(c, b)])
    retention = t_interval([x.f1 / y.f1 if y.f1 > 0 else 0.0 for x, y in zip(c, b)])
    degenerate = sum(1 for x in c if x.degenerate)
    base_degenerate = any(y.degenerate or y.f1 <= 0 for y in b)
    if base_degenerate:
        ok, why = False, "the baseline is degenerate on the test split: no share of its F1 means anything"
    elif degenerate:
        ok, why = False, f"degenerate in {degenerate} of {len(c)} test runs"
    elif len(both) < 2:
        ok, why = False, "measured at one seed only: no interval, so no recommendation"
    elif retention.low < min_retention:
        ok, why = False, (f"its retention interval [{100 * retention.low:.1f}%, {100 * retention.high:.1f}%] reaches "
                          f"below the floor of {100 * min_retention:.0f}%")
    elif saving.low <= 0:
        ok, why = False, (f"its saving interval [{_signed_pct(saving.low)}, {_signed_pct(saving.high)}] does not "
                          "exclude no saving")
    else:
        ok, why = True, (f"retention interval above {100 * min_retention:.0f}% and saving interval above 0 over "
                         f"{len(both)} paired seeds")
    if missing and ok:
        ok, why = False, f"seeds {', '.join(map(str, missing))} not yet measured for both: run `greenknobs confirm`"
    return Paired(both, saving, retention, t_interval([x.energy_j for x in c]), t_interval([x.f1 for x in c]),
                  t_interval([y.energy_j for y in b]), t_interval([y.f1 for y in b]), degenerate, min_retention, ok,
                  why, missing)


# -- one wording of a saving everywhere ---------------------------------------------------------------------------
def saving_text(fraction: float, digits: int = 1) -> str:
    """A saving as people read it: "52.6% less energy" / "8.3% more energy", never a bare sign."""
    pct = 100.0 * fraction
    if round(pct, digits) == 0:
        return "no change in energy"
    return f"{abs(pct):.{digits}f}% {'less' if pct > 0 else 'more'} energy"


def _signed_pct(fraction: float) -> str:
    return saving_text(fraction).replace(" energy", "")


def _pct(saving_j: float, reference_j: float) -> str:
    return saving_text(saving_j / reference_j) if reference_j > 0 else f"{saving_j:,.1f} J"


def interval_text(iv: Interval, kind: str) -> str:
    """'47.7% less energy [46.1%, 49.3%]' or 'kept 99.1% of the F1 [96.0%, 102.2%]' (95% interval over pairs)."""
    if kind == "saving":
        head = saving_text(iv.mean)
        if iv.low is None:
            return head + " (one pair: no interval)"
        return f"{head} [95% CI {_signed_pct(iv.low)} to {_signed_pct(iv.high)}]"
    head = f"{100 * iv.mean:.1f}% of the F1"
    if iv.low is None:
        return head + " (one pair: no interval)"
    return f"{head} [95% CI {100 * iv.low:.1f}% to {100 * iv.high:.1f}%]"
