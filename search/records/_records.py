"""How a trial's measurements are stored in Optuna, and read back (export, report, status, confirm)."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from greenknobs.objectives import PIPELINE_PHASES, TrialResult

ROLE = "greenknobs.role"  # baseline | search | confirm
RESULT = "greenknobs.result"
CONFIG = "greenknobs.config"
FAIL_REASON = "fail_reason"
METRIC_NAMES = ("energy_j", "f1")
SPEC_ATTR = "greenknobs.spec"  # study user attr: the spec the study was created with
METER_ATTR = "greenknobs.meter"  # study user attr: energy source and hardware; written last, it marks the study ready


def store_result(trial: optuna.Trial, result: TrialResult, baseline: TrialResult | None, min_retention: float) -> None:
    trial.set_user_attr(RESULT, result.to_dict())
    trial.set_user_attr("energy_j", result.energy_j)
    trial.set_user_attr("energy_source", result.energy_source)
    for phase in PIPELINE_PHASES:
        trial.set_user_attr(f"energy_j.{phase}", result.phase_energy_j.get(phase, 0.0))
    for key in ("f1", "f1_kind", "weighted_f1", "accuracy", "majority_f1", "degenerate", "time_s", "trainable_params"):
        trial.set_user_attr(key, getattr(result, key))
    if result.degenerate:
        trial.set_user_attr("degenerate_reason", result.degenerate_reason)
    base = baseline or result
    reduction, retention = compare(result, base)
    trial.set_user_attr("energy_reduction_pct", round(100 * reduction, 3))
    trial.set_user_attr("f1_retention_pct", round(100 * retention, 3))
    # Feasible when every constraint is <= 0: keep min_retention of the baseline F1, and do not collapse.
    trial.set_constraint("f1_retention", min_retention - retention)
    trial.set_constraint("degenerate", 1.0 if result.degenerate else 0.0)


def compare(result: TrialResult, baseline: TrialResult) -> tuple[float, float]:
    reduction = 1.0 - result.energy_j / baseline.energy_j if baseline.energy_j > 0 else 0.0
    retention = result.f1 / baseline.f1 if baseline.f1 > 0 else 0.0
    return reduction, retention


def result_of(trial: FrozenTrial) -> TrialResult | None:
    data = trial.user_attrs.get(RESULT)
    return TrialResult.from_dict(data) if data else None


def spent_j(trial: FrozenTrial) -> float:
    """What a trial cost the search: its joules (or those burned before it failed) plus any warm-up it paid."""
    warmup = trial.user_attrs.get(RESULT, {}).get("warmup_energy_j", 0.0)
    return trial.user_attrs.get("energy_j", trial.user_attrs.get("energy_j_burned", 0.0)) + warmup


def role_of(trial: FrozenTrial) -> str:
    return trial.user_attrs.get(ROLE, "search")


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if role_of(t) == "baseline"]
    return done[0] if done else None


def is_feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0.0 for v in trial.constraints.values())


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible, non-dominated trials; repeats made by `confirm` are folded into their configuration, not listed.

    The front is taken over non-confirm trials only (not `study.best_trials`): a repeat that happens to measure a
    few joules less would otherwise dominate its own original and drop that configuration from the set."""
    candidates = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if role_of(t) != "confirm" and is_feasible(t) and t.values is not None]
    directions = study.directions

    def better_or_equal(a: FrozenTrial, b: FrozenTrial) -> bool:
        return all((x <= y) if d == optuna.study.StudyDirection.MINIMIZE else (x >= y)
                   for x, y, d in zip(a.values, b.values, directions))

    front = [t for t in candidates
             if not any(better_or_equal(o, t) and o.values != t.values for o in candidates)]
    return sorted(front, key=lambda t: (t.values[0], t.number))


def note_markdown(trial_number: int, result: TrialResult, differences: dict[str, Any], baseline: TrialResult | None,
                  min_retention: float) -> str:
    base = baseline or result
    reduction, retention = compare(result, base)
    label = "estimated" if result.estimated else "measured"
    lines = [f"## Trial {trial_number}" + (" — baseline" if baseline is None else "")]
    lines.append("")
    if differences:
        lines.append("**Knobs changed from the baseline:** " + ", ".join(f"`{k} = {v}`" for k, v in differences.items()))
    else:
        lines.append("**All knobs at their baseline.**")
    lines.append("")
    lines.append("| | value | vs baseline |")
    lines.append("|---|---|---|")
    lines.append(f"| energy ({label}) | {result.energy_j:,.1f} J | {100 * reduction:+.1f}% saved |")
    lines.append(f"| {result.f1_kind} F1 | {result.f1:.4f} | {100 * retention:.1f}% retained (need {100 * min_retention:.0f}%) |")
    lines.append(f"| weighted F1 / accuracy | {result.weighted_f1:.4f} / {result.accuracy:.4f} | |")
    lines.append(f"| time | {result.time_s:.1f} s | |")
    lines.append(f"| trainable parameters | {result.trainable_params:,} | |")
    lines.append("")
    lines.append("Energy by phase: " + ", ".join(f"{p} {result.phase_energy_j.get(p, 0):,.1f} J" for p in PIPELINE_PHASES))
    lines.append("")
    lines.append(f"Energy source: **{result.energy_source}** — {result.energy_description}")
    if result.degenerate:
        lines.append("")
        lines.append(f"**Degenerate:** {result.degenerate_reason}. Infeasible: never enters the Pareto set.")
    return "\n".join(lines)


# -- the study as a whole ------------------------------------------------------------------------------------
def completed(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values is not None]


def energy_sources(study: optuna.Study) -> list[str]:
    return sorted({t.user_attrs["energy_source"] for t in study.get_trials(deepcopy=False) if "energy_source" in t.user_attrs})


def is_estimated(study: optuna.Study) -> bool:
    """True when any joule in the study comes from the CPU-time estimate: every label must then say so."""
    return "estimated" in energy_sources(study)


def energy_label(study: optuna.Study) -> str:
    return "energy (J, estimated from CPU and wall time)" if is_estimated(study) else "energy (J, measured)"


def baseline_config(study: optuna.Study) -> dict[str, Any]:
    base = baseline_trial(study)
    if base is not None and CONFIG in base.user_attrs:
        return dict(base.user_attrs[CONFIG])
    return dict(study.user_attrs.get(SPEC_ATTR, {}).get("baseline", {}))


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
    return study.user_attrs.get(SPEC_ATTR, {}).get("min_f1_retention")
