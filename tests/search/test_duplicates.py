"""Parallel workers: a sampler seed per worker, the cascade's plan claimed once among racing workers, and no
configuration trained twice by accident (asked again, then a labelled repeat). The 3-worker PostgreSQL study is in
test_workers.py; here the simulated pipeline and in-process workers keep each rule fast and deterministic."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from greenknobs.objectives import SimulatedPipeline
from greenknobs.search.analysis import status_text
from greenknobs.search import records as rec
from greenknobs.search.samplers import _cascade
from greenknobs.search.study import _workers, ASK_AGAIN, AskAgain, claim, open_storage
from greenknobs.search.study import finished_count, open_study, run_study
from tests.search._simulated import CPU, Task, make_spec
from tests.search import _durable


@pytest.fixture(scope="session")
def postgres_url(request) -> str:
    return _durable.postgres_url(request)


def _config(t) -> str:
    return json.dumps(t.user_attrs[rec.CONFIG], sort_keys=True)


def _small_study(tmp_path: Path, task: Task, sampler: str, n_trials: int):
    """Two categorical knobs, 2 x 2 = 4 configurations, the baseline's among them: soon all measured."""
    spec = make_spec(tmp_path, name=f"small-{sampler}", n_trials=n_trials)
    spec.sampler, spec.search = sampler, ["padding", "attention"]
    ctx = open_study(spec, pipeline=SimulatedPipeline(spec.task, task, hardware=CPU))
    task.baseline = ctx.space.baseline()
    return ctx


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_single_worker_asks_again_then_runs_a_labelled_repeat(sampler, tmp_path):
    """A small categorical space: the sampler re-proposes measured configurations. Each is sent back (FAIL
    "duplicate", nothing trained, no budget) up to ASK_AGAIN times in a row; then it runs as a repeat at a seed of its
    own; a repeat of the baseline's configuration joins the noise floor; no configuration is a search trial twice."""
    task = Task(f1_sd=0.002)
    ctx = _small_study(tmp_path, task, sampler, n_trials=12)  # the baseline's 3 runs, 9 for the search
    run_study(ctx, show_progress=False)
    study = ctx.study
    trials = study.get_trials(deepcopy=False)
    roles = [rec.role_of(t) for t in trials]

    # Every configuration trained as the baseline or a search trial is trained so once: 3 of the 4 are left to the
    # search, so at least 6 of its 9 runs are repeats.
    measured = [t for t in trials if t.state == TrialState.COMPLETE and rec.role_of(t) in ("baseline", "search")]
    assert len({_config(t) for t in measured}) == len(measured) == 4, roles
    repeats = [t for t in trials if rec.role_of(t) == "repeat"]
    assert len(repeats) >= 6 and all(t.state == TrialState.COMPLETE for t in repeats)
    assert {_config(t) for t in repeats} <= {_config(t) for t in measured}
    # A repeat trains at a seed of its own: seed + 1000 + its number, clear of the baseline's and confirmation's.
    assert [rec.runs_of(t)[0].seed for t in repeats] == [1000 + t.number for t in repeats]

    # Asking again: a duplicate trained nothing and takes none of the budget, and no sampler learns from it (FAIL:
    # every Optuna sampler ignores failed trials; TPE would read a PRUNED one as a bad point).
    duplicates = [t for t in trials if rec.role_of(t) == rec.DUPLICATE]
    assert duplicates and all(t.state == TrialState.FAIL and rec.RUNS not in t.user_attrs for t in duplicates)
    assert all("the sampler is asked again" in t.user_attrs[rec.FAIL_REASON] for t in duplicates)
    assert len(task.calls) == 12 == finished_count(study)  # 12 training runs, however many proposals
    assert f"{len(duplicates)} failed as duplicates: proposals of measured configurations, nothing trained" in \
        status_text(study)
    # ...at most ASK_AGAIN in a row; the proposal after them runs, as a repeat unless it is new
    streak = longest = 0
    for role in roles:
        streak = streak + 1 if role == rec.DUPLICATE else 0
        longest = max(longest, streak)
    assert longest == ASK_AGAIN
    after = [roles[i + ASK_AGAIN] for i in range(len(roles) - ASK_AGAIN)
             if roles[i:i + ASK_AGAIN] == [rec.DUPLICATE] * ASK_AGAIN]
    assert "repeat" in after and set(after) <= {"repeat", "search"}

    # Repeats of the baseline's configuration feed the noise floor.
    base_cfg = _config(trials[0])
    base_repeats = [t for t in repeats if _config(t) == base_cfg]
    assert rec.noise_floor(study).n == 3 + len(base_repeats)
    assert not any(t in rec.pareto_trials(study) for t in repeats)


