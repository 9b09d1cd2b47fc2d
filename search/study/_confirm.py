"""Paired confirmation on held-out data: the verdict a recommendation rests on.

The search selects on the validation split; confirmation re-runs every candidate (the Pareto set and its serving
siblings, `records.candidate_trials`) *and the baseline* on the **test** split at the same fresh training seeds
(`StudySpec.confirm_seeds`: disjoint from the search's, since a candidate was selected on its search seed), seed-major
and interleaved. A candidate is **recommended** when both one-sided paired tests pass (F1 kept above the floor,
energy saved above 0), with the noise pooled over the confirmation, Holm's correction across the candidates'
training families and a fixed sequence within one (records/_noise.py, `decide`). Before its first look it serves
the search's kept models on the test split at their own seeds (`serve_search_models`): inference only, for the
F1 spread alone.

The runs live in a twin study, `<name>:confirm`, in the same storage: the search study's samplers never see a
test-split result (the validation split selects, the test split confirms, the two never swap roles), and the
dashboard shows them apart. Each run is a trial there with `confirm_of` = the search trial it confirms and
`confirm_seed`; they are queued and claimed one by one, so an interrupted confirmation resumes with the seeds still
missing, and `greenknobs confirm --repeats K` adds seeds to an existing study. The paired summary is stored in the
search study's records (CONFIRMED_ATTR, `records.study_record`), and the candidates' notes are rewritten with their
role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import RunAborted, RunInterrupted, TrialFailed
from greenknobs.search import records as rec
from greenknobs.search.study import _lost
from greenknobs.search.study._load import ForeignLoad

CONFIRM_OF = "confirm_of"
CONFIRM_SEED = "confirm_seed"
SPREAD_OF = "spread_of"  # a search trial's kept model served on the test split at its own search seed: spread only
FOREIGN_LOAD = "foreign_load"  # other processes' share of the CPUs during the run (study/_load.py)
CONFIRMED_ATTR = "greenknobs.confirmed"  # search-study record: {"trials": {"<n>": Paired}, "baseline": n, "seeds": [...]}


def confirm_study_name(study_name: str) -> str:
    return study_name + rec.CONFIRM_SUFFIX


def confirm_study(study: optuna.Study, create: bool = True, notes: Any = None) -> optuna.Study | None:
    """The twin study holding `study`'s test-split runs (None when it does not exist and `create` is False);
    `notes` (a NoteWriter) writes the twin's note when it is created."""
    name = confirm_study_name(study.study_name)
    sampler = optuna.samplers.RandomSampler(seed=0)  # every parameter is fixed by the queue: nothing is sampled
    try:
        return optuna.load_study(study_name=name, storage=rec.storage_of(study), sampler=sampler)
    except KeyError:
        if not create:
            return None
    try:
        twin = optuna.create_study(study_name=name, storage=rec.storage_of(study), directions=["minimize", "maximize"],
                                   sampler=sampler)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=rec.storage_of(study), sampler=sampler)
    if notes is not None:
        notes.confirmation_study(twin, study.study_name)
    return twin


def measures(twin: optuna.Study | None, of: str = CONFIRM_OF) -> dict[int, dict[int, rec.RunMeasure]]:
    """{search trial number: {seed: its test-split run}} from the twin's complete trials: the confirmation's runs,
    or with `of` = SPREAD_OF the search's kept models served for the spread (`spread_measures`)."""
    out: dict[int, dict[int, rec.RunMeasure]] = {}
    if twin is None:
        return out
    for t in twin.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if of not in t.user_attrs or t.values is None:
            continue
        seed = int(t.user_attrs[CONFIRM_SEED])
        result = t.user_attrs.get(rec.RESULT, {})
        out.setdefault(int(t.user_attrs[of]), {}).setdefault(
            seed, rec.RunMeasure(seed, float(t.values[0]), float(t.values[1]),
                                   bool(t.user_attrs.get("degenerate", False)), t.user_attrs.get(FOREIGN_LOAD),
                                   result.get("training_id", ""), bool(result.get("reused_training"))))
    return out


