"""Tasks: candidate models + a dataset + which split scores a trial. Built-in tasks run fully offline."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.objectives._datasets import DatasetSpec

_TASK_KEYS = {"name", "models", "dataset", "text_column", "label_column", "splits", "config_name", "max_rows",
              "seed", "eval_split", "lora_targets", "classes"}


@dataclass(frozen=True)
class Task:
    name: str
    models: tuple[str, ...]  # built-in model names, hub ids or local folders
    dataset: DatasetSpec
    eval_split: str = "validation"  # what the search scores; `test` stays untouched until confirm
    lora_targets: tuple[str, ...] | str = "all-linear"
    description: str = ""
    table: Mapping[str, Any] = field(default_factory=dict)  # how it was written, so exports re-create it

    def to_table(self) -> dict[str, Any]:
        return dict(self.table) if self.table else {"name": self.name}


BUILTIN_TASKS: dict[str, Task] = {
    "fortunes": Task(
        "fortunes", ("minilm-l6",),
        # Every fortune (no per-class cap), 600 training texts and the whole held-out 15% + 15% (484 + 484 texts):
        # at 2 epochs the baseline's macro-F1 spreads by a std of 0.007 over 5 training seeds, under a third of a 5%
        # tolerance band (benchmarks/README.md, "The default task's seed spread"); 200-text splits spread twice that.
        DatasetSpec("fortunes", max_rows={"train": 600, "validation": 484, "test": 484}, per_class=None),
        description="pretrained all-MiniLM-L6-v2 on FreeBSD fortune genres (5 classes, 600 train / 484 validation / "
                    "484 test texts); offline default",
    ),
    "fortunes-tiny": Task(
        "fortunes-tiny", ("tiny-bert",),
        DatasetSpec("fortunes", max_rows={"train": 300, "validation": 100, "test": 100}),
        description="a 4-layer random-init BERT on fortune genres: seconds per trial, for fast tests (it learns "
                    "too little of five genres from 300 texts to beat chance: use fortunes-smoke to see a search)",
    ),
    "fortunes-smoke": Task(
        "fortunes-smoke", ("tiny-bert",),
        DatasetSpec("fortunes", classes=("limerick", "zippy")),
        description="a 4-layer random-init BERT telling limericks from Zippy quotes (2 genres, 600 texts): seconds "
                    "per trial and a baseline well above chance, for smoke tests",
    ),
}
DEFAULT_TASK = "fortunes"


def get_task(name: str) -> Task:
    try:
        return BUILTIN_TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUILTIN_TASKS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"use a built-in task ({', '.join(BUILTIN_TASKS)})"
        raise GreenknobsError(f"unknown task '{name}': {hint} (or define one in a [task] table)") from None


def task_from(value: str | Mapping[str, Any] | None) -> Task:
    """A task from a name or a TOML [task] table (`name` alone picks a built-in; keys beside it override)."""
    if value is None:
        return get_task(DEFAULT_TASK)
    if isinstance(value, str):
        return get_task(value)
    table = dict(value)
    unknown = set(table) - _TASK_KEYS
    if unknown:
        raise GreenknobsError(
            f"[task] has unknown key(s) {', '.join(sorted(unknown))}: allowed are {', '.join(sorted(_TASK_KEYS))}"
        )
    base = get_task(table["name"]) if "name" in table and "dataset" not in table and table["name"] in BUILTIN_TASKS else None
    if base is None and ("models" not in table or "dataset" not in table):
        if "name" in table and table["name"] not in BUILTIN_TASKS and "dataset" not in table:
            get_task(table["name"])  # raises with the suggestion
        raise GreenknobsError("[task] needs `models` (a list) and `dataset` (a source), or `name` of a built-in task")
    models = table.get("models", base.models if base else ())
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) and m for m in models):
        raise GreenknobsError("[task] `models` must be a non-empty list of model names, hub ids or folders")
    eval_split = table.get("eval_split", base.eval_split if base else "validation")
    if eval_split not in ("validation", "test"):
        raise GreenknobsError(f"[task] eval_split '{eval_split}' is not a split: use 'validation' or 'test'")
    if base is not None and "dataset" not in table:
        dataset = base.dataset
    else:
        dataset = DatasetSpec(source=str(table["dataset"]))
    overrides = {k: table[k] for k in ("text_column", "label_column", "splits", "config_name", "max_rows", "seed") if k in table}
    if "classes" in table:
        classes = table["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
            raise GreenknobsError("[task] `classes` must be a list of class names, e.g. [\"limerick\", \"zippy\"]")
        overrides["classes"] = tuple(classes)
    if overrides:
        dataset = replace(dataset, **overrides)
    targets = table.get("lora_targets", base.lora_targets if base else "all-linear")
    if not (targets == "all-linear" or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))):
        raise GreenknobsError("[task] `lora_targets` must be \"all-linear\" or a list of module names")
    return Task(
        name=str(table.get("name", "custom")),
        models=tuple(models),
        dataset=dataset,
        eval_split=eval_split,
        lora_targets=targets if isinstance(targets, str) else tuple(targets),
        description=base.description if base else "",
        table=table,
    )
