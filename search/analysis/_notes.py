"""The dashboard's notes, worded here: each trial's (its role, what it changed, what it measured, the verdict), each
Pareto candidate's role after confirmation, and the study's (the noise floor and the verdicts).

The study engine writes them while a study runs, through the writer its caller hands it (`Notes`, given to
`open_study(notes=...)` and `run(notes=...)`, kept as `StudyContext.notes`): the engine cannot import this room,
which sits above it. The CLI and `greenknobs.search.run` / `open_study` hand it this one."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Any

import optuna

from greenknobs.objectives import PIPELINE_PHASES, TrialResult
from greenknobs.search import records as rec
from greenknobs.search.records import NoiseFloor, Verdict, energy_word, saving_text
from greenknobs.search.study import CONFIRMED_ATTR, NoteWriter, confirm_study, confirmed, spread_measures


class Notes(NoteWriter):
    """The writer the study engine calls (study.NoteWriter), in this room's words."""

    def trial(self, trial: optuna.Trial, role: str, results: Sequence[TrialResult], differences: dict[str, Any],
              floor: NoiseFloor | None, verdict: Verdict | None) -> None:
        from optuna_dashboard import save_note

        save_note(trial, note_markdown(trial.number, role, results, differences, floor, verdict))

    def candidates(self, study: optuna.Study, stats: dict[int, rec.Paired] | None = None) -> None:
        write_notes(study, stats)

    def failed(self, trial: optuna.Trial, reason: str, burned_j: float, source: str) -> None:
        _save(trial, f"## Trial {trial.number} — FAILED\n\n{reason}\n\nEnergy burned before it failed "
                     f"({source}): {burned_j:,.1f} J")

    def duplicate(self, trial: optuna.Trial, reason: str) -> None:
        # The dashboard shows a FAIL trial's note: say why this one ended before it trained.
        _save(trial, f"## Trial {trial.number} — FAILED (duplicate)\n\n{reason}.\n")

    def stopped(self, trial: optuna.Trial, rule: str, at: float, reason: str, spent_j: float, source: str) -> None:
        _save(trial, f"## Trial {trial.number} — stopped early\n\n**Role:** stopped early by the `{rule}` rule at "
                     f"{100 * at:.0f}% of its training.\n\n{reason}.\n\nEnergy spent before it stopped ({source}): "
                     f"{spent_j:,.1f} J, slice scoring included. It never enters the Pareto set.")

    def confirmation_study(self, twin: optuna.Study, study_name: str) -> None:
        _save(twin, f"## Confirmation runs of study `{study_name}`\n\nEvery Pareto candidate and the baseline, "
                    "re-run on the held-out **test** split at the same fresh training seeds. Each trial's note names "
                    "the search trial it confirms. The paired verdicts are in the search study's note.")

    def confirmation_run(self, trial: optuna.Trial, of: int, seed: int, result: TrialResult) -> None:
        _save(trial, f"## Confirmation of trial {of}, seed {seed}\n\n**Role:** confirmation: trial {of}'s "
                     f"configuration re-run on the held-out **test** split at seed {seed}, paired with the "
                     f"baseline's run at the same seed.\n\n{result.energy_j:,.1f} J ({result.energy_source}), "
                     f"{result.f1_kind} F1 {result.f1:.4f} (test)"
                     + (f"\n\n**Trained model reused** from {result.reused_training}: its model and training "
                        f"joules are that run's as recorded; inference measured here."
                        if result.reused_training else "")
                     + (f"\n\n**Degenerate:** {result.degenerate_reason}" if result.degenerate else ""))


def _save(target: Any, body: str) -> None:
    from optuna_dashboard import save_note

    save_note(target, body)


