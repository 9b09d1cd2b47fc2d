"""The dashboard notes the engine writes while a study runs. Their words are the analysis room's, above this one:
the engine calls the writer its caller hands `open_study` (kept as `StudyContext.notes`); this one writes nothing.
The CLI and `greenknobs.search.run` / `open_study` hand it `analysis.Notes`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from greenknobs.objectives import TrialResult
from greenknobs.search import records as rec


class NoteWriter:
    """What the engine asks of a notes writer; each method writes nothing here."""

    def trial(self, trial: optuna.Trial, role: str, results: Sequence[TrialResult], differences: dict[str, Any],
              floor: rec.NoiseFloor | None, verdict: rec.Verdict | None) -> None:
        """A measured trial's note: its role, the knobs it changed, its runs, and its verdict (None: the baseline)."""

    def candidates(self, study: optuna.Study, stats: dict[int, rec.Paired] | None = None) -> None:
        """Each Pareto candidate's role in its note, and the study's note; `stats` None: what the study stored."""

    def failed(self, trial: optuna.Trial, reason: str, burned_j: float, source: str) -> None:
        """A trial that failed: why, and the joules it burned (`source`: the meter's energy source)."""

    def duplicate(self, trial: optuna.Trial, reason: str) -> None:
        """A proposal of a configuration the study had: ended before it trained, the sampler asked again."""

    def stopped(self, trial: optuna.Trial, rule: str, at: float, reason: str, spent_j: float, source: str) -> None:
        """A run early stopping ended at share `at` of its training, by `rule`."""

    def confirmation_study(self, twin: optuna.Study, study_name: str) -> None:
        """The twin study holding `study_name`'s test-split confirmation runs, when it is created."""

    def confirmation_run(self, trial: optuna.Trial, of: int, seed: int, result: TrialResult) -> None:
        """One confirmation run: trial `of`'s configuration on the test split at `seed`."""
