"""The study: an Optuna multi-objective study (minimize joules, maximize F1) whose trials run the pipeline."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.trial import TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import Pipeline, RunAborted, TrialFailed, f1_kind
from greenknobs.search.study import _budget, _lost, _workers
from greenknobs.search import records as rec
from greenknobs.search.records import METER_ATTR, SPEC_ATTR
from greenknobs.search.samplers import PLAN_ATTR, make_sampler
from greenknobs.search.study._notes import NoteWriter
from greenknobs.search.study._spec import StudySpec
from greenknobs.search.study._storage import open_storage
from greenknobs.search.study._runs import TrialRuns
from greenknobs.search.study._workers import prepare_worker



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
    notes: NoteWriter = field(default_factory=NoteWriter)  # the dashboard notes' writer (study/_notes.py)


def open_study(spec: StudySpec, *, storage_url: str | None = None, sampler: str | None = None, seed: int | None = None,
               meter: Any = None, progress: Callable[..., None] | None = None, heartbeat_interval_s: int | None = None,
               pipeline: Pipeline | None = None, notes: NoteWriter | None = None) -> StudyContext:
    """Create the study (recording its spec, energy source and hardware, and queueing the baseline) or join it.

    Everything that can be wrong with the input — spec, knobs, ranges, dataset — is checked before the storage is
    opened, so a bad input leaves no study file behind and never touches an existing study. `pipeline` reuses a
    pipeline (and its meter and tokenized data) across studies in one process. `notes`: the writer of the dashboard's
    notes (study/_notes.py); none given, the engine writes none of them."""
    from greenknobs.objectives.energy import make_meter
    from greenknobs.search.study._spec import validate

    url = storage_url or spec.storage_url()
    if sampler is not None:
        spec.sampler = sampler
    if seed is not None:
        spec.seed = seed
    validate(spec)
    if pipeline is None:
        meter = meter or make_meter(spec.energy, watts_per_core=spec.watts_per_core)
        pipeline = Pipeline(spec.task, meter=meter, seed=spec.seed, progress=progress)
    meter = pipeline.meter
    space = pipeline.space(search=spec.search, ranges=spec.ranges, fixed=spec.fixed, baseline=spec.baseline)
    space.check_baseline_inside()
    with _quiet_datasets():
        # Loaded now: a missing file or column is bad input, not a failed trial.
        pipeline.splits  # noqa: B018
    storage = open_storage(url, create=True, heartbeat_interval_s=heartbeat_interval_s,
                           stale_trial_callback=_lost.retry_lost)
    directions = ["minimize", "maximize"]
    the_sampler = make_sampler(spec.sampler, spec.seed, space, spec)
    created = False
    try:
        # Loaded first: a creation attempt on an existing study would still append to a journal file.
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=the_sampler)
    except KeyError:
        try:
            # Exactly one of several workers starting together creates the study; it alone queues the baseline.
            study = optuna.create_study(storage=storage, study_name=spec.name, directions=directions,
                                        sampler=the_sampler)
            created = True
        except DuplicatedStudyError:
            study = optuna.load_study(study_name=spec.name, storage=storage, sampler=the_sampler)
    ctx = StudyContext(spec, study, pipeline, space, notes or NoteWriter())
    if created:
        ensure_baseline(ctx)
    else:
        _wait_until_recorded(study)
    # Records the energy source last: it marks the study ready.
    _check_or_record(study, spec, meter, space, f1_kind(pipeline.splits.num_labels))
    prepare_worker(ctx)  # GPU caps a stopped worker left on this host; the warm-up's reach (issue 13)
    return ctx


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """`datasets` draws a progress bar while it reads a csv; on bad input the one error line must stand alone."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _wait_until_recorded(study: optuna.Study, timeout_s: float = 30.0) -> None:
    """A worker that lost the creation race waits for the creator to record the energy source (its last step)."""
    deadline = time.monotonic() + timeout_s
    while rec.study_record(study, METER_ATTR) is None and time.monotonic() < deadline:
        time.sleep(0.5)


