"""How a trial's measurements are stored in Optuna, and read back (export, report, status, confirm, samplers).

A trial measures one configuration at one or more training seeds (its *runs*): the baseline at the study's k seeds
(the noise floor), a search trial at the study's seed, and again at the baseline's other seeds when its F1 lies
within noise of the floor. The values Optuna sees are the means over the runs; each run is kept under RUNS."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from greenknobs.objectives import PIPELINE_PHASES, TrialResult
from greenknobs.search.records._noise import NoiseFloor, RunMeasure, Spread, Verdict, floor_of, pooled_spreads
from greenknobs.search.records._optuna import set_study_system_attr, study_system_attrs

ROLE = "greenknobs.role"  # baseline | search | repeat | duplicate (confirmation runs live in the ":confirm" twin)
DUPLICATE = "duplicate"  # role of a proposal of a configuration already measured: FAIL, nothing trained
RESULT = "greenknobs.result"  # the first run's full TrialResult
RUNS = "greenknobs.runs"  # [{seed, energy_j, f1, degenerate}] for every run of the trial
TRAINING_RUNS = "training_runs"  # runs of the trial that trained their model (the budget's unit)
VERDICT = "greenknobs.verdict"  # the search-time verdict against the noise floor (records/_noise.py)
SEED = "greenknobs.seed"  # the training seed a queued trial must run at (repeats)
CONFIG = "greenknobs.config"
FAIL_REASON = "fail_reason"
METRIC_NAMES = ("energy_j", "f1")
SPEC_ATTR = "greenknobs.spec"  # study record: the spec the study was created with
METER_ATTR = "greenknobs.meter"  # study record: energy source and hardware; written last, it marks the study ready
CONFIRM_SUFFIX = ":confirm"  # the twin study holding the test-split confirmation runs (a name no study file can take)


def measure_of(result: TrialResult) -> RunMeasure:
    return RunMeasure(result.seed, result.energy_j, result.f1, result.degenerate, training=result.training_id,
                      reused=not result.trained)


def store_result(trial: optuna.Trial, results: Sequence[TrialResult], floor: NoiseFloor | None,
                 verdict: Verdict | None, loads: Sequence[float | None] = ()) -> tuple[float, float]:
    """Store a trial's runs and verdict; returns the values Optuna is told (mean joules, mean F1).

    `verdict` None: the trial is the baseline, the reference every other trial is judged against (feasible).
    `loads`: other processes' share of the CPUs during each run (study/_load.py), kept beside it."""
    first = results[0]
    loads = list(loads) + [None] * (len(results) - len(loads))
    runs = [RunMeasure(r.seed, r.energy_j, r.f1, r.degenerate, None if x is None else round(x, 4), r.training_id,
                       not r.trained) for r, x in zip(results, loads)]
    energy = statistics.fmean(r.energy_j for r in results)
    f1 = statistics.fmean(r.f1 for r in results)
    trial.set_user_attr(RESULT, {**first.to_dict(), "curve": []})  # each run's curve is kept under RUNS
    trial.set_user_attr(RUNS, [{**m.to_dict(), **({"curve": r.curve} if r.curve else {}),
                                **({"reused_training": r.reused_training} if r.reused_training else {})}
                               for m, r in zip(runs, results)])
    trial.set_user_attr("runs", len(runs))
    # Training runs are the budget's unit: a run that served a model an earlier run trained made none.
    trial.set_user_attr(TRAINING_RUNS, sum(1 for r in results if r.trained))
    trial.set_user_attr("energy_j", energy)
    # What the search paid: every run's measured phases, with early stopping's slice scoring (kept out of the
    # configuration's joules); a reused training or tokenization was paid by the run that made it.
    trial.set_user_attr("energy_j_spent", sum(r.spent_j for r in results))
    if any(r.monitor_energy_j for r in results):
        trial.set_user_attr("monitor_energy_j", sum(r.monitor_energy_j for r in results))
    trial.set_user_attr("energy_source", first.energy_source)
    for phase in PIPELINE_PHASES:
        trial.set_user_attr(f"energy_j.{phase}", statistics.fmean(r.phase_energy_j.get(phase, 0.0) for r in results))
    trial.set_user_attr("f1", f1)
    for key in ("f1_kind", "weighted_f1", "accuracy", "majority_f1", "chance_f1", "time_s", "trainable_params"):
        trial.set_user_attr(key, getattr(first, key))
    degenerate = [r for r in results if r.degenerate]
    trial.set_user_attr("degenerate", bool(degenerate))
    if degenerate:
        trial.set_user_attr("degenerate_reason", degenerate[0].degenerate_reason)
    if floor is not None:
        base_e, base_f1 = floor.energy_j[0], floor.f1[0]
        trial.set_user_attr("energy_reduction_pct", round(100 * (1 - energy / base_e), 3) if base_e > 0 else 0.0)
        trial.set_user_attr("f1_retention_pct", round(100 * f1 / base_f1, 3) if base_f1 > 0 else 0.0)
    from greenknobs.search.records._constraints import set_constraints

    if verdict is None:  # the reference
        set_constraints(trial, {"f1_floor": 0.0, "saving_j": 0.0, "degenerate": 1.0 if degenerate else 0.0,
                                "undecided": 0.0})
    else:
        trial.set_user_attr(VERDICT, verdict.to_dict())
        set_constraints(trial, verdict.constraints())
    return energy, f1


