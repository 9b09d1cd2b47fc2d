"""How a run is stored in Optuna and read back: roles, results, configurations, feasibility, single-knob effects.

The vocabulary every other room of `greenknobs.search` reads (as `optuna.trial` sits below `optuna.samplers`): the
samplers plan from it, the study engine writes it, the analysis summarises it."""

from greenknobs.search.records._effects import Effects, effects_of, level_key, predicted_saving
from greenknobs.search.records._records import (
    CONFIG, RESULT, ROLE, SPEC_ATTR, baseline_config, baseline_trial, is_estimated, is_feasible, knob_differences,
    pareto_trials, result_of, role_of, spent_j,
)

__all__ = [
    "CONFIG", "Effects", "RESULT", "ROLE", "SPEC_ATTR", "baseline_config", "baseline_trial", "effects_of",
    "is_estimated", "is_feasible", "knob_differences", "level_key", "pareto_trials", "predicted_saving", "result_of",
    "role_of", "spent_j",
]
