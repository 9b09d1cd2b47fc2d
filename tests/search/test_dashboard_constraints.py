"""optuna-dashboard's own views respect the study's constraints, on every storage: what `set_constraints` stores,
what the served API sends (Best Trials, each trial's constraint list, the objective names), and the two places in
optuna-dashboard that greenknobs wraps to get there (a test here fails when the installed version moves them)."""

from __future__ import annotations

import json
import threading
import urllib.request
import warnings
from contextlib import contextmanager

import optuna
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.search.analysis import _dashboard as dash
from greenknobs.search.records import (
    constraint_values, fresh, metric_names, set_constraints, storage_of, study_id,
)
from greenknobs.search.study import open_storage
from tests.search import _durable

FEASIBLE = {"f1_retention": -0.01, "degenerate": 0.0}
INFEASIBLE = {"f1_retention": 0.6, "degenerate": 1.0}
# (energy J, F1, constraints). Trial 2 is infeasible and dominates trial 3; trial 4 is dominated by trial 1.
TRIALS = [(100.0, 0.80, FEASIBLE), (60.0, 0.78, FEASIBLE), (10.0, 0.30, INFEASIBLE), (20.0, 0.29, FEASIBLE),
          (90.0, 0.70, FEASIBLE)]
FEASIBLE_FRONT = [0, 1, 3]  # what Optuna's study.best_trials says, and the dashboard must say
UNCONSTRAINED_FRONT = [0, 1, 2]  # optuna-dashboard 0.21 on its own: the infeasible trial 2 in, trial 3 out


@pytest.fixture(scope="session")
def postgres_url(request) -> str:
    return _durable.postgres_url(request)


_url = _durable.storage_url


def _make_study(url: str) -> optuna.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(storage=open_storage(url), study_name=_durable.unique("dash-constraints"),
                                    directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(0))
        study.set_metric_names(metric_names("estimated", "macro", "validation"))
    for energy, f1, constraints in TRIALS:
        trial = study.ask()
        set_constraints(trial, constraints)
        study.tell(trial, [energy, f1])
    return study


@contextmanager
def _served(app_or_storage, wrap: bool = True):
    """A dashboard on 127.0.0.1 in a thread: greenknobs' server (wrap=True) or optuna-dashboard's bare app."""
    port = _free_port()
    if wrap:
        server = dash.make_dashboard_server(app_or_storage, "127.0.0.1", port)
    else:
        from wsgiref.simple_server import make_server

        server = make_server("127.0.0.1", port, app_or_storage, handler_class=dash._QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _detail(base: str, study: optuna.Study) -> dict:
    with urllib.request.urlopen(f"{base}/api/studies/{study_id(study)}", timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_served_best_trials_and_constraint_lists_respect_feasibility(kind, tmp_path, request):
    study = _make_study(_url(kind, tmp_path, request))
    assert sorted(t.number for t in study.best_trials) == FEASIBLE_FRONT  # Optuna's own answer
    with _served(storage_of(study)) as (base, server):
        assert server.feasibility_aware
        detail = _detail(base, study)
    assert sorted(t["number"] for t in detail["best_trials"]) == FEASIBLE_FRONT
    by_name = [[c[name] for name in sorted(c)] for _, _, c in TRIALS]  # [degenerate, f1_retention] on every storage
    assert [t["constraints"] for t in detail["trials"]] == by_name
    assert detail["objective_names"] == ["energy (J, estimated)", "macro-F1 (validation)"]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_set_constraints_stores_each_constraint_once_by_name(kind, tmp_path, request):
    """Named only: no legacy list beside them, which Optuna 5 would read as a second copy of every constraint
    (and GPSampler then refuses a study mixing trials stored before and after)."""
    study = _make_study(_url(kind, tmp_path, request))
    again = optuna.load_study(study_name=study.study_name, storage=open_storage(_url(kind, tmp_path, request)))
    for trial, (_, _, constraints) in zip(again.trials, TRIALS):
        assert trial.constraints == constraints
        assert "constraints" not in trial.system_attrs
        assert constraint_values(trial) == [constraints["degenerate"], constraints["f1_retention"]]


def test_the_unwrapped_dashboard_lists_the_infeasible_trial(tmp_path, monkeypatch):
    """Why the wrapping exists, checked on the installed optuna-dashboard: served bare, its Best Trials hold the
    infeasible trial 2 and drop trial 3, and it sends no constraint values. If a new version fixes this itself,
    this test fails: the wrappers in analysis/_dashboard.py can then go."""
    from optuna_dashboard import _app, _serializer, wsgi

    study = _make_study(f"journal:{tmp_path / 'study.journal'}")
    dash.make_dashboard_feasibility_aware()
    monkeypatch.setattr(_app, "get_pareto_front_trials", _app.get_pareto_front_trials.__wrapped__)
    monkeypatch.setattr(_serializer, "serialize_frozen_trial", _serializer.serialize_frozen_trial.__wrapped__)
    with _served(wsgi(storage_of(study)), wrap=False) as (base, _):
        detail = _detail(base, study)
    assert sorted(t["number"] for t in detail["best_trials"]) == UNCONSTRAINED_FRONT
    assert all(t["constraints"] == [] for t in detail["trials"])


def test_the_wrapped_places_are_where_optuna_dashboard_looks():
    from optuna_dashboard import _app, _serializer

    assert dash.make_dashboard_feasibility_aware()
    front, serialize = _app.get_pareto_front_trials, _serializer.serialize_frozen_trial
    assert getattr(front, dash._WRAPPED) and getattr(serialize, dash._WRAPPED)
    assert dash.make_dashboard_feasibility_aware()  # idempotent: wrapped once, not twice
    assert _app.get_pareto_front_trials is front and _serializer.serialize_frozen_trial is serialize
    assert not hasattr(front.__wrapped__, dash._WRAPPED) and not hasattr(serialize.__wrapped__, dash._WRAPPED)


def test_an_unconstrained_study_keeps_optuna_dashboards_front(tmp_path):
    study = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 's.journal'}"),
                                directions=["minimize", "maximize"])
    for energy, f1, _ in TRIALS:
        study.add_trial(optuna.trial.create_trial(values=[energy, f1]))
    with _served(storage_of(study)) as (base, _):
        detail = _detail(base, study)
    assert sorted(t["number"] for t in detail["best_trials"]) == UNCONSTRAINED_FRONT
    assert all(t["constraints"] == [] for t in detail["trials"])


