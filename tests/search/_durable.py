"""Shared by the durability tests (failures, kill/resume, workers, storage contract, bad inputs): tiny study files,
a real PostgreSQL server (.ci/postgres.sh), and reading a study back.

Imported as `tests.search._durable` (pytest puts the repository root on sys.path): one module object, so one server
per test session."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ENV = "GREENKNOBS_TEST_POSTGRES_URL"

# Seconds per trial on tiny-bert: 60 training rows, 32 tokens, one epoch; two knobs searched. The budget counts
# training runs, the baseline's 3 seeds first: n_trials = 3 + the search trials wanted.
STUDY = """\
[study]
name = "{name}"
n_trials = {n_trials}
sampler = "random"
energy = "estimate"
seed = 0
early_stop = "off"  # these studies test durability; tiny-bert on 60 rows learns nothing the rules would let run

[task]
name = "fortunes-tiny"

[search]
knobs = {knobs}

[fixed]
train_fraction = 0.2
epochs = 1
max_length = 32
tokenizer = "rust"
"""


def unique(prefix: str) -> str:
    """A study name no earlier run used: PostgreSQL databases outlive a test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_study(folder: Path, name: str = "t", n_trials: int = 5, knobs: tuple[str, ...] = ("batch_size", "drop_layers"),
                extra: str = "") -> Path:
    path = Path(folder) / f"{name}.toml"
    path.write_text(STUDY.format(name=name, n_trials=n_trials, knobs=list(knobs)).replace("'", '"') + extra)
    return path


def greenknobs(*args: str) -> list[str]:
    return [sys.executable, "-m", "greenknobs", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class _Server:
    url: str | None = None
    folder: Path | None = None
    skip_reason: str | None = None

    def start(self) -> str:
        if self.url:
            return self.url
        if self.skip_reason:
            pytest.skip(self.skip_reason)
        # Not under pytest's tmp folder: that is private to this user, and the server runs as `postgres` under root.
        folder = Path(tempfile.mkdtemp(prefix="greenknobs-pg-"))
        done = subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "start", str(folder)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode == 3:  # not installed and not installable here: skip, saying why
            shutil.rmtree(folder, ignore_errors=True)
            self.skip_reason = f"PostgreSQL unavailable: {done.stderr.strip()}"
            pytest.skip(self.skip_reason)
        assert done.returncode == 0, f".ci/postgres.sh start failed:\n{done.stderr}"
        self.url, self.folder = done.stdout.strip().splitlines()[-1], folder
        atexit.register(self.stop)  # a backstop if the session is cut short; the fixture stops it first
        return self.url

    def stop(self) -> None:
        if self.folder is not None:
            subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "stop", str(self.folder)],
                           capture_output=True, timeout=120)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            self.url = None


SERVER = _Server()


def postgres_url(request) -> str:
    """For a session fixture: GREENKNOBS_TEST_POSTGRES_URL if set, else a server started once for the session."""
    if os.environ.get(POSTGRES_ENV):
        return os.environ[POSTGRES_ENV]
    url = SERVER.start()
    request.addfinalizer(SERVER.stop)
    return url


def storage_url(kind: str, folder: Path, request) -> str:
    """A fresh storage of one kind: a journal file or SQLite file in `folder`, or the session's PostgreSQL (through
    the calling module's `postgres_url` fixture, which skips where PostgreSQL is unavailable)."""
    if kind == "journal":
        return f"journal:{folder / 'study.journal'}"
    if kind == "sqlite":
        return f"sqlite:///{folder / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def states(study) -> list[tuple[int, str]]:
    return [(t.number, t.state.name) for t in study.get_trials(deepcopy=False)]