def runs_of(trial: FrozenTrial) -> list[RunMeasure]:
    """Every run of a complete trial (one for trials stored before runs were kept)."""
    stored = trial.user_attrs.get(RUNS)
    if stored:
        return [RunMeasure.from_dict(d) for d in stored]
    if trial.values is None:
        return []
    result = result_of(trial)
    return [RunMeasure(result.seed if result else 0, float(trial.values[0]), float(trial.values[1]),
                       bool(trial.user_attrs.get("degenerate", False)))]


def budget_runs(trial: FrozenTrial, baseline_runs: int = 1) -> int:
    """Training runs a trial takes of the budget: those it made once finished (a run that served a model an earlier
    run trained takes none); while running, the baseline's planned k, or 1. A duplicate proposal trained nothing and
    takes none (study/_duplicates.py)."""
    if role_of(trial) == DUPLICATE:
        return 0
    if trial.state == TrialState.RUNNING or trial.state == TrialState.WAITING:
        return baseline_runs if role_of(trial) == "baseline" else 1
    if TRAINING_RUNS in trial.user_attrs:
        return int(trial.user_attrs[TRAINING_RUNS])
    return max(1, int(trial.user_attrs.get("runs", 1)))


def measured_runs(trial: FrozenTrial) -> int:
    """Runs a finished trial measured (each a configuration at a seed), training or serving a kept model."""
    return int(trial.user_attrs.get("runs", 1)) if trial.state == TrialState.COMPLETE else 0


def noise_floor(study: optuna.Study, min_retention: float | None = None) -> NoiseFloor | None:
    """The baseline's runs at distinct seeds (and any deliberate repeats of its configuration); None before the
    baseline has finished."""
    base = baseline_trial(study)
    if base is None:
        return None
    runs = runs_of(base)
    base_cfg = base.user_attrs.get(CONFIG)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if role_of(t) == "repeat" and base_cfg is not None and t.user_attrs.get(CONFIG) == base_cfg:
            runs += runs_of(t)
    if min_retention is None:
        min_retention = study_record(study, SPEC_ATTR, {}).get("min_f1_retention", 0.95)
    return floor_of(runs, min_retention)


