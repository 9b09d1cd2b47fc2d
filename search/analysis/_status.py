"""`greenknobs status`: trials by state, the noise floor, the Pareto candidates, confirmation, energy spent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna

from greenknobs.search import records as rec
from greenknobs.search.analysis._break_even import break_even
from greenknobs.search.study import confirm_study, confirmed


def study_status(study: optuna.Study) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    front = rec.pareto_trials(study)
    best = max(front, key=lambda t: t.user_attrs.get("energy_reduction_pct", float("-inf")), default=None)
    base = rec.baseline_trial(study)
    floor = rec.noise_floor(study)
    stats = confirmed(study)
    sources = sorted({t.user_attrs["energy_source"] for t in trials if "energy_source" in t.user_attrs})
    confirmation_j, confirmation_runs = _confirmation(study)
    return {
        "study": study.study_name,
        "trials": dict(states),
        "runs": sum(rec.budget_runs(t) for t in trials if t.state.is_finished()),
        "configuration_runs": sum(rec.measured_runs(t) for t in trials),
        "served_runs": sum(_served(t) for t in trials),
        "pareto_size": len(front),
        "noise_floor": floor.summary() if floor else None,
        "baseline_energy_j": floor.energy_j[0] if floor else None,
        "baseline_f1": floor.f1[0] if floor else None,
        "best_trial": best.number if best else None,
        "best_energy_reduction_pct": best.user_attrs.get("energy_reduction_pct") if best else None,
        "best_f1_retention_pct": best.user_attrs.get("f1_retention_pct") if best else None,
        "best_runs": int(best.user_attrs.get("runs", 1)) if best else None,
        "confirmed": {str(k): v.to_dict() for k, v in stats.items()},
        "recommended": sorted(k for k, v in stats.items() if v.recommended),
        "energy_spent_j": sum(rec.spent_j(t) for t in trials),
        "break_even": [b.to_dict() for b in break_even(study)],
        "confirmation_energy_j": confirmation_j,
        "confirmation_runs": confirmation_runs,
        "energy_sources": sources,
        "baseline_degenerate": bool(base.user_attrs.get("degenerate")) if base else None,
    }


def status_text(study: optuna.Study) -> str:
    s = study_status(study)
    word = rec.energy_word(s["energy_sources"])
    label = f" ({word})" if word else ""
    states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s["trials"].items())) or "no trials"
    stopped = sum(1 for t in study.get_trials(deepcopy=False) if "greenknobs.stopped" in t.user_attrs)
    # A proposal of a configuration the study had ends FAIL with nothing trained (study/_duplicates.py): say so.
    asked = sum(1 for t in study.get_trials(deepcopy=False) if rec.role_of(t) == rec.DUPLICATE)
    served = (f", {s['configuration_runs']} configuration runs measured: {s['served_runs']} of them served a trained "
              "model kept from another run, at inference cost" if s["served_runs"] else "")
    lines = [f"study {s['study']}: {states} ({s['runs']} training runs{served}"
             + (f", {stopped} stopped early" if stopped else "")
             + (f"; {asked} failed as duplicates: proposals of measured configurations, nothing trained" if asked else "")
             + f"); Pareto candidates: {s['pareto_size']}"]
    floor = rec.noise_floor(study)
    if floor is not None:
        lines.append(floor.text(word, spread=rec.study_spread(study)))
        if s["baseline_degenerate"]:
            # The original study's trap: a reference that predicts one class makes every "F1 kept" meaningless.
            base = rec.baseline_trial(study)
            lines.append(f"WARNING: the baseline is degenerate ({base.user_attrs.get('degenerate_reason', '')}): no "
                         "trial can keep a share of its F1; give the baseline more data, epochs or another learning "
                         "rate ([baseline] in the study file) and start a new study")
    if s["best_trial"] is not None:
        runs = s["best_runs"]
        how = f"mean of {runs} runs" if runs > 1 else "measured once"
        lines.append(f"best candidate (validation, {how}): trial {s['best_trial']}, "
                     f"{rec.saving_text(s['best_energy_reduction_pct'] / 100)} at {s['best_f1_retention_pct']:.1f}% "
                     "of the baseline F1")
    stats = confirmed(study)
    if stats:
        from greenknobs.search.analysis._notes import confirm_text

        lines.append(confirm_text(study, stats))
    elif s["pareto_size"]:
        lines.append("not confirmed yet: nothing is recommended until `greenknobs confirm` runs the candidates on the "
                     "test split")
    sources = "" if word else f" ({', '.join(s['energy_sources']) or 'nothing measured yet'})"
    lines.append(f"energy spent by the search: {s['energy_spent_j']:,.1f} J{label}{sources}"
                 + (f"; by confirmation, apart: {s['confirmation_energy_j']:,.1f} J{label}"
                    + _runs_text(*s["confirmation_runs"]) if s["confirmation_energy_j"] else ""))
    for b in break_even(study):
        lines.append("break-even: " + b.text(word))
    return "\n".join(lines)


def _served(trial: optuna.trial.FrozenTrial) -> int:
    """Runs of a complete trial that served a model an earlier run trained (objectives/_trained.py)."""
    return sum(r.reused for r in rec.runs_of(trial)) if trial.state.is_finished() else 0


def _confirmation(study: optuna.Study) -> tuple[float, tuple[int, int]]:
    """The confirmation's joules spent and its (runs, training runs), from one read of its study: candidates that
    serve alike share a training at each seed."""
    twin = confirm_study(study, create=False)
    trials = twin.get_trials(deepcopy=False) if twin is not None else []
    done = [t for t in trials if t.state.is_finished()]
    return (sum(rec.spent_j(t) for t in trials),
            (len(done), sum(int(t.user_attrs.get(rec.TRAINING_RUNS, 1)) for t in done)))


def _runs_text(runs: int, trained: int) -> str:
    return f" ({runs} runs, {trained} of them training)" if runs != trained else f" ({runs} runs)"

