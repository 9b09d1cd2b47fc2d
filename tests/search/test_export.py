"""`greenknobs export`: recommended configs and candidates apart (on a simulated study with one of each, so every
assertion runs), each a runnable file whose rerun reproduces its run's F1 (on the real smoke study). The rules that
decide the verdicts are tested in test_verdicts.py and test_verdict_rules.py."""

from __future__ import annotations

import csv
import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from greenknobs._errors import GreenknobsError
from greenknobs.search import records as rec
from greenknobs.search.cli import main
from greenknobs.search.analysis import MARKER, export_pareto
from greenknobs.search.study import confirmed
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


@pytest.fixture(scope="module")
def sim_exported(tmp_path_factory):
    """A simulated study with two guaranteed candidates, confirmed: HALF keeps its F1 on the test split
    (recommended), DROP loses 8 points there (a candidate, not recommended); exported by the real command."""
    from greenknobs.search.study import confirm_pareto
    from tests.search._simulated import Task, level, run_simulated

    half, drop = level(max_length=64), level(batch_size=32)

    class Shift(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            return type(r)(r.phase_energy_j, r.f1 - 0.08) if split == "test" and self.changes(config) == drop else r

    tmp = tmp_path_factory.mktemp("sim-export")
    ctx = run_simulated(tmp, Shift(effects={half: (0.5, 0.02), drop: (0.3, 0.0)}, f1_sd=0.003), n_trials=5,
                        enqueue=[dict(half), dict(drop)])
    confirm_pareto(ctx)
    out = tmp / "recommended"
    code = main(["export", str(ctx.spec.path), "--storage", ctx.spec.storage, "--out", str(out)])
    return ctx, out, code


def test_one_runnable_file_per_candidate_where_its_verdict_puts_it(sim_exported, capsys):
    ctx, out, code = sim_exported
    study = ctx.study
    front = rec.pareto_trials(study)
    assert code == 0 and len(front) == 2
    stats = confirmed(study)
    assert set(stats) == {t.number for t in front}
    assert sorted(p.recommended for p in stats.values()) == [False, True]  # one each side of the line
    written = sorted(str(p.relative_to(out)) for p in out.rglob("trial-*.toml"))
    assert written == sorted(str(_path(out, t, stats).relative_to(out)) for t in front)
    spec_task = rec.study_record(study, rec.SPEC_ATTR)["task"]
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
        assert header.startswith("# Pareto configuration from study 'sim'")


def test_index_shows_the_noise_floor_and_each_verdict_with_its_intervals(sim_exported):
    ctx, out, _ = sim_exported
    study = ctx.study
    front = rec.pareto_trials(study)
    stats = confirmed(study)
    rows = {int(r["trial"]): r for r in csv.DictReader((out / "index.csv").open())}
    assert set(rows) == {t.number for t in front} and len(rows) == 2
    for t in front:
        row, paired = rows[t.number], stats[t.number]
        assert row["status"] == ("recommended" if paired.recommended else "not recommended")
        assert float(row["search_energy_j"]) == pytest.approx(t.values[0], abs=1e-3)
        assert float(row["saving_pct"]) == pytest.approx(100 * paired.saving.mean, abs=0.01)
        assert float(row["retention_low_pct"]) == pytest.approx(100 * paired.retention.low, abs=0.01)
        assert row["confirm_seeds"] == " ".join(map(str, paired.seeds))
    md = (out / "index.md").read_text()
    assert "noise floor (validation, baseline at 3 seeds 0, 1, 2)" in md
    assert "## Recommended (1)" in md and "## Candidates, not recommended (1)" in md
    assert "**Energy is simulated**" in md and "Holm" in md


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
        write_config_file(path, ConfigFile(knobs=t.user_attrs[rec.CONFIG], task=rec.study_record(study, rec.SPEC_ATTR)["task"],
                                           seed=0))
    done = cli("trial", "--config", str(path), "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    first = rec.runs_of(t)[0]  # the run at the study's seed
    assert result["config"] == t.user_attrs[rec.CONFIG] and result["seed"] == first.seed
    assert abs(result["f1"] - first.f1) <= 1e-6
    assert result["energy_source"] == t.user_attrs["energy_source"]
    assert first.energy_j / 10 < result["energy_j"] < first.energy_j * 10


def test_reexport_replaces_the_previous_export(sim_exported, tmp_path):
    ctx, *_ = sim_exported
    out = tmp_path / "pareto"
    export_pareto(ctx.study, out)
    (out / "trial-999.toml").write_text("stale = true\n")
    files, _ = export_pareto(ctx.study, out)
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
