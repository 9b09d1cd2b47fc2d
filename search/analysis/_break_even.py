"""The break-even of a recommendation: how many runs of the recommended configuration, each in place of a run of the
baseline, pay back the joules the whole study spent (its search and its confirmation).

A run here is what the study measured: one fine-tune and one pass of inference over the test split. The joules saved
per run are the baseline's mean test-split joules times the confirmed saving, with the saving's 95% interval; the
break-even's interval divides the study's spend by that interval's two ends (no upper end when the interval reaches
no saving)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

from greenknobs.search import records as rec


@dataclass(frozen=True)
class BreakEven:
    trial: int
    saved_j: rec.Interval  # joules saved per run, with the 95% interval of the paired saving
    study_j: float  # what the study spent: search and confirmation
    runs: float  # study_j / saved_j.mean
    runs_low: float | None  # study_j / saved_j.high
    runs_high: float | None  # study_j / saved_j.low; None when the interval reaches no saving
    seeds: int  # paired test seeds behind the saving

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "saved_j": self.saved_j.to_dict(), "study_j": self.study_j, "runs": self.runs,
                "runs_low": self.runs_low, "runs_high": self.runs_high, "seeds": self.seeds}

    def text(self, word: str = "") -> str:
        label = f" {word}" if word else ""
        iv = self.saved_j
        saved = f"{iv.mean:,.1f} J{label} saved per run"
        if iv.low is not None:
            saved += f" [95% CI {iv.low:,.1f} to {iv.high:,.1f} J]"
        high = "no bound: the interval reaches no saving" if self.runs_high is None else f"{math.ceil(self.runs_high):,}"
        span = f" [95% CI {math.ceil(self.runs_low):,} to {high}]" if self.runs_low is not None else ""
        return (f"trial {self.trial}: {saved} (fine-tune + test-split inference, {self.seeds} paired seeds); the "
                f"study spent {self.study_j:,.0f} J{label} (search and confirmation), paid back after "
                f"{math.ceil(self.runs):,} runs{span}")


def study_spend_j(study: optuna.Study) -> tuple[float, float]:
    """(search, confirmation) joules: every run of every trial, failed and stopped ones included."""
    from greenknobs.search.study import confirm_study

    search = sum(rec.spent_j(t) for t in study.get_trials(deepcopy=False))
    twin = confirm_study(study, create=False)
    confirm = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False)) if twin is not None else 0.0
    return search, confirm


def break_even(study: optuna.Study) -> list[BreakEven]:
    """One line per recommended configuration, cheapest first."""
    from greenknobs.search.study import confirmed

    stats = confirmed(study)
    spent = sum(study_spend_j(study))
    out = []
    for number, p in sorted(stats.items(), key=lambda kv: kv[1].energy_j.mean):
        if not p.recommended or p.saving.mean <= 0:
            continue
        base_j = p.baseline_energy_j.mean
        saved = rec.Interval(base_j * p.saving.mean, None if p.saving.low is None else base_j * p.saving.low,
                               None if p.saving.high is None else base_j * p.saving.high, None)
        low = spent / saved.high if saved.high is not None and saved.high > 0 else None
        high = spent / saved.low if saved.low is not None and saved.low > 0 else None
        out.append(BreakEven(number, saved, spent, spent / saved.mean, low, high, p.n))
    return out