def test_a_moved_seam_serves_anyway_with_a_one_line_warning(tmp_path, monkeypatch, capsys):
    from optuna_dashboard import _app

    study = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 's.journal'}"),
                                directions=["minimize", "maximize"])
    monkeypatch.delattr(_app, "get_pareto_front_trials")
    assert not dash.make_dashboard_feasibility_aware()

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dash.WSGIServer, "serve_forever", interrupted)
    dash.serve(study, port=_free_port(), push=False)
    lines = capsys.readouterr().out.splitlines()
    warned = [line for line in lines if line.startswith("warning: optuna-dashboard")]
    assert len(warned) == 1 and "Best Trials" in warned[0] and "pip install 'optuna-dashboard==0.21.0'" in warned[0]
    assert lines[-1] == "dashboard stopped"


def test_set_constraints_refuses_bad_values_before_writing_any(tmp_path):
    study = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 's.journal'}"),
                                directions=["minimize", "maximize"])
    trial = study.ask()
    for named, says in [({}, "no constraints"), ({"f1_retention": 0.1, "degenerate": float("nan")}, "is NaN"),
                        ({"f1_retention": 0.1, "a:b": 0.0}, "without ':'"),
                        ({"f1_retention": 0.1, "degenerate": "yes"}, "is not a number")]:
        with pytest.raises(GreenknobsError, match=says) as err:
            set_constraints(trial, named)
        assert "\n" not in str(err.value)
        assert fresh(study, trial).constraints == {}  # nothing half-written


def test_metric_names_say_unit_source_and_split():
    assert metric_names("estimated", "macro", "validation") == ["energy (J, estimated)", "macro-F1 (validation)"]
    assert metric_names("measured-gpu", "positive-class", "test") == ["energy (J, measured-gpu)",
                                                                     "positive-class F1 (test)"]
    assert metric_names("measured-cpu", "macro", "test")[0] == "energy (J, measured-cpu)"
    for args, says in [(("rapl", "macro", "validation"), "energy source 'rapl'.*measured-gpu, measured-cpu, estimated"),
                       (("estimated", "weighted", "validation"), "F1 kind 'weighted'.*macro, positive-class"),
                       (("estimated", "macro", "train"), "split 'train'.*'validation' or 'test'")]:
        with pytest.raises(GreenknobsError, match=says) as err:
            metric_names(*args)
        assert "\n" not in str(err.value)
