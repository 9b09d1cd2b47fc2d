"""One contract, every storage mode (in the manner of Optuna's own storage tests): the journal file (default),
SQLite, and a real PostgreSQL server. Create, resume, the baseline once, the budget counted across runs, `status`
reading it back; on the RDB storages, heartbeats failing a silent worker's trial and retrying it once."""

from __future__ import annotations

import json
import time

import pytest
from optuna.trial import TrialState

from greenknobs.search.study import HOST, RETRY_OF
from greenknobs.search import records as rec
from greenknobs.search.cli import main
from greenknobs.search.study import load_spec, finished_count, open_study, run_study
from tests.search import _durable
from tests.search._durable import unique, write_study


@pytest.fixture(scope="session")
def postgres_url(request) -> str:
    return _durable.postgres_url(request)


_url = _durable.storage_url


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_create_resume_baseline_once_budget_and_status(kind, tmp_path, request, tiny_pipeline, capsys):
    url = _url(kind, tmp_path, request)
    name = unique(f"contract-{kind}")
    study_file = write_study(tmp_path, name, n_trials=4)  # runs: the baseline's 3 seeds + 1 trial

    ctx = open_study(load_spec(study_file), storage_url=url, pipeline=tiny_pipeline)
    assert [(t.number, t.state, rec.role_of(t)) for t in ctx.study.get_trials()] == [(0, TrialState.WAITING, "baseline")]
    assert run_study(ctx, show_progress=False) == {"finished": 4, "budget": 4}
    first = [(t.number, t.state, t.values) for t in ctx.study.get_trials()]
    assert [(n, s) for n, s, _ in first] == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE)]

    # Resume in a fresh context, as a new process would: the budget is the study's, counted over both runs.
    again = open_study(load_spec(study_file), storage_url=url, pipeline=tiny_pipeline)
    assert run_study(again, n_trials=5, show_progress=False) == {"finished": 5, "budget": 5}
    trials = again.study.get_trials()
    assert [(t.number, t.state, t.values) for t in trials[:2]] == first
    # Two knobs, a small space: the sampler may propose a configuration already measured, which ends FAIL as a
    # duplicate before it trains (study/_duplicates.py) and takes none of the budget.
    trained = [t for t in trials if rec.role_of(t) != rec.DUPLICATE]
    asked_again = [t for t in trials if rec.role_of(t) == rec.DUPLICATE]
    assert [t.state for t in trained] == [TrialState.COMPLETE] * 3
    assert all(t.state == TrialState.FAIL for t in asked_again)
    assert [t.number for t in trials if rec.role_of(t) == "baseline"] == [0]  # queued once, never again
    assert run_study(again, n_trials=5, show_progress=False)["finished"] == 5
    assert len(again.study.get_trials()) == len(trials)  # a met budget starts nothing

    capsys.readouterr()
    assert main(["status", str(study_file), "--storage", url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["study"] == name
    assert status["trials"] == {"COMPLETE": 3, **({"FAIL": len(asked_again)} if asked_again else {})}
    assert status["baseline_energy_j"] == pytest.approx(first[0][2][0])
    assert main(["status", str(study_file), "--storage", url]) == 0
    assert f"study {name}: 3 complete" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_heartbeat_fails_a_silent_workers_trial_and_retries_it_once(tmp_path, request, tiny_pipeline):
    """A worker on another host claimed the baseline, beat once, and went silent (a lost node): after the grace
    period the next worker fails it and runs its configuration again, as the baseline. SQLite stands for every RDB
    storage here (the heartbeat is RDBStorage's, the same code on PostgreSQL) and is always available."""
    kind = "sqlite"
    url = _url(kind, tmp_path, request)
    spec = load_spec(write_study(tmp_path, unique(f"heartbeat-{kind}"), n_trials=4))
    ctx = open_study(spec, storage_url=url, pipeline=tiny_pipeline, heartbeat_interval_s=1)
    study = ctx.study
    silent = study.ask()
    silent.set_user_attr(HOST, "another-host")
    rec.record_heartbeat(study, silent)
    time.sleep(4 + 1.5)  # grace period: 4 heartbeat intervals

    assert run_study(ctx, show_progress=False) == {"finished": 4, "budget": 4}
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and rec.role_of(trials[0]) == "baseline"
    retries = [t for t in trials if t.system_attrs.get(RETRY_OF) == 0]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE and rec.role_of(retries[0]) == "baseline"
    assert not trials[0].params  # lost before it suggested anything: the retry still runs the baseline config
    assert retries[0].params == ctx.space.params_of(ctx.space.baseline())
    assert finished_count(study) == 4 and len(trials) == 3
