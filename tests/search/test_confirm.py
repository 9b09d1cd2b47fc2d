"""`greenknobs confirm` on a real study: every Pareto candidate and the baseline re-run on the test split at the same
fresh seeds, in the study's `:confirm` twin; summaries stored; nothing run twice; more seeds added on request.
The statistics and the recommendation rule are tested on a simulated task (test_verdicts.py)."""

from __future__ import annotations

import math

import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from greenknobs.search.study import CONFIRM_OF, CONFIRM_SEED, CONFIRMED_ATTR, confirm_study, confirmed
from tests.search._cascade_study import build


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build(tmp_path_factory.getbasetemp())


def test_confirm_runs_candidates_and_baseline_at_paired_test_seeds_and_resumes(cascade, tmp_path, capsys):
    from greenknobs.search.cli import main
    from greenknobs.search.study import finished_count, load_study

    storage = cascade.copy(tmp_path)
    before = load_study("cascade", storage)
    front = [t.number for t in rec.candidate_trials(before)]  # the Pareto set and its serving siblings
    counted = finished_count(before)
    code = main(["confirm", str(cascade.study_file), "--storage", storage])
    out, err = capsys.readouterr()
    if not front:
        assert code == 2 and err.count("\n") == 1 and "no Pareto candidate to confirm" in err
        assert confirm_study(load_study("cascade", storage), create=False) is None
        return
    assert code == 0, err
    study = load_study("cascade", storage)
    twin = confirm_study(study, create=False)
    runs = twin.get_trials(states=(TrialState.COMPLETE,))
    base = rec.baseline_trial(study).number
    seeds = {n: sorted(int(t.user_attrs[CONFIRM_SEED]) for t in runs if t.user_attrs[CONFIRM_OF] == n)
             for n in [base, *front]}
    assert all(s[:3] == [3, 4, 5] for s in seeds.values())  # the same fresh seeds for all, after the search's 0-2
    assert seeds[base] == max(seeds.values(), key=len)  # the baseline runs at every seed any candidate runs at
    assert all(t.user_attrs["eval_split"] == "test" and rec.result_of(t).eval_split == "test" for t in runs)
    for t in runs:  # each run is its search trial's configuration, at its seed
        search = study.trials[t.user_attrs[CONFIRM_OF]]
        assert t.user_attrs[rec.CONFIG] == search.user_attrs[rec.CONFIG] and rec.result_of(t).seed == t.user_attrs[CONFIRM_SEED]
    stats = confirmed(study)
    assert set(stats) == set(front) and rec.study_record(study, CONFIRMED_ATTR)["seeds"][:3] == [3, 4, 5]
    for n, p in stats.items():
        mine = {int(t.user_attrs[CONFIRM_SEED]): t for t in runs if t.user_attrs[CONFIRM_OF] == n}
        theirs = {int(t.user_attrs[CONFIRM_SEED]): t for t in runs if t.user_attrs[CONFIRM_OF] == base}
        logs = [math.log(mine[s].values[0] / theirs[s].values[0]) for s in p.seeds]
        assert p.saving.mean == pytest.approx(1 - math.exp(sum(logs) / len(logs)))  # paired by seed, from the runs
        assert f"trial {n} (" in out
    # The search study is untouched: no trial added, the budget as it was, the front the same.
    assert finished_count(study) == counted and [t.number for t in rec.candidate_trials(study)] == front
    searched = [rec.result_of(t) for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert searched and all(r.eval_split == "validation" for r in searched)

    assert main(["confirm", str(cascade.study_file), "--storage", storage]) == 0
    assert len(confirm_study(load_study("cascade", storage), create=False).get_trials()) == len(twin.get_trials()), \
        "a second confirm ran seeds that were already done"
    extra = max(len(s) for s in seeds.values()) + 1
    assert main(["confirm", str(cascade.study_file), "--storage", storage, "--repeats", str(extra)]) == 0
    more = confirm_study(load_study("cascade", storage), create=False).get_trials(states=(TrialState.COMPLETE,))
    after = sorted(int(t.user_attrs[CONFIRM_SEED]) for t in more if t.user_attrs[CONFIRM_OF] == base)
    opened = [n for n, p in stats.items() if p.decided in ("undecided", "inconclusive")]
    assert after == (list(range(3, 3 + extra)) if opened else seeds[base])  # more seeds only for what is open


def test_confirm_needs_two_seeds_for_an_interval(cascade, capsys):
    from greenknobs.search.cli import main

    assert main(["confirm", str(cascade.study_file), "--storage", cascade.storage, "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--repeats 1 gives no interval" in err
