"""The study engine: study files, storages, the trial objective, workers, lost-trial recovery, confirmation runs."""

from greenknobs.search.study._confirm import confirm_pareto, confirm_study, confirmed
from greenknobs.search.study._run import Outcome, run
from greenknobs.search.study._spec import StudySpec, load_spec
from greenknobs.search.study._study import StudyContext, load_study, open_study, run_study
from greenknobs.search.study._trial import run_trial

__all__ = ["Outcome", "StudyContext", "StudySpec", "confirm_pareto", "confirm_study", "confirmed", "load_spec", "load_study", "open_study",
           "run", "run_study", "run_trial"]