def spec_record(spec: StudySpec, space: Any) -> dict[str, Any]:
    return {
        "task": spec.task.to_table(), "search": sorted(space.searched), "ranges": spec.ranges, "fixed": spec.fixed,
        "min_f1_retention": spec.min_f1_retention, "sampler": spec.sampler, "seed": spec.seed,
        "baseline": space.baseline(), "baseline_repeats": spec.baseline_repeats,
        "confirm_repeats": spec.confirm_repeats, "confirm_max_repeats": spec.confirm_max_repeats, "budget_unit": "training runs", "early_stop": spec.early_stop,
        "reuse_training": spec.reuse_training, "min_saving": spec.min_saving,
    }


def _check_or_record(study: optuna.Study, spec: StudySpec, meter: Any, space: Any, f1_kind: str) -> None:
    from greenknobs.search.records import metric_names

    recorded = rec.study_record(study, METER_ATTR)
    here = {"source": meter.source,
            **{k: v for k, v in meter.hardware.items() if k in ("gpu", "gpu_count", "cpu", "cpu_energy")}}
    if recorded is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names(meter.source, f1_kind, spec.task.eval_split))
        rec.set_study_record(study, SPEC_ATTR, spec_record(spec, space))
        rec.set_study_record(study, METER_ATTR, here)
        return
    if recorded.get("cpu_energy") != here.get("cpu_energy") and recorded.get("source") == here["source"]:
        raise GreenknobsError(
            f"study '{spec.name}' meters the CPU packages as '{recorded.get('cpu_energy')}', but this worker meters "
            f"them as '{here.get('cpu_energy')}': one would count joules the other leaves out; give every worker the "
            "same share of this host's GPUs (one each), or start a new study")
    if recorded.get("source") != here["source"] or recorded.get("gpu") != here.get("gpu"):
        raise GreenknobsError(
            f"study '{spec.name}' was measured with {recorded.get('source')} energy on "
            f"{recorded.get('gpu') or recorded.get('cpu')}, but this worker meters {here['source']} on "
            f"{here.get('gpu') or here.get('cpu')}: joules would not be comparable; run it on matching hardware "
            "or start a new study"
        )
    old = rec.study_record(study, SPEC_ATTR, {})
    new = spec_record(spec, space)
    for key in ("task", "search", "fixed", "min_f1_retention", "seed", "baseline_repeats"):
        if key in old and old[key] != new[key]:
            raise GreenknobsError(
                f"study '{spec.name}' exists with a different {key} ({old[key]!r}); resuming it with {new[key]!r} "
                "would mix two searches: restore the study file or choose a new --study-name"
            )


def ensure_baseline(ctx: StudyContext) -> None:
    """Trial 0 is the baseline, enqueued once — never again on resume, whatever state it is in (a baseline lost
    with its worker is queued again by `_lost`, as any lost trial is)."""
    trials = ctx.study.get_trials(deepcopy=False)
    if any(rec.role_of(t) == "baseline" for t in trials):
        return
    ctx.study.enqueue_trial(ctx.space.params_of(ctx.space.baseline()), user_attrs={rec.ROLE: "baseline"})