def spread_measures(twin: optuna.Study | None) -> dict[int, dict[int, rec.RunMeasure]]:
    """{search trial number: {search seed: its kept model's test-split run}}: the runs `serve_search_models` made."""
    return measures(twin, SPREAD_OF)


def result_attrs(result: Any) -> dict[str, Any]:
    """What a test-split run stores on its trial in the twin study: its result and the figures people read."""
    return {rec.RESULT: result.to_dict(), "energy_j_spent": result.spent_j, rec.TRAINING_RUNS: int(result.trained),
            **{key: getattr(result, key) for key in ("energy_j", "energy_source", "f1", "f1_kind", "degenerate", "seed",
                                                     "eval_split")}}


def serve_search_models(ctx: Any, twin: optuna.Study, on_run: Callable[[FrozenTrial], None] | None = None) -> int:
    """Serve the search's trained models on the test split, at the seeds they were trained at, for the confirmation's
    spread alone (records/_noise.py, `pooled_spreads`): the baseline's and those of every search trial trained at two
    or more seeds, each model once, and only where the process still keeps it (`Pipeline.has_trained`: a run here
    never trains). Each costs one inference pass on the test split; a configuration measured at one seed would
    add no degree of freedom and is left out. Returns how many ran."""
    study, scope = ctx.study, ctx.spec.reuse_scope
    if scope is None:
        return 0
    have = {(int(t.user_attrs[SPREAD_OF]), int(t.user_attrs[CONFIRM_SEED])) for t in twin.get_trials(deepcopy=False)
            if SPREAD_OF in t.user_attrs}
    served: set[str] = set()
    todo: list[tuple[FrozenTrial, int]] = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if rec.role_of(t) not in ("baseline", "search", "repeat") or rec.CONFIG not in t.user_attrs:
            continue
        config = t.user_attrs[rec.CONFIG]
        ids = {s: ctx.pipeline.training_identity(config, s, scope) for s in sorted({r.seed for r in rec.runs_of(t)})}
        kept = [s for s, tid in ids.items() if tid not in served and ctx.pipeline.has_trained(config, s, scope)]
        if len(kept) < 2:
            continue
        for s in kept:
            served.add(ids[s])
            if (t.number, s) not in have:
                todo.append((t, s))
    pipeline = ctx.pipeline.for_split("test")
    ran = 0
    for target, seed in todo:
        config = target.user_attrs[rec.CONFIG]
        if not pipeline.has_trained(config, seed, scope):
            continue  # no longer kept: serving it would train it
        try:
            with ForeignLoad() as load:
                result = pipeline.run(config, seed=seed, reuse=scope,
                                      label=f"spread run of trial {target.number} at search seed {seed}")
        except Exception:  # a spread run that fails costs the verdict some degrees of freedom, nothing else
            continue
        attrs = {rec.ROLE: "spread", SPREAD_OF: target.number, CONFIRM_SEED: seed, **result_attrs(result)}
        if load.share is not None:
            attrs[FOREIGN_LOAD] = round(load.share, 4)
        frozen = optuna.trial.create_trial(params=dict(target.params), distributions=dict(target.distributions),
                                           values=[result.energy_j, result.f1], user_attrs=attrs)
        twin.add_trial(frozen)
        ran += 1
        if on_run:
            on_run(frozen)
    return ran


def queue_missing(twin: optuna.Study, targets: list[FrozenTrial], seeds: list[int]) -> int:
    """Queue, for each target trial, the seeds it has no complete, running or queued run for; returns how many."""
    have = {(int(t.user_attrs[CONFIRM_OF]), int(t.user_attrs[CONFIRM_SEED]))
            for t in twin.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))
            if CONFIRM_OF in t.user_attrs}
    queued = 0
    for target in targets:
        for seed in seeds:
            if (target.number, seed) not in have:
                twin.enqueue_trial(dict(target.params), user_attrs={rec.ROLE: "confirmation", CONFIRM_OF: target.number,
                                                                    CONFIRM_SEED: seed})
                queued += 1
    return queued


