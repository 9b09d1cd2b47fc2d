"""The study engine: study files, storages, the trial objective, workers, lost-trial recovery, confirmation runs."""

from greenknobs.search.study._confirm import (
    CONFIRMED_ATTR, CONFIRM_OF, CONFIRM_SEED, SPREAD_OF, confirm_pareto, confirm_study, confirmed, measures,
    serve_search_models, spread_measures,
)
from greenknobs.search.study._duplicates import ASK_AGAIN, AskAgain, claim
from greenknobs.search.study._notes import NoteWriter
from greenknobs.search.study._lost import HOST, PID, PID_STARTED, RETRY_OF, retry_lost, stamp, this_host
from greenknobs.search.study._power import StudyPowerJournal, guard, record_key, restore_left_caps
from greenknobs.search.study._progress import ProgressPrinter
from greenknobs.search.study._run import Outcome, run
from greenknobs.search.study._spec import DEFAULT_SAMPLER, StudySpec, load_spec
from greenknobs.search.study._storage import open_storage, _redact as redact
from greenknobs.search.study._budget import finished_count, still_running
from greenknobs.search.study._study import (
    Objective, StudyContext, ensure_baseline, load_study, open_study, run_study,
)
from greenknobs.search.study._trial import run_trial
from greenknobs.search.study._workers import (
    check_shared_storage, heartbeat_for, joined_as_worker, sigterm_interrupts, worker_of,
)

__all__ = [
    "ASK_AGAIN", "AskAgain", "CONFIRMED_ATTR", "CONFIRM_OF", "CONFIRM_SEED", "DEFAULT_SAMPLER", "HOST", "NoteWriter",
    "Objective",
    "Outcome", "PID", "PID_STARTED", "ProgressPrinter", "RETRY_OF", "SPREAD_OF", "StudyContext", "StudyPowerJournal",
    "StudySpec",
    "check_shared_storage", "claim", "confirm_pareto", "confirm_study", "confirmed",
    "ensure_baseline", "finished_count", "guard", "heartbeat_for", "joined_as_worker", "load_spec", "load_study",
    "measures", "open_storage", "open_study", "record_key", "redact", "restore_left_caps", "retry_lost", "run",
    "run_study", "run_trial", "serve_search_models", "sigterm_interrupts", "spread_measures", "stamp", "still_running",
    "this_host", "worker_of",
]
