"""`confirm`: run each Pareto configuration K more times, so a recommendation comes with its spread.

Repeat k of a trial that ran with seed s runs with seed s + k. The seed decides the training subsample, the data
order and the classifier head's initialisation, so the spread then holds what a user of the recommendation will
see: seed variance of F1 as well as the meter's noise on joules. (Same-seed repeats would show the meter alone;
the cascade's repeat of the baseline measures that.)

Repeats are trials of the study with role "confirm" and `confirm_of` = the trial they repeat: run by the study's own
Objective, stored like any trial, never counted in the budget nor eligible for the Pareto set. They are queued and
then claimed one by one by this process (not popped by `optimize`, which would also run whatever else waits in the
queue). Running confirm again runs only the repeats still missing, by seed. Optuna refuses to change a finished
trial, so the summary (mean ± std over the original and its repeats) is stored in the study's user attrs under
CONFIRMED_ATTR, keyed by the original trial's number.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import TrialFailed
from greenknobs.search.records import _records as rec

CONFIRM_OF = "confirm_of"
CONFIRM_SEED = "confirm_seed"
CONFIRMED_ATTR = "greenknobs.confirmed"  # study user attr: {"<trial>": summary}
NOISE_SIGMAS = 2.0


def original_seed(trial: FrozenTrial, default: int) -> int:
    result = rec.result_of(trial)
    return result.seed if result is not None else default


def repeats_by_trial(study: optuna.Study, states: tuple[TrialState, ...] = (TrialState.COMPLETE,)) -> dict[int, list[FrozenTrial]]:
    out: dict[int, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False, states=states):
        if rec.role_of(t) == "confirm" and CONFIRM_OF in t.user_attrs:
            out.setdefault(int(t.user_attrs[CONFIRM_OF]), []).append(t)
    return out


def queue_repeats(study: optuna.Study, repeats: int, default_seed: int) -> list[int]:
    """Queue the repeats each Pareto trial still lacks (by seed); returns the numbers of the trials they repeat."""
    have = repeats_by_trial(study, (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))
    queued = []
    for t in rec.pareto_trials(study):
        seed = original_seed(t, default_seed)
        done = {int(r.user_attrs.get(CONFIRM_SEED, -1)) for r in have.get(t.number, [])}
        for k in range(1, repeats + 1):
            if seed + k not in done:
                study.enqueue_trial(dict(t.params), user_attrs={rec.ROLE: "confirm", CONFIRM_OF: t.number,
                                                                CONFIRM_SEED: seed + k})
                queued.append(t.number)
    return queued


@contextlib.contextmanager
def _seeded(pipeline: Any, seed: int) -> Iterator[None]:
    # One pipeline for every seed: it keeps the loaded data, the meter and the token cache (keyed by seed).
    before = pipeline.seed
    pipeline.seed = seed
    try:
        yield
    finally:
        pipeline.seed = before


def run_queued_repeats(ctx: Any, on_trial: Callable[[FrozenTrial], None] | None = None) -> int:
    """Claim and run every queued confirm repeat of ctx.study; returns how many ran (failed ones included)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    from greenknobs.search.study._study import Objective

    study = ctx.study
    objective = Objective(ctx)
    ran = 0
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if rec.role_of(waiting) != "confirm" or CONFIRM_OF not in waiting.user_attrs:
            continue
        try:
            if not study._storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING):
                continue  # another process claimed it
        except UpdateFinishedTrialError:
            continue
        trial = optuna.trial.Trial(study, waiting._trial_id)
        seed = int(waiting.user_attrs.get(CONFIRM_SEED, ctx.spec.seed))
        try:
            with get_heartbeat_thread(trial._trial_id, study._storage), _seeded(ctx.pipeline, seed):
                values = objective(trial)
        except TrialFailed:
            study.tell(trial, state=TrialState.FAIL)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            study.tell(trial, values)
        ran += 1
        if on_trial:
            on_trial(study._storage.get_trial(trial._trial_id))
    return ran


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Mean ± std over each Pareto trial and its complete repeats, with neighbours it is not distinguishable from;
    stored in the study's user attrs (CONFIRMED_ATTR) and returned, by trial number."""
    repeats = repeats_by_trial(study)
    front = rec.pareto_trials(study)
    out: dict[int, dict[str, Any]] = {}
    for t in front:
        runs = [t, *sorted(repeats.get(t.number, []), key=lambda r: r.number)]
        e, e_sd = _mean_std([float(r.values[0]) for r in runs])
        f, f_sd = _mean_std([float(r.values[1]) for r in runs])
        out[t.number] = {
            "runs": len(runs), "trials": [r.number for r in runs],
            "seeds": [int(r.user_attrs.get(CONFIRM_SEED, original_seed(r, 0))) for r in runs],
            "energy_j_mean": e, "energy_j_std": e_sd, "f1_mean": f, "f1_std": f_sd,
            "feasible_runs": sum(1 for r in runs if rec.is_feasible(r)), "within_noise_of": [],
        }
    _mark_within_noise(out, [t.number for t in front])
    study.set_user_attr(CONFIRMED_ATTR, {str(k): v for k, v in out.items()})
    return out


