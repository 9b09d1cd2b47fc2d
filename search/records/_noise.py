"""The noise floor, paired verdicts and the confirmation's tests: how large a difference must be before greenknobs
calls it real, and at what error rate.

The model of a run (every split): configuration c at training seed s gives
    F1(c, s) = μ_c + a_s + ε_cs          log J(c, s) = m_c + b_s + η_cs
where a_s and b_s are shared by every configuration at seed s (data order, the head's initialisation; the machine's
state) and ε, η are the run's own noise. Pairing at the seed cancels the shared part; the own parts' variance is
estimated from the residuals of that additive two-way model (configuration × seed, ordinary least squares) over every
run that shares a seed with another configuration, so every re-measured configuration, repeat and confirmation run
adds degrees of freedom (`Spread`, `two_way`).

- **Search (validation split), a screen.** The baseline runs at k seeds (the noise floor). A search run at seed s is
  judged against the baseline's run at seed s: F1 on F1_c(s) − r·F1_b(s), r the floor (μ_c ≥ r·μ_b is a linear
  hypothesis, tested exactly), energy on log(J_c(s)/J_b(s)). Until the study holds MIN_POOLED_DOF degrees of freedom
  of paired residuals, the conservative prior stands in: the comparison with the floor's *mean*, with the floor's
  own spread and its k − 1 degrees of freedom (pairing only removes noise, so the prior overstates it). A verdict
  within the noise is re-measured at more of the floor's seeds, at most RE_MEASURE_RUNS runs, each look at
  SCREEN_ALPHA / RE_MEASURE_RUNS per side (Bonferroni over the looks), so the screen's error on either side stays at
  or below SCREEN_ALPHA however many looks it takes.
- **Confirmation (test split), the verdict.** The candidates and the baseline run at fresh seeds, seed-major. For each
  candidate two one-sided Student-t tests on the paired differences, with the variance pooled over every candidate
  and seed of the confirmation (two-way residuals) and over the search's trained models of the baseline and the
  candidates, served again on the test split at their own seeds (a block of its own, for the spread alone:
  `pooled_spreads`): retention above the floor (H0: μ_c ≤ r·μ_b) and a saving above
  0 (H0: m_c ≥ m_b). Its p-value is the larger of the two (an intersection-union test: recommending needs both).
  The looks spend α by a Kim–DeMets power function (`alpha_spent`), and one graphical procedure (`graph_test`)
  runs over the candidates with each one's p-values across the looks combined by Bonferroni: Holm's across training
  families, a fixed sequence within one (`family_graph`: serving siblings of one trained model share one share of
  α). So the chance that any candidate whose true retention is below the floor, or whose true saving is none, is
  recommended stays at or below ALPHA per study, however many looks and seeds (`confirm --repeats` included) it
  takes. Seeds are added until every candidate is
  decided or K_max is reached; a candidate whose mean retention is below the floor or whose mean saving is none stops
  early (futility), and so does one that a recommended candidate beats on both means (`dominated_by`): both stops
  are non-binding, so they cost no error.

References: Student-t tests and Holm (1979) as in scipy.stats / statsmodels; the graphical procedure, Bretz,
Maurer, Brannath & Posch (2009); intersection-union tests, Berger (1982);
alpha spending, Lan & DeMets (1983), Kim & DeMets (1987), here with a Bonferroni bound over the looks (conservative:
it ignores the looks' correlation).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

ALPHA = 0.05  # one-sided, per study: the false-recommendation rate the confirmation controls
SCREEN_ALPHA = 0.10  # per side, over a search trial's looks: the screen's error rate (confirmation decides)
RE_MEASURE_RUNS = 3  # a search trial is measured at most at this many of the floor's seeds
MIN_POOLED_DOF = 2  # paired residual degrees of freedom the study needs before they replace the floor's prior
# Kim–DeMets power family: α(t) = α·t^ρ (1 ≈ Pocock, 3 ≈ O'Brien–Fleming; ρ < 1 spends more of α early). ρ = 1
# spends half of α's main part at the first of two looks (0.0225 of 0.045 at 3 of 6 seeds), so a clear candidate
# stops at 3 paired seeds. benchmarks/README.md ("Verdict power") compares ρ = 0.25, 0.5, 1, 2, 3: at K = 6 and the
# noisiest measured spread ρ = 1 keeps the power at 0.886 with the search's models served for the spread and 0.861
# without; ρ = 0.5 saves 0.4-0.6 paired seeds per good candidate but falls to 0.837 and 0.771 (below 0.8 where the
# search's models are not kept), ρ = 0.25 lower still; ρ = 2 and 3 buy 0.05 of power for 0.5-1.1 more seeds. The
# bound on false recommendations holds at any ρ (Bonferroni over the looks).
SPENDING_RHO = 1.0
RESERVE = 0.1  # share of α kept for seeds added beyond K_max (`confirm --repeats`)
CONFIDENCE = 0.95  # of the intervals people read (two-sided)
Z = 2.0  # early stopping's screen (records/_early_stop.py): standard errors from the floor


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def t_quantile(dof: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student-t quantile (scipy.stats.t)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, dof))


def t_upper(dof: float, alpha: float) -> float:
    """One-sided Student-t critical value: P(T > c) = alpha (scipy.stats.t)."""
    from scipy import stats

    return float(stats.t.isf(alpha, dof))


@dataclass(frozen=True)
class RunMeasure:
    """One run of a configuration at one training seed: what a verdict needs of it."""

    seed: int
    energy_j: float
    f1: float
    degenerate: bool = False
    foreign_load: float | None = None  # other processes' share of the CPUs during the run (None: not recorded)
    # The trained model's identity (objectives/_trained.py; "" when not recorded) and whether the run served a model
    # an earlier run trained: two runs with one training differ by their inference alone (`pooled_spreads`).
    training: str = ""
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {"seed": self.seed, "energy_j": self.energy_j, "f1": self.f1, "degenerate": self.degenerate}
        if self.foreign_load is not None:
            out["foreign_load"] = self.foreign_load
        if self.training:
            out["training"] = self.training
        if self.reused:
            out["reused"] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunMeasure:
        load = d.get("foreign_load")
        return cls(int(d["seed"]), float(d["energy_j"]), float(d["f1"]), bool(d.get("degenerate", False)),
                   None if load is None else float(load), str(d.get("training", "")), bool(d.get("reused", False)))


# -- the spread a verdict divides by ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """Per-run noise: of one run's own F1 and log-joules (the two-way residuals), and of the seed effect."""

    f1_sd: float
    log_energy_sd: float
    seed_sd: float
    dof: int
    configurations: int  # how many configurations shared seeds to give it
    pooled: bool = True  # False: the floor's prior (unpaired spread)
    energy_dof: int | None = None  # of log_energy_sd, where it comes from fewer runs than the F1's (None: dof)

    @property
    def e_dof(self) -> int:
        return self.dof if self.energy_dof is None else self.energy_dof

    def f1_diff_sd(self, min_retention: float) -> float:
        """sd of one paired F1_c(s) − r·F1_b(s): both runs' own noise and the (1 − r) share of the seed's."""
        r = min_retention
        return math.sqrt((1 + r * r) * self.f1_sd**2 + (1 - r) ** 2 * self.seed_sd**2)

    def log_ratio_sd(self) -> float:
        """sd of one paired log(J_c(s) / J_b(s)): the seed's share cancels."""
        return math.sqrt(2) * self.log_energy_sd

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def text(self) -> str:
        if not self.pooled:
            return f"the floor's own spread as a prior ({self.dof} degrees of freedom; no paired runs pooled yet)"
        return (f"paired noise pooled over {self.configurations} configurations ({self.dof} degrees of freedom): "
                f"F1 sd {self.f1_sd:.4f} a run, energy sd {100 * self.log_energy_sd:.1f}% a run")


