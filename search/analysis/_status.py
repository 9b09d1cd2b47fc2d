"""`greenknobs status`: trials by state, Pareto size, best reduction within the constraint, energy spent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna

from greenknobs.search.records import _records as rec


def study_status(study: optuna.Study) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    feasible = [t for t in trials if rec.is_feasible(t) and rec.role_of(t) != "baseline"]
    best = max(feasible, key=lambda t: t.user_attrs.get("energy_reduction_pct", float("-inf")), default=None)
    spent = sum(rec.spent_j(t) for t in trials)
    base = rec.baseline_trial(study)
    sources = sorted({t.user_attrs["energy_source"] for t in trials if "energy_source" in t.user_attrs})
    return {
        "study": study.study_name,
        "trials": dict(states),
        "pareto_size": len(rec.pareto_trials(study)),
        "baseline_energy_j": base.user_attrs.get("energy_j") if base else None,
        "baseline_f1": base.user_attrs.get("f1") if base else None,
        "best_trial": best.number if best else None,
        "best_energy_reduction_pct": best.user_attrs.get("energy_reduction_pct") if best else None,
        "best_f1_retention_pct": best.user_attrs.get("f1_retention_pct") if best else None,
        "energy_spent_j": spent,
        "energy_sources": sources,
    }


def status_text(study: optuna.Study) -> str:
    s = study_status(study)
    estimated = s["energy_sources"] == ["estimated"]
    label = " (estimated)" if estimated else ""
    states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s["trials"].items())) or "no trials"
    lines = [f"study {s['study']}: {states}; Pareto set: {s['pareto_size']} trial(s)"]
    if s["baseline_energy_j"] is not None:
        lines.append(f"baseline: {s['baseline_energy_j']:,.1f} J{label}, F1 {s['baseline_f1']:.4f}")
        base = rec.baseline_trial(study)
        if base.user_attrs.get("degenerate"):
            # The original study's trap: a reference that predicts one class makes every "F1 kept" meaningless.
            lines.append(f"WARNING: the baseline is degenerate ({base.user_attrs.get('degenerate_reason', '')}): no trial "
                         "can keep a share of its F1; give the baseline more data, epochs or another learning rate "
                         "([baseline] in the study file) and start a new study")
    if s["best_trial"] is not None:
        lines.append(f"best feasible: trial {s['best_trial']}, {s['best_energy_reduction_pct']:.1f}% less energy at "
                     f"{s['best_f1_retention_pct']:.1f}% of the baseline F1")
    sources = "" if estimated else f" ({', '.join(s['energy_sources']) or 'nothing measured yet'})"
    lines.append(f"energy spent by the study: {s['energy_spent_j']:,.1f} J{label}{sources}")
    return "\n".join(lines)
