"""A simulated task: trials whose joules and F1 are computed from a model of the task, not trained.

Everything above the pipeline — the space, the study engine, the noise floor, re-measurement, confirmation, the
samplers, export — runs unchanged on it, which is what it is for:
- the benchmarks run 10–100 seeds of every strategy in seconds on a simulator calibrated on measured trials
  (benchmarks/searchbench/sim.py builds `respond` from them, with the measured seed noise), with ground truth to score
  false recommendations against;
- the tests check the engine's rules (re-measure near the floor, no measurable saving, paired confirmation) on
  responses they choose.

Its energy source is "simulated", and every command says so: a simulated joule is never presented as measured."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from greenknobs.objectives._metrics import f1_kind
from greenknobs.objectives._pipeline import Pipeline, Report
from greenknobs.objectives._result import PIPELINE_PHASES, TrialResult, aborted
from greenknobs.objectives._tasks import Task
from greenknobs.objectives._trained import REUSED_PHASES, keep
from greenknobs.spaces import Hardware, TaskInfo

SOURCE = "simulated"


@dataclass(frozen=True)
class Response:
    """What the simulated task answers for one configuration at one seed on one split."""

    phase_energy_j: Mapping[str, float]
    f1: float
    degenerate: bool = False
    degenerate_reason: str = ""
    time_s: float = 0.0
    # Early stopping's intermediate reports, as (share of training done, slice F1, one class only); the joules so far
    # are the data and model phases plus that share of training.
    curve: tuple[tuple[float, float, bool], ...] = ()
    monitor_j: float = 0.0  # what scoring one report's slice costs (0: free), kept apart as the real pipeline keeps it


Respond = Callable[[Mapping[str, Any], int, str], Response]  # (config, seed, split) -> Response


class SimulatedMeter:
    """Stands where a meter stands; measures nothing (the response carries the joules)."""

    source = SOURCE
    description = "simulated: joules computed by a model of the task calibrated on measured trials, not measured"

    def __init__(self, hardware: Mapping[str, Any] | None = None) -> None:
        self.hardware = dict(hardware or {"cpu": "simulated"})
        self.readings: list[Any] = []


@dataclass(frozen=True)
class _Splits:
    num_labels: int
    label_names: tuple[str, ...] = field(default=())
    fingerprint: str = "simulated"


class SimulatedPipeline(Pipeline):
    """A Pipeline whose `run` asks `respond(config, seed, split)` instead of training."""

    def __init__(self, task: Task, respond: Respond, *, hardware: Hardware, num_labels: int = 5, layers: int = 6,
                 max_positions: int = 512, seed: int = 0, progress: Any = None) -> None:
        super().__init__(task, meter=SimulatedMeter(), hardware=hardware, seed=seed, progress=progress)
        self.respond = respond
        self._num_labels = num_labels
        self._layers = layers
        self._max_positions = max_positions
        self.runs = 0  # how many runs were asked for, over every split

    @functools.cached_property
    def splits(self) -> _Splits:  # type: ignore[override]
        return _Splits(self._num_labels, tuple(f"class-{i}" for i in range(self._num_labels)))

    @functools.cached_property
    def task_info(self) -> TaskInfo:  # type: ignore[override]
        return TaskInfo(models=self.task.models, min_layers=self._layers, max_positions=self._max_positions,
                        layers={m: self._layers for m in self.task.models})

    def warm_up(self, config: Mapping[str, Any]) -> None:  # nothing to warm
        return None

    def run(self, config: Mapping[str, Any], seed: int | None = None, monitor: Any = None, *,
            reuse: str | None = None, label: str = "") -> TrialResult:
        """As Pipeline.run, reuse included: a run whose training identity was trained in `reuse` carries that run's
        model and training joules and answers the response's data and inference joules."""
        config = dict(config)
        seed = self.seed if seed is None else seed
        self.runs += 1
        r = self.respond(config, seed, self.task.eval_split)
        phases = {p: float(r.phase_energy_j.get(p, 0.0)) for p in PIPELINE_PHASES}
        identity = None if reuse is None else self.training_identity(config, seed, reuse)
        kept = self.trained.get(identity) if identity is not None else None
        if kept is not None:
            phases.update({p: kept.readings[p] for p in REUSED_PHASES})
            monitor = None  # nothing trains, nothing to report
        elif identity is not None:
            self.trained.put(keep(identity, None, {p: phases[p] for p in REUSED_PHASES}, {}, label))
        curve: list[Report] = []
        if monitor is not None:
            for at, f1, one_class in r.curve:
                scored_j = (len(curve) + 1) * r.monitor_j
                curve.append(Report(at, f1, one_class, phases["data"] + phases["model"] + at * phases["training"],
                                    scored_j))
                try:
                    monitor(curve[-1])
                except BaseException as err:  # stopped: what it burned so far, as the real pipeline says it
                    stop = aborted(err, {"data": phases["data"], "model": phases["model"],
                                         "training": at * phases["training"], "monitor": scored_j},
                                   [c.to_dict() for c in curve])
                    if stop is None:
                        raise
                    raise stop from err
        kind = f1_kind(self._num_labels)
        return TrialResult(
            task=self.task.name, model=config.get("model", "simulated"), config=config, seed=seed,
            energy_j=sum(phases.values()), phase_energy_j=phases, phase_time_s={p: 0.0 for p in PIPELINE_PHASES},
            energy_source=SOURCE, energy_description=self.meter.description, time_s=r.time_s,
            f1=float(r.f1), f1_kind=kind, weighted_f1=float(r.f1), accuracy=float(r.f1), majority_f1=0.0,
            degenerate=r.degenerate, degenerate_reason=r.degenerate_reason or ("simulated collapse" if r.degenerate else ""),
            predicted_counts={}, trainable_params=0, total_params=0, layers=self._layers, lora_modules=0, n_train=0,
            n_eval=0, eval_split=self.task.eval_split, token_width=int(config.get("max_length", 0)),
            curve=[c.to_dict() for c in curve], monitor_energy_j=len(curve) * r.monitor_j,
            reused_phases=list(REUSED_PHASES) if kept is not None else [], training_id=identity or "",
            reused_training=(kept.label or "an earlier run") if kept is not None else "",
        )