def test_a_queued_configuration_already_measured_runs_as_a_repeat(tmp_path):
    """Asking again cannot change a queued trial's parameters: a queued search trial of a measured configuration
    runs as a labelled repeat at once."""
    task = Task()
    ctx = _small_study(tmp_path, task, "random", n_trials=5)
    params = ctx.space.params_of(ctx.space.complete({"padding": "dynamic"}))
    for _ in range(2):
        ctx.study.enqueue_trial(params, user_attrs={rec.ROLE: "search"}, skip_if_exists=False)
    run_study(ctx, show_progress=False)
    trials = ctx.study.get_trials(deepcopy=False)
    assert [(rec.role_of(t), t.state.name) for t in trials] == [("baseline", "COMPLETE"), ("search", "COMPLETE"),
                                                                ("repeat", "COMPLETE")]
    assert trials[2].user_attrs["repeat_of"] == 1 and rec.runs_of(trials[2])[0].seed == 1002


def test_two_workers_proposing_one_configuration_at_once_train_it_once(tmp_path):
    """Two workers (two study objects on one journal file, as two processes) are proposed the same configuration at
    the same moment and both publish it before either reads: the first to read sees the other and steps back (its
    withdrawn claim then stops nobody), the second trains it: once."""
    task = Task()
    ctx = _small_study(tmp_path, task, "random", n_trials=20)
    run_study(ctx, n_trials=3, show_progress=False)  # the baseline
    params = ctx.space.params_of(ctx.space.complete({"padding": "dynamic", "attention": "sdpa"}))
    url = ctx.spec.storage_url()
    same = [optuna.load_study(study_name=ctx.study.study_name, storage=open_storage(url),
                              sampler=optuna.samplers.PartialFixedSampler(params, optuna.samplers.RandomSampler()))
            for _ in range(2)]
    trials = [s.ask() for s in same]
    for t in trials:  # both publish...
        t.set_user_attr(rec.ROLE, "search")
        t.set_user_attr(rec.CONFIG, ctx.space.suggest(t))
    outcomes = []
    for t in trials:  # ...then both check
        try:
            outcomes.append(claim(ctx, t, may_ask_again=True))
        except AskAgain:
            outcomes.append(rec.DUPLICATE)
    assert outcomes == [rec.DUPLICATE, "search"]
    assert task.calls == [c for c in task.calls if c[0] == frozenset()]  # nothing but the baseline trained


# -- a sampler seed per worker ----------------------------------------------------------------------------------
def test_each_worker_samples_with_a_seed_of_its_own_stable_across_restarts(tmp_path, monkeypatch):
    assert _workers.worker_seed(7, "") == 7  # one process (`run`): the study's seed, as before workers had seeds
    seeds = {_workers.worker_seed(7, f"host/w{i}") for i in range(1, 9)}
    assert len(seeds) == 8 and all(0 <= s < 2 ** 32 for s in seeds)
    assert _workers.worker_seed(7, "host/w1") == _workers.worker_seed(7, "host/w1") != _workers.worker_seed(8, "host/w1")
    # Unlabelled workers of one study on one host take slots in start order, held by a lock for their life: a
    # second one gets slot 1 while the first holds 0, and slot 0 is free again once its holder is gone.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    key = f"study|journal:x|{time.time()}"
    assert _workers._slot(key) == 0
    first = _workers._SLOTS.pop(key)  # as if another process held it
    assert _workers._slot(key) == 1
    _workers._SLOTS.pop(key)[1].close()
    first[1].close()
    assert _workers._slot(key) == 0
    _workers._SLOTS.pop(key)[1].close()


