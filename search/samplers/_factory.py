"""Sampler names → Optuna samplers. Constraints reach them through `trial.set_constraint` (Optuna 5)."""

from __future__ import annotations

from typing import Any

import optuna

from greenknobs._errors import GreenknobsError

SAMPLERS = ("tpe", "nsga2", "gp", "random", "cascade")  # the names a study file's `sampler` may take


def make_sampler(name: str, seed: int, space: Any = None, spec: Any = None) -> optuna.samplers.BaseSampler:
    """`seed` is the sampler's, not the training's: one per worker (`study._workers.Worker`), the study's own for a
    study run by one process."""
    if name == "tpe":
        # multivariate + group: the space is conditional (LoRA knobs only under LoRA), which independent TPE
        # models poorly; constant_liar steers parallel workers apart once TPE models the space, but not during its
        # random start-up: there only each worker's own seed does (study/_workers.py).
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=5, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cascade":
        from greenknobs.search.samplers._cascade import CascadeSampler

        return CascadeSampler(space=space, seed=seed, min_f1_retention=spec.min_f1_retention if spec else 0.95,
                              n_trials=spec.n_trials if spec else None,
                              baseline_runs=spec.baseline_repeats if spec else 3,
                              serve_first=bool(spec and spec.reuse_training))
    raise GreenknobsError(f"unknown sampler '{name}': choose one of {', '.join(SAMPLERS)}")
