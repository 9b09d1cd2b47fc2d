"""Shared test fixtures. Trials run on tiny-bert with the estimate meter: fast, deterministic, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def vuln_dir() -> Path:
    path = SHARED_DATA / "vuln"
    if not (path / "train.jsonl").is_file():
        pytest.skip(f"shared data folder {path} is absent (it sits beside the repository for developers and CI)")
    return path


@pytest.fixture(scope="session")
def tiny_pipeline():
    """A pipeline on the smoke task (tiny-bert, 300 fortunes) with the estimate meter, shared across tests."""
    from greenknobs.objectives import Pipeline, get_task
    from greenknobs.objectives.energy import make_meter

    return Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), seed=0)
