"""The trial pipeline: tasks, the four metered phases, energy metering, metrics."""

from greenknobs.objectives._datasets import DatasetSpec, TextSplits, load_splits
from greenknobs.objectives._metrics import CHANCE_Z, Scores, chance_levels, f1_kind, score
from greenknobs.objectives._models import BUILTIN_MODELS
from greenknobs.objectives._pipeline import Pipeline
from greenknobs.objectives._result import PIPELINE_PHASES, RunAborted, RunInterrupted, TrialResult
from greenknobs.objectives._simulated import Response, SimulatedPipeline
from greenknobs.objectives._tasks import BUILTIN_TASKS, DEFAULT_TASK, Task, get_task, task_from
from greenknobs.objectives._train import TrialFailed, padding_per_epoch
from greenknobs.objectives._trained import inference_knobs, training_config

__all__ = [
    "BUILTIN_MODELS", "BUILTIN_TASKS", "CHANCE_Z", "DEFAULT_TASK", "DatasetSpec", "PIPELINE_PHASES", "Pipeline",
    "Response", "RunAborted", "RunInterrupted", "Scores", "SimulatedPipeline", "Task", "TextSplits", "TrialFailed", "TrialResult", "chance_levels",
    "f1_kind", "get_task", "inference_knobs", "load_splits", "padding_per_epoch", "score", "task_from", "training_config",
]