def two_way(cells: Iterable[tuple[Hashable, int, float, float]]) -> Spread | None:
    """The additive two-way model (configuration + seed) fitted by least squares to (configuration, seed, F1,
    log J) cells; the residual standard deviations and degrees of freedom. None when no run shares a seed with
    another configuration's run (nothing paired: zero degrees of freedom)."""
    import numpy as np

    rows = list(cells)
    configs = sorted({c for c, *_ in rows}, key=repr)
    seeds = sorted({s for _, s, *_ in rows})
    if len(configs) < 2 or not rows:
        return None
    ci = {c: i for i, c in enumerate(configs)}
    si = {s: i for i, s in enumerate(seeds)}
    x = np.zeros((len(rows), len(configs) + len(seeds)))
    for row, (c, s, *_rest) in enumerate(rows):
        x[row, ci[c]] = 1.0
        x[row, len(configs) + si[s]] = 1.0
    rank = int(np.linalg.matrix_rank(x))
    dof = len(rows) - rank
    if dof < 1:
        return None
    y = np.array([[f1, log_j] for _, _, f1, log_j in rows])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    var = (resid**2).sum(axis=0) / dof
    # The seed effect's variance, from the fitted seed effects (centred), less what their own estimation adds: a
    # plug-in, used only for the (1 − r)² share of a paired F1 difference.
    seed_fx = beta[len(configs):, 0]
    seed_var = float(np.var(seed_fx, ddof=1)) if len(seeds) > 1 else 0.0
    per_seed = max(1.0, len(rows) / len(seeds))
    seed_var = max(0.0, seed_var - var[0] / per_seed)
    paired_configs = sum(1 for c in configs if sum(1 for r in rows if r[0] == c) > 1)
    return Spread(float(math.sqrt(var[0])), float(math.sqrt(var[1])), math.sqrt(seed_var), dof, paired_configs)


def cells_of(runs_by_config: Mapping[Hashable, Iterable[RunMeasure]]) -> list[tuple[Hashable, int, float, float]]:
    return [(c, r.seed, r.f1, math.log(r.energy_j)) for c, runs in runs_by_config.items() for r in runs
            if r.energy_j > 0]


@dataclass(frozen=True)
class Pools:
    """The study's paired noise, in two pools that must not be mixed.

    `trained`: the two-way residuals over runs that trained their own model (a run that served a kept model is left
    out): the noise of a pair trained apart, training noise included. `shared`: the same model over the runs whose
    training another configuration's run shares, blocked by the training instead of the seed: the noise of a pair
    that differs in serving alone, far smaller. Pooling the two would lend the second's small spread to pairs
    trained apart (a liberal test); `between` gives each pair the pool of its kind."""

    trained: Spread | None
    shared: Spread | None

    def between(self, cand: Iterable[RunMeasure], base: Mapping[int, RunMeasure]) -> Spread | None:
        """The pool for `cand` against the baseline's runs by seed: `shared` when every paired seed shares one
        training with the baseline and that pool has degrees of freedom, else `trained` (for a shared pair the
        larger, conservative spread)."""
        pairs = [(x, base[x.seed]) for x in cand if x.seed in base]
        one_training = bool(pairs) and all(x.training and x.training == y.training for x, y in pairs)
        if one_training and self.shared is not None and self.shared.dof >= 1:
            return self.shared
        return self.trained


