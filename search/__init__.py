"""The search: a multi-objective Optuna study over the knob space, and what it found.

Rooms, each depending only on those after it: `cli` → `analysis` → `study` → `samplers` → `records`
(then `greenknobs.spaces` and `greenknobs.objectives`). The names below are the public Python API; every command of
the CLI is one of them. They are imported on first use, so `import greenknobs.search` stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "StudySpec": "study", "load_spec": "study", "open_study": "study", "run_study": "study", "load_study": "study",
    "run_trial": "study", "confirm_pareto": "study", "confirmed": "study", "run": "study", "Outcome": "study",
    "make_sampler": "samplers", "CascadeSampler": "samplers",
    "export_pareto": "analysis", "build_report": "analysis", "study_status": "analysis", "status_text": "analysis",
    "push_figures": "analysis", "serve": "analysis", "knob_rows": "analysis",
    "main": "cli",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(f"greenknobs.search.{_API[name]}"), name)
    raise AttributeError(f"module 'greenknobs.search' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