class Objective:
    """One trial: suggest a configuration, run it at its seeds, judge it against the noise floor, store it.

    The baseline runs at the study's k seeds: its spread is the noise floor. Any other trial runs at the study's seed
    (paired with the baseline's first run), and at every other floor seed whose trained model the study keeps (it
    serves it at inference cost); when its verdict lies within noise it runs again at the baseline's other seeds,
    within the budget, before its verdict (records/_noise.py). The values Optuna is told are the means over the runs.

    Its parts: the runs and how a trial ends when one cannot finish (study/_runs.py: failed, stopped early,
    interrupted), the budget (study/_budget.py: surplus starts, seeds left), duplicates (study/_duplicates.py), and
    the notes its caller's writer words (study/_notes.py). With `budget`, a trial that another worker's start pushed
    past the budget is pruned as surplus before it runs anything."""

    def __init__(self, ctx: StudyContext, on_trial: Callable[[optuna.Trial, str], None] | None = None,
                 budget: int | None = None) -> None:
        self.ctx = ctx
        self.on_trial = on_trial
        self.budget = budget

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        role = trial.user_attrs.get(rec.ROLE) or "search"
        if rec.ROLE not in trial.user_attrs:
            trial.set_user_attr(rec.ROLE, role)
        _lost.stamp(trial)
        # Which worker took the trial, and its sampler's seed: on every trial it touches, a surplus one included.
        worker = _workers.worker_of(self.ctx)
        trial.set_user_attr(_workers.WORKER_ATTR, worker.identity)
        trial.set_user_attr(_workers.SAMPLER_SEED, worker.seed)
        if (self.budget is not None and role != "baseline"
                and _budget.over_budget(self.ctx.study, trial.number, self.budget, self.ctx.spec.baseline_repeats)):
            trial.set_user_attr(rec.ROLE, _budget.SURPLUS)
            raise optuna.TrialPruned(f"the budget of {self.budget} runs was filled by other workers first")
        if self.on_trial:
            self.on_trial(trial, role)
        runs = TrialRuns(self.ctx, trial)
        try:
            return self._run(runs, role)
        except KeyboardInterrupt as err:
            runs._interrupted(trial, err)
            raise

    def _run(self, runs: TrialRuns, role: str) -> tuple[float, float]:
        trial = runs.trial
        role = self._unique_or_repeat(trial, role)
        ctx = self.ctx
        try:
            config = ctx.space.suggest(trial)
        except GreenknobsError as err:
            trial.set_user_attr(rec.FAIL_REASON, f"refused before training: {err}")
            raise TrialFailed(f"refused before training: {err}") from None
        trial.set_user_attr(rec.CONFIG, config)
        if role == "baseline":
            for seed in ctx.spec.baseline_seeds:
                runs.add(config, seed, len(ctx.spec.baseline_seeds))
            floor, verdict = rec.floor_of(map(rec.measure_of, runs.results), ctx.spec.min_f1_retention), None
        else:
            try:
                runs.add(config, int(trial.user_attrs.get(rec.SEED, ctx.spec.seed)), 1, stoppable=role == "search")
            except RunAborted as stopped:
                if not isinstance(stopped.cause, rec.StopRun):
                    raise
                runs._stopped(trial, stopped.cause, stopped)
            try:
                floor = _wait_for_noise_floor(ctx.study, ctx.spec.min_f1_retention,
                                              run_waiting_baseline=self._run_waiting_baseline)
            except TrialFailed as err:  # trained and measured, but nothing to compare it with
                runs._failed(trial, err.reason, runs._spent(runs.results))
                raise
            if role == "search":
                runs.serve_kept(config, list(floor.seeds))
            verdict = self._judge(floor, config, runs, role)
            while verdict.needs_more_seeds:
                runs.add(config, next(s for s in floor.seeds if s not in runs.seeds()), verdict.runs + 1)
                verdict = self._judge(floor, config, runs, role)
        values = rec.store_result(trial, runs.results, floor, verdict, runs.loads)
        plan = rec.fresh(ctx.study, trial).system_attrs.get(PLAN_ATTR, {})
        stage = plan.get("stage") if role == "search" else None
        ctx.notes.trial(trial, stage or role, runs.results, ctx.space.differences(config), floor, verdict)
        return values

    # -- a sampler seed per worker, no configuration trained twice by accident ---------------------------------------
    _asked_again = 0  # proposals of measured configurations this worker sent back to its sampler, in a row

    def _unique_or_repeat(self, trial: optuna.Trial, role: str) -> str:
        """For a search trial, check its configuration against every trial that trained or is training it
        (study/_duplicates.py): unique, it runs as a search trial; measured already, the trial ends FAIL "duplicate"
        (nothing trained, no budget spent, the sampler asked again), or after ASK_AGAIN of those in a row it runs as a
        labelled repeat at a seed of its own. Returns the role the trial runs in."""
        from greenknobs.search.study import _duplicates

        if role != "search":
            return role
        try:
            role = _duplicates.claim(self.ctx, trial, may_ask_again=self._asked_again < _duplicates.ASK_AGAIN)
        except _duplicates.AskAgain as err:
            self._asked_again += 1
            self.ctx.notes.duplicate(trial, err.reason)
            raise
        self._asked_again = 0
        return role

    def _judge(self, floor: rec.NoiseFloor, config: dict[str, Any], runs: TrialRuns, role: str) -> rec.Verdict:
        """The verdict on the runs so far: paired with the baseline's runs at the same seeds, with the noise pooled
        over the study (this trial's runs included), or the floor's prior until the study has enough of it."""
        measured = [rec.measure_of(r) for r in runs.results]
        spread = rec.study_spread(self.ctx.study, config, measured)
        max_runs = 1 if role != "search" else _budget.seeds_left(
            self.ctx.study, runs.trial.number, self.budget, self.ctx.spec.baseline_repeats, floor.n)
        return floor.judge(measured, max_runs, spread)

    def _run_waiting_baseline(self) -> bool:
        """The baseline was lost and queued again while this worker waited for it: claim it and run it here, since
        every worker may be inside a trial that waits for it."""
        study = self.ctx.study
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if rec.role_of(t) != "baseline":
                continue
            if not rec.set_state(study, t, TrialState.RUNNING):
                continue
            trial = rec.as_trial(study, t)
            try:
                with rec.heartbeat(study, trial):
                    values = self(trial)
            except TrialFailed:
                study.tell(trial, state=TrialState.FAIL)
                return True
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)
                raise
            study.tell(trial, values)
            return True
        return False