def training_families(runs_by_config: Mapping[Hashable, Iterable[RunMeasure]]) -> dict[Hashable, Hashable]:
    """{configuration: its training family}: configurations whose runs share a trained model at some seed differ in
    how they serve alone, and are one family (union-find over the recorded training identities; the first
    configuration met stands for its family). Without reuse every configuration is its own family."""
    parent: dict[Hashable, Hashable] = {c: c for c in runs_by_config}

    def root(c: Hashable) -> Hashable:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    owner: dict[str, Hashable] = {}
    for c, runs in runs_by_config.items():
        for r in runs:
            if not r.training:
                continue
            other = owner.setdefault(r.training, c)
            a, b = root(other), root(c)
            if a != b:
                parent[b] = a
    return {c: root(c) for c in runs_by_config}


def pooled_spreads(runs_by_config: Mapping[Hashable, Iterable[RunMeasure]],
                   spread: Mapping[Hashable, Iterable[RunMeasure]] | None = None) -> Pools:
    """`Pools` of these runs. Trained pool: training families (`training_families`) as rows and seeds as blocks,
    one trained run per family and seed, so that a family whose members took turns to train at its seeds still
    counts as one row measured at every seed (labelled by configuration, each turn would be a row of its own and
    give no degree of freedom). Shared pool: configurations as rows, trainings as blocks.

    `spread`: runs on the same split of models trained at *other* seeds (the search's, served again on the test
    split: `confirm_pareto`), for the trained pool's F1 spread alone. They enter as a block of their own, with their
    own configuration and seed effects, so that only their residuals count: the search chose the candidates on those
    models' validation scores, and where it chose on a mean (F1 near the floor is passed on its mean over the seeds)
    the residuals of the normal model are untouched, since a sample's residuals are independent of its mean. The
    energy spread keeps the runs' own pool (`Spread.energy_dof`): the screen passes a saving on its t statistic,
    which selects small energy residuals, and a served run's training joules are the search run's own reading.
    benchmarks/verdict_power.py (`--spread`) simulates the selection with a model's validation and test scores the
    same (benchmarks/README.md: with the energy pooled too, a candidate that saved nothing was recommended about
    7 times as often). A run at a seed the runs themselves have is left out."""
    runs = {c: list(rs) for c, rs in runs_by_config.items()}
    family = training_families(runs)
    trained_runs: dict[Hashable, list[RunMeasure]] = {}
    seen: set[tuple[Hashable, int]] = set()
    for c, rs in runs.items():
        for r in rs:
            if r.reused or (family[c], r.seed) in seen:
                continue  # a served run, or a second training of the family at a seed it has: not a new pair
            seen.add((family[c], r.seed))
            trained_runs.setdefault(family[c], []).append(r)
    cells = cells_of(trained_runs)
    own = two_way(cells)
    if spread and own is not None:
        own_seeds = {r.seed for rs in runs.values() for r in rs}
        extra = {c: [r for r in rs if r.seed not in own_seeds] for c, rs in spread.items()}
        kin = training_families(extra)
        rows: dict[Hashable, list[RunMeasure]] = {}
        placed: set[tuple[Hashable, int]] = set()
        for c, rs in extra.items():
            for r in rs:
                if (kin[c], r.seed) not in placed:  # one model per family and seed: served again, it pairs nothing new
                    placed.add((kin[c], r.seed))
                    rows.setdefault(("spread", kin[c]), []).append(r)
        both = two_way(cells + cells_of(rows))
        if both is not None and both.dof > own.dof:
            own = replace(both, log_energy_sd=own.log_energy_sd, energy_dof=own.dof)
    trained = own
    counts: dict[str, int] = {}
    for rs in runs.values():
        for r in rs:
            if r.training:
                counts[r.training] = counts.get(r.training, 0) + 1
    cells = [(c, r.training, r.f1, math.log(r.energy_j)) for c, rs in runs.items() for r in rs
             if r.energy_j > 0 and counts.get(r.training, 0) > 1]
    return Pools(trained, two_way(cells))


