"""The study's budget, counted in training runs over every worker: what finished and running trials have claimed,
when a worker stops, and how many seeds a trial may still be measured at."""

from __future__ import annotations

from datetime import datetime

import optuna
from optuna.trial import TrialState

from greenknobs.search import records as rec
from greenknobs.search.study import _lost

FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
# Trials that serve kept models take no training run of the budget; a strategy that proposed nothing else would
# never fill it, so a study also stops at this many trials per training run of its budget.
MAX_TRIALS = 4
SURPLUS = "surplus"  # role of a trial started after the budget was full (two workers racing): PRUNED, not counted


def budgeted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials a budget counts: not surplus starts, not lost trials that were queued again (their retry takes over
    the slot, so a Ctrl-C or a killed worker does not eat the budget). Confirmation runs live in another study."""
    retried = _lost.retried_numbers(trials)
    return [t for t in trials if rec.role_of(t) != SURPLUS and t.number not in retried]


def finished_count(study: optuna.Study) -> int:
    """Training runs the finished trials made (the budget's unit): the baseline's k seeds, re-measurements too."""
    return sum(rec.budget_runs(t) for t in budgeted(study.get_trials(deepcopy=False)) if t.state in FINISHED)


def claimed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Budgeted trials finished or running, in the order workers claimed them."""
    trials = [t for t in budgeted(study.get_trials(deepcopy=False))
              if t.state in FINISHED or t.state == TrialState.RUNNING]
    return sorted(trials, key=lambda t: (t.datetime_start or datetime.min, t.number))


def runs_claimed(study: optuna.Study, baseline_runs: int, exclude: int | None = None) -> int:
    """Runs of the budget taken by finished and running trials (a running baseline counts its planned k)."""
    return sum(rec.budget_runs(t, baseline_runs) for t in claimed(study) if t.number != exclude)


class StopAtBudget:
    """After each trial: stop this worker once finished + running runs (every worker's) fill the budget.

    Like optuna's MaxTrialsCallback, but counting training runs, and trials still running elsewhere, so N workers do
    not start N - 1 trials too many at the end; first it fails trials of dead workers, whose retries still need a
    slot."""

    def __init__(self, budget: int, baseline_runs: int) -> None:
        self.budget = budget
        self.baseline_runs = baseline_runs

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        _lost.recover_lost_trials(study)
        if runs_claimed(study, self.baseline_runs) >= self.budget or len(claimed(study)) >= MAX_TRIALS * self.budget:
            study.stop()


def over_budget(study: optuna.Study, number: int, budget: int, baseline_runs: int) -> bool:
    """Whether trial `number` started after the trials claimed before it had filled the budget."""
    used = 0
    for t in claimed(study):
        if t.number == number:
            return used >= budget
        used += rec.budget_runs(t, baseline_runs)
    return False


def seeds_left(study: optuna.Study, number: int, budget: int | None, baseline_runs: int, floor_n: int) -> int:
    """How many of the floor's seeds trial `number` may be measured at: all of them, as far as the budget allows."""
    if budget is None:
        return floor_n
    left = budget - runs_claimed(study, baseline_runs, exclude=number)
    return max(1, min(floor_n, left))


def still_running(study: optuna.Study) -> int:
    """Budgeted trials other workers are still running (this worker stopped: the budget is claimed)."""
    return sum(1 for t in claimed(study) if t.state == TrialState.RUNNING)
