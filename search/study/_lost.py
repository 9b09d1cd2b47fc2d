"""Trials whose worker went away: killed (SIGKILL, the OOM killer, a lost node), interrupted (Ctrl-C, SIGTERM) or
silent (no heartbeat on an RDB storage). Each ends FAIL in the storage with the reason, and its configuration is
queued to run again once, so a lost worker costs the joules of the lost attempt and nothing else.

Who declares a trial lost, and how each declaration happens exactly once:
- the interrupted process itself, before it exits (it owns the trial);
- on start-up, any worker on the same host, for RUNNING trials stamped with this host and a dead process:
  the RUNNING → FAIL transition succeeds for one caller only (the storage refuses to update a finished trial);
- on RDB storages, Optuna's heartbeat check (`fail_stale_trials`), for workers on any host, which calls
  `retry_lost` as the storage's stale-trial callback.

A retry takes over the budget slot of the trial it repeats (see `_budget.finished_count`)."""

from __future__ import annotations

import socket
import warnings

import optuna
import psutil
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from greenknobs.search import records as rec

HOST = "greenknobs.host"
PID = "greenknobs.pid"
PID_STARTED = "greenknobs.pid_started"  # the process's start time: a pid reused by another process is not ours
# Optuna's own retry bookkeeping (RetryHeartbeatStaleTrialCallback uses these keys), so both paths read alike.
RETRY_OF = "failed_trial"
RETRY_HISTORY = "retry_history"


def this_host() -> str:
    return socket.gethostname()


def stamp(trial: optuna.Trial) -> None:
    """Record which process runs the trial, so a later start on this host can tell that it died."""
    me = psutil.Process()
    trial.set_user_attr(HOST, this_host())
    trial.set_user_attr(PID, me.pid)
    trial.set_user_attr(PID_STARTED, me.create_time())


def process_alive(pid: int, started: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


_IDENTITY = ("confirm_of", "confirm_seed", rec.SEED)


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of trials that another trial repeats."""
    return {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, [])}


def retry_lost(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the lost trial's configuration again: once for a search trial; the baseline until it completes,
    because every other trial is measured against it."""
    history = list(trial.system_attrs.get(RETRY_HISTORY, []))
    role = rec.role_of(trial)
    if history and role != "baseline":
        return
    system_attrs = {RETRY_OF: history[0] if history else trial.number, RETRY_HISTORY: history + [trial.number]}
    if "fixed_params" in trial.system_attrs:
        # An enqueued trial (the baseline) lost before it suggested anything has its parameters only here.
        system_attrs["fixed_params"] = trial.system_attrs["fixed_params"]
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        # What the trial is carries over (its role, and which trial and seed a confirm repeat stands for); the
        # lost attempt's host, pid and fail reason describe that attempt only.
        user_attrs={rec.ROLE: role, **{k: trial.user_attrs[k] for k in _IDENTITY if k in trial.user_attrs}},
        system_attrs=system_attrs,
    ))


def recover_lost_trials(study: optuna.Study) -> list[int]:
    """Fail this host's RUNNING trials whose process is dead, queue each again, and let Optuna fail stale
    heartbeats on RDB storages. Returns the numbers this call declared lost."""
    host = this_host()
    lost = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get(PID)
        if t.user_attrs.get(HOST) != host or pid is None or process_alive(pid, t.user_attrs.get(PID_STARTED)):
            continue
        try:
            rec.storage_of(study).set_trial_user_attr(
                rec.trial_id(t), rec.FAIL_REASON, f"worker lost: process {pid} on {host} died during the trial (killed?)")
        except UpdateFinishedTrialError:
            continue  # another worker declared it lost first, and queued its retry
        if not rec.set_state(study, t, TrialState.FAIL):
            continue
        retry_lost(study, rec.fresh(study, t))
        lost.append(t.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a no-op unless the storage has a heartbeat
    return lost
