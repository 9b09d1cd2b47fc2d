"""`report`: its numbers are the study's own, its files are real images, and it never touches the study."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from greenknobs.search.records import saving_text
from tests.search._cascade_study import build_simulated


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build_simulated(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def report(cascade, tmp_path_factory):
    from greenknobs.search.analysis import build_report

    journal = cascade.journal.read_bytes()
    out = tmp_path_factory.mktemp("report") / "rep"
    path = build_report(cascade.load(), out)
    assert cascade.journal.read_bytes() == journal, "building the report changed the study's storage"
    return path


def test_predictions_are_the_product_of_the_measured_single_savings(cascade, report):
    study = cascade.load()
    data = json.loads((report.parent / "report.json").read_text())
    trials = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    base = trials[0].params
    runs: dict[frozenset, list[float]] = {}
    for t in trials:  # recomputed from params and each run's joules, not through the report's own helpers
        key = frozenset((k, v) for k, v in t.params.items() if base[k] != v)
        runs.setdefault(key, []).extend(r["energy_j"] for r in t.user_attrs[rec.RUNS])
    ref = statistics.fmean(runs[frozenset()])
    assert data["reference"]["energy_j"] == pytest.approx(ref)
    saving = {key: 1 - statistics.fmean(es) / ref for key, es in runs.items()}
    singles = {next(iter(k)): s for k, s in saving.items() if len(k) == 1}
    assert {(s["knob"], s["value"]): s["saving"] for s in data["singles"]} == pytest.approx(singles)

    judged = 0
    md = report.read_text()
    for c in data["cascades"]:
        key = frozenset(c["changed"].items())
        assert c["observed"] == pytest.approx(saving[key])
        if all(lv in singles for lv in key):
            expected = 1 - math.prod(1 - singles[lv] for lv in key)
            assert c["predicted"] == pytest.approx(expected)
            assert c["score"] == pytest.approx(saving[key] / expected)
            assert saving_text(expected) in md  # "81.5% less energy", never a bare sign
            judged += 1
        else:
            assert c["predicted"] is None and "no single measurement of" in md
    assert judged >= 1, "the cascade study measured no combination of single-measured knobs"


def test_report_files_are_real_and_labelled(report):
    import matplotlib.image

    folder = report.parent
    md = report.read_text()
    assert "simulated" in md.lower() and "## Single-knob effects" in md and "## Which knobs matter" in md
    assert "## Early stopping" in md and "noise floor (validation, baseline at 3 seeds" in md
    assert "PED-ANOVA" in md
    for name in ("pareto.png", "phase_energy.png", "single_knobs.png", "cascade.png"):
        raw = (folder / name).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 8_000, name
        assert f"]({name})" in md, f"report.md does not show {name}"
    image = matplotlib.image.imread(folder / "pareto.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0.05
    html = (folder / "report.html").read_text()
    assert "src='plotly.min.js'" in html and (folder / "plotly.min.js").stat().st_size > 1_000_000
    assert "cdn." not in html and html.count("Plotly.newPlot") == 5


def test_report_replaces_its_own_folder_and_refuses_a_foreign_one(cascade, report, tmp_path, capsys):
    from greenknobs.search.cli import main

    out = report.parent
    (out / "stale.txt").write_text("from an older report")
    assert main(["report", str(cascade.study_file), "--storage", cascade.storage, "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (out / "report.md").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".rep.")], "a temporary folder was left behind"

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["report", str(cascade.study_file), "--storage", cascade.storage, "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did not write" in err and (foreign / "notes.txt").read_text() == "keep me"


def test_report_of_a_missing_study_is_one_line(cascade, tmp_path, capsys):
    from greenknobs.search.cli import main

    code = main(["report", str(cascade.study_file), "--storage", f"journal:{tmp_path / 'none.journal'}",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "greenknobs: error:" in err and "run" in err
    assert not (tmp_path / "out").exists()



@pytest.fixture
def beside(cascade, tmp_path) -> Path:
    """A folder as a user has it: studies/smoke.toml and, beside it, the journal its default storage names, holding a
    finished study of that name (the simulated cascade study and its confirmation twin, copied under the name)."""
    import optuna

    from greenknobs.search.study import open_storage

    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "studies" / "smoke.toml", folder / "smoke.toml")
    target = open_storage(f"journal:{folder / 'smoke.journal'}")
    for suffix in ("", rec.CONFIRM_SUFFIX):
        optuna.copy_study(from_study_name=cascade.name + suffix, from_storage=open_storage(cascade.storage),
                          to_storage=target, to_study_name="smoke" + suffix)
    return folder


def test_report_without_out_writes_beside_the_study_file(beside, cli):
    """`greenknobs report studies/smoke.toml`, as typed: no --out (nor --storage); the report lands in smoke-report/
    beside the study file, as the journal does."""
    done = cli("report", "studies/smoke.toml", cwd=beside.parent, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = beside / "smoke-report"
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert f"report of study 'smoke': {Path('studies', 'smoke-report', 'report.md')}" in done.stdout
    assert sorted(p.name for p in beside.iterdir()) == ["smoke-report", "smoke.journal", "smoke.toml"]


def test_export_without_out_writes_beside_the_study_file(beside, capsys):
    from greenknobs.search.cli import main

    assert main(["export", str(beside / "smoke.toml")]) == 0
    out = beside / "smoke-recommended"
    assert (out / "index.md").is_file() and f"exported study 'smoke' to {out}:" in capsys.readouterr().out