def test_run_keeps_the_study_seed_and_a_worker_records_its_own(tmp_path):
    task = Task()
    ctx = _small_study(tmp_path, task, "random", n_trials=4)
    run_study(ctx, show_progress=False)
    assert {(t.user_attrs[_workers.WORKER_ATTR], t.user_attrs[_workers.SAMPLER_SEED])
            for t in ctx.study.get_trials()} == {("", 0)}
    spec = make_spec(tmp_path, name="small-random", n_trials=5)
    spec.search = ["padding", "attention"]
    with _workers.joined_as_worker("w2"):  # what `greenknobs worker --label w2` does
        worker = open_study(spec, pipeline=SimulatedPipeline(spec.task, task, hardware=CPU))
    assert _workers._label is None  # a study opened after the block is a one-process study's again
    me = _workers.worker_of(worker)
    assert me.identity.endswith("/w2") and me.seed == _workers.worker_seed(0, me.identity) != 0
    assert worker.study.sampler._rng.rng.randint(2 ** 30) == optuna.samplers.RandomSampler(me.seed)._rng.rng.randint(2 ** 30)
    run_study(worker, show_progress=False)
    last = worker.study.get_trials()[-1]
    assert (last.user_attrs[_workers.WORKER_ATTR], last.user_attrs[_workers.SAMPLER_SEED]) == (me.identity, me.seed)


# -- the cascade's plan, claimed once ---------------------------------------------------------------------------
def _race(url: str, space, workers: int, asks: int, monkeypatch) -> list:
    """`workers` threads, each with its own storage object and CascadeSampler (as separate processes have), ask
    `asks` trials each, all starting together; planning is slowed so that their planning windows overlap."""
    plan = _cascade.next_plan

    def slow_plan(*a, **k):
        time.sleep(0.15)
        return plan(*a, **k)

    monkeypatch.setattr(_cascade, "next_plan", slow_plan)
    name = f"race-{time.time_ns()}"
    optuna.create_study(study_name=name, storage=open_storage(url), directions=["minimize", "maximize"])
    barrier = threading.Barrier(workers)
    errors = []

    def work() -> None:
        try:
            sampler = _cascade.CascadeSampler(space=space, n_trials=60)
            study = optuna.load_study(study_name=name, storage=open_storage(url), sampler=sampler)
            barrier.wait()
            for _ in range(asks):
                study.ask()
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials()


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_workers_racing_on_the_cascade_plan_never_plan_one_stage_twice(kind, tmp_path, request, tiny_pipeline,
                                                                       monkeypatch):
    space = tiny_pipeline.space(search=["padding", "drop_layers", "batch_size", "infer_batch_size"],
                                fixed={"max_length": 32, "epochs": 1})
    trials = _race(_durable.storage_url(kind, tmp_path, request), space, workers=3, asks=3, monkeypatch=monkeypatch)
    plans = [t.system_attrs.get(_cascade.PLAN_ATTR) for t in trials]
    assert len(trials) == 9 and all(p and p["stage"] == "screen" for p in plans), plans
    keys = [json.dumps(p["params"], sort_keys=True) for p in plans]
    assert len(set(keys)) == len(keys), [p["params"] for p in plans]


# -- the plain PostgreSQL URL --------------------------------------------------------------------------------------
def test_a_plain_postgresql_url_opens_in_optuna_and_optuna_dashboard_themselves(postgres_url):
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3: the `[postgresql]` extra installs it, so the URL a user
    gives greenknobs also opens in optuna and optuna-dashboard directly (it failed with "No module named 'psycopg'")."""
    import tomllib

    from optuna_dashboard._storage_url import get_storage

    assert postgres_url.startswith("postgresql://")
    extras = tomllib.loads((_durable.REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("psycopg[binary]") for r in extras["postgresql"])
    name = _durable.unique("plain-url")
    optuna.create_study(study_name=name, storage=postgres_url, directions=["minimize", "maximize"])
    assert name in [s.study_name for s in get_storage(postgres_url).get_all_studies()]
