"""`--sampler cascade`: measure each knob alone, then combine the ones that paid, then let TPE search.

The plan, recomputed before every trial from the study's trials so far (complete, running and queued, so parallel
workers and resumed runs pick up where the study is rather than where this process was):

1. the baseline (queued by `ensure_baseline`, not planned here);
2. screening, at most half the search's budget: each searched knob alone at its most promising energy-saving level, then the
   knobs' further levels (the noise floor is the baseline's own runs at k seeds, measured before any of this). With
   trained-model reuse on (the study's `reuse_training`), every level of an inference knob comes first: it serves
   the baseline's trained models at every floor seed, paired for free, and takes no training run of the budget;
3. with reuse on, inference variants of every feasible configuration that trained: its changes plus the best saving
   level of each inference knob that saved and stayed feasible in screening (alone, then all together), most recent
   training first; each serves that configuration's kept model at inference cost (stage "serve");
4. combinations of the knobs whose best level saved energy and stayed feasible, ordered by the orthogonality model
   (predicted saving 1 − Π(1 − sᵢ)): grown greedily from the best feasible set measured so far, a knob from a phase
   not yet in the set first; an infeasible combination is not grown further;
5. TPE for the rest (at least a fifth of the search's budget), which sees every trial above as its history.

The budget counts training runs, as the study does; the search's budget is what the baseline's k seeds leave, and
the re-measurement of a trial whose F1 lies within noise of the floor takes its share of it.

A plan is a whole configuration decided in `before_trial` and stored in the trial's system attrs (the
PartialFixedSampler pattern): `sample_independent` returns its values, so the objective's own `suggest_*` calls
record them as ordinary params. Conditional knobs (lora_rank under LoRA) are not screened alone: they only mean
something under their parent, whose screening runs them at their defaults; TPE tunes them.

Several workers plan at once, and no storage Optuna offers (journal file, SQLite, PostgreSQL) has a lock or a
compare-and-set a sampler can use, only reads and writes of trial attributes. So a plan is claimed in two steps
(`CascadeSampler._claim`):

1. **In trial-number order.** A trial first waits (at most CLAIM_WAIT_S) until every lower-numbered trial that is
   still choosing has published its choice — a plan, or the marker `{"stage": None}` for TPE's turn (a queued trial
   or one with params has chosen). Trials are numbered when they are created, so plans are computed one after
   another from a view that holds every earlier plan: two workers never compute the same plan at the same moment.
2. **Write, then re-read, and step back.** The trial writes its plan, reads every trial again and keeps the plan
   only if no other trial holds it; otherwise it plans again, seeing the other holder. Of two trials that both
   write and then read, the later reader sees the other, so two trials never keep one plan. (Stepping back only to
   a lower-numbered holder would not do: a lower trial that writes late sees a higher holder that already kept the
   plan without having seen it.) Both may step back; each then plans again with the other's plan in view, at most
   CLAIM_ROUNDS times, after which the trial is TPE's, and the study's duplicate check (study/_duplicates.py) still
   keeps TPE from training a measured configuration again.

Step 1 makes the race of step 2 rare (a worker stalled for CLAIM_WAIT_S between creating its trial and planning);
step 2 makes it harmless.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.search import records as rec
from greenknobs.search.records import knob_differences

PLAN_ATTR = "greenknobs.cascade"  # system attr: {"stage": screen | serve | combine, "params": {...}}; None: TPE's turn
CLAIM_WAIT_S = 30.0  # how long a trial waits for lower-numbered trials to publish their plans (they take milliseconds)
CLAIM_ROUNDS = 5  # plans tried when other trials hold them, before the trial is handed to TPE
DEFAULT_BUDGET = 20


def screening_levels(knob: Any) -> list[Any]:
    """The non-baseline values screening measures for one knob, most promising energy saving first."""
    if knob.kind in ("categorical", "bool"):
        values = [v for v in (knob.choices or knob.values) if v != knob.baseline]
    else:
        values = [v for v in _numeric_levels(knob) if v != knob.baseline]
    if isinstance(knob.cheaper, tuple):
        first = [v for v in knob.cheaper if v in values]
        return first + [v for v in values if v not in first]
    if knob.cheaper in ("low", "high"):
        # The middle saving level first, then the extreme: within a tight budget a level that keeps the F1
        # floor is worth more to the combinations than the largest single saving, which often breaks it.
        saving = sorted((v for v in values if (v < knob.baseline if knob.cheaper == "low" else v > knob.baseline)),
                        reverse=knob.cheaper == "high")
        ordered = ([saving[len(saving) // 2]] if saving else []) + saving
        return list(dict.fromkeys(ordered + sorted(values, reverse=knob.cheaper == "high")))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values + [knob.baseline]):
        return sorted(values, key=lambda v: -abs(v - knob.baseline))  # the biggest move first: the biggest effect
    return values


def _numeric_levels(knob: Any) -> list[Any]:
    """Low, middle and high of a numeric range (every value of a short integer range), on its step grid."""
    low, high = knob.low, knob.high
    if knob.kind == "int" and high - low + 1 <= 4:
        return list(range(int(low), int(high) + 1, int(knob.step or 1)))
    mid = (low * high) ** 0.5 if knob.log and low > 0 else (low + high) / 2
    if knob.step:
        mid = low + round((mid - low) / knob.step) * knob.step
    levels = [low, mid, high]
    if knob.kind == "int":
        levels = [int(round(v)) for v in levels]
    else:
        levels = [round(float(v), 10) for v in levels]
    return list(dict.fromkeys(levels))


class CascadeSampler(BaseSampler):
    """Screen single knobs, combine the feasible savers by predicted saving, then hand over to TPE."""

    def __init__(self, space: Any, seed: int | None = None, min_f1_retention: float = 0.95,
                 n_trials: int | None = None, inner: BaseSampler | None = None, baseline_runs: int = 3,
                 serve_first: bool = False) -> None:
        from greenknobs.search.samplers._factory import make_sampler

        if space is None:
            raise GreenknobsError("the cascade sampler needs the study's search space: create it through open_study")
        # min_f1_retention is not read here: feasibility comes from the constraints each trial stored, which apply it.
        self.space = space
        self.budget = n_trials or DEFAULT_BUDGET
        self.baseline_runs = baseline_runs
        self.serve_first = serve_first  # screen inference knobs first: they serve the baseline's kept models
        self.inner = inner or make_sampler("tpe", seed or 0)
        self._plans: dict[int, dict[str, Any]] = {}

    # -- the plan -------------------------------------------------------------------------------------------
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # Queued trials (the baseline, confirm repeats, retries of lost trials, by hand) keep their own params.
        if "fixed_params" not in trial.system_attrs and not trial.params and self._claim(study, trial):
            return
        self.inner.before_trial(study, trial)

    def _claim(self, study: Study, trial: FrozenTrial) -> bool:
        """Plan this trial and claim the plan once among every worker (see the module's docstring); False: TPE's
        turn, published as such for the trials after it."""
        trials = _after_earlier_plans(study, trial)
        for _ in range(CLAIM_ROUNDS):
            plan = next_plan([t for t in trials if t.number != trial.number], self.space, self.budget,
                             self.baseline_runs, self.serve_first)
            if plan is None:
                break
            stage, changes = plan
            params = self.space.params_of(self.space.complete(changes))
            self._plans[rec.trial_id(trial)] = params
            rec.set_system_attr(study, trial, PLAN_ATTR, {"stage": stage, "params": params})
            trials = study.get_trials(deepcopy=False)  # read after the write: the later of two readers sees both
            key = rec.level_key(knob_differences(params, self.space.params_of(self.space.baseline())))
            if not any(t.number != trial.number and _holds(t, key, self.space) for t in trials):
                return True
        self._plans.pop(rec.trial_id(trial), None)
        rec.set_system_attr(study, trial, PLAN_ATTR, {"stage": None, "params": None})
        return False

    def _plan_of(self, trial: FrozenTrial) -> dict[str, Any] | None:
        if rec.trial_id(trial) in self._plans:
            return self._plans[rec.trial_id(trial)]
        stored = trial.system_attrs.get(PLAN_ATTR)
        return stored.get("params") if stored else None

    # -- Optuna's sampler interface ---------------------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._plan_of(trial) is not None:
            return {}
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self._plan_of(trial) is not None:
            return {}
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        plan = self._plan_of(trial)
        if plan is not None and param_name in plan:
            return plan[param_name]
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._plans.pop(rec.trial_id(trial), None)
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def stage_of(trial: FrozenTrial) -> str | None:
    """screen | combine for a trial the cascade planned; None for the baseline, repeats or TPE trials."""
    plan = trial.system_attrs.get(PLAN_ATTR)
    return plan.get("stage") if plan else None


def _choosing(t: FrozenTrial) -> bool:
    """A trial created but still deciding what it runs: no plan or TPE marker published, not queued, no params."""
    return (t.state == TrialState.RUNNING and PLAN_ATTR not in t.system_attrs and "fixed_params" not in t.system_attrs
            and not t.params)


def _after_earlier_plans(study: Study, trial: FrozenTrial) -> list[FrozenTrial]:
    """The study's trials once every lower-numbered trial still choosing has chosen (or CLAIM_WAIT_S has passed; a
    trial whose worker died before it chose is older than that and is not waited for)."""
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        trials = study.get_trials(deepcopy=False)
        started = next((t.datetime_start for t in trials if t.number == trial.number), None) or datetime.now()
        waiting = [t for t in trials if t.number < trial.number and _choosing(t)
                   and (t.datetime_start is None or started - t.datetime_start < timedelta(seconds=CLAIM_WAIT_S))]
        if not waiting or time.monotonic() > deadline:
            return trials
        time.sleep(0.05)


def _holds(t: FrozenTrial, key: frozenset, space: Any) -> bool:
    """Whether another trial plans, runs or ran the configuration `key` (knob changes) as the cascade counts it."""
    if rec.role_of(t) not in ("baseline", "search"):
        return False
    params = _intended_params(t)
    return params is not None and rec.level_key(knob_differences(params, space.params_of(space.baseline()))) == key


def next_plan(trials: list[FrozenTrial], space: Any, budget: int, baseline_runs: int = 3,
              serve_first: bool = False) -> tuple[str, dict[str, Any]] | None:
    """The next configuration to run, as (stage, knob changes from the baseline), or None: TPE's turn.
    `serve_first`: inference knobs' levels are screened before any other (they train nothing under reuse)."""
    trials = [t for t in trials if rec.role_of(t) in ("baseline", "search")]
    base_params = space.params_of(space.baseline())
    tried: dict[frozenset, int] = {}
    for t in trials:
        params = _intended_params(t)
        if params is not None:
            key = rec.level_key(knob_differences(params, base_params))
            tried[key] = tried.get(key, 0) + 1
    screened = sum(rec.budget_runs(t) for t in trials if stage_of(t) == "screen")
    used = sum(rec.budget_runs(t, baseline_runs) for t in trials)
    search = budget - baseline_runs  # what the noise floor leaves to the search
    cap = max(2, search // 2)
    if screened < cap:
        for level in _screening_order(space, _baseline_shares(trials), serve_first):
            if rec.level_key(dict([level])) not in tried and _valid(space, dict([level])):
                return "screen", dict([level])
    if serve_first:
        changes = _next_variant(trials, space, tried)
        if changes is not None:
            return "serve", changes
    if used < budget - max(1, search // 5):
        changes = _next_combination(trials, space, tried)
        if changes is not None:
            return "combine", changes
    return None


def _intended_params(t: FrozenTrial) -> dict[str, Any] | None:
    """What a trial runs: its plan, its queued params, or what it suggested (None: a TPE trial not yet sampled)."""
    plan = t.system_attrs.get(PLAN_ATTR)
    if plan and plan.get("params") is not None:
        return plan["params"]
    if "fixed_params" in t.system_attrs:
        return t.system_attrs["fixed_params"]
    if t.state == TrialState.RUNNING and not t.params:
        return None
    return t.params


def _baseline_shares(trials: list[FrozenTrial]) -> dict[str, float]:
    """Each phase's share of the baseline's joules (empty before the baseline finished)."""
    base = next((t for t in trials if rec.role_of(t) == "baseline" and t.state == TrialState.COMPLETE), None)
    result = rec.result_of(base) if base is not None else None
    if result is None or result.energy_j <= 0:
        return {}
    return {phase: joules / result.energy_j for phase, joules in result.phase_energy_j.items()}


def _screening_order(space: Any, shares: dict[str, float] | None = None, serve_first: bool = False) -> list[Any]:
    """Knobs whose phases hold most of the baseline's joules first (a knob can save at most what its phases
    spend), those expected to save nothing last; declaration order breaks ties. `serve_first`: every level of the
    inference knobs before any other knob's (they serve kept models, training nothing)."""
    from greenknobs.spaces import KNOBS

    def reach(knob: Any) -> tuple[bool, float]:
        return (knob.cheaper == (), -sum((shares or {}).get(p, 0.0) for p in knob.moves))

    def rounds_of(knobs: list[Any]) -> list[Any]:
        levels = {k.name: screening_levels(k) for k in sorted(knobs, key=reach)}
        rounds = itertools.zip_longest(*([(name, v) for v in vs] for name, vs in levels.items()))
        return [lv for r in rounds for lv in r if lv is not None]

    knobs = [space.searched[k.name] for k in KNOBS
             if k.name in space.searched and space.searched[k.name].condition is None]
    if not serve_first:
        return rounds_of(knobs)
    return (rounds_of([k for k in knobs if k.phase == "inference"])
            + rounds_of([k for k in knobs if k.phase != "inference"]))


def _valid(space: Any, changes: dict[str, Any]) -> bool:
    try:
        space.complete(changes)
    except GreenknobsError:
        return False
    return True


def _next_variant(trials: list[FrozenTrial], space: Any, tried: dict[frozenset, int]) -> dict[str, Any] | None:
    """An inference variant of a configuration that trained and kept the F1 (feasible, or short of a measurable
    saving, which a serving saver may add): its changes plus the best saving level of each inference knob that saved
    and stayed feasible alone (each alone, then all together). Most recent first: its trained model is the likeliest
    to be kept."""
    from greenknobs.objectives import inference_knobs

    serving = inference_knobs()
    effects = rec.effects_of(trials, space.baseline())
    if effects.reference is None:
        return None
    best: dict[str, tuple[Any, float]] = {}
    for (knob, value), g in effects.singles.items():
        if knob in serving and g.feasible and g.saving > 0 and (knob not in best or g.saving > best[knob][1]):
            best[knob] = (value, g.saving)
    if not best:
        return None
    levels = [(k, v) for k, (v, _) in sorted(best.items())]
    sets = [[lv] for lv in levels] + ([levels] if len(levels) > 1 else [])
    base_params = space.params_of(space.baseline())
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE and rec.role_of(t) == "search"
                   and _keeps_f1(t)), key=lambda t: -t.number)
    for t in done:
        params = _intended_params(t)
        changes = knob_differences(params, base_params) if params is not None else {}
        if not changes or set(changes) <= serving:
            continue  # the baseline, or itself a serving variant
        for extra in sets:
            if any(k in changes for k, _ in extra):
                continue
            wanted = {**changes, **dict(extra)}
            if rec.level_key(wanted) not in tried and _valid(space, wanted):
                return dict(sorted(wanted.items()))
    return None