# -- the search's screen ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """A search trial judged against the noise floor (validation split)."""

    saving_j: float  # what the configuration saves against the baseline, in joules (paired, or against the mean)
    saving_margin_j: float  # what a real saving must exceed at this look
    f1_over_floor: float  # mean of F1_c − r·F1_b (paired), or of F1_c − the floor (prior)
    f1_margin: float  # how far from the floor its F1 must be to be judged on this many runs
    runs: int
    degenerate: bool
    needs_more_seeds: bool  # within noise and more paired seeds are available
    undecided: bool  # within noise of the floor and not (yet) re-measured: never feasible
    feasible: bool
    reason: str  # one line: why feasible or not
    paired: bool = False  # judged on paired differences (else against the floor's mean, with its prior)
    dof: int = 0  # degrees of freedom of the spread used

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

    def by_seed(self) -> dict[int, RunMeasure]:
        return {r.seed: r for r in self.runs}

    def prior(self) -> Spread | None:
        """The floor's own spread, as the prior a study uses before paired runs are pooled (None with one run)."""
        if self.n < 2:
            return None
        logs = [math.log(r.energy_j) for r in self.runs]
        return Spread(self.f1[1] or 0.0, statistics.stdev(logs), 0.0, self.n - 1, 1, pooled=False)

    def saving_margin_j(self, runs: int = 1) -> float:
        """Early stopping's screen: the 95% two-sided t bound of (a mean over `runs` runs − the baseline's mean over
        n), with the baseline's spread; infinite while the baseline has a single run."""
        sd = self.energy_j[1]
        return t_quantile(self.n - 1) * sd * math.sqrt(1 / runs + 1 / self.n) if sd is not None else math.inf

    def f1_margin(self, runs: int = 1) -> float:
        """Early stopping's screen: Z standard errors of (a mean F1 over `runs` runs − the floor)."""
        sd = self.f1[1]
        if sd is None:
            return math.inf
        return Z * sd * math.sqrt(1 / runs + self.min_retention**2 / self.n)

    def judge(self, runs: Sequence[RunMeasure], max_runs: int | None = None, spread: Spread | None = None) -> Verdict:
        """The search-time verdict on a configuration's runs (validation split).

        `spread`: the study's pooled paired spread (`two_way` over its runs); with fewer than MIN_POOLED_DOF degrees
        of freedom, or a run at a seed the floor lacks, the floor's prior is used against its mean. `max_runs`: how
        many of the floor's seeds it may be measured at in all (RE_MEASURE_RUNS by default, and the floor's n)."""
        cap = min(self.n, RE_MEASURE_RUNS)
        max_runs = cap if max_runs is None else min(max_runs, cap)
        k = len(runs)
        r = self.min_retention
        base = self.by_seed()
        base_e = self.energy_j[0]
        degenerate = any(x.degenerate for x in runs)
        looks = max(1, max_runs)
        paired = (spread is not None and spread.pooled and spread.dof >= MIN_POOLED_DOF
                  and all(x.seed in base for x in runs))
        prior = self.prior()
        if paired:
            assert spread is not None
            d_f = [x.f1 - r * base[x.seed].f1 for x in runs]
            d_e = [math.log(x.energy_j / base[x.seed].energy_j) for x in runs]
            se_f = spread.f1_diff_sd(r) / math.sqrt(k)
            se_e = spread.log_ratio_sd() / math.sqrt(k)
            dof = spread.dof
        elif prior is not None:
            d_f = [x.f1 - self.f1_floor for x in runs]
            log_mean = statistics.fmean(math.log(y.energy_j) for y in self.runs)
            d_e = [math.log(x.energy_j) - log_mean for x in runs]
            se_f = prior.f1_sd * math.sqrt(1 / k + r * r / self.n)
            se_e = prior.log_energy_sd * math.sqrt(1 / k + 1 / self.n)
            dof = prior.dof
        else:
            d_f, d_e, se_f, se_e, dof = [x.f1 - self.f1_floor for x in runs], [0.0], math.inf, math.inf, 0
        crit = t_upper(dof, SCREEN_ALPHA / looks) if dof > 0 else math.inf
        over, mean_e = statistics.fmean(d_f), statistics.fmean(d_e)
        margin_f, margin_e = crit * se_f, crit * se_e
        saving_j = base_e * (1 - math.exp(mean_e))
        margin_j = base_e * (1 - math.exp(-margin_e)) if math.isfinite(margin_e) else math.inf
        f1_above, f1_below = over > margin_f, over < -margin_f
        measurable = -mean_e > margin_e
        borderline = not measurable and -mean_e > 0 and -mean_e >= margin_e / 2
        room = k < max_runs
        how = "paired" if paired else "against the floor's mean"
        undecided = False  # within the noise with no run left to decide it (or more runs due): never feasible
        if degenerate:
            feasible, more, reason = False, False, "degenerate: it does not beat a label-blind predictor"
        elif mean_e >= 0:
            feasible, more, reason = False, False, (f"no saving: it costs {saving_text(-(math.exp(mean_e) - 1))}"
                                                    + (", beyond the noise" if mean_e > margin_e else ""))
        elif f1_below:
            feasible, more, reason = False, False, (f"F1 below the floor by more than the noise ({over:+.4f}, "
                                                    f"noise {margin_f:.4f}, {how})")
        elif measurable and f1_above:
            feasible, more, reason = True, False, (f"{saving_text(saving_j / base_e)} and F1 above the floor by more "
                                                   f"than the noise ({over:+.4f}, noise {margin_f:.4f}, {how}, "
                                                   f"{k} run{'s' if k > 1 else ''})")
        elif (measurable or borderline) and room:
            what = "F1 within noise of the floor" if not f1_above else "saving within the energy noise"
            feasible, more, reason = False, True, f"{what} ({how}): re-measured at another of the floor's seeds"
        elif not measurable:
            feasible, more, reason = False, False, (
                f"no measurable saving: {saving_text(saving_j / base_e)} is within the energy noise (a saving must "
                f"exceed {margin_j:,.1f} J, {how}, {k} run{'s' if k > 1 else ''})")
        elif k > 1 and over >= 0:
            feasible, more, reason = True, False, (f"F1 within noise of the floor; its mean over {k} seeds is above "
                                                   f"it ({over:+.4f}, {how}): confirmation on the test split decides")
        elif k > 1:
            feasible, more, reason = False, False, (f"F1 within noise of the floor; its mean over {k} seeds is below "
                                                    f"it ({over:+.4f}, {how})")
        else:
            feasible, more, reason = False, False, (f"F1 within noise of the floor ({over:+.4f}, noise {margin_f:.4f}) "
                                                    "and not re-measured (no budget left): undecided")
            undecided = True
        undecided = more or undecided
        return Verdict(saving_j, margin_j, over, margin_f, k, degenerate, more, undecided, feasible, reason, paired,
                       dof)

    def summary(self) -> dict[str, Any]:
        e, e_sd = self.energy_j
        f, f_sd = self.f1
        return {"runs": self.n, "seeds": list(self.seeds), "energy_j_mean": e, "energy_j_std": e_sd, "f1_mean": f,
                "f1_std": f_sd, "f1_floor": self.f1_floor, "min_f1_retention": self.min_retention}

    def text(self, word: str = "", split: str = "validation", spread: Spread | None = None) -> str:
        """One line people read: the floor, its runs and seeds, and how a difference is judged. `word` says how the
        joules were had when not measured ("estimated", "simulated"; records.energy_word)."""
        e, e_sd = self.energy_j
        f, f_sd = self.f1
        label = f", {word}" if word else ""
        if self.n < 2:
            return (f"noise floor: the baseline was measured once (seed {self.seeds[0]}): {e:,.1f} J{label}, "
                    f"F1 {f:.4f}; no spread known, so no saving can be called measurable")
        how = (spread.text() if spread is not None and spread.pooled and spread.dof >= MIN_POOLED_DOF
               else (self.prior() or spread).text())
        return (f"noise floor ({split}, baseline at {self.n} seeds {', '.join(map(str, self.seeds))}): "
                f"{e:,.1f} ± {e_sd:,.1f} J{label}, F1 {f:.4f} ± {f_sd:.4f} (mean ± std), floor "
                f"{self.f1_floor:.4f}; search runs are judged at the baseline's seeds with {how}")


