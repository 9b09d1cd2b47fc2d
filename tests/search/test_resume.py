"""Resuming a study: a second `greenknobs run` on the same storage continues it; the budget counts both runs."""

from __future__ import annotations

from optuna.trial import TrialState

from greenknobs.search.records import _records as rec

FINISHED = ("COMPLETE", "FAIL", "PRUNED")


def test_first_run_stops_at_its_budget(smoke_study):
    first = smoke_study.first_run
    assert [n for n, _, _ in first] == [0, 1, 2]
    assert all(state in FINISHED for _, state, _ in first)
    assert [role for _, _, role in first] == ["baseline", "search", "search"]
    assert "3/3 trials finished" in smoke_study.outputs[0].stdout


def test_second_run_tops_up_to_the_budget_with_one_baseline(smoke_study):
    study = smoke_study.load()
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)]
    # 6 in all, not 3 + 6: the budget is the study's, counted over both runs.
    assert len(trials) == len(finished) == 6
    assert [t.number for t in trials] == list(range(6))
    baselines = [t for t in trials if rec.role_of(t) == "baseline"]
    assert [t.number for t in baselines] == [0]
    assert baselines[0].state == TrialState.COMPLETE
    # The first run's trials are untouched: the second run only added trials 3..5.
    assert [(t.number, t.state.name, rec.role_of(t)) for t in trials[:3]] == smoke_study.first_run
    assert "6/6 trials finished" in smoke_study.outputs[1].stdout
    # Every searched trial after the resume is still compared with the same baseline.
    base_j = baselines[0].values[0]
    for t in trials[3:]:
        if t.state == TrialState.COMPLETE:
            assert abs(t.user_attrs["energy_reduction_pct"] - round(100 * (1 - t.values[0] / base_j), 3)) < 1e-6
