"""The Optuna internals greenknobs relies on, each behind one named function (tests/search/test_optuna_compat.py
checks every one against the installed Optuna). A trial's storage id (`_trial_id`), a study's storage and id
(`_storage`, `_study_id`) and the heartbeat thread (`optuna.storages._heartbeat`) have no public accessor: a worker
that claims a queued trial, writes a system attribute or re-reads a trial fresh from the storage needs them.
Nothing else in greenknobs names a private attribute of Optuna's."""

from __future__ import annotations

import contextlib
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes (its own object: what the dashboard serves, what a twin study shares)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.trial.BaseTrial | FrozenTrial) -> int:
    """A trial's id in its storage (not its number): the key every storage call takes."""
    return trial._trial_id  # type: ignore[union-attr]


def fresh(study: optuna.Study, trial: optuna.trial.BaseTrial | FrozenTrial) -> FrozenTrial:
    """The trial as the storage holds it now (a running Trial's own view lags behind other workers' writes)."""
    return study._storage.get_trial(trial_id(trial))


def set_system_attr(study: optuna.Study, trial: optuna.trial.BaseTrial | FrozenTrial, key: str, value: Any) -> None:
    """A trial system attribute, written from a sampler's hooks (which get a FrozenTrial, not a Trial)."""
    study._storage.set_trial_system_attr(trial_id(trial), key, value)


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    return study._storage.get_study_system_attrs(study._study_id)


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    """A study system attribute (Optuna 5 has no `Study.set_system_attr`): kept out of optuna-dashboard's table of
    the study's user attributes."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def set_state(study: optuna.Study, trial: FrozenTrial, state: TrialState) -> bool:
    """Move a trial to `state` (a WAITING one to RUNNING: claim it; a lost RUNNING one to FAIL); False when another
    process got there first (the storage refused, or the trial had finished)."""
    try:
        return study._storage.set_trial_state_values(trial_id(trial), state)
    except UpdateFinishedTrialError:
        return False


def as_trial(study: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A live Trial on a stored one (after `set_state(..., RUNNING)`), as `study.ask` would hand it out."""
    return optuna.trial.Trial(study, trial_id(trial))


def heartbeat(study: optuna.Study, trial: optuna.trial.BaseTrial | FrozenTrial) -> contextlib.AbstractContextManager:
    """The heartbeat thread `study.optimize` runs for a trial (a no-op unless the storage has a heartbeat), for a
    trial run outside `optimize`."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial_id(trial), study._storage)


def record_heartbeat(study: optuna.Study, trial: optuna.trial.BaseTrial | FrozenTrial) -> None:
    study._storage.record_heartbeat(trial_id(trial))
