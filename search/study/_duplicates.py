"""No configuration trained twice by accident.

Samplers re-propose configurations: TPE's and GP's on a small categorical space once the good points are measured,
and every worker's alike when several workers sample with one seed. Each such proposal, run as a search trial, would
spend a training run to learn what the study already knows, and would stand on the Pareto set as a second point of
the same thing. So before a search trial trains, `claim` checks its configuration against every other trial that
trained it or is training it (COMPLETE, RUNNING, or stopped early), whatever its role:

- none: the trial runs as a search trial;
- one or more, and this worker has sent fewer than ASK_AGAIN proposals in a row back: the trial ends FAIL with
  role "duplicate" before anything trains, takes none of the budget (`records.budget_runs`), and the optimize loop
  starts a new trial, i.e. asks the sampler again;
- one or more, and the sampler kept proposing measured configurations (or the trial was queued with fixed
  parameters, which asking again cannot change): it runs as a deliberate *repeat*, labelled so, at a training seed
  of its own (`repeat_seed`). A repeat is never a Pareto point (`records.pareto_trials` takes search trials only);
  its run joins its configuration's runs in the effects, and a repeat of the baseline's configuration joins the
  noise floor (`records.noise_floor`).

Why FAIL and not PRUNED for "ask again": an Optuna trial's parameters are fixed once suggested, so asking again
needs a new trial, and the one that was proposed must end in a state no sampler learns from. Every Optuna sampler
ignores FAIL trials; TPE reads PRUNED trials as observations (they count towards its random start-up, and one
without intermediate values lands among the worst points), so a pruned duplicate would tell TPE that a configuration
the study measured, perhaps a good one, is bad. The cascade plans from search and baseline trials only, so it does
not see a duplicate either.

Two workers proposing one configuration at the same moment: each publishes the configuration on its trial
(user attr CONFIG) *before* it reads the others, and steps back when it sees any other holder. Of two trials that
both publish and then read, the later reader sees the earlier one, so at most one of them trains it as a search
trial (both may step back, which costs a proposal, never a run). A duplicate withdraws its claim (role "duplicate")
before it ends, so nobody steps back for it afterwards."""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from greenknobs.objectives import TrialFailed
from greenknobs.search import records as rec
from greenknobs.search.records import STOPPED

ASK_AGAIN = 3  # proposals of measured configurations sent back in a row before the next one runs as a repeat
REPEAT_SEED_OFFSET = 1000  # repeats train at seed + 1000 + trial number: see `repeat_seed`


class AskAgain(TrialFailed):
    """A search trial proposed a configuration the study has: it ends FAIL (role "duplicate"), nothing trained."""


def key_of(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def intended_params(trial: FrozenTrial, space: Any) -> dict[str, Any] | None:
    """The searched part of the configuration a trial trains: its recorded configuration, else the parameters it was
    queued with (the baseline before it starts), else those it suggested so far."""
    if rec.CONFIG in trial.user_attrs:
        return space.params_of(trial.user_attrs[rec.CONFIG])
    if "fixed_params" in trial.system_attrs:
        return dict(trial.system_attrs["fixed_params"])
    return dict(trial.params) or None


def trains(trial: FrozenTrial) -> bool:
    """Whether a trial measured or is measuring its configuration: complete, running, or stopped early (a
    configuration early stopping cut short would be cut short again)."""
    if rec.role_of(trial) in (rec.DUPLICATE, "surplus"):
        return False
    return trial.state in (TrialState.COMPLETE, TrialState.RUNNING) or (
        trial.state == TrialState.PRUNED and STOPPED in trial.user_attrs)


def holders(trials: list[FrozenTrial], number: int, params: dict[str, Any], space: Any) -> list[FrozenTrial]:
    """The other trials that trained or are training this configuration."""
    key = key_of(params)
    out = []
    for t in trials:
        if t.number == number or not trains(t):
            continue
        theirs = intended_params(t, space)
        if theirs is not None and key_of(theirs) == key:
            out.append(t)
    return out


def repeat_seed(spec: Any, number: int) -> int:
    """The training seed of a deliberate repeat: the study's seed + 1000 + the trial's number. Unique to the trial,
    so two repeats of one configuration never share a seed (and no claim is needed to choose it), and clear of the
    seeds the study uses otherwise: the baseline's k (which search trials re-measure at) and confirmation's, which
    follow them."""
    return spec.seed + REPEAT_SEED_OFFSET + number


def claim(ctx: Any, trial: optuna.Trial, may_ask_again: bool) -> str:
    """Run before a search trial trains: returns the role it runs in ("search" or "repeat"), or raises AskAgain.

    A configuration the space refuses is left to the objective, which fails it before training."""
    from greenknobs._errors import GreenknobsError

    try:
        config = ctx.space.suggest(trial)
    except GreenknobsError:
        return "search"
    trial.set_user_attr(rec.CONFIG, config)  # published before the others are read: see the module's docstring
    params = ctx.space.params_of(config)
    study = ctx.study
    held = holders(study.get_trials(deepcopy=False), trial.number, params, ctx.space)
    if not held:
        return "search"
    first = min(held, key=lambda t: t.number)
    what = f"trial {first.number} ({rec.role_of(first)}, {first.state.name.lower()})"
    queued = "fixed_params" in rec.fresh(study, trial).system_attrs
    if may_ask_again and not queued:
        reason = f"duplicate of {what}: nothing trained, not counted in the budget; the sampler is asked again"
        trial.set_user_attr(rec.ROLE, rec.DUPLICATE)  # withdraws the claim first
        trial.set_user_attr(rec.FAIL_REASON, reason)
        raise AskAgain(reason)
    trial.set_user_attr(rec.ROLE, "repeat")
    trial.set_user_attr(rec.SEED, repeat_seed(ctx.spec, trial.number))
    trial.set_user_attr("repeat_of", first.number)
    return "repeat"
