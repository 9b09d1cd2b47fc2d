"""Resuming a study: a second `greenknobs run` on the same storage continues it; the budget (training runs) counts
both runs."""

from __future__ import annotations

from optuna.trial import TrialState

from greenknobs.search import records as rec
from tests.search.conftest import BUDGET, FIRST_RUN

FINISHED = ("COMPLETE", "FAIL", "PRUNED")


def test_first_run_stops_at_its_budget(smoke_study):
    first = smoke_study.first_run
    assert first[0] == (0, "COMPLETE", "baseline")
    assert all(state in FINISHED for _, state, _ in first)
    assert [role for _, _, role in first[1:]] == ["search"] * (len(first) - 1)
    assert f"{FIRST_RUN}/{FIRST_RUN} runs finished" in smoke_study.outputs[0].stdout
    assert "confirmation skipped" in smoke_study.outputs[0].stderr


def test_second_run_tops_up_to_the_budget_with_one_baseline(smoke_study):
    study = smoke_study.load()
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)]
    assert len(trials) == len(finished)
    # The budget is the study's, counted in training runs over both invocations: not 5 + 9.
    assert sum(rec.budget_runs(t) for t in finished) == BUDGET
    assert [t.number for t in trials] == list(range(len(trials)))
    baselines = [t for t in trials if rec.role_of(t) == "baseline"]
    assert [t.number for t in baselines] == [0]
    assert baselines[0].state == TrialState.COMPLETE and baselines[0].user_attrs["runs"] == 3
    # The first run's trials are untouched: the second run only added trials after them.
    n = len(smoke_study.first_run)
    assert [(t.number, t.state.name, rec.role_of(t)) for t in trials[:n]] == smoke_study.first_run
    assert f"{BUDGET}/{BUDGET} runs finished" in smoke_study.outputs[1].stdout
    # Every searched trial after the resume is still compared with the same noise floor.
    floor = rec.noise_floor(study)
    for t in trials[n:]:
        if t.state == TrialState.COMPLETE:
            assert abs(t.user_attrs["energy_reduction_pct"] - round(100 * (1 - t.values[0] / floor.energy_j[0]), 3)) < 1e-6
