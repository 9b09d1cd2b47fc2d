"""What one trial measured. Everything here is stored with the trial and read by export and report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PIPELINE_PHASES = ("data", "model", "training", "inference")


class _Spent:
    """What a run that ended before its result had burned: joules per phase, and the reports it made on the way
    (early stopping's curve), so that what a search spent is recorded whatever stopped the run."""

    cause: BaseException
    phase_energy_j: dict[str, float]
    curve: list[dict[str, Any]]

    def _keep(self, cause: BaseException, phase_energy_j: Mapping[str, float], curve: list[dict[str, Any]]) -> None:
        self.cause, self.phase_energy_j, self.curve = cause, dict(phase_energy_j), list(curve)

    @property
    def energy_j(self) -> float:
        return sum(self.phase_energy_j.values())


class RunAborted(_Spent, Exception):
    """A run ended by an error (TrialFailed, a library's error, early stopping's StopRun): `cause`, which it is
    raised from, and what the run burned."""

    def __init__(self, cause: Exception, phase_energy_j: Mapping[str, float], curve: list[dict[str, Any]]) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self._keep(cause, phase_energy_j, curve)


class RunInterrupted(_Spent, KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM (`cause`): still a KeyboardInterrupt, so the worker stops as it would,
    with what the run burned."""

    def __init__(self, cause: KeyboardInterrupt, phase_energy_j: Mapping[str, float],
                 curve: list[dict[str, Any]]) -> None:
        super().__init__(*cause.args)
        self._keep(cause, phase_energy_j, curve)


def aborted(cause: BaseException, phase_energy_j: Mapping[str, float],
            curve: list[dict[str, Any]]) -> RunAborted | RunInterrupted | None:
    """The exception to raise, from `cause`, for a run it ended; None for an exit (SystemExit, GeneratorExit), which
    passes as it is."""
    if isinstance(cause, Exception):
        return RunAborted(cause, phase_energy_j, curve)
    if isinstance(cause, KeyboardInterrupt):
        return RunInterrupted(cause, phase_energy_j, curve)
    return None


@dataclass
class TrialResult:
    task: str
    model: str
    config: dict[str, Any]
    seed: int
    energy_j: float
    phase_energy_j: dict[str, float]
    phase_time_s: dict[str, float]
    energy_source: str  # measured-gpu / measured-cpu / estimated
    energy_description: str
    time_s: float
    f1: float
    f1_kind: str
    weighted_f1: float
    accuracy: float
    majority_f1: float
    degenerate: bool
    degenerate_reason: str
    predicted_counts: dict[int, int]
    trainable_params: int
    total_params: int
    layers: int
    lora_modules: int
    n_train: int
    n_eval: int
    eval_split: str
    token_width: int  # widest tokenized training example (max_length under fixed padding)
    power_limit_w: float | None = None  # as read back from the GPU, not as asked
    quantized_linear_layers: int = 0
    served: str = ""  # what actually served, read back from the served model (objectives/_infer.py `served`)
    chance_f1: float = 0.0  # what a label-blind predictor scores by luck (objectives/_metrics.py): the degenerate line
    epoch_losses: list[float] = field(default_factory=list)
    reused_phases: list[str] = field(default_factory=list)  # charged at their recorded cost (TokenCache, _trained.py)
    # The trained model's identity (objectives/_trained.py; "" when the run was not asked to share it), and for a run
    # that served a kept model instead of training, the run that trained it.
    training_id: str = ""
    reused_training: str = ""
    # The process's one-off start-up cost, paid before this trial's first phase when it was the process's first
    # trial: part of what the search spent, never of what the configuration costs (not in energy_j).
    warmup_energy_j: float = 0.0
    warmup_time_s: float = 0.0
    # Early stopping's slice scoring (objectives/_pipeline.py, Report): charged to what the search spent, kept out of
    # energy_j (what the configuration costs); and the curve of intermediate reports of a monitored run.
    monitor_energy_j: float = 0.0
    curve: list[dict[str, Any]] = field(default_factory=list)
    hardware: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        data = dict(data)
        data["predicted_counts"] = {int(k): v for k, v in data.get("predicted_counts", {}).items()}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def trained(self) -> bool:
        """Whether this run trained its model (False: it served a model an earlier run trained)."""
        return not self.reused_training

    @property
    def spent_j(self) -> float:
        """What the run burned: its measured phases and early stopping's slice scoring, not the phases it carries
        at a recorded cost (tokenized data, a trained model), which their first run paid."""
        return sum(j for p, j in self.phase_energy_j.items() if p not in self.reused_phases) + self.monitor_energy_j

    @property
    def estimated(self) -> bool:
        return self.energy_source == "estimated"

    def summary(self) -> str:
        label = "estimated" if self.estimated else f"measured, {self.energy_source}"
        lines = [f"task {self.task} · model {self.model} · {self.n_train} train / {self.n_eval} {self.eval_split} examples"]
        lines.append(f"energy ({label}): {self.energy_j:,.1f} J in {self.time_s:.1f} s")
        for phase in PIPELINE_PHASES:
            if phase in self.phase_energy_j:
                reused = ("" if phase not in self.reused_phases else
                          " (tokenized data reused; charged its recorded cost)" if phase == "data" else
                          f" (trained model reused from {self.reused_training}; charged its recorded cost)")
                lines.append(f"  {phase:<10} {self.phase_energy_j[phase]:>10,.1f} J  {self.phase_time_s[phase]:>7.1f} s{reused}")
        lines.append(f"  source: {self.energy_description}")
        lines.append(
            f"{self.f1_kind} F1 {self.f1:.4f} (label-blind predictors reach {self.chance_f1:.4f}; majority class "
            f"{self.majority_f1:.4f}) · weighted F1 {self.weighted_f1:.4f}"
            f" · accuracy {self.accuracy:.4f}"
        )
        lines.append(f"trainable parameters {self.trainable_params:,} of {self.total_params:,} · {self.layers} encoder layers")
        if self.power_limit_w is not None:
            lines.append(f"GPU power limit read back: {self.power_limit_w:.0f} W")
        lines.append(f"degenerate: {'YES — ' + self.degenerate_reason if self.degenerate else 'no'}")
        return "\n".join(lines)
