"""The search benchmark's control strategies (benchmarks/README.md, "Search quality"), as Optuna samplers:

- `tpe-warm`, `gp-warm`: TPE or GP, warm-started with the cascade's screening trials (each knob alone, the same
  plan and the same share of the budget as the cascade's screening): the cascade minus its combination stage, so a
  benchmark can tell what the combination stage adds over a black-box model fed the same single-knob data. Like
  the cascade they are **grey-box**: the screening plan reads the knob declarations and the baseline's per-phase
  joules.
- `anchored`: a baseline-anchored random perturbation: each trial changes 1-3 knobs, drawn at random, to random
  non-baseline values (black-box apart from knowing the baseline, which every study has).

Plans are stored in the trial's system attrs and returned by `sample_independent`, as the cascade does, so the
objective's own `suggest_*` calls record them as ordinary params.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.search.records import set_system_attr, trial_id
from greenknobs.search.samplers import CascadeSampler, PLAN_ATTR, numeric_levels, next_plan

CONTROLS = ("tpe-warm", "gp-warm", "anchored")
ANCHOR_ATTR = "greenknobs.anchored"  # system attr: {"params": {...}}


class ScreenThenSampler(CascadeSampler):
    """The cascade's screening stage, then `inner` (TPE or GP) for the rest of the budget: no combination stage."""

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if "fixed_params" not in trial.system_attrs and not trial.params:
            others = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
            plan = next_plan(others, self.space, self.budget, self.baseline_runs)
            if plan is not None and plan[0] == "screen":
                params = self.space.params_of(self.space.complete(plan[1]))
                self._plans[trial_id(trial)] = params
                set_system_attr(study, trial, PLAN_ATTR, {"stage": "screen", "params": params})
                return
        self.inner.before_trial(study, trial)


class AnchoredRandomSampler(BaseSampler):
    """Each trial: the baseline with 1-3 knobs (uniformly many, uniformly which) set to a random non-baseline value."""

    def __init__(self, space: Any, seed: int | None = None, max_changes: int = 3) -> None:
        if space is None:
            raise GreenknobsError("the anchored sampler needs the study's search space: create it through open_study")
        self.space = space
        self.max_changes = max_changes
        self._rng = random.Random(seed)
        self._plans: dict[int, dict[str, Any]] = {}

    def _levels(self, knob: Any) -> list[Any]:
        values = list(knob.choices or knob.values) if knob.kind in ("categorical", "bool") else \
            numeric_levels(knob) if knob.kind == "float" else list(range(int(knob.low), int(knob.high) + 1))
        if knob.kind == "float" and knob.step:
            n = int(round((knob.high - knob.low) / knob.step))
            values = [round(knob.low + i * knob.step, 10) for i in range(n + 1)]
        return [v for v in values if v != knob.baseline]

    def _draw(self) -> dict[str, Any]:
        knobs = [k for k in self.space.searched.values() if k.condition is None and self._levels(k)]
        for _ in range(100):
            chosen = self._rng.sample(knobs, self._rng.randint(1, min(self.max_changes, len(knobs))))
            changes = {k.name: self._rng.choice(self._levels(k)) for k in chosen}
            try:
                return self.space.params_of(self.space.complete(changes))
            except GreenknobsError:
                continue
        return self.space.params_of(self.space.baseline())

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs or trial.params:
            return
        params = self._draw()
        self._plans[trial_id(trial)] = params
        set_system_attr(study, trial, ANCHOR_ATTR, {"params": params})

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict:
        return {}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        plan = self._plans.get(trial_id(trial)) or trial.system_attrs.get(ANCHOR_ATTR, {}).get("params", {})
        if param_name in plan:
            return plan[param_name]
        # A conditional child of a drawn parent (lora_rank under LoRA, drop_from): at random too.
        return _random_value(self._rng, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._plans.pop(trial_id(trial), None)


def _random_value(rng: random.Random, dist: BaseDistribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return rng.choice(dist.choices)
    if isinstance(dist, IntDistribution):
        return rng.randrange(dist.low, dist.high + 1, dist.step)
    if isinstance(dist, FloatDistribution):
        if dist.step:
            n = int(round((dist.high - dist.low) / dist.step))
            return dist.low + rng.randint(0, n) * dist.step
        return rng.uniform(dist.low, dist.high)
    raise GreenknobsError(f"no random value for {dist!r}")


def make_control(name: str, seed: int, space: Any = None, spec: Any = None) -> BaseSampler:
    """One of CONTROLS for a study opened on `space` (`spec`: its budget and baseline runs)."""
    from greenknobs.search.samplers import make_sampler

    if name == "anchored":
        return AnchoredRandomSampler(space, seed=seed)
    inner = make_sampler(name.removesuffix("-warm"), seed)
    return ScreenThenSampler(space=space, seed=seed, n_trials=spec.n_trials if spec else None, inner=inner,
                             baseline_runs=spec.baseline_repeats if spec else 3)
