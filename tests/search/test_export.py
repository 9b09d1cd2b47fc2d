"""`greenknobs export`: the Pareto set as runnable configs; rerunning one reproduces the trial's F1."""

from __future__ import annotations

import csv
import json
import statistics
import tomllib

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from greenknobs._errors import GreenknobsError
from greenknobs.search.records import _records as rec
from greenknobs.search.cli._main import main
from greenknobs.search.analysis._export import MARKER, export_pareto
from greenknobs.spaces import load_config_file


@pytest.fixture(scope="module")
def exported(smoke_study, cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "pareto"
    done = cli("export", *smoke_study.args(), "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    return out, done


def test_one_runnable_file_per_pareto_trial(smoke_study, exported):
    out, done = exported
    study = smoke_study.load()
    front = rec.pareto_trials(study)
    assert front, "the smoke study has at least its baseline feasible"
    assert sorted(p.name for p in out.glob("trial-*.toml")) == sorted(f"trial-{t.number}.toml" for t in front)
    spec_task = study.user_attrs["greenknobs.spec"]["task"]
    for t in front:
        cfg = load_config_file(out / f"trial-{t.number}.toml")
        assert cfg.knobs == {k: v for k, v in t.user_attrs[rec.CONFIG].items() if v is not None}
        assert cfg.task == spec_task
        assert cfg.seed == rec.result_of(t).seed
        assert cfg.measured["trial"] == t.number
        assert cfg.measured["energy_j"] == pytest.approx(t.values[0], abs=1e-3)
        assert cfg.measured["f1"] == pytest.approx(t.values[1], abs=1e-6)
        assert cfg.measured["energy_source"] == t.user_attrs["energy_source"]
        text = (out / f"trial-{t.number}.toml").read_text()
        assert text.startswith("# Pareto configuration from study 'smoke'")
    assert "exported" in done.stdout


def test_index_lists_the_front_with_savings_and_the_energy_label(smoke_study, exported):
    out, _ = exported
    study = smoke_study.load()
    front = rec.pareto_trials(study)
    base = rec.baseline_trial(study)
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [int(r["trial"]) for r in rows] == [t.number for t in front]
    for row, t in zip(rows, front):
        assert float(row["energy_j"]) == pytest.approx(t.values[0], abs=1e-3)
        assert float(row["energy_reduction_pct"]) == pytest.approx(100 * (1 - t.values[0] / base.values[0]), abs=0.01)
        assert float(row["f1_retention_pct"]) == pytest.approx(100 * t.values[1] / base.values[1], abs=0.01)
        assert row["runs"] == "1" and row["energy_j_std"] == ""
        assert row["energy_source"] == t.user_attrs["energy_source"]
    md = (out / "index.md").read_text()
    assert "measured once" in md and "Confirmed" not in md
    if study.trials[0].user_attrs["energy_source"] == "estimated":
        assert "**Energy is estimated**" in md
    for t in front:
        assert f"[{t.number}](trial-{t.number}.toml)" in md


def test_exported_config_reproduces_the_trial(smoke_study, exported, cli):
    """Same seed, same data, same knobs on the same CPU: the F1 is bit-identical; joules are a CPU-time estimate
    (other processes share the cores), so only their order of magnitude is compared."""
    out, _ = exported
    study = smoke_study.load()
    t = min(rec.pareto_trials(study), key=lambda t: t.values[0])  # the cheapest one keeps the test short
    done = cli("trial", "--config", str(out / f"trial-{t.number}.toml"), "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["config"] == t.user_attrs[rec.CONFIG]
    assert abs(result["f1"] - t.values[1]) <= 1e-6
    assert result["energy_source"] == t.user_attrs["energy_source"]
    assert t.values[0] / 10 < result["energy_j"] < t.values[0] * 10


def test_reexport_replaces_the_previous_export(smoke_study, exported, tmp_path):
    out = tmp_path / "pareto"
    export_pareto(smoke_study.load(), out)
    (out / "trial-999.toml").write_text("stale = true\n")
    files = export_pareto(smoke_study.load(), out)
    assert not (out / "trial-999.toml").exists()
    assert (out / MARKER).is_file() and out / "index.md" in files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pareto.")], "no temp folder left behind"


def test_folder_that_is_not_an_export_is_refused(smoke_study, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = main(["export", *smoke_study.args(), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("greenknobs: error: ") and err.count("\n") == 1 and "did not write" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_unknown_study_is_one_line_exit_2(smoke_study, tmp_path, capsys):
    code = main(["export", *smoke_study.args(), "--study-name", "nosuch", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("greenknobs: error: no study named 'nosuch'") and err.count("\n") == 1
    assert "smoke" in err  # names the studies that are there
    assert not (tmp_path / "x").exists()


# -- confirm repeats and infeasible studies, on studies built in memory with known values ---------------------

def _add(study, number_role, energy, f1, feasible=True, config=None, **attrs):
    role, confirm_of = number_role
    ua = {rec.ROLE: role, "energy_source": "estimated", rec.CONFIG: config or {"max_length": 256}, **attrs}
    if confirm_of is not None:
        ua["confirm_of"] = confirm_of
    study.add_trial(optuna.trial.create_trial(
        values=[energy, f1], user_attrs=ua, params={"x": 0}, distributions={"x": CategoricalDistribution([0])},
        constraints={"f1_retention": -0.1 if feasible else 0.5, "degenerate": 0.0},
    ))


def _memory_study():
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="mem")
    _add(study, ("baseline", None), 100.0, 0.80)
    _add(study, ("search", None), 40.0, 0.78, config={"max_length": 64})
    _add(study, ("search", None), 20.0, 0.30, feasible=False, config={"max_length": 32})
    _add(study, ("confirm", 1), 30.0, 0.79, config={"max_length": 64})  # cheaper than trial 1: must not replace it
    _add(study, ("confirm", 1), 44.0, 0.77, config={"max_length": 64})
    return study


def test_confirm_repeats_fold_into_mean_and_std(tmp_path):
    study = _memory_study()
    assert [t.number for t in rec.pareto_trials(study)] == [1, 0]
    export_pareto(study, tmp_path / "out")
    rows = {int(r["trial"]): r for r in csv.DictReader((tmp_path / "out" / "index.csv").open())}
    assert set(rows) == {0, 1}
    energies, f1s = [40.0, 30.0, 44.0], [0.78, 0.79, 0.77]
    assert rows[1]["runs"] == "3" and rows[0]["runs"] == "1"
    assert float(rows[1]["energy_j"]) == pytest.approx(statistics.fmean(energies), abs=1e-3)
    assert float(rows[1]["energy_j_std"]) == pytest.approx(statistics.stdev(energies), abs=1e-3)
    assert float(rows[1]["f1_std"]) == pytest.approx(statistics.stdev(f1s), abs=1e-6)
    assert float(rows[1]["energy_reduction_pct"]) == pytest.approx(100 * (1 - statistics.fmean(energies) / 100), abs=0.01)
    assert rows[1]["changed_knobs"] == "max_length=64"
    md = (tmp_path / "out" / "index.md").read_text()
    assert "**Confirmed**" in md and "± " in md
    toml = tomllib.loads((tmp_path / "out" / "trial-1.toml").read_text())
    assert toml["measured"]["runs"] == 3 and toml["measured"]["confirm_trials"] == [3, 4]


def test_no_feasible_trial_is_an_error_and_writes_nothing(tmp_path):
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="hopeless")
    _add(study, ("baseline", None), 100.0, 0.10, feasible=False)
    with pytest.raises(GreenknobsError, match="no feasible trial"):
        export_pareto(study, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
