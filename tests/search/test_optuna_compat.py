"""The Optuna internals greenknobs relies on, each checked against the installed Optuna through the one module that
names them (search/records/_optuna.py); nothing else in the code reaches them."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from greenknobs.search import records as rec

ROOT = Path(__file__).resolve().parents[2]
INTERNALS = re.compile(r"(?<!search\.study)\._storage\b|\._trial_id\b|\._study_id\b|optuna\.storages\._")


@pytest.fixture
def study(tmp_path):
    return optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "s.journal"))),
                               directions=["minimize", "maximize"])


def test_ids_and_storage_are_the_studys_own(study):
    trial = study.ask()
    assert isinstance(rec.storage_of(study), optuna.storages.BaseStorage)
    assert rec.study_id(study) == rec.storage_of(study).get_study_id_from_name(study.study_name)
    frozen = rec.fresh(study, trial)
    assert isinstance(rec.trial_id(trial), int) and rec.trial_id(frozen) == rec.trial_id(trial)
    assert frozen.number == trial.number and frozen.state == TrialState.RUNNING


def test_system_attrs_are_written_and_read_back(study):
    trial = study.ask()
    rec.set_system_attr(study, study.get_trials(deepcopy=False)[0], "greenknobs.probe", {"a": 1})
    assert rec.fresh(study, trial).system_attrs["greenknobs.probe"] == {"a": 1}
    rec.set_study_system_attr(study, "greenknobs.probe", {"b": 2})
    assert rec.study_system_attrs(study)["greenknobs.probe"] == {"b": 2} and study.user_attrs == {}


def test_a_queued_trial_is_claimed_once_and_runs_as_a_trial(study):
    study.enqueue_trial({})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    assert rec.set_state(study, waiting, TrialState.RUNNING) is True
    assert rec.set_state(study, waiting, TrialState.RUNNING) is False  # another process got there first
    trial = rec.as_trial(study, waiting)
    assert isinstance(trial, optuna.Trial) and trial.number == waiting.number
    with rec.heartbeat(study, trial):  # no heartbeat on this storage: a thread that does nothing
        trial.set_user_attr("ran", True)
    study.tell(trial, (1.0, 0.5))
    assert rec.set_state(study, waiting, TrialState.FAIL) is False  # finished: refused, not raised


def test_a_heartbeat_is_recorded_where_the_storage_keeps_one(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=60, grace_period=120)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    with rec.heartbeat(study, trial):
        pass
    rec.record_heartbeat(study, trial)
    optuna.storages.fail_stale_trials(study)
    assert rec.fresh(study, trial).state == TrialState.RUNNING  # beating: not stale


def test_nothing_else_names_optunas_internals():
    compat = ROOT / "search" / "records" / "_optuna.py"
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for folder in ("search", "objectives", "spaces", "tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))
             if p not in (compat, Path(__file__).resolve())
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if INTERNALS.search(line)]
    assert not found, "use greenknobs.search.records' functions for Optuna's internals:\n" + "\n".join(found)
