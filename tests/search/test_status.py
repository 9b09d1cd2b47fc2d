"""`status` on a study whose baseline collapsed: the original study's trap is said out loud."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState, create_trial

from greenknobs.search import records as rec
from greenknobs.search.analysis import status_text


def _study(degenerate: bool) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="s")
    study.add_trial(create_trial(
        state=TrialState.COMPLETE, values=[700.0, 0.0 if degenerate else 0.6],
        user_attrs={rec.ROLE: "baseline", "energy_j": 700.0, "f1": 0.0 if degenerate else 0.6,
                    "energy_source": "estimated", "degenerate": degenerate,
                    "degenerate_reason": "predicts one class (0) for every input" if degenerate else ""},
        system_attrs={"constraints": [0.0, 1.0 if degenerate else 0.0]}))
    return study


def test_a_degenerate_baseline_is_flagged_with_the_fix():
    text = status_text(_study(True))
    assert "WARNING: the baseline is degenerate (predicts one class (0) for every input)" in text
    assert "[baseline]" in text
    assert "WARNING" not in status_text(_study(False))