def _keeps_f1(t: FrozenTrial) -> bool:
    """Neither below the F1 floor nor degenerate (its saving may still be short): an inference knob rarely adds F1."""
    c = t.constraints or {}
    return bool(c) and c.get("f1_floor", 1.0) <= 0.0 and c.get("degenerate", 1.0) <= 0.0


def _next_combination(trials: list[FrozenTrial], space: Any, tried: dict[frozenset, int]) -> dict[str, Any] | None:
    baseline = space.baseline()
    effects = rec.effects_of(trials, baseline)
    if effects.reference is None:
        return None
    # Per knob, its best level that saved energy and kept F1 (the study's constraints decide "kept").
    best: dict[str, tuple[Any, float]] = {}
    for (knob, value), g in effects.singles.items():
        if g.feasible and g.saving > 0 and (knob not in best or g.saving > best[knob][1]):
            best[knob] = (value, g.saving)
    if len(best) < 2:
        return None
    savers = {(k, v): s for k, (v, s) in best.items()}

    def predicted(levels: frozenset) -> float:
        return rec.predicted_saving(savers[lv] for lv in levels)

    def phase_overlap(levels: frozenset) -> int:
        phases = [rec.phase_of(k) for k, _ in levels]
        return len(phases) - len(set(phases))

    # Grow the best feasible set measured so far, made of these levels only.
    measured = [(g.saving, key) for key, g in _groups(effects) if key <= set(savers) and g.feasible]
    start = max(measured, key=lambda x: (x[0], -len(x[1])))[1]
    phases_in = {rec.phase_of(k) for k, _ in start}
    growth = [start | {lv} for lv in savers if lv[0] not in {k for k, _ in start}]
    growth.sort(key=lambda s: (next(rec.phase_of(k) for k, _ in s - start) in phases_in, -predicted(s), sorted(map(str, s))))
    # Then any pair or triple not yet tried: different phases first, the biggest predicted saving first.
    rest = [frozenset(c) for n in (2, 3) for c in itertools.combinations(sorted(savers, key=str), n)
            if len({k for k, _ in c}) == n]
    rest.sort(key=lambda s: (phase_overlap(s), -predicted(s), sorted(map(str, s))))
    for levels in growth + rest:
        if levels not in tried and _valid(space, dict(levels)):
            return dict(sorted(levels, key=str))
    return None


def _groups(effects: rec.Effects):
    seen = {}
    for c in effects.cascades:
        seen[c.group.key] = c.group
    for g in effects.singles.values():
        seen[g.key] = g
    return seen.items()