def _mark_within_noise(stats: dict[int, dict[str, Any]], front: list[int]) -> None:
    """Neighbours on the front (cheapest first): the cheaper one's edge is joules, the other's is F1. An edge smaller
    than NOISE_SIGMAS combined standard deviations is not shown to be real."""
    for a, b in zip(front, front[1:]):
        sa, sb = stats[a], stats[b]
        for key, edge_of, other in (("energy_j", a, b), ("f1", b, a)):
            sd_a, sd_b = sa[f"{key}_std"], sb[f"{key}_std"]
            if sd_a is None or sd_b is None:
                continue
            diff = abs(sa[f"{key}_mean"] - sb[f"{key}_mean"])
            bound = NOISE_SIGMAS * math.sqrt(sd_a**2 + sd_b**2)
            if diff < bound:
                stats[edge_of]["within_noise_of"].append(
                    {"trial": other, "on": "energy" if key == "energy_j" else "F1", "difference": diff, "bound": bound})


def confirmed(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """What the last `confirm` stored: {trial number: summary}; empty if confirm never ran."""
    return {int(k): v for k, v in study.user_attrs.get(CONFIRMED_ATTR, {}).items()}


def confirm_pareto(ctx: Any, repeats: int, on_trial: Callable[[FrozenTrial], None] | None = None) -> dict[int, dict[str, Any]]:
    """Repeat every Pareto configuration of ctx.study until it has `repeats` repeats; summarise and store."""
    from greenknobs.search.study._lost import recover_lost_trials

    if repeats < 1:
        raise GreenknobsError(f"--repeats must be at least 1, not {repeats}")
    study = ctx.study
    if rec.baseline_trial(study) is None:
        raise GreenknobsError(f"study '{study.study_name}' has no finished baseline: run `greenknobs run` first")
    if not rec.pareto_trials(study):
        raise GreenknobsError(f"study '{study.study_name}' has no feasible trial, so no Pareto set to confirm: "
                              "run more trials with `greenknobs run`, or relax min_f1_retention")
    recover_lost_trials(study)  # a confirm killed earlier left RUNNING repeats: fail them, so their seeds run again
    queue_repeats(study, repeats, ctx.spec.seed)
    run_queued_repeats(ctx, on_trial)
    return summarise(study)


def confirm_text(study: optuna.Study, stats: dict[int, dict[str, Any]], repeats: int) -> str:
    from greenknobs.search.records._records import baseline_config, is_estimated, knob_differences

    label = " (estimated)" if is_estimated(study) else ""
    base = baseline_config(study)
    lines = [f"confirmed {len(stats)} Pareto configuration(s) with {repeats} repeat(s) each; repeat k runs with seed "
             "s + k, so the spread includes seed variance of F1 as well as the meter's noise"]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number, s in stats.items():
        changed = knob_differences(trials[number].user_attrs.get(rec.CONFIG, {}), base)
        knobs = ", ".join(f"{k}={v}" for k, v in changed.items()) or "baseline configuration"
        lines.append(f"trial {number} ({knobs}): {_pm(s['energy_j_mean'], s['energy_j_std'], ',.1f')} J{label}, "
                     f"F1 {_pm(s['f1_mean'], s['f1_std'], '.4f')} over {s['runs']} run(s)"
                     + (f", {s['runs'] - s['feasible_runs']} run(s) infeasible" if s['feasible_runs'] < s['runs'] else ""))
        for w in s["within_noise_of"]:
            lines.append(f"    its {w['on']} advantage over trial {w['trial']} is within noise "
                         f"(difference {w['difference']:.4g} < {NOISE_SIGMAS:g}σ combined {w['bound']:.4g})")
    return "\n".join(lines)


def _pm(mean: float, sd: float | None, fmt: str) -> str:
    return f"{mean:{fmt}}" + (f" ± {sd:{fmt}}" if sd is not None else "")