def floor_of(runs: Iterable[RunMeasure], min_retention: float) -> NoiseFloor:
    by_seed: dict[int, RunMeasure] = {}
    for r in runs:
        by_seed.setdefault(r.seed, r)  # a same-seed repeat measures the meter only: the first run of a seed counts
    return NoiseFloor(tuple(by_seed[s] for s in sorted(by_seed)), min_retention)


# -- confirmation: paired, on held-out data, sequential ----------------------------------------------------------
def alpha_spent(seeds: int, k_max: int, alpha: float = ALPHA, rho: float = SPENDING_RHO) -> float:
    """Cumulative α spent by a look at `seeds` paired seeds: (1 − RESERVE)·α·(seeds / k_max)^ρ up to k_max (Kim &
    DeMets' power family), then half of what is left at each further seed, so that looks beyond k_max (`confirm
    --repeats`) never spend more than α in all."""
    if seeds <= 0:
        return 0.0
    main = (1 - RESERVE) * alpha
    if seeds <= k_max:
        return main * (seeds / k_max) ** rho
    return main + RESERVE * alpha * (1 - 0.5 ** (seeds - k_max))


def look_alphas(looks: Sequence[int], k_max: int, alpha: float = ALPHA, rho: float = SPENDING_RHO) -> list[float]:
    """The α each look spends: the increment of `alpha_spent` since the previous look."""
    out, before = [], 0.0
    for n in looks:
        spent = alpha_spent(n, k_max, alpha, rho)
        out.append(max(0.0, spent - before))
        before = max(before, spent)
    return out


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
    """A candidate against the baseline at the same seeds on the test split, and its verdict."""

    seeds: tuple[int, ...]
    saving: Interval  # 1 − exp(mean paired log ratio), with its 95% interval (pooled spread)
    retention: Interval  # mean F1 / baseline mean F1, with its 95% interval (pooled spread)
    energy_j: Interval  # the candidate's joules (mean over its runs)
    f1: Interval  # the candidate's test F1
    baseline_energy_j: Interval
    baseline_f1: Interval
    degenerate_runs: int
    min_retention: float
    recommended: bool
    reason: str
    missing_seeds: tuple[int, ...] = field(default=())
    p_value: float | None = None  # the larger of the two one-sided p-values (None: no test possible)
    p_f1: float | None = None
    p_energy: float | None = None
    level: float | None = None  # the α its p-value was held against at its deciding (or last) look, Holm included
    dof: int = 0
    decided: str = "undecided"  # recommended | not recommended | futile | inconclusive | undecided
    loaded_runs: int = 0  # its or the baseline's runs made while other processes took > LOAD_FLAG of the CPUs

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


LOAD_FLAG = 0.10  # a run during which other processes used more than this share of the CPUs is flagged


@dataclass(frozen=True)
class _Test:
    d_f: float
    d_e: float
    se_f: float
    se_e: float
    dof: int
    p_f: float
    p_e: float
    dof_e: int

    @property
    def p(self) -> float:
        return max(self.p_f, self.p_e)


def _test(cand: Mapping[int, RunMeasure], base: Mapping[int, RunMeasure], seeds: Sequence[int], spread: Spread | None,
          r: float) -> _Test | None:
    from scipy import stats

    both = [s for s in seeds if s in cand and s in base]
    if not both or spread is None or spread.dof < 1 or spread.e_dof < 1:
        return None
    k = len(both)
    d_f = statistics.fmean(cand[s].f1 - r * base[s].f1 for s in both)
    d_e = statistics.fmean(math.log(cand[s].energy_j / base[s].energy_j) for s in both)
    se_f = spread.f1_diff_sd(r) / math.sqrt(k)
    se_e = spread.log_ratio_sd() / math.sqrt(k)
    p_f = float(stats.t.sf(d_f / se_f, spread.dof)) if se_f > 0 else (0.0 if d_f > 0 else 1.0)
    p_e = float(stats.t.cdf(d_e / se_e, spread.e_dof)) if se_e > 0 else (0.0 if d_e < 0 else 1.0)
    return _Test(d_f, d_e, se_f, se_e, spread.dof, p_f, p_e, spread.e_dof)


