"""`greenknobs run` as a library call: create or resume a study, search until its budget (in this process, or in N
worker processes on this host), then confirm the Pareto candidates on the test split. The CLI parses and prints;
everything it does is here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from greenknobs.search import records as rec
from greenknobs.search.study._notes import NoteWriter
from greenknobs.search.study._spec import StudySpec, load_spec


@dataclass
class Outcome:
    """What a run of a study gave: its context, the runs the budget counted, and the confirmation's verdicts."""

    ctx: Any
    finished: int
    budget: int
    confirmed: dict[int, rec.Paired] = field(default_factory=dict)
    confirmation: str = ""  # "done" | "skipped" | "nothing to confirm" | "interrupted" | "workers failed"
    worker_codes: list[int] = field(default_factory=list)
    interrupted: bool = False

    @property
    def recommended(self) -> list[int]:
        return [n for n, p in self.confirmed.items() if p.recommended]


def run(spec: StudySpec | str | os.PathLike, *, storage: str | None = None, study_name: str | None = None,
        n_trials: int | None = None, timeout_s: float | None = None, sampler: str | None = None,
        seed: int | None = None, workers: int = 1, confirm: bool | None = None, show_progress: bool = True,
        on_confirm_run: Callable[[FrozenTrial], None] | None = None, pipeline: Any = None,
        say: Callable[[str], None] | None = None, notes: NoteWriter | None = None) -> Outcome:
    """Run a study as `greenknobs run` does: the search (its baseline and noise floor first), then, unless `confirm`
    is False (or the study file says `confirm = false`), the sequential paired confirmation on the test split.
    `spec`: a StudySpec or the path of a study file. `say`: where one-line notices go (stderr by default). `notes`:
    the dashboard notes' writer (`open_study`; `greenknobs.search.run` hands it the analysis room's)."""
    from greenknobs._errors import GreenknobsError
    from greenknobs.search.study._study import open_study, run_study
    from greenknobs.search.study._workers import check_shared_storage, heartbeat_for, sigterm_interrupts

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    if study_name:
        spec.name = study_name
    if storage:
        spec.storage = storage
    if n_trials is not None:
        if n_trials < 1:
            raise GreenknobsError(f"--n-trials must be at least 1, not {n_trials}")
        spec.n_trials = n_trials  # the budget a sampler plans for (cascade) is the one this run counts to
    if timeout_s is not None and not timeout_s > 0:
        raise GreenknobsError(f"--timeout must be a positive number of seconds, not {timeout_s:g}")
    if workers < 1:
        raise GreenknobsError(f"--workers must be at least 1, not {workers}")
    url = spec.storage_url()
    if workers > 1:
        check_shared_storage(url, workers, f"--workers {workers}")
        return _run_workers(spec, url, workers, n_trials=n_trials, timeout_s=timeout_s, sampler=sampler, seed=seed,
                            confirm=confirm, on_confirm_run=on_confirm_run, say=say, notes=notes)
    with sigterm_interrupts():
        ctx = open_study(spec, sampler=sampler, seed=seed, heartbeat_interval_s=heartbeat_for(url), pipeline=pipeline,
                         notes=notes)
        done = run_study(ctx, n_trials=n_trials, timeout_s=timeout_s, show_progress=show_progress)
        out = Outcome(ctx, done["finished"], done["budget"])
        _confirm(out, confirm, on_confirm_run, say)
    return out


def _confirm(out: Outcome, confirm: bool | None, on_run: Callable[[FrozenTrial], None] | None,
             say: Callable[[str], None]) -> None:
    from greenknobs.search.study._confirm import confirm_pareto, plan

    ctx = out.ctx
    ctx.notes.candidates(ctx.study)  # the candidates' role and the noise floor, in the dashboard's notes
    if not (ctx.spec.confirm if confirm is None else confirm):
        out.confirmation = "skipped"
        say("confirmation skipped: nothing is recommended until `greenknobs confirm` runs the candidates on the "
            "test split")
        return
    candidates = rec.candidate_trials(ctx.study)
    if not candidates:
        out.confirmation = "nothing to confirm"
        say("nothing to confirm: no trial saved a measurable amount of energy above the F1 floor")
        return
    k_first, k_last, _ = plan(ctx)
    say(f"confirming {len(candidates)} candidate(s) and the baseline on the test split: {k_first} paired seeds each, "
        f"then up to {k_last} for those still open ({(len(candidates) + 1) * k_last} runs at most)")
    out.confirmed = confirm_pareto(ctx, on_run=on_run)
    out.confirmation = "done"


def _run_workers(spec: StudySpec, url: str, workers: int, *, n_trials: int | None, timeout_s: float | None,
                 sampler: str | None, seed: int | None, confirm: bool | None,
                 on_confirm_run: Callable[[FrozenTrial], None] | None, say: Callable[[str], None],
                 notes: NoteWriter | None) -> Outcome:
    """N worker processes on this host share the study (each a `greenknobs worker`, pinned to its cores or GPU); this
    process creates the study first and confirms at the end when every worker finished."""
    from greenknobs.objectives.energy import make_meter
    from greenknobs.search.study._lost import recover_lost_trials
    from greenknobs.search.study._budget import finished_count
    from greenknobs.search.study._study import ensure_baseline, open_study
    from greenknobs.search.study._workers import plan, run_workers, sigterm_interrupts, worker_command

    meter = make_meter(spec.energy, watts_per_core=spec.watts_per_core)
    envs, threads, how = plan(workers, meter.source)
    with sigterm_interrupts():
        # Created here, once: the workers find the study, its baseline queued and this host's dead trials failed.
        ctx = open_study(spec, sampler=sampler, seed=seed, meter=meter, notes=notes)
        recover_lost_trials(ctx.study)
        ensure_baseline(ctx)
    budget = n_trials if n_trials is not None else spec.n_trials
    from greenknobs.search.study._storage import _redact

    say(f"study '{spec.name}' in {_redact(url)}: {how}")
    study_file = str(spec.path) if spec.path else spec.name
    commands = [worker_command(study_file, url, spec.name, budget, timeout_s=timeout_s, sampler=sampler,
                               seed=seed, threads=threads, label=f"w{i + 1}") for i in range(workers)]
    codes, interrupted = run_workers(commands, envs)
    out = Outcome(ctx, finished_count(ctx.study), budget, worker_codes=codes, interrupted=interrupted)
    if not interrupted and all(c == 0 for c in codes):
        with sigterm_interrupts():
            _confirm(out, confirm, on_confirm_run, say)
        out.finished = finished_count(ctx.study)
    else:
        out.confirmation = "interrupted" if interrupted else "workers failed"
    return out
