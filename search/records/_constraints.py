"""Constraints and objective names: how a trial's feasibility and the study's metrics are stored, read by Optuna 5
and by optuna-dashboard alike.

Where each reader looks (optuna 5.0.0, optuna-dashboard 0.21.0):
- Optuna 5 `trial.set_constraint(name, value)` stores one system attr per constraint, `constraints:<name>`; its
  reader (`optuna/study/_constrained_optimization.py::_get_constraints_from_system_attrs`, behind
  `FrozenTrial.constraints`) merges those with the legacy single list `constraints` (keys "0", "1", ...).
- optuna-dashboard 0.21 sends each trial's `constraints` to the page as `system_attrs.get("constraints", [])`
  (`optuna_dashboard/_serializer.py`, `serialize_frozen_trial`): the legacy list only. Its page greys out a trial
  (Pareto-front chart, History chart and its "best value" line, contour, slice) when a value there is > 0.

Only the Optuna 5 form is stored here. Storing the legacy list as well would not stay the dashboard's alone:
Optuna 5 reads it too, so every trial would carry each constraint twice ("0", "1", "f1_retention",
"degenerate"). GPSampler then fits one model per copy, and refuses outright a study that mixes trials stored
before and after the change ("The number of constraints must be the same for all trials") -- every study already
on disk. The dashboard gets the list when it is served instead (`analysis/_dashboard.py`, from
`constraint_values`), which also covers studies stored before this module existed, on every storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import SOURCES as ENERGY_SOURCES

F1_KINDS = ("macro", "positive-class")  # what objectives/_metrics.py reports as `f1_kind`
SPLITS = ("validation", "test")


def set_constraints(trial: Any, named: Mapping[str, float]) -> None:
    """Store each constraint of `trial` the Optuna 5 way (`constraints:<name>`); feasible when every value <= 0.

    Store the same names for every trial of a study: GPSampler reads `trial.constraints` as columns, in the order
    the storage gives them back (the journal: the order written; SQLite and PostgreSQL: by name). Checks every value
    before writing any, so a bad one leaves the trial without a half-set of constraints.
    """
    if not named:
        raise GreenknobsError("set_constraints got no constraints: pass {name: value}, feasible when value <= 0")
    checked: list[tuple[str, float]] = []
    for name, value in named.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise GreenknobsError(f"constraint name {name!r} is not usable: use a non-empty name without ':'")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GreenknobsError(f"constraint '{name}' = {value!r} is not a number: pass a float, "
                                  "<= 0 when the trial is feasible") from None
        if math.isnan(number):
            raise GreenknobsError(f"constraint '{name}' is NaN: the metric it is computed from is missing; "
                                  "check the trial's F1 and the baseline's before storing it")
        checked.append((name, number))
    for name, number in checked:
        trial.set_constraint(name, number)


def constraint_values(trial: Any) -> list[float]:
    """A trial's constraint values as one list, as optuna-dashboard's page expects them, ordered by constraint name
    (the same on every storage). Read through Optuna's own reader, so named (Optuna 5) and legacy-list constraints
    both count. Empty for a trial without constraints."""
    named = trial.constraints
    return [float(named[name]) for name in sorted(named)]


def satisfies_constraints(trial: Any) -> bool:
    """Every constraint <= 0 (true for a trial without constraints): Optuna's rule, whatever the trial's state."""
    return all(v <= 0.0 for v in constraint_values(trial))


def energy_metric_name(energy_source: str) -> str:
    if energy_source not in ENERGY_SOURCES:
        raise GreenknobsError(f"energy source '{energy_source}' is not one greenknobs meters: use one of "
                              f"{', '.join(ENERGY_SOURCES)}")
    return f"energy (J, {energy_source})"


def f1_metric_name(f1_kind: str, split: str) -> str:
    if f1_kind not in F1_KINDS:
        raise GreenknobsError(f"F1 kind '{f1_kind}' is not one greenknobs computes: use one of {', '.join(F1_KINDS)}")
    if split not in SPLITS:
        raise GreenknobsError(f"split '{split}' is not a split: use 'validation' or 'test'")
    return f"{'macro-F1' if f1_kind == 'macro' else 'positive-class F1'} ({split})"


def metric_names(energy_source: str, f1_kind: str, split: str) -> list[str]:
    """The study's objective names, unit and source included, e.g. ["energy (J, estimated)", "macro-F1 (validation)"].

    For `study.set_metric_names(...)`: optuna-dashboard shows them as the objectives' names (API `objective_names`,
    chart axes, the Pareto-front chart's objective pickers)."""
    return [energy_metric_name(energy_source), f1_metric_name(f1_kind, split)]