def holm(p_values: Mapping[int, float], alpha: float) -> set[int]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level `alpha` (statsmodels)."""
    if not p_values or alpha <= 0:
        return set()
    from statsmodels.stats.multitest import multipletests

    keys = list(p_values)
    reject, *_ = multipletests([p_values[k] for k in keys], alpha=alpha, method="holm")
    return {k for k, rej in zip(keys, reject) if rej}


def graph_test(p_values: Mapping[Hashable, float], weights: Mapping[Hashable, float],
               transitions: Mapping[Hashable, Mapping[Hashable, float]], alpha: float
               ) -> tuple[set[Hashable], dict[Hashable, float]]:
    """The sequentially rejective graphical procedure of Bretz, Maurer, Brannath & Posch (2009, Statistics in Medicine
    28:586-604, Algorithm 1): hypothesis j starts with the share `weights[j]` of `alpha`; when it is rejected its
    share passes on along `transitions[j]` (fractions summing to at most 1) and the graph is updated. It is a
    closed test of weighted Bonferroni tests, so it holds the family-wise error rate at `alpha` under any
    dependence. Holm is the case of equal weights and a complete graph (tests/search/test_verdict_rules.py checks
    it against statsmodels); a chain is the fixed-sequence test. No well-kept Python package implements it (R's
    gMCP does), so it is written here, in the paper's notation.

    Returns the rejected hypotheses and each one's local level: where it was rejected, or what it held at the end
    (0: the share never reached it)."""
    active = [k for k in p_values]
    w = {k: float(weights.get(k, 0.0)) for k in active}
    g = {j: {k: float(transitions.get(j, {}).get(k, 0.0)) for k in active if k != j} for j in active}
    rejected: set[Hashable] = set()
    level: dict[Hashable, float] = {}
    while True:
        ready = [k for k in active if w[k] > 0 and p_values[k] <= w[k] * alpha]
        if not ready:
            break
        j = min(ready, key=lambda k: p_values[k] / (w[k] * alpha))
        rejected.add(j)
        level[j] = w[j] * alpha
        active.remove(j)
        for k in active:
            w[k] += w[j] * g[j].get(k, 0.0)
        new = {}
        for lo in active:
            new[lo] = {}
            for k in active:
                if k == lo:
                    continue
                denom = 1.0 - g[lo].get(j, 0.0) * g[j].get(lo, 0.0)
                new[lo][k] = (g[lo].get(k, 0.0) + g[lo].get(j, 0.0) * g[j].get(k, 0.0)) / denom if denom > 0 else 0.0
        g = new
        del w[j]
    for k in active:
        level[k] = w[k] * alpha
    return rejected, level


def family_graph(order: Sequence[Hashable], family: Mapping[Hashable, Hashable]
                 ) -> tuple[dict[Hashable, float], dict[Hashable, dict[Hashable, float]]]:
    """Weights and transitions for candidates in training families (`graph_test`): each family starts with an equal
    share of α on its first member (in `order`); a member shown passes its share to the next member of its family,
    and the last member of a family to the first members of the other families, equally. Siblings that differ only
    in how they serve are tested in a fixed sequence behind the member before them, on one share of α, instead of
    each taking a share of its own; with one member per family it is Holm's procedure."""
    chains: dict[Hashable, list[Hashable]] = {}
    for c in order:
        chains.setdefault(family.get(c, c), []).append(c)
    heads = [chain[0] for chain in chains.values()]
    weights = {c: (1.0 / len(chains) if c in heads else 0.0) for c in order}
    transitions: dict[Hashable, dict[Hashable, float]] = {}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            transitions[a] = {b: 1.0}
        others = [h for h in heads if h != chain[0]]
        transitions[chain[-1]] = {h: 1.0 / len(others) for h in others}
    return weights, transitions


def decide(candidates: Mapping[int, Mapping[int, RunMeasure]], baseline: Mapping[int, RunMeasure],
           min_retention: float, seeds: Sequence[int], looks: Sequence[int] | None = None, k_max: int | None = None,
           alpha: float = ALPHA, rho: float = SPENDING_RHO,
           spread: Mapping[Hashable, Mapping[int, RunMeasure]] | None = None) -> dict[int, Paired]:
    """The confirmation's verdicts, replayed look by look.

    `seeds`: the confirmation's seeds in the order they were run; `looks`: how many of them each look had (default:
    one look at every count from 2 on, as the sequential confirmation makes them); `k_max`: the seeds the study
    planned at most (the spending function's horizon). At each look the spread is pooled over the baseline and every
    candidate (`two_way`; a candidate that shares the baseline's trainings gets the pool of pairs that share one,
    `pooled_spreads`) and each candidate gets its intersection-union p-value. One graphical procedure then runs over
    the candidates with the looks' α (`graph_test`, `family_graph`: Holm's across training families, a fixed
    sequence within one, in the order given: the cheapest on validation first), each candidate's p-values over the
    looks combined by Bonferroni; a candidate is recommended at the first look where its p-value is within its
    share of that look's α. `spread`: {configuration: {seed: run}} of models trained at other seeds, for the trained
    pool's spread alone (`pooled_spreads`)."""
    seeds = list(seeds)
    r = min_retention
    if looks is None:
        looks = [len(seeds)]
    looks = [n for n in looks if 2 <= n <= len(seeds)] or [len(seeds)]
    k_max = k_max or max(looks)
    alphas = look_alphas(looks, k_max, alpha, rho)
    base_bad = [s for s in seeds if s in baseline and (baseline[s].degenerate or baseline[s].f1 <= 0)]
    per_look: list[tuple[int, float, dict[int, _Test | None], dict[int, float]]] = []
    spread_runs = {c: list(rs.values()) for c, rs in (spread or {}).items()}
    runs: dict[Hashable, list[RunMeasure]] = {}
    for n, a in zip(looks, alphas):
        upto = seeds[:n]
        runs = {"baseline": [baseline[s] for s in upto if s in baseline]}
        runs.update({c: [runs_c[s] for s in upto if s in runs_c] for c, runs_c in candidates.items()})
        pools = pooled_spreads(runs, spread_runs)
        base_upto = {s: baseline[s] for s in upto if s in baseline}
        tests = {c: _test(candidates[c], baseline, upto, pools.between(runs[c], base_upto), r) for c in candidates}
        p = {c: (1.0 if t is None or base_bad or any(candidates[c][s].degenerate for s in upto if s in candidates[c])
                 else t.p) for c, t in tests.items()}
        per_look.append((n, a, tests, p))
    # One graphical test over every look: a candidate's p-value across the looks is the Bonferroni combination
    # q = A·min_k p_k / α_k (A = the α spent so far), valid since P(q ≤ wA) ≤ Σ_k P(p_k ≤ w·α_k) ≤ wA; so a
    # candidate shown at an early look keeps passing its share on at the later ones.
    spent = sum(alphas)
    q = {c: min((pl[c] * spent / a for _, a, _, pl in per_look if a > 0), default=1.0) for c in candidates}
    family = training_families(runs)
    rejected, held = graph_test(q, *family_graph(list(candidates), family), spent)
    recommended_at: dict[int, tuple[float, _Test, int]] = {}
    last: dict[int, tuple[float, _Test | None, int]] = {}
    for c in candidates:
        share = held.get(c, 0.0) / spent if spent > 0 else 0.0
        for n, a, tests, pl in per_look:
            last[c] = (share * a, tests[c], n)
            if c in rejected and c not in recommended_at and tests[c] is not None and pl[c] <= share * a * (1 + 1e-12):
                recommended_at[c] = (share * a, tests[c], n)
    out: dict[int, Paired] = {}
    for c, runs_c in candidates.items():
        out[c] = _paired(c, runs_c, baseline, r, seeds, recommended_at.get(c) or last.get(c, (None, None, len(seeds))),
                         c in recommended_at, base_bad, k_max)
    return _dominated(_gated(out, list(candidates), family), list(candidates))


