"""One small study run with `--sampler cascade`, built once per test session and shared by the cascade, report and
confirm tests (each test that writes to it works on a copy of its journal).

The task is a real, learnable one made here: two classes told apart by their words, 10% of labels flipped so F1
has room to move; 1,000 rows, so its 150 validation rows put a learned model clearly above chance (the degenerate
line, about 0.75 positive-class F1 here). tiny-bert (random weights) learns it in three short epochs on one thread, which the fortunes smoke task does
not; a baseline that predicts one class would be infeasible, and a study with no feasible single knob has nothing
to combine. Four knobs from four phases, so the cascade has something to screen and to combine."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

BUDGET = 12  # training runs: the baseline's 3 seeds, then 9 for the search
_A = "cat dog horse bird fish mouse rabbit tiger lion bear goat sheep".split()
_B = "stock bond market price trade bank money fund loan share asset yield".split()
_FILLER = "the a of and to in is it that was on for with as at by from this".split()
STUDY_TOML = """\
[study]
name = "cascade"
sampler = "cascade"
n_trials = {budget}
seed = 0
min_f1_retention = 0.9
energy = "estimate"

[task]
name = "words"
models = ["tiny-bert"]
dataset = "{data}"

[search]
knobs = ["padding", "drop_layers", "batch_size", "infer_batch_size"]

[fixed]
tokenizer = "rust"
learning_rate = 1e-3
epochs = 3
max_length = 32
cpu_threads = 1
"""


@dataclass
class CascadeStudy:
    folder: Path
    study_file: Path
    journal: Path
    seconds: float

    name: str = "cascade"

    @property
    def storage(self) -> str:
        return f"journal:{self.journal}"

    def load(self):
        from greenknobs.search.study import load_study

        return load_study(self.name, self.storage)

    def copy(self, dest: Path) -> str:
        """A private copy of the storage, for tests that add trials."""
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / self.journal.name
        shutil.copy(self.journal, target)
        return f"journal:{target}"


def write_words_dataset(path: Path, rows: int = 1000, seed: int = 0) -> None:
    rng = random.Random(seed)
    lines = []
    for i in range(rows):
        label = i % 2
        words = [rng.choice(_A if label else _B) for _ in range(rng.randint(2, 5))]
        words += [rng.choice(_FILLER) for _ in range(rng.randint(3, 24))]
        rng.shuffle(words)
        if rng.random() < 0.1:
            label = 1 - label
        lines.append(json.dumps({"text": " ".join(words), "label": label}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_BUILT: dict[Path, CascadeStudy] = {}

SEARCHED = ["padding", "drop_layers", "batch_size", "infer_batch_size"]


def simulated_task():
    """Four knobs from four phases on a simulated task: big savers that keep F1, a pruning cliff, a knob that
    saves nothing measurable; combinations compose (joules multiply, F1 changes add), as the model predicts."""
    from tests.search._simulated import Task, level

    return Task(effects={
        level(padding="dynamic"): (0.6, 0.0), level(drop_layers=1): (0.75, -0.005), level(drop_layers=2): (0.55, -0.01),
        level(drop_layers=3): (0.35, -0.3), level(batch_size=32): (0.8, 0.0), level(batch_size=64): (0.75, -0.01),
        level(batch_size=8): (1.3, 0.0), level(infer_batch_size=64): (0.995, 0.0), level(infer_batch_size=128): (0.99, 0.0),
        level(infer_batch_size=32): (0.998, 0.0), level(infer_batch_size=8): (1.01, 0.0),
    }, energy_sd=0.01, f1_sd=0.004)


def build_simulated(base: Path) -> CascadeStudy:
    """The cascade strategy on a simulated task (milliseconds a trial): its plan, the report's arithmetic and its
    figures depend on what the trials measured, not on how, so they are tested on measurements chosen to have
    something to screen, combine and reject."""
    import time

    from tests.search._simulated import run_simulated

    folder = base / "cascade-simulated"
    if folder in _BUILT:
        return _BUILT[folder]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Without reuse: screening ordered by phase share, then combinations (the order under reuse, inference knobs
    # first and their serving variants: tests/search/test_reuse.py).
    ctx = run_simulated(folder, simulated_task(), n_trials=BUDGET, sampler="cascade", knobs=SEARCHED,
                        min_f1_retention=0.9, reuse_training=False)
    from greenknobs.search.study import confirm_pareto

    confirm_pareto(ctx)  # the paired confirmation on the test split, as `greenknobs run` ends: the report reads it
    study = CascadeStudy(folder, ctx.spec.path, folder / "sim.journal", time.perf_counter() - started)
    study.name = "sim"
    _BUILT[folder] = study
    return study


def build(base: Path) -> CascadeStudy:
    """Run the study once under `base` (the session's temp root); later calls, from any test module, reuse it."""
    import time

    folder = base / "cascade-study"
    if folder in _BUILT:
        return _BUILT[folder]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "words.jsonl"
    write_words_dataset(data)
    study_file = folder / "cascade.toml"
    study_file.write_text(STUDY_TOML.format(budget=BUDGET, data=data), encoding="utf-8")
    from greenknobs.search.cli import main

    started = time.perf_counter()
    assert main(["run", str(study_file), "--no-confirm"]) == 0  # tests that need confirmation run it on a copy
    _BUILT[folder] = CascadeStudy(folder, study_file, folder / "cascade.journal", time.perf_counter() - started)
    return _BUILT[folder]
