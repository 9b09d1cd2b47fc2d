"""The study: an Optuna multi-objective study (minimize joules, maximize F1) whose trials run the pipeline."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import Pipeline, TrialFailed, TrialResult
from greenknobs.search import _records as rec
from greenknobs.search._samplers import make_sampler
from greenknobs.search._spec import StudySpec
from greenknobs.search._storage import open_storage

SPEC_ATTR = "greenknobs.spec"
METER_ATTR = "greenknobs.meter"
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def load_study(study_name: str, storage_url: str) -> optuna.Study:
    storage = open_storage(storage_url, create=False)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        hint = f"studies there: {', '.join(names)}" if names else "it holds no study yet"
        raise GreenknobsError(f"no study named '{study_name}' in {storage_url} ({hint}): check --study-name / --storage") from None


@dataclass
class StudyContext:
    """Everything a trial needs, built once per process."""

    spec: StudySpec
    study: optuna.Study
    pipeline: Pipeline
    space: Any


def open_study(spec: StudySpec, *, storage_url: str | None = None, sampler: str | None = None, seed: int | None = None,
               meter: Any = None, progress: Callable[..., None] | None = None, heartbeat_interval_s: int | None = None) -> StudyContext:
    from greenknobs.objectives.energy import make_meter

    url = storage_url or spec.storage_url()
    storage = open_storage(url, create=True, heartbeat_interval_s=heartbeat_interval_s)
    if sampler is not None:
        spec.sampler = sampler
    if seed is not None:
        spec.seed = seed
    from greenknobs.search._spec import validate

    validate(spec)
    meter = meter or make_meter(spec.energy, watts_per_core=spec.watts_per_core)
    pipeline = Pipeline(spec.task, meter=meter, seed=spec.seed, progress=progress)
    space = pipeline.space(search=spec.search, ranges=spec.ranges, fixed=spec.fixed)
    study = optuna.create_study(
        storage=storage, study_name=spec.name, directions=["minimize", "maximize"], load_if_exists=True,
        sampler=make_sampler(spec.sampler, spec.seed, space, spec),
    )
    _check_or_record(study, spec, meter, space)
    return StudyContext(spec, study, pipeline, space)


def spec_record(spec: StudySpec, space: Any) -> dict[str, Any]:
    return {
        "task": spec.task.to_table(), "search": sorted(space.searched), "ranges": spec.ranges, "fixed": spec.fixed,
        "min_f1_retention": spec.min_f1_retention, "sampler": spec.sampler, "seed": spec.seed,
        "baseline": space.baseline(),
    }


def _check_or_record(study: optuna.Study, spec: StudySpec, meter: Any, space: Any) -> None:
    recorded = study.user_attrs.get(METER_ATTR)
    here = {"source": meter.source, **{k: v for k, v in meter.hardware.items() if k in ("gpu", "gpu_count", "cpu")}}
    if recorded is None:
        study.set_metric_names(list(rec.METRIC_NAMES))
        study.set_user_attr(SPEC_ATTR, spec_record(spec, space))
        study.set_user_attr(METER_ATTR, here)
        return
    if recorded.get("source") != here["source"] or recorded.get("gpu") != here.get("gpu"):
        raise GreenknobsError(
            f"study '{spec.name}' was measured with {recorded.get('source')} energy on "
            f"{recorded.get('gpu') or recorded.get('cpu')}, but this worker meters {here['source']} on "
            f"{here.get('gpu') or here.get('cpu')}: joules would not be comparable; run it on matching hardware "
            "or start a new study"
        )
    old = study.user_attrs.get(SPEC_ATTR, {})
    new = spec_record(spec, space)
    for key in ("task", "search", "fixed", "min_f1_retention"):
        if key in old and old[key] != new[key]:
            raise GreenknobsError(
                f"study '{spec.name}' exists with a different {key} ({old[key]!r}); resuming it with {new[key]!r} "
                "would mix two searches: restore the study file or choose a new --study-name"
            )


def ensure_baseline(ctx: StudyContext) -> None:
    """Trial 0 is the baseline, enqueued once — never again on resume, whatever state it is in."""
    trials = ctx.study.get_trials(deepcopy=False)
    if any(rec.role_of(t) == "baseline" for t in trials):
        return
    ctx.study.enqueue_trial(ctx.space.params_of(ctx.space.baseline()), user_attrs={rec.ROLE: "baseline"})


def finished_count(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED) if rec.role_of(t) != "confirm")


class Objective:
    def __init__(self, ctx: StudyContext, on_trial: Callable[[optuna.Trial, str], None] | None = None) -> None:
        self.ctx = ctx
        self.on_trial = on_trial

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        ctx = self.ctx
        role = trial.user_attrs.get(rec.ROLE) or "search"
        if rec.ROLE not in trial.user_attrs:
            trial.set_user_attr(rec.ROLE, role)
        if self.on_trial:
            self.on_trial(trial, role)
        try:
            config = ctx.space.suggest(trial)
        except GreenknobsError as err:
            trial.set_user_attr(rec.FAIL_REASON, f"refused before training: {err}")
            raise TrialFailed(f"refused before training: {err}") from None
        trial.set_user_attr(rec.CONFIG, config)
        try:
            result = ctx.pipeline.run(config)
        except (TrialFailed, GreenknobsError, RuntimeError, ValueError, TypeError, AssertionError) as err:
            # A library error in one configuration fails that trial, not the study; Ctrl-C and SIGTERM still stop.
            if not isinstance(err, TrialFailed):
                reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"
                failed = TrialFailed(reason)
                failed.phase_energy_j = getattr(err, "phase_energy_j", {})  # type: ignore[attr-defined]
                err = failed
            trial.set_user_attr(rec.FAIL_REASON, err.reason)
            burned = getattr(err, "phase_energy_j", {})
            trial.set_user_attr("energy_j_burned", sum(burned.values()))
            _save_note(trial, f"## Trial {trial.number} — FAILED\n\n{err.reason}\n\nEnergy burned before it failed "
                              f"({ctx.pipeline.meter.source}): {sum(burned.values()):,.1f} J")
            raise err from None
        baseline_t = rec.baseline_trial(ctx.study)
        baseline = rec.result_of(baseline_t) if baseline_t is not None and role != "baseline" else None
        if role != "baseline" and baseline is None:
            baseline = _wait_for_baseline(ctx.study)
        rec.store_result(trial, result, baseline, ctx.spec.min_f1_retention)
        _save_note(trial, rec.note_markdown(trial.number, result, ctx.space.differences(config), baseline,
                                            ctx.spec.min_f1_retention))
        return result.energy_j, result.f1


def _wait_for_baseline(study: optuna.Study, timeout_s: float = 6 * 3600) -> TrialResult:
    """Another worker is still running the baseline: constraints are relative to it, so wait for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        t = rec.baseline_trial(study)
        if t is not None:
            return rec.result_of(t)
        states = [x.state for x in study.get_trials(deepcopy=False) if rec.role_of(x) == "baseline"]
        if states and all(s in (TrialState.FAIL,) for s in states):
            raise TrialFailed("the baseline trial failed, so no trial can be compared with it: fix the baseline first")
        time.sleep(2.0)
    raise TrialFailed("timed out waiting for the baseline trial")