ROLE_TEXT = {
    "baseline": "baseline: the reference; its runs at the study's seeds are the noise floor",
    "screen": "screening: the cascade measures one knob alone",
    "combine": "combination: the cascade combines knobs that saved energy alone",
    "serve": "serving variant: the cascade serves a trained configuration's kept model under inference knobs that saved",
    "search": "search: proposed by the sampler",
    "repeat": "repeat: the same configuration at a new training seed, folded into its measurement",
    "duplicate": "duplicate: a configuration another trial measured; nothing trained, the sampler was asked again",
    "candidate": "candidate: on the Pareto set of the search (validation split), not confirmed",
    "recommended": "recommended: confirmed on the held-out test split at paired seeds",
    "not recommended": "candidate, not recommended after confirmation on the test split",
}


def note_markdown(trial_number: int, role: str, results: Sequence[TrialResult], differences: dict[str, Any],
                  floor: NoiseFloor | None, verdict: Verdict | None, extra: str = "") -> str:
    """The trial's note in the dashboard: its role, what it changed, what it measured and the verdict."""
    first = results[0]
    label = energy_word([first.energy_source]) or "measured"
    energy = statistics.fmean(r.energy_j for r in results)
    f1 = statistics.fmean(r.f1 for r in results)
    lines = [f"## Trial {trial_number}", "", f"**Role:** {ROLE_TEXT.get(role, role)}", ""]
    if differences:
        lines.append("**Knobs changed from the baseline:** " + ", ".join(f"`{k} = {v}`" for k, v in differences.items()))
    else:
        lines.append("**All knobs at their baseline.**")
    lines.append("")
    seeds = ", ".join(str(r.seed) for r in results)
    runs = f"mean of {len(results)} runs at seeds {seeds}" if len(results) > 1 else f"measured once (seed {seeds})"
    lines += ["| | value | vs the baseline's mean |", "|---|---|---|"]
    if floor is not None and verdict is not None:
        base_e, base_f1 = floor.energy_j[0], floor.f1[0]
        saving = saving_text(1 - energy / base_e) if base_e > 0 else "n/a"
        lines.append(f"| energy ({label}) | {energy:,.1f} J ({runs}) | {saving} (noise: ±{verdict.saving_margin_j:,.1f} J) |")
        lines.append(f"| {first.f1_kind} F1 ({first.eval_split}) | {f1:.4f} | {100 * f1 / base_f1:.1f}% kept; floor "
                     f"{floor.f1_floor:.4f} ± {verdict.f1_margin:.4f} noise |")
    else:
        lines.append(f"| energy ({label}) | {energy:,.1f} J ({runs}) | the reference |")
        lines.append(f"| {first.f1_kind} F1 ({first.eval_split}) | {f1:.4f} | the reference |")
    lines.append(f"| weighted F1 / accuracy (first run) | {first.weighted_f1:.4f} / {first.accuracy:.4f} | |")
    lines.append(f"| time (first run) | {first.time_s:.1f} s | |")
    lines.append(f"| trainable parameters | {first.trainable_params:,} | |")
    lines.append("")
    if len(results) > 1:
        lines.append("Runs: " + "; ".join(f"seed {r.seed}: {r.energy_j:,.1f} J, F1 {r.f1:.4f}" for r in results))
        lines.append("")
    lines.append("Energy by phase (first run): " + ", ".join(f"{p} {first.phase_energy_j.get(p, 0):,.1f} J"
                                                         for p in PIPELINE_PHASES))
    lines.append("")
    reused = [r for r in results if r.reused_training]
    if reused:
        lines += [f"**Trained model reused** in {len(reused)} of {len(results)} runs: "
                  + "; ".join(f"seed {r.seed} served the model of {r.reused_training}" for r in reused)
                  + ". Their model and training joules are that run's as recorded (the study paid them once); "
                    "their inference was measured here."]
        lines.append("")
    lines.append(f"Energy source: **{first.energy_source}** — {first.energy_description}")
    if floor is not None and verdict is None:
        lines += ["", floor.text(energy_word([first.energy_source]), first.eval_split)]
    if verdict is not None:
        lines += ["", f"**Verdict:** {'feasible' if verdict.feasible else 'infeasible'} — {verdict.reason}."]
    if any(r.degenerate for r in results):
        reason = next(r.degenerate_reason for r in results if r.degenerate)
        lines += ["", f"**Degenerate:** {reason}. Infeasible: never enters the Pareto set."]
    if extra:
        lines += ["", extra]
    return "\n".join(lines)