def dominated_by(stats: Mapping[int, Paired], c: int) -> int | None:
    """A recommended candidate that saves more energy and keeps more of the F1 than `c` on the test split (means;
    the first in `stats`' order), or None. What it dominates is not worth more seeds: stopping it is a non-binding
    stop, so it costs no error rate."""
    v = stats[c]
    for x, p in stats.items():
        if x != c and p.recommended and p.saving.mean >= v.saving.mean and p.retention.mean >= v.retention.mean:
            return x
    return None


def _dominated(out: dict[int, Paired], order: Sequence[int]) -> dict[int, Paired]:
    """An undecided candidate that a recommended one dominates is one the staged confirmation measures no further
    (`sequential`): closed, not left open."""
    for c in order:
        v = out[c]
        if v.decided != "undecided":
            continue
        x = dominated_by(out, c)
        if x is not None:
            out[c] = replace(v, decided="not recommended", reason=(
                f"not measured further: trial {x}, recommended, saves more energy ({saving_text(out[x].saving.mean)}) "
                f"and keeps more of the F1 ({100 * out[x].retention.mean:.1f}%) on the test split; after "
                f"{v.n} paired seeds it kept {100 * v.retention.mean:.1f}% and saved {100 * v.saving.mean:.1f}%"))
    return out


def _gated(out: dict[int, Paired], order: Sequence[int], family: Mapping[Hashable, Hashable]) -> dict[int, Paired]:
    """A candidate that never held a share of α (`family_graph`: a member before it in its training family was not
    shown) was not tested: it waits while that member is open, and is closed when that member is."""
    for c in order:
        v = out[c]
        if v.recommended or v.level is None or v.level > 0 or v.decided not in ("undecided", "inconclusive"):
            continue
        chain = [x for x in order if family[x] == family[c]]
        blocker = next((x for x in chain[:chain.index(c)] if not out[x].recommended), None)
        if blocker is None:
            continue
        b = out[blocker]
        if b.decided in ("undecided", "inconclusive"):
            out[c] = replace(v, reason=f"not tested yet: it follows trial {blocker} in its training family (one "
                                       "trained model, served differently), which is not yet shown")
        else:
            out[c] = replace(v, decided="not recommended",
                             reason=f"not tested: trial {blocker}, before it in its training family (one trained "
                                    f"model, served differently), was not recommended ({b.decided})")
    return out


def _paired(c: int, cand: Mapping[int, RunMeasure], base: Mapping[int, RunMeasure], r: float, seeds: Sequence[int],
            at: tuple[float | None, _Test | None, int], recommended: bool, base_bad: Sequence[int],
            k_max: int) -> Paired:
    level, test, n_look = at
    both = tuple(s for s in seeds if s in cand and s in base)
    missing = tuple(s for s in seeds[:n_look] if s not in both)
    nothing = Interval(math.nan, None, None, None)
    if not both:
        return Paired((), nothing, nothing, nothing, nothing, nothing, nothing, 0, r, False,
                      "not confirmed: no seed measured for both it and the baseline on the test split", missing)
    c_runs, b_runs = [cand[s] for s in both], [base[s] for s in both]
    base_f1 = statistics.fmean(y.f1 for y in b_runs)
    if test is not None:
        hf, he = t_quantile(test.dof) * test.se_f, t_quantile(test.dof_e) * test.se_e
        saving = Interval(1 - math.exp(test.d_e), 1 - math.exp(test.d_e + he), 1 - math.exp(test.d_e - he),
                          test.se_e * math.sqrt(len(both)))
        ret = r + test.d_f / base_f1 if base_f1 > 0 else 0.0
        retention = Interval(ret, ret - hf / base_f1, ret + hf / base_f1, test.se_f * math.sqrt(len(both)) / base_f1)
    else:
        saving = Interval(statistics.fmean(1 - x.energy_j / y.energy_j for x, y in zip(c_runs, b_runs)), None, None,
                          None)
        retention = Interval(statistics.fmean(x.f1 / y.f1 if y.f1 > 0 else 0.0 for x, y in zip(c_runs, b_runs)),
                             None, None, None)
    degenerate = sum(1 for x in c_runs if x.degenerate)
    loaded = sum(1 for x in c_runs + b_runs if x.foreign_load is not None and x.foreign_load > LOAD_FLAG)
    p_text = "" if test is None or level is None else (
        f"one-sided p = {test.p:.4f} (retention {test.p_f:.4f}, saving {test.p_e:.4f}) against {level:.4f}, "
        f"{test.dof} pooled degrees of freedom" + ("" if test.dof_e == test.dof else f" ({test.dof_e} for energy)"))
    if base_bad:
        decided, why = "not recommended", "the baseline is degenerate on the test split: no share of its F1 means anything"
    elif degenerate:
        decided, why = "not recommended", f"degenerate in {degenerate} of {len(c_runs)} test runs"
    elif test is None:
        decided, why = "undecided", "no pooled degrees of freedom yet: no test, so no recommendation"
    elif recommended:
        decided, why = "recommended", (f"retention above {100 * r:.0f}% and a saving above 0 over {len(both)} paired "
                                       f"seeds: {p_text}")
    elif test.d_f <= 0 or test.d_e >= 0:
        decided, why = "futile", ((f"its mean retention is below the floor of {100 * r:.0f}%" if test.d_f <= 0 else
                                   "its mean saving is none") + f" after {len(both)} paired seeds ({p_text})")
    elif len(both) >= k_max:
        decided, why = "inconclusive", f"not shown at the study's error rate after {len(both)} paired seeds: {p_text}"
    else:
        decided, why = "undecided", f"not decided after {len(both)} paired seeds ({p_text}): more seeds are due"
    if missing and decided == "recommended":
        decided, why = "undecided", f"seeds {', '.join(map(str, missing))} not yet measured for both: run `greenknobs confirm`"
    return Paired(both, saving, retention, t_interval([x.energy_j for x in c_runs]), t_interval([x.f1 for x in c_runs]),
                  t_interval([y.energy_j for y in b_runs]), t_interval([y.f1 for y in b_runs]), degenerate, r,
                  decided == "recommended", why, missing, None if test is None else test.p,
                  None if test is None else test.p_f, None if test is None else test.p_e, level,
                  0 if test is None else test.dof, decided, loaded)


