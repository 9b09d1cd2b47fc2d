"""The search: a multi-objective Optuna study over the knob space, and what it found.

Rooms, each depending only on those after it: `cli` → `analysis` → `study` → `samplers` → `records`
(then `greenknobs.spaces` and `greenknobs.objectives`). The names below are the public Python API; every command of
the CLI is one of them. They are imported on first use, so `import greenknobs.search` stays cheap. `run` and
`open_study` hand the study engine the analysis room's writer of the dashboard's notes (analysis.Notes), as the CLI
does; the engine cannot import the room above it."""

from __future__ import annotations

import functools
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
_WITH_NOTES = ("run", "open_study")


def __getattr__(name: str) -> Any:
    if name in _API:
        found = getattr(importlib.import_module(f"greenknobs.search.{_API[name]}"), name)
        return _with_notes(found) if name in _WITH_NOTES else found
    raise AttributeError(f"module 'greenknobs.search' has no attribute {name!r}")


def _with_notes(entry: Any) -> Any:
    @functools.wraps(entry)
    def wired(*args: Any, **kwargs: Any) -> Any:
        from greenknobs.search.analysis import Notes

        return entry(*args, **{"notes": Notes(), **kwargs})

    return wired


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