def study_spread(study: optuna.Study, config: dict[str, Any] | None = None,
                 runs: Sequence[RunMeasure] = ()) -> Spread | None:
    """The paired noise pooled over every configuration of the study measured at a seed another configuration shares
    (the baseline's k seeds, re-measurements, repeats): the two-way residuals of records/_noise.py. `config` and
    `runs`: a trial still running (the one being judged) joins with what it has measured so far, and gets the pool
    of its kind: of pairs that share a training when every one of its runs shares the baseline's, else of pairs
    trained apart (`pooled_spreads`). Without `runs`: the pool of pairs trained apart."""
    def key(cfg: dict[str, Any]) -> str:
        return json.dumps(cfg, sort_keys=True, default=str)

    by_config: dict[str, list[RunMeasure]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if CONFIG in t.user_attrs and role_of(t) != DUPLICATE:
            by_config.setdefault(key(t.user_attrs[CONFIG]), []).extend(runs_of(t))
    if config is not None and runs:
        by_config.setdefault(key(config), []).extend(runs)
    pools = pooled_spreads(by_config)
    base = baseline_trial(study)
    if not runs or base is None:
        return pools.trained
    return pools.between(runs, {r.seed: r for r in runs_of(base)})


def result_of(trial: FrozenTrial) -> TrialResult | None:
    data = trial.user_attrs.get(RESULT)
    return TrialResult.from_dict(data) if data else None


def spent_j(trial: FrozenTrial) -> float:
    """What a trial cost the search: the joules of all its runs (or those burned before it failed) plus any
    warm-up it paid."""
    ua = trial.user_attrs
    warmup = ua.get(RESULT, {}).get("warmup_energy_j", 0.0)
    return ua.get("energy_j_spent", ua.get("energy_j", ua.get("energy_j_burned", 0.0))) + warmup


def role_of(trial: FrozenTrial) -> str:
    return trial.user_attrs.get(ROLE, "search")


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if role_of(t) == "baseline"]
    return done[0] if done else None


def is_feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0.0 for v in trial.constraints.values())


def is_baseline_config(trial: FrozenTrial, base_cfg: dict[str, Any]) -> bool:
    return role_of(trial) == "baseline" or not knob_differences(trial.user_attrs.get(CONFIG, {}), base_cfg)


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto set of configurations that save energy: feasible search trials (a measurable saving, the F1
    floor cleared beyond the noise or re-measured, not degenerate), none dominated by another, cheapest first.

    The baseline configuration is never in it, whatever trial ran it: it is the reference, not a saving. Deliberate
    repeats are folded into their configuration, not listed."""
    base_cfg = baseline_config(study)
    candidates = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if role_of(t) == "search" and is_feasible(t) and t.values is not None
                  and not is_baseline_config(t, base_cfg)]
    directions = study.directions

    def better_or_equal(a: FrozenTrial, b: FrozenTrial) -> bool:
        return all((x <= y) if d == optuna.study.StudyDirection.MINIMIZE else (x >= y)
                   for x, y, d in zip(a.values, b.values, directions))

    front = [t for t in candidates
             if not any(better_or_equal(o, t) and o.values != t.values for o in candidates)]
    return sorted(front, key=lambda t: (t.values[0], t.number))


def candidate_trials(study: optuna.Study) -> list[FrozenTrial]:
    """What confirmation tests: the Pareto set, and, in a study that reuses trained models, every feasible search trial
    that differs from one of its members only in how it serves (its inference knobs), cheapest first. Such a sibling
    shares its member's training at every confirmation seed, so it costs only its inference there; and the validation split cannot tell two such
    configurations apart reliably (a variant that looked a little cheaper and better there dominates its sibling
    out of the Pareto set, and may keep less of the F1 on the test split).

    A configuration that saved less than the study's `min_saving` share of the baseline's joules on validation (its
    mean against the floor's) is left out: confirming it costs paired baseline runs for a saving no one deploys."""
    from greenknobs.objectives import training_config

    def family(t: FrozenTrial) -> str:
        return json.dumps(training_config(t.user_attrs.get(CONFIG, {})), sort_keys=True, default=str)

    spec = study_record(study, SPEC_ATTR, {})
    worth = _worth_confirming(study, float(spec.get("min_saving", 0.0)))
    front = [t for t in pareto_trials(study) if worth(t)]
    if not spec.get("reuse_training", False):
        return front  # trained apart, a sibling would cost a whole training per seed
    families = {family(t) for t in front}
    chosen = {t.number for t in front}
    base_cfg = baseline_config(study)
    siblings = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.number not in chosen and role_of(t) == "search" and is_feasible(t) and t.values is not None
                and not is_baseline_config(t, base_cfg) and family(t) in families and worth(t)]
    return sorted(front + siblings, key=lambda t: (t.values[0], t.number))


