"""The Pareto front as plain data: rows, hypervolume history, knob differences. Figures (`_plots`), PNG renderers,
export and the report all read the study through these, so they agree on what is feasible, Pareto and baseline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from greenknobs.objectives import PIPELINE_PHASES
from greenknobs.search import records as rec
from greenknobs.search.records import baseline_config, completed, knob_differences


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per complete trial, by trial number: what a scatter of the front needs.

    Keys: trial, role, energy_j, f1, feasible, pareto, baseline, degenerate, energy_source, energy_reduction_pct,
    f1_retention_pct, phase_energy_j ({phase: J}), changed ({knob: value} differing from the baseline).
    `pareto` marks the feasible non-dominated set of `_records.pareto_trials`; repeats made by `confirm` have
    role "confirm" and are never marked Pareto themselves.
    """
    front = {t.number for t in rec.pareto_trials(study)}
    base_cfg = baseline_config(study)
    rows = []
    for t in completed(study):
        ua = t.user_attrs
        rows.append({
            "trial": t.number,
            "role": rec.role_of(t),
            "energy_j": float(t.values[0]),
            "f1": float(t.values[1]),
            "feasible": rec.is_feasible(t),
            "pareto": t.number in front,
            "baseline": rec.role_of(t) == "baseline",
            "degenerate": bool(ua.get("degenerate", False)),
            "energy_source": ua.get("energy_source", "unknown"),
            "energy_reduction_pct": ua.get("energy_reduction_pct"),
            "f1_retention_pct": ua.get("f1_retention_pct"),
            "phase_energy_j": {p: float(ua.get(f"energy_j.{p}", 0.0)) for p in PIPELINE_PHASES},
            "changed": knob_differences(ua.get(rec.CONFIG, {}), base_cfg) if base_cfg else {},
        })
    return rows


def hypervolume_2d(points: Iterable[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by `points` (both coordinates minimized) and bounded by `reference`.

    Sweep in the first coordinate: each point that lowers the best second coordinate seen so far adds the strip
    between its second coordinate and that best, from its first coordinate to the reference.
    """
    ref_x, ref_y = float(reference[0]), float(reference[1])
    inside = sorted((float(x), float(y)) for x, y in points if x < ref_x and y < ref_y)
    area, best_y = 0.0, ref_y
    for x, y in inside:
        if y < best_y:
            area += (ref_x - x) * (best_y - y)
            best_y = y
    return area


def hypervolume_reference(study: optuna.Study) -> tuple[float, float] | None:
    """(baseline joules, F1 = 0) in minimization form (joules, -F1); None until the baseline has finished."""
    base = rec.baseline_trial(study)
    return (float(base.values[0]), 0.0) if base is not None else None


def hypervolume_history(study: optuna.Study, reference: Sequence[float] | None = None) -> list[dict[str, float]]:
    """Hypervolume of the feasible trials finished so far, after each finished trial (by trial number).

    The reference is (joules, F1) = (baseline joules, 0) unless given: the area counts only what is cheaper than the
    baseline and better than F1 0, with F1 negated so both objectives are minimized. `share` divides by the
    reference box (ref joules × ref F1 span), so 0.3 means the front dominates 30% of "cheaper than the baseline".
    Repeats made by `confirm` are left out, as from the Pareto set. Empty when there is no reference yet.
    """
    if reference is None:
        reference = hypervolume_reference(study)
        if reference is None:
            return []
    ref = (float(reference[0]), -float(reference[1]))
    box = ref[0] * (1.0 + ref[1]) if ref[0] > 0 else 0.0  # F1 ∈ [0, 1], negated: from -1 up to -ref F1
    finished = sorted((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL,
                                                                                  TrialState.PRUNED))
                       if rec.role_of(t) in ("baseline", "search")), key=lambda t: t.number)
    points: list[tuple[float, float]] = []
    history = []
    for t in finished:
        if rec.is_feasible(t) and t.values is not None:
            points.append((float(t.values[0]), -float(t.values[1])))
        hv = hypervolume_2d(points, ref)
        history.append({"trial": t.number, "hypervolume": hv, "share": hv / box if box > 0 else 0.0})
    return history


def phase_energy_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The baseline, then the Pareto trials by joules: trial, label, and joules per phase."""
    rows = pareto_rows(study)
    chosen = [r for r in rows if r["baseline"]] + sorted((r for r in rows if r["pareto"] and not r["baseline"]),
                                                         key=lambda r: r["energy_j"])
    out = []
    for r in chosen:
        label = f"trial {r['trial']}" + (" (baseline)" if r["baseline"] else "")
        out.append({"trial": r["trial"], "label": label, "energy_j": r["energy_j"], "f1": r["f1"],
                    "pareto": r["pareto"], "baseline": r["baseline"], "phase_energy_j": r["phase_energy_j"]})
    return out
