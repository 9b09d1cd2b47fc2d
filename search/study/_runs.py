"""A trial's runs: each configuration run at a seed (a trained model kept in the study served where one is), what
they burned, early stopping's reports, and how the trial ends when a run cannot finish (failed, stopped early,
interrupted): recorded on the trial, with its note, before the exception goes on."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any, NoReturn

import optuna

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import RunAborted, RunInterrupted, TrialFailed, TrialResult
from greenknobs.search import records as rec
from greenknobs.search.study import _lost, _workers
from greenknobs.search.study._load import ForeignLoad

# Errors that fail one configuration's trial, not the study: greenknobs' verdict on a run (TrialFailed), a refused
# setting (GreenknobsError), and what a library raises for a configuration it cannot run.
FAILS_THE_TRIAL = (TrialFailed, GreenknobsError, RuntimeError, ValueError, TypeError, AssertionError, MemoryError,
                   ImportError, OSError)


class TrialRuns:
    """The runs of one trial, in the order they were made, with the other processes' CPU share beside each."""

    def __init__(self, ctx: Any, trial: optuna.Trial) -> None:
        self.ctx = ctx
        self.trial = trial
        self.results: list[TrialResult] = []
        self.loads: list[float | None] = []  # other processes' CPU share during each run (study/_load.py)

    def add(self, config: dict[str, Any], seed: int, of: int, stoppable: bool = False) -> TrialResult:
        """Run `config` at `seed` (run len(results) + 1 of `of`) and keep it."""
        result = self._measure(self.trial, config, seed, self.results, of, stoppable)
        self.results.append(result)
        return result

    def serve_kept(self, config: dict[str, Any], seeds: list[int]) -> None:
        """Paired for free: at each of `seeds` whose trained model the study keeps, serve it at inference cost."""
        for seed in seeds:
            if seed not in self.seeds() and self.ctx.pipeline.has_trained(config, seed, self.ctx.spec.reuse_scope):
                self.add(config, seed, len(seeds))

    def seeds(self) -> set[int]:
        return {r.seed for r in self.results}

    def _measure(self, trial: optuna.Trial, config: dict[str, Any], seed: int, done: list[TrialResult],
                 of: int, stoppable: bool = False) -> TrialResult:
        """One run at `seed`; a failure fails the trial with every joule its runs burned. With early stopping on,
        the run reports as it trains (its curve is evidence for later runs); `stoppable` lets the rules stop it."""
        if of > 1:
            self.ctx.pipeline._emit("run", run=len(done) + 1, runs=of, seed=seed)
        mode = self.ctx.spec.early_stop
        monitor = None if mode == "off" else self._monitor(mode if stoppable else "monitor")
        try:
            with ForeignLoad() as load:
                result = self.ctx.pipeline.run(config, seed=seed, monitor=monitor, reuse=self.ctx.spec.reuse_scope,
                                               label=f"trial {trial.number} at seed {seed}")
            self.loads.append(load.share)
            return result
        except RunAborted as aborted:
            if not isinstance(aborted.cause, FAILS_THE_TRIAL):
                raise  # early stopping's StopRun (the caller records it), or a fault of greenknobs' own
            self._fail(trial, aborted.cause, self._spent(done, aborted.phase_energy_j))
        except FAILS_THE_TRIAL as err:
            self._fail(trial, err, self._spent(done))
        except KeyboardInterrupt as err:  # the trial's joules so far, its finished runs' included
            cut = err if isinstance(err, RunInterrupted) else RunInterrupted(err, {}, [])
            raise RunInterrupted(cut.cause, self._spent(done, cut.phase_energy_j), cut.curve) from cut.cause

    def _fail(self, trial: optuna.Trial, err: BaseException, burned: dict[str, float]) -> NoReturn:
        """A library error in one configuration fails that trial, not the study; Ctrl-C and SIGTERM still stop."""
        if not isinstance(err, TrialFailed):
            text = str(err).strip()
            err = TrialFailed(f"{type(err).__name__}: {text.splitlines()[0][:300] if text else ''}")
        self._failed(trial, err.reason, burned)
        raise err from None

    def _monitor(self, mode: str) -> Callable[[Any], None]:
        """The callback a monitored run reports to: decide from what has completed so far (records/_early_stop.py)."""
        study, spec = self.ctx.study, self.ctx.spec
        reports: list[rec.Point] = []

        def monitor(report: Any) -> None:
            point = rec.Point.from_dict(report.to_dict())
            reports.append(point)
            if mode not in ("safe", "aggressive"):
                return
            floor = rec.noise_floor(study, spec.min_f1_retention)
            if floor is None or floor.n < 2:
                return  # nothing to judge against yet (the baseline still runs elsewhere)
            trials = study.get_trials(deepcopy=False)
            stop = rec.decide_stop(point, len(reports) == 1, rec.history_of(trials), floor, rec.feasible_of(trials), mode)
            if stop is not None:
                raise rec.StopRun(stop, point)

        return monitor

    def _stopped(self, trial: optuna.Trial, stopped: rec.StopRun, run: RunAborted) -> None:
        """Early stopping: the trial ends PRUNED with its rule, curve and joules; infeasible, so samplers learn it."""
        burned = run.phase_energy_j
        trial.set_user_attr(rec.CURVE, run.curve)
        trial.set_user_attr(rec.STOPPED, {**stopped.stop.to_dict(), "at": stopped.point.at,
                                         "spent_j": sum(burned.values())})
        trial.set_user_attr("energy_j_burned", sum(burned.values()))
        trial.set_user_attr("energy_source", self.ctx.pipeline.meter.source)
        from greenknobs.search.records import set_constraints

        set_constraints(trial, {"degenerate": 1.0 if stopped.stop.rule == "degenerate-early" else 0.0,
                                "f1_floor": 1.0 if stopped.stop.rule == "hopeless-f1" else 0.0,
                                "saving_j": 1.0 if stopped.stop.rule == "dominated" else 0.0, "undecided": 1.0})
        self.ctx.notes.stopped(trial, stopped.stop.rule, stopped.point.at, stopped.stop.reason, sum(burned.values()),
                               self.ctx.pipeline.meter.source)
        raise optuna.TrialPruned(f"stopped early ({stopped.stop.rule}): {stopped.stop.reason}")

    @staticmethod
    def _spent(results: list[TrialResult], partial: dict[str, float] | None = None) -> dict[str, float]:
        """Joules per phase over the trial's finished runs, plus what a run cut short burned (`partial`)."""
        out: dict[str, float] = {}
        for phases in [r.phase_energy_j for r in results] + [partial or {}]:
            for phase, joules in phases.items():
                out[phase] = out.get(phase, 0.0) + joules
        return out

    def _failed(self, trial: optuna.Trial, reason: str, burned: dict[str, float]) -> None:
        if rec.FAIL_REASON in rec.fresh(self.ctx.study, trial).user_attrs:
            return  # recorded already, by the run that failed
        trial.set_user_attr(rec.FAIL_REASON, reason)
        trial.set_user_attr("energy_j_burned", sum(burned.values()))
        self.ctx.notes.failed(trial, reason, sum(burned.values()), self.ctx.pipeline.meter.source)
        _free_memory()

    def _interrupted(self, trial: optuna.Trial, err: KeyboardInterrupt) -> None:
        """Record why the trial ended and queue it again; Optuna then marks it FAIL and the worker stops."""
        cause = err.cause if isinstance(err, RunInterrupted) else err
        name = cause.signal_name if isinstance(cause, _workers.Interrupted) else "SIGINT"
        reason = f"interrupted ({name}): the worker was stopped during the trial"
        try:
            self._failed(trial, reason, err.phase_energy_j if isinstance(err, RunInterrupted) else {})
            _lost.retry_lost(self.ctx.study, rec.fresh(self.ctx.study, trial))
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop now; the next start fails the trial as lost and queues it then


def _free_memory() -> None:
    """A failed trial (out of memory above all) leaves tensors behind; the next trial needs that memory."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # freeing is best effort: the next trial reports its own error if memory is still short
        pass
