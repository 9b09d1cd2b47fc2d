"""Samplers by name: Optuna's (TPE, GP, NSGA-II, random) configured for greenknobs' space, and the cascade."""

from greenknobs.search.samplers._cascade import (
    CascadeSampler, PLAN_ATTR, next_plan, _numeric_levels as numeric_levels, screening_levels, stage_of,
)
from greenknobs.search.samplers._factory import SAMPLERS, make_sampler

__all__ = [
    "CascadeSampler", "PLAN_ATTR", "SAMPLERS", "make_sampler", "next_plan", "numeric_levels", "screening_levels",
    "stage_of",
]