def _worth_confirming(study: optuna.Study, min_saving: float) -> Callable[[FrozenTrial], bool]:
    """Whether a trial's validation joules (its mean) are at least `min_saving` below the floor's mean."""
    floor = noise_floor(study) if min_saving > 0 else None
    base_j = floor.energy_j[0] if floor is not None and floor.n else 0.0
    if base_j <= 0:
        return lambda t: True
    return lambda t: 1.0 - t.values[0] / base_j >= min_saving


# -- the study as a whole ------------------------------------------------------------------------------------
def study_record(study: optuna.Study, key: str, default: Any = None) -> Any:
    """One internal record of the study (its spec, meter, confirmation, a GPU's power cap), or `default`. They are
    study system attributes, out of the dashboard's table of user attributes (what people read is in the study's
    note); a study that holds one as a user attribute is read too."""
    system = study_system_attrs(study)
    return system[key] if key in system else study.user_attrs.get(key, default)


def study_records(study: optuna.Study, prefix: str) -> dict[str, Any]:
    """Every internal record of the study whose key starts with `prefix` (`study_record`; a system attribute wins)."""
    return {k: v for k, v in {**study.user_attrs, **study_system_attrs(study)}.items() if k.startswith(prefix)}


def set_study_record(study: optuna.Study, key: str, value: Any) -> None:
    set_study_system_attr(study, key, value)


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values is not None]


def energy_sources(study: optuna.Study) -> list[str]:
    return sorted({t.user_attrs["energy_source"] for t in study.get_trials(deepcopy=False) if "energy_source" in t.user_attrs})


def energy_word(sources: Sequence[str] | optuna.Study) -> str:
    """How joules were had when they were not measured: "estimated" (the CPU-time estimate), "simulated" (a model
    of the task), or "" when every one was measured. Every label that shows joules says it."""
    if isinstance(sources, optuna.Study):
        sources = energy_sources(sources)
    for word in ("estimated", "simulated"):
        if word in sources:
            return word
    return ""


def is_estimated(study: optuna.Study) -> bool:
    """True when any joule in the study was not measured (estimated or simulated): every label must then say so."""
    return bool(energy_word(study))


def energy_label(study: optuna.Study) -> str:
    word = energy_word(study)
    return {"estimated": "energy (J, estimated from CPU and wall time)", "simulated": "energy (J, simulated)"}.get(
        word, "energy (J, measured)")


def baseline_config(study: optuna.Study) -> dict[str, Any]:
    base = baseline_trial(study)
    if base is not None and CONFIG in base.user_attrs:
        return dict(base.user_attrs[CONFIG])
    return dict(study_record(study, SPEC_ATTR, {}).get("baseline", {}))


def knob_differences(config: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Knobs whose value differs from the baseline's. A conditional knob absent from the baseline (lora_rank when
    the baseline trains fully) counts as changed only when it leaves its declared default: the parent knob's change
    already says that it became active."""
    from greenknobs.spaces import KNOBS_BY_NAME

    missing = object()

    def reference(name: str) -> Any:
        if name in baseline:
            return baseline[name]
        knob = KNOBS_BY_NAME.get(name)
        return knob.baseline if knob is not None else missing

    return {k: v for k, v in sorted(config.items()) if reference(k) != v}


def min_f1_retention(study: optuna.Study) -> float | None:
    return study_record(study, SPEC_ATTR, {}).get("min_f1_retention")
