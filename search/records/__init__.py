"""How a run is stored in Optuna and read back: roles, results, configurations, feasibility, single-knob effects.

The vocabulary every other room of `greenknobs.search` reads (as `optuna.trial` sits below `optuna.samplers`): the
samplers plan from it, the study engine writes it, the analysis summarises it."""

from greenknobs.search.records._constraints import (
    constraint_values, metric_names, satisfies_constraints, set_constraints,
)
from greenknobs.search.records._early_stop import (
    CURVE, Point, STOPPED, StopRun, curve_of, decide as decide_stop, feasible_of, history_of, projected_j, replay,
    scoring_j,
)
from greenknobs.search.records._effects import (
    Cascade, DEFAULT_NOISE, Effects, Group, Level, Reference, effects_of, level_key, phase_of, predicted_saving,
    tolerance,
)
from greenknobs.search.records._noise import (
    ALPHA, CONFIDENCE, Interval, LOAD_FLAG, MIN_POOLED_DOF, NoiseFloor, Paired, RE_MEASURE_RUNS, RunMeasure, SCREEN_ALPHA,
    SPENDING_RHO,
    Spread, Verdict, alpha_spent, cells_of, decide as decide_verdicts, dominated_by, family_graph, floor_of, graph_test, holm, interval_text, look_alphas,
    Pools, open_candidates, paired, pooled_spreads, saving_text, sequential, t_interval, t_upper, training_families, two_way,
)
from greenknobs.search.records._optuna import (
    as_trial, fresh, heartbeat, record_heartbeat, set_state, set_study_system_attr, set_system_attr, storage_of, study_id,
    study_system_attrs, trial_id,
)
from greenknobs.search.records._records import (
    CONFIG, CONFIRM_SUFFIX, DUPLICATE, FAIL_REASON, METER_ATTR, RESULT, ROLE, RUNS, SEED, SPEC_ATTR, TRAINING_RUNS,
    VERDICT, baseline_config, baseline_trial, budget_runs, candidate_trials, completed, energy_label, energy_sources, energy_word,
    is_estimated, is_feasible, knob_differences, measure_of, measured_runs, min_f1_retention, noise_floor,
    pareto_trials, result_of, role_of, runs_of, set_study_record, spent_j, store_result, study_record, study_records,
    study_spread,
)

__all__ = [
    "as_trial", "fresh", "heartbeat", "record_heartbeat", "set_state", "set_study_system_attr", "set_system_attr",
    "storage_of", "study_id", "study_system_attrs", "trial_id",
    "ALPHA", "CONFIDENCE", "CONFIG", "CONFIRM_SUFFIX", "CURVE", "Cascade", "DEFAULT_NOISE", "DUPLICATE", "Effects",
    "FAIL_REASON", "Group", "Interval", "LOAD_FLAG", "Level", "METER_ATTR", "MIN_POOLED_DOF", "NoiseFloor", "Paired", "Point",
    "RESULT", "RE_MEASURE_RUNS", "ROLE", "RUNS", "Reference", "RunMeasure", "SCREEN_ALPHA", "SEED", "SPENDING_RHO",
    "SPEC_ATTR", "STOPPED", "Spread", "StopRun", "VERDICT", "Verdict", "alpha_spent", "baseline_config",
    "baseline_trial", "budget_runs", "candidate_trials", "cells_of", "completed", "constraint_values", "curve_of", "decide_stop",
    "decide_verdicts", "dominated_by", "effects_of", "family_graph", "graph_test", "energy_label", "energy_sources", "energy_word", "feasible_of", "floor_of",
    "history_of", "holm", "interval_text", "is_estimated", "is_feasible", "knob_differences", "level_key",
    "look_alphas", "measure_of", "open_candidates", "measured_runs", "metric_names", "min_f1_retention", "noise_floor", "paired",
    "pareto_trials", "phase_of", "Pools", "pooled_spreads", "predicted_saving", "projected_j", "replay", "result_of",
    "role_of", "runs_of", "satisfies_constraints", "saving_text", "scoring_j", "sequential", "set_constraints",
    "set_study_record", "spent_j", "store_result", "study_record", "study_records", "study_spread", "t_interval",
    "t_upper", "tolerance", "training_families", "two_way", "TRAINING_RUNS",
]