def write_notes(study: optuna.Study, stats: dict[int, rec.Paired] | None = None) -> None:
    """Say each Pareto candidate's role in its note — "candidate" until confirmed, then recommended or not, with the
    paired verdict — and put the noise floor and the verdicts in the study's note (the dashboard shows both)."""
    from optuna_dashboard import get_note, save_note

    stats = confirmed(study) if stats is None else stats
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for t in rec.candidate_trials(study):
        trial = rec.as_trial(study, trials[t.number])
        p = stats.get(t.number)
        role = "candidate" if p is None else "recommended" if p.recommended else "not recommended"
        body = re.sub(r"^\*\*Role:\*\* .*$", lambda _: f"**Role:** {ROLE_TEXT[role]}", get_note(trial), count=1,
                      flags=re.MULTILINE).split("\n\n**Confirmation", 1)[0]
        if p is not None:
            body += (f"\n\n**Confirmation (test split, paired seeds {', '.join(map(str, p.seeds)) or 'none'}):** "
                     f"{rec.interval_text(p.saving, 'saving')}; kept {rec.interval_text(p.retention, 'retention')}"
                     f" — {p.reason}.")
        save_note(trial, body)
    save_note(study, study_note(study, stats))


def study_note(study: optuna.Study, stats: dict[int, rec.Paired]) -> str:
    floor = rec.noise_floor(study)
    lines = [f"## Study `{study.study_name}`", ""]
    if floor is not None:
        lines += [floor.text(rec.energy_word(study), spread=rec.study_spread(study)) + ".", ""]
    if stats:
        lines += [confirm_text(study, stats)]
    else:
        front = rec.pareto_trials(study)
        lines += [f"{len(front)} Pareto candidate(s) on the validation split, not confirmed on the test split yet: "
                  "nothing is recommended until `greenknobs confirm` (or `greenknobs run`) confirms them."]
    return "\n".join(lines)


def spread_text(study: optuna.Study) -> str:
    """Where the confirmation's F1 spread came from: the search's kept models served on the test split for it
    (`study.serve_search_models`), or, where none was kept in the process that confirmed, its own pairs alone."""
    served = sum(len(by) for by in spread_measures(confirm_study(study, create=False)).values())
    if served:
        return f"the F1's also over {served} runs of the search's kept models served on the test split"
    return ("the F1's over the confirmation's own pairs alone: no model of the search was kept where it ran, so its "
            "first look has fewer degrees of freedom and less power (benchmarks/README.md, \"Verdict power\")")


def confirm_text(study: optuna.Study, stats: dict[int, rec.Paired]) -> str:
    base_cfg = rec.baseline_config(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    recommended = sum(1 for p in stats.values() if p.recommended)
    seeds = sorted({s for p in stats.values() for s in p.seeds})
    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    looks = stored.get("looks") or []
    lines = [f"confirmation on the test split: {len(stats)} Pareto candidate(s) and the baseline at paired seeds "
             f"{', '.join(map(str, seeds)) or '(none yet)'} (looks at {', '.join(map(str, looks)) or '-'} seeds); "
             f"{recommended} recommended (one-sided tests of F1 kept above the floor and energy saved above 0, noise "
             f"pooled over the candidates ({spread_text(study)}), Holm across their training families and a fixed "
             f"sequence within one, a false-recommendation rate of at most {100 * rec.ALPHA:g}% per study; "
             f"95% intervals)"]
    for number, p in stats.items():
        changed = rec.knob_differences(trials[number].user_attrs.get(rec.CONFIG, {}), base_cfg)
        knobs = ", ".join(f"{k}={v}" for k, v in changed.items())
        mark = "RECOMMENDED" if p.recommended else "not recommended"
        lines.append(f"trial {number} ({knobs}): {mark}: {rec.interval_text(p.saving, 'saving')}, kept "
                     f"{rec.interval_text(p.retention, 'retention')} over {p.n} paired seed(s) — {p.reason}")
    return "\n".join(lines)