def run_queued(ctx: Any, twin: optuna.Study, on_run: Callable[[FrozenTrial], None] | None = None) -> int:
    """Claim and run every queued confirmation run of `twin` on the test split; returns how many ran."""
    pipeline = ctx.pipeline.for_split("test")
    ran = 0
    for waiting in twin.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if CONFIRM_OF not in waiting.user_attrs:
            continue
        if not rec.set_state(twin, waiting, TrialState.RUNNING):
            continue  # another process claimed it
        trial = rec.as_trial(twin, waiting)
        of, seed = int(waiting.user_attrs[CONFIRM_OF]), int(waiting.user_attrs[CONFIRM_SEED])
        _lost.stamp(trial)
        try:
            with rec.heartbeat(twin, trial):
                config = ctx.space.suggest(trial)
                trial.set_user_attr(rec.CONFIG, config)
                with ForeignLoad() as load:
                    # Candidates that differ from another only in how they serve share its training at this seed.
                    result = pipeline.run(config, seed=seed, reuse=ctx.spec.reuse_scope,
                                          label=f"confirmation trial {trial.number} (of trial {of}) at seed {seed}")
                if load.share is not None:
                    trial.set_user_attr(FOREIGN_LOAD, round(load.share, 4))
        except BaseException as err:
            run = err if isinstance(err, (RunAborted, RunInterrupted)) else None  # else it ended outside the run
            cause = run.cause if run else err
            trial.set_user_attr(rec.FAIL_REASON, cause.reason if isinstance(cause, TrialFailed)
                                else f"{type(cause).__name__}: {str(cause).strip()[:300]}")
            trial.set_user_attr("energy_j_burned", run.energy_j if run else 0)
            twin.tell(trial, state=TrialState.FAIL)
            if not isinstance(err, Exception):
                raise  # Ctrl-C, SIGTERM: stop; the next `run` or `confirm` queues this seed again
        else:
            for key, value in result_attrs(result).items():
                trial.set_user_attr(key, value)
            ctx.notes.confirmation_run(trial, of, seed, result)
            twin.tell(trial, (result.energy_j, result.f1))
        ran += 1
        if on_run:
            on_run(rec.fresh(twin, trial))
    return ran


def summarise(study: optuna.Study, twin: optuna.Study | None, seeds: list[int], looks: list[int] | None = None,
              k_max: int | None = None) -> dict[int, rec.Paired]:
    """The verdicts of the current candidates (`records.candidate_trials`), replayed over the looks made (records/_noise.py, `decide`);
    stored in the study's records with the looks and the spending horizon."""
    base = rec.baseline_trial(study)
    if base is None:
        return {}
    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    looks = list(looks if looks is not None else stored.get("looks") or [len(seeds)])
    k_max = k_max or stored.get("k_max") or max(looks)
    runs = measures(twin)
    retention = rec.min_f1_retention(study) or 0.95
    cands = {t.number: runs.get(t.number, {}) for t in rec.candidate_trials(study)}
    out = rec.decide_verdicts(cands, runs.get(base.number, {}), retention, seeds, looks, k_max,
                              spread=spread_measures(twin)) if cands else {}
    rec.set_study_record(study, CONFIRMED_ATTR, {"trials": {str(k): v.to_dict() for k, v in out.items()},
                                                 "baseline": base.number, "seeds": list(seeds), "looks": looks,
                                                 "k_max": k_max, "alpha": rec.ALPHA})
    return out


def confirmed(study: optuna.Study) -> dict[int, rec.Paired]:
    """What the last confirmation stored, by search trial number; empty if confirmation never ran."""
    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    return {int(k): rec.Paired.from_dict(v) for k, v in stored.get("trials", {}).items()}


