"""`greenknobs dashboard`: a real server on 127.0.0.1 serving the smoke study, read back over optuna-dashboard's API."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request

import plotly.io
import pytest

from greenknobs.search import records as rec
from greenknobs.search.cli import main
from greenknobs.search.analysis import FIGURES, push_figures, hypervolume_history
from tests import _browser as shot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def served(smoke_study, tmp_path_factory):
    """The dashboard as a subprocess (the real command, started by tests/_browser.py); yields (base_url, path of its
    stdout)."""
    log = tmp_path_factory.mktemp("dashboard") / "stdout.txt"
    with shot.dashboard(smoke_study.study_file, storage=smoke_study.storage, log=log) as base:
        yield base, log


def test_study_trials_metric_names_and_notes_over_http(served, smoke_study):
    base, log = served
    text = log.read_text()
    assert "pushed 3 figures" in text and f"{base}/dashboard" in text
    summaries = _get(f"{base}/api/studies")["study_summaries"]
    smoke = next(s for s in summaries if s["study_name"] == "smoke")
    detail = _get(f"{base}/api/studies/{smoke['study_id']}")
    assert detail["name"] == "smoke"
    assert detail["directions"] == ["minimize", "maximize"]
    study = smoke_study.load()
    source = study.trials[0].user_attrs["energy_source"]
    assert detail["objective_names"] == [f"energy (J, {source})", "positive-class F1 (validation)"]
    study = smoke_study.load()
    trials = study.get_trials(deepcopy=False)
    assert [t["number"] for t in detail["trials"]] == [t.number for t in trials]
    for served_trial, t in zip(detail["trials"], trials):
        assert served_trial["state"].upper() == t.state.name
        note = served_trial["note"]["body"]
        if t.state.name == "COMPLETE":
            assert note.startswith(f"## Trial {t.number}")
            assert f"{t.values[0]:,.1f} J" in note
            attrs = {a["key"]: a["value"] for a in served_trial["user_attrs"]}
            assert attrs[rec.ROLE] == rec.role_of(t)
        elif t.state.name == "PRUNED" and "greenknobs.stopped" in t.user_attrs:
            assert note.startswith(f"## Trial {t.number} — stopped early")  # early stopping's own note
        else:
            assert "FAILED" in note


def test_pushed_figures_are_served(served, smoke_study):
    base, _ = served
    smoke = next(s for s in _get(f"{base}/api/studies")["study_summaries"] if s["study_name"] == "smoke")
    graphs = {g["id"]: g["graph_object"] for g in _get(f"{base}/api/studies/{smoke['study_id']}")["plotly_graph_objects"]}
    assert set(FIGURES) <= set(graphs)
    study = smoke_study.load()
    pareto = plotly.io.from_json(graphs["greenknobs-pareto"])
    plotted = {n for trace in pareto.data if trace.customdata is not None for n in trace.customdata}
    assert plotted == {t.number for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    if study.trials[0].user_attrs["energy_source"] == "estimated":
        assert "estimated" in pareto.layout.xaxis.title.text
    hv = plotly.io.from_json(graphs["greenknobs-hypervolume"])
    assert list(hv.data[0].y) == pytest.approx([h["hypervolume"] for h in hypervolume_history(study)])
    phases = plotly.io.from_json(graphs["greenknobs-phase-energy"])
    assert [t.name for t in phases.data if t.type == "bar"] == ["data", "model", "training", "inference"]


def test_pushing_again_replaces_the_figures(smoke_study, tmp_path):
    from optuna_dashboard._custom_plot_data import list_graph_object_ids

    path = tmp_path / "copy.journal"
    shutil.copy(smoke_study.storage.removeprefix("journal:"), path)
    from greenknobs.search.study import load_study

    study = load_study("smoke", f"journal:{path}")
    push_figures(study)
    push_figures(study)
    ids = list_graph_object_ids(rec.study_system_attrs(study))
    assert sorted(i for i in ids if i.startswith("greenknobs-")) == sorted(FIGURES)


def test_port_in_use_is_one_line_exit_2(smoke_study, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["dashboard", *smoke_study.args(), "--port", str(port), "--no-push"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("greenknobs: error: ") and err.count("\n") == 1 and "already in use" in err


@pytest.mark.parametrize("port", ["0", "70000"])
def test_port_out_of_range_is_one_line_exit_2(smoke_study, capsys, port):
    code = main(["dashboard", *smoke_study.args(), "--port", port])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "out of range" in err


def test_missing_study_is_one_line_exit_2(smoke_study, capsys):
    code = main(["dashboard", *smoke_study.args(), "--study-name", "nosuch", "--port", str(_free_port())])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("greenknobs: error: no study named 'nosuch'") and err.count("\n") == 1


def test_hypervolume_counts_only_feasible_search_trials_under_the_baseline():
    import optuna
    from optuna.distributions import CategoricalDistribution

    study = optuna.create_study(directions=["minimize", "maximize"])
    for role, energy, f1, feasible in [("baseline", 100, 0.8, True), ("search", 40, 0.78, True),
                                       ("search", 20, 0.9, False), ("repeat", 10, 0.9, True),
                                       ("search", 60, 0.77, True), ("search", 70, 0.79, True)]:
        study.add_trial(optuna.trial.create_trial(
            values=[energy, f1], user_attrs={rec.ROLE: role}, params={"x": 0},
            distributions={"x": CategoricalDistribution([0])}, constraints={"c": -1.0 if feasible else 1.0}))
    history = hypervolume_history(study)
    assert [h["trial"] for h in history] == [0, 1, 2, 4, 5]  # a deliberate repeat (3) is not a search step
    # (100 - 40) * 0.78 once trial 1 lands; trial 4 (60 J, 0.77) is dominated; trial 5 adds (100 - 70) * (0.79 - 0.78).
    assert [h["hypervolume"] for h in history] == pytest.approx([0.0, 46.8, 46.8, 46.8, 47.1])
    assert history[-1]["share"] == pytest.approx(47.1 / 100)
