"""One configuration, run from Python or from `greenknobs trial`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import Pipeline, RunAborted, RunInterrupted, Task, TrialResult, task_from
from greenknobs.spaces import load_config_file


def resolve_task(config_task: Any, task_name: str | None) -> Task:
    if task_name is not None and config_task is not None:
        raise GreenknobsError("both --task and the config file's task are given: keep one of the two")
    return task_from(task_name if task_name is not None else config_task)


def make_meter(energy: str = "auto", watts_per_core: float | None = None) -> Any:
    from greenknobs.objectives.energy import make_meter as _make

    return _make(energy, watts_per_core=watts_per_core)


def run_trial(config_path: str | os.PathLike | None = None, *, task: str | None = None, knobs: dict | None = None,
              seed: int | None = None, split: str | None = None, energy: str = "auto",
              watts_per_core: float | None = None, progress: Callable[..., None] | None = None) -> TrialResult:
    """Run one configuration: the config file's knobs (or `knobs`), every other knob at its baseline. A run that
    fails raises what ended it (TrialFailed for a configuration that cannot train, GreenknobsError for a refusal)."""
    file = load_config_file(config_path) if config_path is not None else None
    the_task = resolve_task(file.task if file else None, task)
    if split is not None:
        if split not in ("validation", "test"):
            raise GreenknobsError(f"split '{split}' is not a split: use 'validation' or 'test'")
        the_task = replace(the_task, eval_split=split)
    if seed is None:
        seed = file.seed if file and file.seed is not None else 0
    pipeline = Pipeline(the_task, meter=make_meter(energy, watts_per_core), seed=seed, progress=progress)
    config = pipeline.space().complete({**(file.knobs if file else {}), **(knobs or {})},
                                       f"config file {config_path}" if config_path else "config")
    try:
        return pipeline.run(config)
    except (RunAborted, RunInterrupted) as run:
        raise run.cause from None  # one run: its joules are not recorded anywhere