def paired(candidate: Mapping[int, RunMeasure], baseline: Mapping[int, RunMeasure], min_retention: float,
           seeds: Sequence[int] | None = None) -> Paired:
    """One candidate against the baseline, as its own family (no Holm partner), one look at all its seeds."""
    wanted = tuple(seeds) if seeds is not None else tuple(sorted(set(candidate) | set(baseline)))
    return decide({0: candidate}, baseline, min_retention, wanted, looks=[len(wanted)])[0]


# -- one wording of a saving everywhere ---------------------------------------------------------------------------
def saving_text(fraction: float, digits: int = 1) -> str:
    """A saving as people read it: "52.6% less energy" / "8.3% more energy", never a bare sign."""
    pct = 100.0 * fraction
    if round(pct, digits) == 0:
        return "no change in energy"
    return f"{abs(pct):.{digits}f}% {'less' if pct > 0 else 'more'} energy"


def _signed_pct(fraction: float) -> str:
    return saving_text(fraction).replace(" energy", "")


def interval_text(iv: Interval, kind: str) -> str:
    """'47.7% less energy [95% CI 46.1% less to 49.3% less]' or 'kept 99.1% of the F1 [95% CI 96.0% to 102.2%]'."""
    if kind == "saving":
        head = saving_text(iv.mean)
        if iv.low is None:
            return head + " (no interval)"
        return f"{head} [95% CI {_signed_pct(iv.low)} to {_signed_pct(iv.high)}]"
    head = f"{100 * iv.mean:.1f}% of the F1"
    if iv.low is None:
        return head + " (no interval)"
    return f"{head} [95% CI {100 * iv.low:.1f}% to {100 * iv.high:.1f}%]"


def sequential(measure: Any, runs: Any, candidates: Sequence[int], seeds: Sequence[int], k_first: int, k_last: int,
               min_retention: float, k_max: int | None = None, looks: Sequence[int] = (),
               rho: float = SPENDING_RHO, spread: Mapping[Hashable, Mapping[int, RunMeasure]] | None = None
               ) -> tuple[dict[int, Paired], list[int]]:
    """The confirmation in stages, seed-major: the baseline and every candidate at the first `k_first` seeds and a
    look; then, for the candidates still open that no recommended candidate dominates (`dominated_by`), the
    baseline and them at the seeds up to `k_last` and a second look.
    A look is made only at a seed count no earlier look had, so a resumed confirmation repeats none and `confirm
    --repeats K` past the plan is one more look, paid from the reserve of α (`alpha_spent`).

    `measure(seed, targets)` runs what is missing of (None = the baseline, candidate numbers) at `seed`, in that
    order; `runs()` returns ({candidate: {seed: RunMeasure}}, {seed: baseline run}); `k_max` is the spending
    function's horizon (the study's planned K_max; `k_last` by default); `spread` as `decide` takes it. Returns the
    verdicts and the looks."""
    k_max = k_max or k_last
    looks = list(looks)
    k_last = min(k_last, len(seeds))
    first = min(k_first, k_last)
    for seed in seeds[:first]:
        measure(seed, [None, *candidates])
    if not looks or looks[-1] < first:
        looks.append(first)
    stats = decide(*runs(), min_retention, seeds[:looks[-1]], looks, k_max, rho=rho, spread=spread)
    left = [c for c in open_candidates(stats) if dominated_by(stats, c) is None]
    if left and k_last > looks[-1]:
        for seed in seeds[looks[-1]:k_last]:
            measure(seed, [None, *left])
        looks.append(k_last)
        stats = decide(*runs(), min_retention, seeds[:k_last], looks, k_max, rho=rho, spread=spread)
    return stats, looks


def open_candidates(stats: Mapping[int, Paired]) -> list[int]:
    """Candidates more seeds could still decide: undecided, or not shown at the error rate by the last look."""
    return [c for c, p in stats.items() if p.decided in ("undecided", "inconclusive")]