def _save_note(trial: optuna.Trial, body: str) -> None:
    from optuna_dashboard import save_note

    save_note(trial, body)


def run_study(ctx: StudyContext, *, n_trials: int | None = None, timeout_s: float | None = None,
              show_progress: bool = True) -> dict[str, Any]:
    """Run until the study holds `n_trials` finished trials (counted over every run and worker) or time is up."""
    budget = n_trials if n_trials is not None else ctx.spec.n_trials
    timeout_s = timeout_s if timeout_s is not None else ctx.spec.timeout_s
    ensure_baseline(ctx)
    display = StudyProgress(ctx, budget) if show_progress else None
    if display:
        ctx.pipeline.progress = display.phase
    remaining = budget - finished_count(ctx.study)
    if remaining > 0:
        ctx.study.optimize(
            Objective(ctx, on_trial=display.trial_started if display else None),
            n_trials=remaining, timeout=timeout_s, catch=(TrialFailed,),
            callbacks=[optuna.study.MaxTrialsCallback(budget, states=FINISHED)] + ([display.trial_finished] if display else []),
        )
    return {"finished": finished_count(ctx.study), "budget": budget}


class StudyProgress:
    """One line per event on stderr: trials done of the budget, the running trial's phase, best reduction so far."""

    def __init__(self, ctx: StudyContext, budget: int, stream: Any = None) -> None:
        self.ctx = ctx
        self.budget = budget
        self.stream = stream or sys.stderr
        self.trial = None
        self.started = time.perf_counter()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def trial_started(self, trial: optuna.Trial, role: str) -> None:
        self.trial = trial.number
        done = finished_count(self.ctx.study)
        self._print(f"[{done}/{self.budget}] trial {trial.number} ({role}) started")

    def phase(self, event: str, **info: Any) -> None:
        if event == "phase":
            self._print(f"    trial {self.trial}: {info['phase']}")
        elif event == "epoch":
            self._print(f"    trial {self.trial}: epoch {info['epoch']}/{info['epochs']} · loss {info['loss']:.4f}")

    def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = finished_count(study)
        if trial.state == TrialState.COMPLETE:
            ua = trial.user_attrs
            what = (f"{ua.get('energy_j', 0):,.0f} J ({ua.get('energy_source')}), {ua.get('f1_kind', 'F1')} F1 "
                    f"{ua.get('f1', 0):.4f}, {ua.get('energy_reduction_pct', 0):+.1f}% energy, "
                    f"{ua.get('f1_retention_pct', 0):.1f}% F1" + (" · infeasible" if not rec.is_feasible(trial) else ""))
        else:
            what = f"{trial.state.name}: {trial.user_attrs.get(rec.FAIL_REASON, '')}"
        best = max((t.user_attrs.get("energy_reduction_pct", 0.0) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if rec.is_feasible(t) and rec.role_of(t) != "baseline"), default=None)
        best_text = f" · best feasible reduction {best:.1f}%" if best is not None else ""
        self._print(f"[{done}/{self.budget}] trial {trial.number} {what}{best_text} · {time.perf_counter() - self.started:.0f} s")