def plan(ctx: Any, repeats: int | None = None) -> tuple[int, int, int]:
    """(seeds of the first look, seeds at most in this call, the spending horizon K_max of the study)."""
    spec = ctx.spec
    k_max = int(rec.study_record(ctx.study, CONFIRMED_ATTR, {}).get("k_max") or spec.confirm_max_repeats)
    if repeats is None:
        return spec.confirm_repeats, spec.confirm_max_repeats, k_max
    return min(spec.confirm_repeats, repeats), repeats, k_max


def confirm_seeds(ctx: Any, repeats: int | None = None) -> list[int]:
    """Fresh seeds, disjoint from the search's (a candidate was selected on its search seed), in the order they run."""
    spec = ctx.spec
    _, k_last, _ = plan(ctx, repeats)
    return [spec.seed + spec.baseline_repeats + i for i in range(k_last)]


def confirm_pareto(ctx: Any, repeats: int | None = None,
                   on_run: Callable[[FrozenTrial], None] | None = None) -> dict[int, rec.Paired]:
    """Confirm every candidate (`records.candidate_trials`) against the baseline on the test split, in stages (records/_noise.py,
    `sequential`): all of them at the study's confirm_repeats seeds, then the ones still open up to
    confirm_max_repeats (or `repeats` seeds in all), seed-major, the baseline first at even seeds and last at odd
    ones so that drift falls on both sides of each pair. Summarise, store, and rewrite the candidates' notes
    (`ctx.notes`)."""
    if repeats is not None and repeats < 2:
        raise GreenknobsError(f"--repeats {repeats} gives no interval: confirm at 2 or more paired seeds (default 3)")
    study = ctx.study
    base = rec.baseline_trial(study)
    if base is None:
        raise GreenknobsError(f"study '{study.study_name}' has no finished baseline: run `greenknobs run` first")
    candidates = rec.candidate_trials(study)
    if not candidates:
        min_saving = float(rec.study_record(study, rec.SPEC_ATTR, {}).get("min_saving", 0.0))
        least = f"at least {100 * min_saving:g}% of the baseline's energy (min_saving)" if min_saving else \
            "a measurable amount of energy"
        raise GreenknobsError(f"study '{study.study_name}' has no Pareto candidate to confirm (no trial saved "
                              f"{least} above the F1 floor): run more trials with `greenknobs run --n-trials N`, or "
                              "relax min_f1_retention or min_saving")
    k_first, k_last, k_max = plan(ctx, repeats)
    seeds = confirm_seeds(ctx, repeats)
    twin = confirm_study(study, notes=ctx.notes)
    _lost.recover_lost_trials(twin)  # a confirmation killed earlier left RUNNING runs: fail them, so their seeds run again
    by_number = {t.number: t for t in [base, *candidates]}

    def measure(seed: int, targets: list[int | None]) -> None:
        order = [base.number if t is None else t for t in targets]
        if seeds.index(seed) % 2:  # odd seeds: the baseline last
            order = order[1:] + order[:1]
        queue_missing(twin, [by_number[n] for n in order], [seed])
        run_queued(ctx, twin, on_run)

    def runs() -> tuple[dict[int, dict[int, rec.RunMeasure]], dict[int, rec.RunMeasure]]:
        have = measures(twin)
        return {t.number: have.get(t.number, {}) for t in candidates}, have.get(base.number, {})

    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    looks = [n for n in stored.get("looks", []) if n <= len(seeds)] if stored.get("seeds") == seeds[:len(
        stored.get("seeds", []))] else []
    if not looks:  # before the first look, while the search's models are still kept
        serve_search_models(ctx, twin, on_run)
    _, looks = rec.sequential(measure, runs, [t.number for t in candidates], seeds, k_first, k_last,
                                rec.min_f1_retention(study) or 0.95, k_max, looks, spread=spread_measures(twin))
    done = max(looks)
    stats = summarise(study, twin, seeds[:done], looks, k_max)
    ctx.notes.candidates(study, stats)
    return stats
