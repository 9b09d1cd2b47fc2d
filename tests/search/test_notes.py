"""The dashboard's notes are worded in the analysis room and written by the study engine through the writer its
caller hands it (study.NoteWriter): the engine cannot import the room above it."""

from __future__ import annotations

from optuna_dashboard import get_note

from greenknobs.search import records as rec
from greenknobs.search.analysis import Notes
from greenknobs.search.study import NoteWriter, confirm_pareto, run_study
from tests.search._simulated import Task, level, open_simulated

HALF = level(max_length=32)


class Recording(NoteWriter):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def trial(self, trial, role, results, differences, floor, verdict) -> None:
        self.calls.append(("trial", trial.number, role, dict(differences), verdict is None))

    def candidates(self, study, stats=None) -> None:
        self.calls.append(("candidates", sorted(stats or {})))

    def confirmation_study(self, twin, study_name) -> None:
        self.calls.append(("confirmation study", study_name))

    def confirmation_run(self, trial, of, seed, result) -> None:
        self.calls.append(("confirmation run", of, seed))


def _measured(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.values is not None]


def test_the_engine_calls_the_writer_it_is_handed(tmp_path):
    writer = Recording()
    ctx = open_simulated(tmp_path, Task(effects={HALF: (0.5, 0.0)}), n_trials=4, enqueue=[dict(HALF)], notes=writer)
    run_study(ctx, show_progress=False)
    stats = confirm_pareto(ctx)
    trials = [c for c in writer.calls if c[0] == "trial"]
    assert [c[1] for c in trials] == [t.number for t in _measured(ctx.study)]
    assert trials[0][2:] == ("baseline", {}, True) and trials[1][2:] == ("search", {"max_length": 32}, False)
    assert writer.calls[-1] == ("candidates", sorted(stats)) and stats
    assert ("confirmation study", ctx.study.study_name) in writer.calls
    runs = [c for c in writer.calls if c[0] == "confirmation run"]
    assert runs and {c[1] for c in runs} == {trials[0][1], *stats}  # the baseline and every candidate, per seed


def test_only_the_analysis_room_writes_notes():
    """Every note's words are the analysis room's: nothing else in the package calls optuna-dashboard's save_note."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    writers = sorted(str(p.relative_to(root)) for folder in ("search", "objectives", "spaces")
                     for p in (root / folder).rglob("*.py") if "save_note(" in p.read_text(encoding="utf-8"))
    assert writers == ["search/analysis/_notes.py"], writers


def test_the_analysis_notes_are_what_the_dashboard_shows(tmp_path):
    ctx = open_simulated(tmp_path, Task(effects={HALF: (0.5, 0.0)}), n_trials=4, enqueue=[dict(HALF)], notes=Notes())
    run_study(ctx, show_progress=False)
    stats = confirm_pareto(ctx)
    for t in _measured(ctx.study):
        assert get_note(rec.as_trial(ctx.study, t)).startswith(f"## Trial {t.number}\n\n**Role:** ")
    (number,) = stats
    assert "**Confirmation (test split, paired seeds" in get_note(rec.as_trial(ctx.study, ctx.study.trials[number]))
    study_note = get_note(ctx.study)
    assert study_note.startswith(f"## Study `{ctx.study.study_name}`") and "confirmation on the test split" in study_note


def test_handed_no_writer_the_engine_writes_no_note(tmp_path):
    ctx = open_simulated(tmp_path, Task(effects={HALF: (0.5, 0.0)}), n_trials=4, enqueue=[dict(HALF)])
    run_study(ctx, show_progress=False)
    assert _measured(ctx.study) and not any(get_note(rec.as_trial(ctx.study, t)) for t in _measured(ctx.study))


def test_the_public_api_hands_the_engine_the_analysis_notes(tmp_path):
    import greenknobs.search as gk
    from greenknobs.objectives import SimulatedPipeline
    from greenknobs.search import study as engine
    from tests.search._simulated import CPU, make_spec

    spec = make_spec(tmp_path)
    ctx = gk.open_study(spec, pipeline=SimulatedPipeline(spec.task, Task(), hardware=CPU))
    assert type(ctx.notes) is Notes
    assert gk.run.__wrapped__ is engine.run and gk.run.__doc__ == engine.run.__doc__
