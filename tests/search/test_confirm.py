"""`confirm`: K seeded repeats of each Pareto configuration, mean ± std stored, never repeated twice."""

from __future__ import annotations

import math
import statistics

import pytest
from optuna.trial import TrialState

from greenknobs.search.records import _records as rec
from greenknobs.search.study._confirm import CONFIRM_OF, CONFIRM_SEED, CONFIRMED_ATTR, NOISE_SIGMAS
from tests.search._cascade_study import build


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build(tmp_path_factory.getbasetemp())


def test_confirm_repeats_the_pareto_set_stores_the_spread_and_resumes(cascade, tmp_path, capsys):
    from greenknobs.search.cli._main import main
    from greenknobs.search.study._study import finished_count, load_study

    storage = cascade.copy(tmp_path)
    before = load_study("cascade", storage)
    front = [t.number for t in rec.pareto_trials(before)]
    counted = finished_count(before)
    assert front, "the cascade study has no Pareto set to confirm"

    assert main(["confirm", str(cascade.study_file), "--storage", storage, "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    study = load_study("cascade", storage)
    trials = {t.number: t for t in study.get_trials()}
    repeats = [t for t in trials.values() if rec.role_of(t) == "confirm"]
    assert len(repeats) == 2 * len(front) and all(t.state == TrialState.COMPLETE for t in repeats)
    stats = study.user_attrs[CONFIRMED_ATTR]
    for n in front:
        mine = sorted((t for t in repeats if t.user_attrs[CONFIRM_OF] == n), key=lambda t: t.number)
        # Repeat k of a trial run with seed 0 runs with seed k: the stored result says which seed really ran.
        assert [t.user_attrs[CONFIRM_SEED] for t in mine] == [1, 2]
        assert [rec.result_of(t).seed for t in mine] == [1, 2]
        assert all(t.user_attrs[rec.CONFIG] == trials[n].user_attrs[rec.CONFIG] for t in mine)
        energies = [trials[n].values[0]] + [t.values[0] for t in mine]
        f1s = [trials[n].values[1]] + [t.values[1] for t in mine]
        s = stats[str(n)]
        assert s["runs"] == 3 and s["trials"] == [n] + [t.number for t in mine]
        assert s["energy_j_mean"] == pytest.approx(statistics.fmean(energies))
        assert s["energy_j_std"] == pytest.approx(statistics.stdev(energies))
        assert s["f1_mean"] == pytest.approx(statistics.fmean(f1s))
        assert s["f1_std"] == pytest.approx(statistics.stdev(f1s))
        assert f"trial {n} (" in out and "over 3 run(s)" in out
    # Neighbours on the front whose edge is within 2 combined std are marked, and only those.
    for a, b in zip(front, front[1:]):
        sa, sb = stats[str(a)], stats[str(b)]
        for key, edge_of, other, on in (("energy_j", a, b, "energy"), ("f1", b, a, "F1")):
            close = abs(sa[f"{key}_mean"] - sb[f"{key}_mean"]) < NOISE_SIGMAS * math.hypot(sa[f"{key}_std"], sb[f"{key}_std"])
            marked = any(w["trial"] == other and w["on"] == on for w in stats[str(edge_of)]["within_noise_of"])
            assert marked == close
    # Repeats are neither budget nor Pareto points.
    assert finished_count(study) == counted
    assert [t.number for t in rec.pareto_trials(study)] == front

    assert main(["confirm", str(cascade.study_file), "--storage", storage, "--repeats", "2"]) == 0
    again = load_study("cascade", storage)
    assert len(again.get_trials()) == len(trials), "a second confirm ran repeats that were already done"
    assert again.user_attrs[CONFIRMED_ATTR] == stats


def test_confirm_needs_a_positive_repeat_count(cascade, capsys):
    from greenknobs.search.cli._main import main

    assert main(["confirm", str(cascade.study_file), "--storage", cascade.storage, "--repeats", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