def _wait_for_noise_floor(study: optuna.Study, min_retention: float, timeout_s: float = 6 * 3600,
                          run_waiting_baseline: Callable[[], bool] | None = None) -> rec.NoiseFloor:
    """Another worker is still running the baseline: every verdict is relative to its noise floor, so wait for it.
    Meanwhile a baseline whose worker died is failed and queued again (`recover_lost_trials`), and then run here."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        floor = rec.noise_floor(study, min_retention)
        if floor is not None:
            return floor
        _lost.recover_lost_trials(study)
        states = [x.state for x in study.get_trials(deepcopy=False) if rec.role_of(x) == "baseline"]
        if states and all(s in (TrialState.FAIL,) for s in states):
            raise TrialFailed("the baseline trial failed, so no trial can be compared with it: fix the baseline first")
        if TrialState.RUNNING not in states and run_waiting_baseline is not None and run_waiting_baseline():
            continue
        time.sleep(2.0)
    raise TrialFailed("timed out waiting for the baseline trial")


def run_study(ctx: StudyContext, *, n_trials: int | None = None, timeout_s: float | None = None,
              show_progress: bool = True, label: str = "", max_trials: int | None = None) -> dict[str, Any]:
    """Run until the study holds `n_trials` finished trials (counted over every run and worker) or time is up.

    `max_trials`: start at most this many trials in this call, the budget unchanged, so that a caller can take
    turns between studies one trial at a time (benchmarks/bench.py) and a trial near the floor may still be
    re-measured within the study's budget (passing a smaller `n_trials` instead would leave it no runs for that).
    First, trials left RUNNING by dead workers of this host are failed and queued again (`_lost`)."""
    budget = n_trials if n_trials is not None else ctx.spec.n_trials
    timeout_s = timeout_s if timeout_s is not None else ctx.spec.timeout_s
    _lost.recover_lost_trials(ctx.study)
    ensure_baseline(ctx)
    display = StudyProgress(ctx, budget, prefix=f"[{label}] " if label else "") if show_progress else None
    if display:
        ctx.pipeline.progress = display.phase
    k = ctx.spec.baseline_repeats
    if _budget.runs_claimed(ctx.study, k) < budget:
        # n_trials=None: the budget callback stops the loop, counting every worker's runs, retries included.
        ctx.study.optimize(
            Objective(ctx, on_trial=display.trial_started if display else None, budget=budget),
            n_trials=max_trials, timeout=timeout_s, catch=(TrialFailed,),
            callbacks=[_budget.StopAtBudget(budget, k)] + ([display.trial_finished] if display else []),
        )
    return {"finished": _budget.finished_count(ctx.study), "budget": budget}




class StudyProgress:
    """One line per event on stderr: the running trial's phase; and for each trial started or finished, the study's
    progress (runs done of those planned, time left, joules spent so far), what it measured, best reduction so far."""

    def __init__(self, ctx: StudyContext, budget: int, stream: Any = None, prefix: str = "") -> None:
        self.ctx = ctx
        self.budget = budget
        self.stream = stream or sys.stderr
        self.prefix = prefix
        self.trial = None
        self.started = time.perf_counter()
        self.done_at_start = _budget.finished_count(ctx.study)  # a resumed study's earlier runs do not set the pace

    def _print(self, text: str) -> None:
        print(self.prefix + text, file=self.stream, flush=True)

    def overall(self, study: optuna.Study) -> str:
        """Runs done of those planned · time left, estimated from the mean time per run since this process started
        (every worker's runs count, so it is the study's pace) · joules every trial spent so far, labelled as the
        study's meter measures them."""
        done = _budget.finished_count(study)
        left, ran = max(self.budget - done, 0), done - self.done_at_start
        if not left:
            eta = "no runs left"
        elif ran > 0:
            per_run = (time.perf_counter() - self.started) / ran
            eta = f"about {_duration(per_run * left)} left (estimated: {_duration(per_run)} a run so far)"
        else:
            eta = "time left: estimated after the first run"
        spent = sum(rec.spent_j(t) for t in study.get_trials(deepcopy=False))
        meter = self.ctx.pipeline.meter.source.split("-")[0]  # measured-gpu, measured-cpu: measured
        measured = sum(rec.measured_runs(t) for t in _budget.budgeted(study.get_trials(deepcopy=False)))
        served = f" ({measured} configuration runs measured)" if measured != done else ""
        return f"[{done}/{self.budget} training runs{served} · {eta} · {spent:,.0f} J spent so far ({meter})]"

    def trial_started(self, trial: optuna.Trial, role: str) -> None:
        self.trial = trial.number
        self._print(f"{self.overall(self.ctx.study)} trial {trial.number} ({role}) started")

    def phase(self, event: str, **info: Any) -> None:
        if event == "phase":
            self._print(f"    trial {self.trial}: {info['phase']}")
        elif event == "run":
            self._print(f"    trial {self.trial}: run {info['run']}/{info['runs']} at seed {info['seed']}")
        elif event == "epoch":
            self._print(f"    trial {self.trial}: epoch {info['epoch']}/{info['epochs']} · loss {info['loss']:.4f}")

    def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            ua = trial.user_attrs
            runs = int(ua.get("runs", 1))
            reduction = ua.get("energy_reduction_pct", 0.0) / 100
            what = (f"{ua.get('energy_j', 0):,.0f} J ({ua.get('energy_source')}), {ua.get('f1_kind', 'F1')} F1 "
                    f"{ua.get('f1', 0):.4f}" + (f" (mean of {runs} runs)" if runs > 1 else ""))
            verdict = ua.get(rec.VERDICT)
            if verdict is not None:
                what += (f", {rec.saving_text(reduction)}, {ua.get('f1_retention_pct', 0):.1f}% of the F1 · "
                         f"{'feasible' if verdict['feasible'] else 'infeasible'}: {verdict['reason']}")
            elif rec.role_of(trial) == "baseline":
                floor = rec.noise_floor(study)
                what += f" · {floor.text(rec.energy_word([ua.get('energy_source', '')]))}" if floor else ""
        elif rec.STOPPED in trial.user_attrs:  # early stopping: its rule, where, and what it spent
            stop = trial.user_attrs[rec.STOPPED]
            what = (f"stopped early at {100 * stop['at']:.0f}% of its training ({stop['rule']}): {stop['reason']}; "
                    f"{stop['spent_j']:,.0f} J spent")
        else:
            what = f"{trial.state.name}: {trial.user_attrs.get(rec.FAIL_REASON, '')}"
        best = max((t.user_attrs.get("energy_reduction_pct", 0.0) for t in rec.pareto_trials(study)), default=None)
        best_text = f" · best feasible: {rec.saving_text(best / 100)}" if best is not None else ""
        self._print(f"{self.overall(study)} trial {trial.number} {what}{best_text} · "
                    f"{time.perf_counter() - self.started:.0f} s")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
