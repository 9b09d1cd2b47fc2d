"""The packaging path the GPU machine takes (benchmarks/gpu/run.sh): greenknobs built as a wheel, installed with
`pip install --target` into a site folder beside a copy of the tree, and run from the tree's root, where the
checkout's own greenknobs/ folder (the package's top only) must not hide the installed package.

The Python that runs it has this environment's dependencies but not its editable greenknobs (whose finder maps
greenknobs.search & co. onto the checkout by name and would hide the failure): a bare virtual environment whose one
.pth file lists this environment's site-packages folders, which puts them on sys.path without running their own
.pth files (the editable install's among them)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ("pyproject.toml", "README.md", "greenknobs", "spaces", "objectives", "search", "benchmarks/gpu")
SKIP = shutil.ignore_patterns("__pycache__", "wheels", "results-dry", "raw", ".fetch-venv")


def _python_without_editable_greenknobs(where: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = {*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_greenknobs_test_deps.pth").write_text("\n".join(sorted(p for p in ours if Path(p).is_dir())) + "\n")
    return python


def test_run_sh_runs_the_installed_package_from_the_trees_root(tmp_path):
    tree = tmp_path / "tree"
    for part in TREE:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tree / part, ignore=SKIP)
        else:
            (tree / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / part)
    python = _python_without_editable_greenknobs(tmp_path / "venv")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "GK_PYTHON": str(python), "GK_GPU_DRY_RUN": "1", "GK_GPU_BASELINE_ONLY": "1",
           "GK_GPU_STEPS": "install check knobs trials", "GK_GPU_RESULTS": str(tmp_path / "results"),
           "GK_GPU_SITE": str(tmp_path / "site"), "OUT": str(out), "GREENKNOBS_SET_POWER_LIMITS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", "benchmarks/gpu/run.sh"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    results = tmp_path / "results"
    logs = {p.name: p.read_text() for p in results.glob("*.log")}
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"greenknobs 0.1.0 {tmp_path / 'site' / 'greenknobs' / '__init__.py'}" in logs["check.log"]
    assert "setting power limits allowed: False" in logs["check.log"]  # run.sh drops the opt-in
    assert "power_limit_w" in logs["knobs.log"] and "infer_compile" in logs["knobs.log"]
    trials = json.loads((results / "trials.json").read_text())
    (baseline,) = trials["records"]
    assert baseline["trial"] == "baseline" and baseline["status"] == "ok", baseline
    assert set(baseline["phase_time_s"]) == {"data", "model", "training", "inference"}
    assert baseline["served"] and baseline["phase_estimated"] == ["data", "model", "training", "inference"]
    # What comes back, refreshed after every step: the step logs reached stdout and $OUT holds the results.
    assert "== trials" in done.stdout and "[baseline] ok" in done.stdout
    assert {p.name for p in out.iterdir()} == {"summary.md", "run.log", "trials.json", "gpu-results.tar.gz"}
    assert "| baseline | ok |" in (out / "summary.md").read_text()
