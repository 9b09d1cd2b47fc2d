"""`greenknobs export` on a real study: recommended configs and candidates apart, each a runnable file whose rerun
reproduces its run's F1. The rules that decide the verdicts are tested on a simulated task (test_verdicts.py)."""

from __future__ import annotations

import csv
import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from greenknobs._errors import GreenknobsError
from greenknobs.search.records import _records as rec
from greenknobs.search.cli._main import main
from greenknobs.search.analysis._export import MARKER, export_pareto
from greenknobs.search.study._confirm import confirmed
from greenknobs.spaces import load_config_file


@pytest.fixture(scope="module")
def exported(smoke_study, cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "recommended"
    done = cli("export", *smoke_study.args(), "--out", str(out), timeout=120)
    return out, done


def _path(out, t, stats):
    paired = stats.get(t.number)
    return out / (f"trial-{t.number}.toml" if paired is not None and paired.recommended
                  else f"candidates/trial-{t.number}.toml")


def test_one_runnable_file_per_candidate_where_its_verdict_puts_it(smoke_study, exported):
    out, done = exported
    study = smoke_study.load()
    front = rec.pareto_trials(study)
    if not front:  # nothing saved a measurable amount above the floor: an error, and nothing written
        assert done.returncode == 2 and "no Pareto candidate to export" in done.stderr and not out.exists()
        return
    assert done.returncode == 0, done.stderr
    stats = confirmed(study)
    assert set(stats) == {t.number for t in front}, "`run` confirms every candidate on the test split by default"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("trial-*.toml"))
    assert written == sorted(str(_path(out, t, stats).relative_to(out)) for t in front)
    spec_task = study.user_attrs["greenknobs.spec"]["task"]
    for t in front:
        path = _path(out, t, stats)
        cfg = load_config_file(path)
        assert cfg.knobs == {k: v for k, v in t.user_attrs[rec.CONFIG].items() if v is not None}
        assert cfg.knobs != rec.baseline_config(study), "the baseline configuration is never exported"
        assert cfg.task == spec_task and cfg.seed == rec.result_of(t).seed
        m = cfg.measured
        assert m["trial"] == t.number and m["energy_source"] == t.user_attrs["energy_source"]
        assert m["search"]["energy_j"] == pytest.approx(t.values[0], abs=1e-3)
        assert m["search"]["f1"] == pytest.approx(t.values[1], abs=1e-6)
        assert m["search"]["runs"] == t.user_attrs["runs"]
        paired = stats[t.number]
        assert m["status"] == ("recommended" if paired.recommended else "not recommended")
        assert m["confirmation"]["paired_seeds"] == list(paired.seeds)
        assert m["confirmation"]["energy_saved_pct"]["mean"] == pytest.approx(100 * paired.saving.mean, abs=0.01)
        header = path.read_text().splitlines()[0]
        assert header.startswith("# Pareto configuration from study 'smoke'")
    assert "recommended configuration(s)" in done.stdout


def test_index_shows_the_noise_floor_and_each_verdict_with_its_intervals(smoke_study, exported):
    out, done = exported
    study = smoke_study.load()
    front = rec.pareto_trials(study)
    if not front:
        return  # covered above: nothing to index
    stats = confirmed(study)
    rows = {int(r["trial"]): r for r in csv.DictReader((out / "index.csv").open())}
    assert set(rows) == {t.number for t in front}
    for t in front:
        row, paired = rows[t.number], stats[t.number]
        assert row["status"] == ("recommended" if paired.recommended else "not recommended")
        assert float(row["search_energy_j"]) == pytest.approx(t.values[0], abs=1e-3)
        assert float(row["saving_pct"]) == pytest.approx(100 * paired.saving.mean, abs=0.01)
        assert float(row["retention_low_pct"]) == pytest.approx(100 * paired.retention.low, abs=0.01)
        assert row["confirm_seeds"] == " ".join(map(str, paired.seeds))
    md = (out / "index.md").read_text()
    assert "noise floor (validation, baseline at 3 seeds 0, 1, 2)" in md
    assert "## Recommended" in md and "## Candidates, not recommended" in md
    if study.trials[0].user_attrs["energy_source"] == "estimated":
        assert "**Energy is estimated**" in md


def test_an_exported_config_reproduces_its_run(smoke_study, exported, cli, tmp_path):
    """Same seed, same data, same knobs on the same CPU: the F1 is bit-identical; joules are a CPU-time estimate
    (other processes share the cores), so only their order of magnitude is compared. With no candidate exported,
    the baseline's seed-0 run is reproduced from a config file written the same way."""
    out, _ = exported
    study = smoke_study.load()
    front = rec.pareto_trials(study)
    if front:
        t = min(front, key=lambda t: t.values[0])  # the cheapest one keeps the test short
        path = _path(out, t, confirmed(study))
    else:
        from greenknobs.spaces import ConfigFile, write_config_file

        t = rec.baseline_trial(study)
        path = tmp_path / "baseline.toml"
        write_config_file(path, ConfigFile(knobs=t.user_attrs[rec.CONFIG], task=study.user_attrs["greenknobs.spec"]["task"],
                                           seed=0))
    done = cli("trial", "--config", str(path), "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    first = rec.runs_of(t)[0]  # the run at the study's seed
    assert result["config"] == t.user_attrs[rec.CONFIG] and result["seed"] == first.seed
    assert abs(result["f1"] - first.f1) <= 1e-6
    assert result["energy_source"] == t.user_attrs["energy_source"]
    assert first.energy_j / 10 < result["energy_j"] < first.energy_j * 10


def test_reexport_replaces_the_previous_export(smoke_study, exported, tmp_path):
    out = tmp_path / "pareto"
    study = smoke_study.load()
    if not rec.pareto_trials(study):
        pytest.skip("the smoke study found no candidate on this machine: nothing to export twice")
    export_pareto(study, out)
    (out / "trial-999.toml").write_text("stale = true\n")
    files, _ = export_pareto(study, out)
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
    assert err.startswith("greenknobs: error: ") and err.count("\n") == 1
    assert "did not write" in err or "no Pareto candidate" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_unknown_study_is_one_line_exit_2(smoke_study, tmp_path, capsys):
    code = main(["export", *smoke_study.args(), "--study-name", "nosuch", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("greenknobs: error: no study named 'nosuch'") and err.count("\n") == 1
    assert "smoke" in err  # names the studies that are there
    assert not (tmp_path / "x").exists()


# -- a study with nothing to recommend ------------------------------------------------------------------------

def test_no_candidate_is_an_error_and_writes_nothing(tmp_path):
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="hopeless")
    study.add_trial(optuna.trial.create_trial(
        values=[100.0, 0.10], user_attrs={rec.ROLE: "baseline", "energy_source": "estimated",
                                          rec.CONFIG: {"max_length": 256}},
        params={"x": 0}, distributions={"x": CategoricalDistribution([0])}, constraints={"degenerate": 1.0}))
    with pytest.raises(GreenknobsError, match="no Pareto candidate to export"):
        export_pareto(study, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
