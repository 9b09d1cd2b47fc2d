"""Study definition files (studies/*.toml)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import Task, task_from
from greenknobs.search.samplers import SAMPLERS
from greenknobs.spaces import read_toml

# What the benchmarks measured best at the budgets studies use (benchmarks/README.md): the cascade leads at every
# budget from 4 to 9 trials and varies least across seeds; GP overtook it only at the 10th trial of the scaled
# task and found no feasible saving in 12 trials of the default task, where the cascade found 50.7%.
DEFAULT_SAMPLER = "cascade"
_STUDY_KEYS = {"name", "storage", "sampler", "n_trials", "timeout_s", "seed", "min_f1_retention", "energy",
               "watts_per_core", "description", "baseline_repeats", "confirm_repeats", "confirm_max_repeats", "confirm",
               "early_stop", "reuse_training", "min_saving"}
EARLY_STOP = ("off", "monitor", "safe", "aggressive")  # search/records/_early_stop.py
BASELINE_REPEATS = 3  # the baseline's training seeds: the noise floor (a spread needs at least 3 to mean anything)
CONFIRM_REPEATS = 3  # paired test-split seeds of the confirmation's first look (every candidate and the baseline)
# ... and at most, for the candidates the first look left open: 6 gives power >= 0.8 at a true retention of 1.00 with
# the default task's test-split noise (benchmarks/README.md, "Verdict power and false recommendations").
CONFIRM_MAX_REPEATS = 6
_TOP = {"study", "task", "search", "fixed", "baseline"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class StudySpec:
    name: str
    task: Task
    path: Path | None = None
    storage: str | None = None
    sampler: str = DEFAULT_SAMPLER
    n_trials: int = 20  # the budget, counted in training runs: the baseline's k seeds and re-measurements included
    timeout_s: float | None = None
    seed: int = 0
    min_f1_retention: float = 0.95
    # The smallest share of the baseline's joules a configuration must save on validation to be confirmed: a saving
    # of 0.4% is a real one, but no one deploys it, and confirming it costs paired baseline runs on the test split
    # (records.candidate_trials). 0 confirms every Pareto member.
    min_saving: float = 0.0
    energy: str = "auto"
    watts_per_core: float | None = None
    description: str = ""
    baseline_repeats: int = BASELINE_REPEATS
    confirm_repeats: int = CONFIRM_REPEATS
    confirm_max_repeats: int = CONFIRM_MAX_REPEATS
    confirm: bool = True  # confirm the Pareto candidates on the test split at the end of `run`
    # Off by default: on the default study "safe" stopped only runs that ended infeasible, yet scoring the slices cost
    # more than the stops saved (2.8% more energy over 12 runs, 3.6% over 24: benchmarks/README.md, "Early stopping").
    # "safe" stops runs whose fate is sealed (records/_early_stop.py); "monitor" only records the curves.
    early_stop: str = "off"
    # A configuration that differs from a run already made only in how it serves (its inference knobs) serves that
    # run's trained model at inference cost (objectives/_trained.py); False trains every run.
    reuse_training: bool = True
    search: list[str] | None = None
    ranges: dict[str, dict[str, Any]] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)  # the study's own reference values, where not the declared ones

    @property
    def reuse_scope(self) -> str | None:
        """Within what trained models are shared (the study's name), or None: every run trains."""
        return self.name if self.reuse_training else None

    def storage_url(self) -> str:
        from greenknobs.search.study._storage import default_storage_url

        if self.storage:
            return self.storage
        return default_storage_url(self.name, self.path.parent if self.path else "studies")

    @property
    def baseline_seeds(self) -> list[int]:
        """The training seeds of the noise floor: the study's seed first (search trials run at it, paired)."""
        return [self.seed + i for i in range(self.baseline_repeats)]

    @property
    def confirm_seeds(self) -> list[int]:
        """Fresh seeds for confirmation, disjoint from the search's (a candidate was selected on its search seed), as
        many as the confirmation may use."""
        return [self.seed + self.baseline_repeats + i for i in range(self.confirm_max_repeats)]


def _typed(table: dict, key: str, kinds: tuple, what: str, path: Any) -> Any:
    value = table[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise GreenknobsError(f"study file {path}: {what} must be {names}, not {value!r}")
    return value


def load_spec(path: str | os.PathLike) -> StudySpec:
    path = Path(path)
    data = read_toml(path, "study file")
    unknown = set(data) - _TOP
    if unknown:
        raise GreenknobsError(f"study file {path} has unknown table(s) {', '.join(sorted(unknown))}: allowed are {', '.join(sorted(_TOP))}")
    study = data.get("study", {})
    if not isinstance(study, dict):
        raise GreenknobsError(f"study file {path}: [study] must be a table")
    bad = set(study) - _STUDY_KEYS
    if bad:
        raise GreenknobsError(f"study file {path}: unknown key(s) {', '.join(sorted(bad))} in [study]: allowed are {', '.join(sorted(_STUDY_KEYS))}")
    spec = StudySpec(name=str(study.get("name", path.stem)), task=task_from(data.get("task")), path=path)
    if "storage" in study:
        spec.storage = _typed(study, "storage", (str,), "storage", path)
    if "sampler" in study:
        spec.sampler = _typed(study, "sampler", (str,), "sampler", path)
    if "n_trials" in study:
        spec.n_trials = _typed(study, "n_trials", (int,), "n_trials", path)
    if "timeout_s" in study:
        spec.timeout_s = float(_typed(study, "timeout_s", (int, float), "timeout_s", path))
    if "seed" in study:
        spec.seed = _typed(study, "seed", (int,), "seed", path)
    if "min_f1_retention" in study:
        spec.min_f1_retention = float(_typed(study, "min_f1_retention", (int, float), "min_f1_retention", path))
    if "min_saving" in study:
        spec.min_saving = float(_typed(study, "min_saving", (int, float), "min_saving", path))
    if "energy" in study:
        spec.energy = _typed(study, "energy", (str,), "energy", path)
    for key in ("baseline_repeats", "confirm_repeats", "confirm_max_repeats"):
        if key in study:
            setattr(spec, key, _typed(study, key, (int,), key, path))
    for key in ("confirm", "reuse_training"):
        if key in study:
            setattr(spec, key, _typed(study, key, (bool,), key, path))
    if "early_stop" in study:
        spec.early_stop = _typed(study, "early_stop", (str,), "early_stop", path)
    if "watts_per_core" in study:
        spec.watts_per_core = float(_typed(study, "watts_per_core", (int, float), "watts_per_core", path))
    spec.description = str(study.get("description", ""))
    search = data.get("search", {})
    if not isinstance(search, dict) or set(search) - {"knobs", "ranges"}:
        raise GreenknobsError(f"study file {path}: [search] takes `knobs` (a list) and [search.ranges] only")
    if "knobs" in search:
        if not isinstance(search["knobs"], list) or not all(isinstance(k, str) for k in search["knobs"]):
            raise GreenknobsError(f"study file {path}: search.knobs must be a list of knob names")
        spec.search = list(search["knobs"])
    ranges = search.get("ranges", {})
    if not isinstance(ranges, dict) or not all(isinstance(v, dict) for v in ranges.values()):
        raise GreenknobsError(f"study file {path}: [search.ranges] maps knob names to tables, e.g. max_length = {{ choices = [64, 128] }}")
    spec.ranges = ranges
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        raise GreenknobsError(f"study file {path}: [fixed] must be a table of knob = value")
    spec.fixed = fixed
    baseline = data.get("baseline", {})
    if not isinstance(baseline, dict):
        raise GreenknobsError(f"study file {path}: [baseline] must be a table of knob = value")
    spec.baseline = baseline
    validate(spec)
    return spec


def validate(spec: StudySpec) -> None:
    where = f"study {spec.path or spec.name}"
    if not _NAME.match(spec.name):
        raise GreenknobsError(f"{where}: study name '{spec.name}' may hold letters, digits, '_', '-', '.' only: rename it")
    if spec.sampler not in SAMPLERS:
        import difflib

        close = difflib.get_close_matches(spec.sampler, SAMPLERS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise GreenknobsError(f"{where}: unknown sampler '{spec.sampler}': {hint}choose one of {', '.join(SAMPLERS)}")
    if spec.n_trials < 1:
        raise GreenknobsError(f"{where}: n_trials must be at least 1 (the baseline), not {spec.n_trials}")
    if spec.early_stop not in EARLY_STOP:
        raise GreenknobsError(f"{where}: early_stop '{spec.early_stop}' is not a mode: use off (the default), "
                              "monitor, safe or aggressive")
    if spec.baseline_repeats < 3:
        raise GreenknobsError(f"{where}: baseline_repeats = {spec.baseline_repeats} cannot measure a noise floor: the "
                              "baseline runs at 3 or more training seeds (the default is 3)")
    if spec.confirm_repeats < 2:
        raise GreenknobsError(f"{where}: confirm_repeats = {spec.confirm_repeats} gives no interval: confirm at 2 or "
                              "more paired seeds (the default is 3)")
    if spec.confirm_max_repeats < spec.confirm_repeats:
        raise GreenknobsError(f"{where}: confirm_max_repeats = {spec.confirm_max_repeats} is below confirm_repeats = "
                              f"{spec.confirm_repeats}: set it to at least {spec.confirm_repeats} (the default is "
                              f"{CONFIRM_MAX_REPEATS})")
    if spec.n_trials < spec.baseline_repeats + 1:
        raise GreenknobsError(f"{where}: n_trials = {spec.n_trials} leaves no run for the search after the "
                              f"baseline's {spec.baseline_repeats} seeds: the budget counts training runs; set "
                              f"n_trials to at least {spec.baseline_repeats + 1}")
    if spec.timeout_s is not None and spec.timeout_s <= 0:
        raise GreenknobsError(f"{where}: timeout_s must be positive, not {spec.timeout_s:g}")
    if not 0.0 < spec.min_f1_retention <= 1.0:
        raise GreenknobsError(f"{where}: min_f1_retention is a share of the baseline F1 in (0, 1], e.g. 0.95, not {spec.min_f1_retention:g}")
    if not 0.0 <= spec.min_saving < 1.0:
        raise GreenknobsError(f"{where}: min_saving is a share of the baseline's joules in [0, 1), e.g. 0.05 for 5% "
                              f"less energy, not {spec.min_saving:g}")
    if spec.energy not in ("auto", "zeus", "estimate"):
        raise GreenknobsError(f"{where}: energy '{spec.energy}' is not a meter: use auto, zeus or estimate")
    if spec.watts_per_core is not None and spec.watts_per_core <= 0:
        raise GreenknobsError(f"{where}: watts_per_core must be positive, not {spec.watts_per_core:g}")
