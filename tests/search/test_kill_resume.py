"""Killed and interrupted workers: a real `greenknobs run` process is stopped in the middle of a trial; nothing that
completed is lost, the stopped trial ends FAIL with the reason, and its configuration runs again exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from greenknobs.search.study import HOST, PID, PID_STARTED, RETRY_OF, this_host
from greenknobs.search import records as rec
from greenknobs.search.study import load_spec, finished_count, load_study, open_study, run_study
from tests.search._durable import REPO, env, greenknobs, write_study


def _start_run(study_file: Path, storage: str, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        # SIGINT back to its default first: a test run started in the background of a non-interactive shell
        # ignores SIGINT, its children inherit that, and Python installs no Ctrl-C handler over an ignored signal.
        return subprocess.Popen(greenknobs("run", str(study_file), "--storage", storage), cwd=REPO, env=env(),
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_training(name: str, storage: str, proc: subprocess.Popen, log: Path, *, after_complete: int,
                       timeout_s: float = 240) -> int:
    """Poll the storage until the process runs a trial past its configuration (into the pipeline) and at least
    `after_complete` trials are COMPLETE; return that trial's number."""
    deadline = time.monotonic() + timeout_s
    study = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"`greenknobs run` ended early:\n{log.read_text()[-3000:]}"
        try:
            study = study or load_study(name, storage)
        except Exception:  # the journal file is not there yet
            time.sleep(0.3)
            continue
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get(PID) == proc.pid
                   and rec.CONFIG in t.user_attrs]
        if done >= after_complete and running:
            return running[0].number
        time.sleep(0.2)
    raise AssertionError(f"no trial reached training in {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_sigkill_mid_trial_loses_nothing_and_the_next_run_retries_that_trial_once(tmp_path):
    study_file = write_study(tmp_path, "killed", n_trials=6)  # the baseline's 3 runs + 3 trials
    storage = f"journal:{tmp_path / 'killed.journal'}"
    log = tmp_path / "first.log"
    proc = _start_run(study_file, storage, log)
    try:
        killed = _wait_for_training("killed", storage, proc, log, after_complete=1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    before = load_study("killed", storage).get_trials(deepcopy=False)
    completed = {t.number: (t.values, t.params, t.user_attrs[rec.RESULT]) for t in before if t.state == TrialState.COMPLETE}
    assert completed and killed not in completed
    assert [t.number for t in before if t.state == TrialState.RUNNING] == [killed]  # left RUNNING by the dead worker

    second = subprocess.run(greenknobs("run", str(study_file), "--storage", storage), cwd=REPO, env=env(),
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "6/6 runs finished" in second.stdout

    study = load_study("killed", storage)
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    # Every trial that completed before the kill is intact: same values, same parameters, same stored result.
    for number, (values, params, result) in completed.items():
        t = by_number[number]
        assert (t.state, t.values, t.params, t.user_attrs[rec.RESULT]) == (TrialState.COMPLETE, values, params, result)
    lost = by_number[killed]
    assert lost.state == TrialState.FAIL
    assert lost.user_attrs[rec.FAIL_REASON] == (f"worker lost: process {proc.pid} on {this_host()} died during "
                                                "the trial (killed?)")
    retries = [t for t in trials if t.system_attrs.get(RETRY_OF) == killed]
    assert len(retries) == 1, "the killed configuration runs again exactly once"
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == lost.params
    assert rec.role_of(retries[0]) == rec.role_of(lost)
    # The retry took over the killed trial's slot: 6 budgeted runs finished, nothing left behind.
    assert finished_count(study) == 6
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert [t.number for t in trials if rec.role_of(t) == "baseline" and t.state == TrialState.COMPLETE] == [0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_fails_the_running_trial_as_interrupted_and_exits_130(tmp_path, sig):
    """SIGTERM is what schedulers and `kill` send: handled like Ctrl-C. A real process, because an interrupt can land
    anywhere — in the middle of a lazy import, too — and must not leave the test process half-imported."""
    study_file = write_study(tmp_path, "stopped", n_trials=5)
    storage = f"journal:{tmp_path / 'stopped.journal'}"
    log = tmp_path / "run.log"
    proc = _start_run(study_file, storage, log)
    try:
        number = _wait_for_training("stopped", storage, proc, log, after_complete=0)
        proc.send_signal(sig)
        code = proc.wait(120)
    finally:
        proc.kill()
    output = log.read_text()
    assert code == 130, output[-3000:]
    assert "greenknobs: interrupted" in output and "Traceback" not in output
    trials = load_study("stopped", storage).get_trials(deepcopy=False)
    stopped = trials[number]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs[rec.FAIL_REASON].startswith(f"interrupted ({sig.name})")
    assert stopped.user_attrs["energy_j_burned"] >= 0
    # Consistent: nothing RUNNING; the stopped configuration waits to run first on the next start, in its role.
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert [(t.system_attrs[RETRY_OF], rec.role_of(t), t.params) for t in waiting] == \
        [(number, rec.role_of(stopped), stopped.params)]


def test_a_worker_waiting_for_a_dead_baseline_runs_it_itself(tmp_path, tiny_pipeline):
    """Distributed failure: the worker running the baseline dies while another worker's trial waits for it. The
    waiting worker fails the dead baseline, and since nobody else may be free to take its retry, runs it itself."""
    ctx = open_study(load_spec(write_study(tmp_path, "orphan", n_trials=4)), pipeline=tiny_pipeline)
    study = ctx.study
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    baseline = study.ask()  # the queued baseline, claimed by a worker that then died
    assert rec.role_of(rec.fresh(study, baseline)) == "baseline"
    baseline.set_user_attr(HOST, this_host())
    baseline.set_user_attr(PID, dead.pid)
    baseline.set_user_attr(PID_STARTED, 0.0)
    from greenknobs.search.study import Objective

    search = study.ask()
    energy_j, f1 = Objective(ctx)(search)
    study.tell(search, [energy_j, f1])

    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs[rec.FAIL_REASON].startswith("worker lost")
    retry = [t for t in trials if t.system_attrs.get(RETRY_OF) == 0]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and rec.role_of(retry[0]) == "baseline"
    assert trials[1].user_attrs["energy_reduction_pct"] == round(100 * (1 - energy_j / retry[0].values[0]), 3)
    assert finished_count(study) == 4  # the baseline's 3 runs and the search trial's 1
    run_study(ctx, show_progress=False)  # the budget is already full: nothing more runs
    assert len(study.get_trials(deepcopy=False)) == len(trials)
