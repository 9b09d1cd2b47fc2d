"""The smoke study, run once per test session through the real CLI and shared by the search tests.

It is run in two goes on one storage (`--n-trials 5 --no-confirm`, then `--n-trials 9`, which confirms the Pareto
candidates on the test split at its end): a genuine resume, so the resume test reads the first run's snapshot
instead of paying for a study of its own. The budget counts training runs: the baseline's 3 seeds come first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_RUN, BUDGET = 5, 9


@dataclass
class SmokeStudy:
    study_file: Path  # a copy of studies/smoke.toml
    storage: str  # journal:PATH
    first_run: list[tuple[int, str, str]]  # (number, state, role) after `run --n-trials FIRST_RUN`
    outputs: list[subprocess.CompletedProcess]

    def args(self) -> list[str]:
        return [str(self.study_file), "--storage", self.storage]

    def load(self):
        from greenknobs.search.study import load_study

        return load_study("smoke", self.storage)


def greenknobs_cli(*args: str, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "greenknobs", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=kw.pop("cwd", REPO), **kw)


@pytest.fixture(scope="session")
def cli():
    """Run `python -m greenknobs ARGS...` in the repository: `cli("export", ..., timeout=120)`."""
    return greenknobs_cli


def _snapshot(storage: str) -> list[tuple[int, str, str]]:
    from greenknobs.search import records as rec
    from greenknobs.search.study import load_study

    return [(t.number, t.state.name, rec.role_of(t)) for t in load_study("smoke", storage).get_trials(deepcopy=False)]


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> SmokeStudy:
    folder = tmp_path_factory.mktemp("smoke-study")
    study_file = folder / "smoke.toml"
    shutil.copy(REPO / "studies" / "smoke.toml", study_file)
    storage = f"journal:{folder / 's.journal'}"
    outputs = []
    first = None
    for n, more in ((FIRST_RUN, ["--no-confirm"]), (BUDGET, [])):
        done = greenknobs_cli("run", str(study_file), "--n-trials", str(n), "--storage", storage, *more)
        assert done.returncode == 0, f"`greenknobs run --n-trials {n}` failed:\n{done.stderr[-3000:]}"
        outputs.append(done)
        if first is None:
            first = _snapshot(storage)
    return SmokeStudy(study_file, storage, first, outputs)
