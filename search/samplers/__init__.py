"""Samplers by name: Optuna's (TPE, GP, NSGA-II, random) configured for greenknobs' space, and the cascade."""

from greenknobs.search.samplers._cascade import CascadeSampler
from greenknobs.search.samplers._factory import make_sampler

__all__ = ["CascadeSampler", "make_sampler"]
