"""Parallel and distributed workers: independent `greenknobs worker` processes on a real PostgreSQL server, and
`greenknobs run --workers N` on one host's journal file, share one study and one budget; what cannot be shared or
metered apart is refused before the study is touched."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from optuna.trial import TrialState

from greenknobs.search.study import HOST, PID, stamp, this_host
from greenknobs.search import records as rec
from greenknobs.search.records import STOPPED
from greenknobs.search.study import _workers
from greenknobs.search.cli import main
from greenknobs.search.study import load_spec
from greenknobs.search.records import METER_ATTR
from greenknobs.search.study import finished_count, load_study, open_study
from tests.search import _durable
from tests.search._durable import REPO, env, greenknobs, unique, write_study


@pytest.fixture(scope="session")
def postgres_url(request) -> str:
    return _durable.postgres_url(request)


def _check_shared_budget(study, budget: int) -> list:
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials))), "trial numbers are unique and gapless"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    stopped = [t for t in trials if t.state == TrialState.PRUNED and STOPPED in t.user_attrs]  # early stopping
    # The budget counts training runs: the baseline's 3 seeds, then a run per search trial (or more, re-measured);
    # a trial stopped early ran (part of) one.
    assert sum(rec.budget_runs(t) for t in complete + stopped) == budget == finished_count(study)
    # Beside them only trials that trained nothing: one that lost a race for the last slot (surplus, pruned) or a
    # proposal of a configuration already measured, which the sampler was asked again for (duplicate, failed).
    assert all(t in complete or t in stopped or rec.role_of(t) in ("surplus", "duplicate") for t in trials), \
        [(t.number, t.state.name, rec.role_of(t)) for t in trials]
    assert [t.number for t in trials if rec.role_of(t) == "baseline"] == [0]
    base = trials[0].values[0]
    for t in complete:  # no lost results: every trial stored its measurement and its comparison with the baseline
        result = rec.result_of(t)
        assert result is not None and [r.seed for r in rec.runs_of(t)][0] == result.seed
        if rec.role_of(t) != "baseline":
            assert t.user_attrs["energy_reduction_pct"] == round(100 * (1 - t.values[0] / base), 3)
    return complete


def _unlabelled_duplicates(trials) -> list[list[int]]:
    """Groups of COMPLETE trials that trained one configuration as if it were new: the baseline and search trials
    sharing a configuration. Deliberate repeats (role "repeat") are labelled and may share one."""
    by_config: dict[str, list[int]] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE and rec.role_of(t) in ("baseline", "search"):
            by_config.setdefault(json.dumps(t.user_attrs[rec.CONFIG], sort_keys=True), []).append(t.number)
    return [numbers for numbers in by_config.values() if len(numbers) > 1]


def test_three_workers_on_postgresql_share_one_budget_and_never_repeat_by_accident(postgres_url, tmp_path):
    """Distributed as on several hosts: three workers started at once on an empty database race to create
    the study; exactly one creates it and queues the baseline, the others join; together they finish the budget of
    9 runs of a smoke-like TPE study on a small space. Each worker samples with a seed of its own, and no
    configuration is trained twice unless it is labelled a repeat (before the fix, TPE's identical start-up draws
    made trials 1 and 2 the same configuration)."""
    name = unique("distributed")
    study_file = write_study(tmp_path, name, n_trials=9)
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    procs = []
    for log in logs:
        with open(log, "w") as out:
            procs.append(subprocess.Popen(greenknobs("worker", str(study_file), "--storage", postgres_url, "--threads", "1",
                                                     "--sampler", "tpe"),
                                          cwd=REPO, env=env(), stdout=out, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(420) for p in procs]
    finally:
        for p in procs:
            p.kill()
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0, 0], "\n---\n".join(o[-2000:] for o in outputs)
    # A worker stops once the budget is claimed; the last one to finish sees it full.
    assert all(" runs finished" in o for o in outputs) and any("9/9 runs finished" in o for o in outputs)
    study = load_study(name, postgres_url)
    complete = _check_shared_budget(study, 9)
    # Each trial names its worker; the study names its energy source once, for every worker.
    assert all(t.user_attrs[HOST] == this_host() for t in complete)
    assert rec.study_record(study, METER_ATTR)["source"] == "estimated"
    trials = study.get_trials(deepcopy=False)
    described = [(t.number, t.state.name, rec.role_of(t), t.params) for t in trials]
    assert _unlabelled_duplicates(trials) == [], described
    # Every trial records the sampler seed of the worker that ran it: one seed per worker process.
    seeds = {t.user_attrs[PID]: t.user_attrs[_workers.SAMPLER_SEED] for t in trials if PID in t.user_attrs}
    assert len(set(seeds.values())) == len(seeds), seeds
    print("trials per worker:", Counter(t.user_attrs[PID] for t in complete), described)


def test_run_workers_splits_the_cores_and_shares_the_journal(tmp_path):
    study_file = write_study(tmp_path, "parallel", n_trials=6)
    storage = f"journal:{tmp_path / 'parallel.journal'}"
    done = subprocess.run(greenknobs("run", str(study_file), "--storage", storage, "--workers", "2"), cwd=REPO,
                          env=env(), capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = max(1, _workers.cpu_cores() // 2)
    assert f"2 workers on {_workers.cpu_cores()} CPU core(s), no GPU: {threads} torch thread(s) per worker" in done.stderr
    assert "[w1]" in done.stderr and "[w2]" in done.stderr
    assert "6/6 runs finished" in done.stdout
    _check_shared_budget(load_study("parallel", storage), 6)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("greenknobs: error: ") and "Traceback" not in err, err
    return lines[0]


def test_more_workers_than_gpus_is_refused(tmp_path, monkeypatch, capsys):
    """No GPU here: the visible GPUs are what the refusal reads, so they are set to one."""
    monkeypatch.setattr(_workers, "visible_gpus", lambda: ["3"])
    study_file = write_study(tmp_path, "gpus")
    assert main(["run", str(study_file), "--workers", "2"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--workers 2 but 1 GPU(s) visible" in line and "cannot be metered apart" in line and "--workers 1" in line
    assert not (tmp_path / "gpus.journal").exists()
    envs, _, how = _workers.plan(1, "measured-gpu")
    assert envs == [{"CUDA_VISIBLE_DEVICES": "3"}] and "one GPU each (3)" in how


def test_several_workers_on_one_rapl_counter_are_refused(tmp_path, monkeypatch, capsys):
    import greenknobs.objectives.energy as energy

    class RaplMeter:  # what make_meter returns on a GPU-less host with readable RAPL counters
        source = "measured-cpu"

    monkeypatch.setattr(energy, "make_meter", lambda *a, **k: RaplMeter())
    monkeypatch.setattr(_workers, "visible_gpus", lambda: [])
    study_file = write_study(tmp_path, "rapl")
    assert main(["run", str(study_file), "--workers", "2"]) == 2
    assert "RAPL" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "rapl.journal").exists()


class _GpuMeter:
    """The meter an H100 host would record: the study then holds GPU-measured joules."""

    source = "measured-gpu"
    description = "measured: NVML GPU energy counter"
    hardware = {"gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "cpu": "AMD EPYC"}
    readings: list = []


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_worker_whose_meter_differs_from_the_study_is_refused(command, tmp_path, capsys):
    study_file = write_study(tmp_path, "metered")
    storage = tmp_path / "metered.journal"
    from greenknobs.objectives import Pipeline, get_task

    gpu_pipeline = Pipeline(get_task("fortunes-tiny"), meter=_GpuMeter())
    open_study(load_spec(study_file), pipeline=gpu_pipeline)  # created on the GPU host
    before = storage.read_bytes()
    assert main([command, str(study_file)]) == 2  # this host meters "estimated" energy
    line = _one_error_line(capsys.readouterr().err)
    assert "study 'metered' was measured with measured-gpu energy on NVIDIA H100 80GB HBM3" in line
    assert "this worker meters estimated" in line and "joules would not be comparable" in line
    assert storage.read_bytes() == before


def test_a_trial_started_after_the_budget_is_claimed_is_pruned_as_surplus(tmp_path, tiny_pipeline):
    """Two workers that finish at the same moment may both start a trial for the last slot; the one that claimed it
    later steps back before running anything, so the budget holds exactly. Here two other live workers (this
    process, as far as the storage can tell) hold all 4 runs of the budget (the baseline's 3, a search trial's 1)
    when a third trial starts."""
    import optuna

    from greenknobs.search.study import Objective

    ctx = open_study(load_spec(write_study(tmp_path, "surplus", n_trials=4)), pipeline=tiny_pipeline)
    study = ctx.study
    for claimed in (study.ask(), study.ask()):  # the baseline and one search trial, running elsewhere
        stamp(claimed)
    late = study.ask()
    with pytest.raises(optuna.TrialPruned, match="budget of 4 runs was filled"):
        Objective(ctx, budget=4)(late)
    study.tell(late, state=TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False)
    assert [rec.role_of(t) for t in trials] == ["baseline", "search", "surplus"]
    assert rec.CONFIG not in trials[2].user_attrs  # nothing was suggested or trained
    # ...yet it names the worker that took it and that worker's sampler seed, as every trial a worker touches does
    assert trials[2].user_attrs[_workers.SAMPLER_SEED] == _workers.worker_of(ctx).seed
    assert _workers.WORKER_ATTR in trials[2].user_attrs
    assert finished_count(study) == 0  # a surplus trial never counts toward the budget
