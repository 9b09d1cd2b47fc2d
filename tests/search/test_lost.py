"""A lost trial's retry is the same trial again: same role, and for a confirm repeat, the same original and seed."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from greenknobs.search.study import retry_lost
from greenknobs.search import records as rec


def _lost_trial(study: optuna.Study, user_attrs: dict) -> optuna.trial.FrozenTrial:
    study.add_trial(create_trial(state=TrialState.FAIL, params={"padding": "dynamic"},
                                 distributions={"padding": CategoricalDistribution(["fixed", "dynamic"])},
                                 user_attrs={**user_attrs, "fail_reason": "worker lost", "host": "h", "pid": 1}))
    return study.get_trials()[-1]


def test_a_lost_confirm_repeat_is_retried_as_the_same_repeat():
    study = optuna.create_study(directions=["minimize", "maximize"])
    lost = _lost_trial(study, {rec.ROLE: "confirm", "confirm_of": 3, "confirm_seed": 5})
    retry_lost(study, lost)
    retry = study.get_trials()[-1]
    assert retry.state == TrialState.WAITING
    assert retry.user_attrs == {rec.ROLE: "confirm", "confirm_of": 3, "confirm_seed": 5}
    assert retry.params == {"padding": "dynamic"}


def test_a_lost_search_trial_is_retried_once_without_the_lost_attempts_details():
    study = optuna.create_study(directions=["minimize", "maximize"])
    retry_lost(study, _lost_trial(study, {rec.ROLE: "search"}))
    retry = study.get_trials()[-1]
    assert retry.user_attrs == {rec.ROLE: "search"}
    # Lost again: no second retry for a search trial.
    study.add_trial(create_trial(state=TrialState.FAIL, params=retry.params, distributions=retry.distributions,
                                 user_attrs=retry.user_attrs, system_attrs=retry.system_attrs))
    before = len(study.get_trials())
    retry_lost(study, study.get_trials()[-1])
    assert len(study.get_trials()) == before
