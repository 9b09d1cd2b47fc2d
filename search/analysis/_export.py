"""`export`: what a study recommends, as runnable configs, and what it only found, apart and labelled.

    OUT/index.md, index.csv        the noise floor, then every Pareto candidate with its verdict
    OUT/trial-N.toml               recommended: confirmed on the test split at paired seeds (records/_noise.py)
    OUT/candidates/trial-M.toml    on the search's Pareto set but not recommended (the reason is in the file)
    OUT/best.toml                  with --min-f1-retention / --max-energy-j: the cheapest confirmed configuration
                                   that meets the user's own constraint

The baseline configuration is never exported as a saving. The folder is built beside its destination and swapped in
whole: a reader sees the old export or the new one, never a mix, and a folder that is not an earlier export is
refused rather than overwritten."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from greenknobs._errors import GreenknobsError
from greenknobs.search.analysis._outdir import marker_name, replacing_folder
from greenknobs.search import records as rec
from greenknobs.search.records import SPEC_ATTR, baseline_config, knob_differences
from greenknobs.search.study import confirm_study, confirmed, measures
from greenknobs.spaces import ConfigFile, atomic_write_text, write_config_file

MARKER = marker_name("export")  # present in every folder export wrote; the licence to replace it
CANDIDATES = "candidates"
BEST = "best.toml"
CSV_FIELDS = ("trial", "status", "changed_knobs", "search_energy_j", "search_energy_reduction_pct", "search_f1",
              "search_f1_retention_pct", "search_runs", "confirm_seeds", "saving_pct", "saving_low_pct",
              "saving_high_pct", "retention_pct", "retention_low_pct", "retention_high_pct", "test_energy_j",
              "test_f1", "energy_source", "reason", "file")


@dataclass
class Entry:
    """One Pareto candidate: its search trial (validation) and its paired confirmation (test), if any."""

    trial: FrozenTrial
    changed: dict[str, Any]
    paired: rec.Paired | None
    test_runs: list[rec.RunMeasure] = field(default_factory=list)  # its confirmation runs (test split), if any

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def recommended(self) -> bool:
        return self.paired is not None and self.paired.recommended

    @property
    def status(self) -> str:
        if self.paired is None:
            return "not confirmed"
        return "recommended" if self.paired.recommended else "not recommended"

    @property
    def reason(self) -> str:
        if self.paired is None:
            return "not confirmed on the test split: run `greenknobs confirm`"
        return self.paired.reason

    @property
    def file(self) -> str:
        return f"trial-{self.number}.toml" if self.recommended else f"{CANDIDATES}/trial-{self.number}.toml"

    @property
    def runs(self) -> list[rec.RunMeasure]:
        return rec.runs_of(self.trial)

    @cached_property
    def reuse_text(self) -> str:
        """How many of its runs served a trained model kept from another run ("" when none did)."""
        parts = [f"{sum(r.reused for r in rs)} of its {len(rs)} {what} runs"
                 for rs, what in ((self.runs, "search"), (self.test_runs, "test")) if any(r.reused for r in rs)]
        if not parts:
            return ""
        return ("trained model reused in " + " and ".join(parts) + ": served at inference cost, their training "
                "joules the recorded ones of the run that trained it")


def entries_of(study: optuna.Study) -> list[Entry]:
    """The candidates (the Pareto set and its serving siblings, `records.candidate_trials`), cheapest first, each with
    its stored confirmation (if it is still current) and its confirmation runs, read once."""
    stats = confirmed(study)
    base_cfg = baseline_config(study)
    test = measures(confirm_study(study, create=False))
    return [Entry(t, knob_differences(t.user_attrs.get(rec.CONFIG, {}), base_cfg), stats.get(t.number),
                  list(test.get(t.number, {}).values()))
            for t in rec.candidate_trials(study)]


def pick(entries: list[Entry], min_f1_retention: float | None = None, max_energy_j: float | None = None,
         study_floor: float | None = None, study: optuna.Study | None = None) -> tuple[Entry, str]:
    """The cheapest candidate meeting the user's own constraint, under every guard "recommended" applies except the
    floor it replaces: the same one-sided tests on the same paired test runs, pooled spread, Holm across the study's
    training families (a fixed sequence within one) and α spent over the same looks (records/_noise.py, `decide`),
    at `min_f1_retention` (the study's floor when only an energy cap is given); a degenerate baseline or run, or a
    seed measured for only one side, refuses as it refuses a recommendation. An energy cap holds the upper end of the candidate's test joules' 95%
    interval. Raises GreenknobsError naming the closest miss."""
    if min_f1_retention is not None and not 0.0 < min_f1_retention <= 1.0:
        raise GreenknobsError(f"--min-f1-retention {min_f1_retention:g} is not a share of the baseline F1: give a "
                              "number in (0, 1], e.g. 0.99")
    if max_energy_j is not None and not max_energy_j > 0:
        raise GreenknobsError(f"--max-energy-j {max_energy_j:g} is not a positive number of joules: give e.g. 500")
    floor = study_floor if min_f1_retention is None else min_f1_retention
    verdicts = _verdicts_at(study, entries, floor) if study is not None and floor is not None else {
        e.number: e.paired for e in entries if e.paired is not None}
    judged = [e for e in entries if verdicts.get(e.number) is not None and verdicts[e.number].n >= 2]
    if not judged:
        raise GreenknobsError("no confirmed configuration to pick from: run `greenknobs confirm` (or `greenknobs run` "
                              "without --no-confirm) first")
    passed = [e for e in judged if verdicts[e.number].recommended]
    ok = [e for e in passed if max_energy_j is None or e.paired.energy_j.high <= max_energy_j]
    if not ok:
        if not passed:
            best = max(judged, key=lambda e: verdicts[e.number].retention.mean)
            v = verdicts[best.number]
            raise GreenknobsError(f"no configuration keeps {100 * floor:g}% of the baseline F1 with a real saving at the "
                                  f"study's error rate; the best keeps {100 * v.retention.mean:.1f}% ({v.reason}): lower "
                                  "--min-f1-retention, or confirm at more seeds (`greenknobs confirm --repeats K`)")
        cheapest = min(e.paired.energy_j.high for e in passed)
        raise GreenknobsError(f"no configuration stays under {max_energy_j:,.1f} J (the upper end of its 95% "
                              f"interval) at that F1; the cheapest needs {cheapest:,.1f} J: raise --max-energy-j")
    best = min(ok, key=lambda e: (e.paired.energy_j.mean, e.number))
    v = verdicts[best.number]
    why = [f"keeps more than {100 * floor:g}% of the baseline F1 ({100 * v.retention.mean:.1f}%, one-sided p = "
           f"{v.p_f1:.4f}) and saves energy (p = {v.p_energy:.4f}), both against {v.level:.4f}, its share of α "
           "(Holm across the training families, a fixed sequence within one)"]
    if max_energy_j is not None:
        why.append(f"needs at most {best.paired.energy_j.high:,.1f} J (needed ≤ {max_energy_j:,.1f} J)")
    return best, (f"trial {best.number}: the cheapest of {len(ok)} confirmed configuration(s) meeting your "
                  f"constraint, {rec.saving_text(v.saving.mean)}; it " + " and ".join(why)
                  + f", over {v.n} paired test seeds")


def _verdicts_at(study: optuna.Study, entries: list[Entry], floor: float) -> dict[int, rec.Paired]:
    """The confirmation's verdicts replayed at another floor, over the same runs and looks."""
    from greenknobs.search.study import CONFIRMED_ATTR

    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    base = rec.baseline_trial(study)
    twin = confirm_study(study, create=False)
    if base is None or twin is None or not stored.get("seeds"):
        return {}
    runs = measures(twin)
    cands = {e.number: runs.get(e.number, {}) for e in entries}
    return rec.decide_verdicts(cands, runs.get(base.number, {}), floor, stored["seeds"], stored.get("looks"),
                        stored.get("k_max"))


def export_pareto(study: optuna.Study, out_dir: str | os.PathLike, *, min_f1_retention: float | None = None,
                  max_energy_j: float | None = None) -> tuple[list[Path], str | None]:
    """Write the recommendations of `study` to `out_dir`; returns the files written and, with a constraint, the line
    saying which configuration `best.toml` is and why."""
    out = Path(out_dir)
    entries = entries_of(study)
    if not entries:
        raise GreenknobsError(f"study '{study.study_name}' has no Pareto candidate to export (no trial saved a "
                              "measurable amount of energy above the F1 floor): run more trials with "
                              "`greenknobs run --n-trials N`, or relax min_f1_retention in the study file")
    chosen: tuple[Entry, str] | None = None
    if min_f1_retention is not None or max_energy_j is not None:
        # Before anything is written: a miss writes nothing.
        chosen = pick(entries, min_f1_retention, max_energy_j, rec.min_f1_retention(study), study)
    spec = rec.study_record(study, SPEC_ATTR, {})
    floor = rec.noise_floor(study)
    with replacing_folder(out, "export", study.study_name) as tmp:
        for e in entries:
            _write_config(tmp / e.file, study, e, spec, floor)
        if chosen is not None:
            _write_config(tmp / BEST, study, chosen[0], spec, floor, picked=chosen[1])
        atomic_write_text(tmp / "index.md", index_markdown(study, entries, floor, rec.energy_word(study), chosen))
        atomic_write_text(tmp / "index.csv", index_csv(entries))
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MARKER)
    return files, chosen[1] if chosen else None


def _interval(iv: rec.Interval, scale: float = 100.0, digits: int = 2) -> dict[str, Any]:
    out = {"mean": round(scale * iv.mean, digits)}
    if iv.low is not None:
        out.update(low=round(scale * iv.low, digits), high=round(scale * iv.high, digits), std=round(scale * iv.std, digits))
    return out


def _measured(study: optuna.Study, e: Entry, floor: rec.NoiseFloor | None) -> dict[str, Any]:
    ua = e.trial.user_attrs
    runs = e.runs
    m: dict[str, Any] = {
        "study": study.study_name, "trial": e.number, "status": e.status, "reason": e.reason,
        "energy_source": ua.get("energy_source", "unknown"), "f1_kind": ua.get("f1_kind", ""),
        "changed_knobs": sorted(e.changed),
        "search": {"split": "validation", "runs": len(runs), "seeds": [r.seed for r in runs],
                   "runs_serving_a_kept_model": sum(r.reused for r in runs),
                   "energy_j": round(float(e.trial.values[0]), 3), "f1": round(float(e.trial.values[1]), 6),
                   "energy_reduction_pct": ua.get("energy_reduction_pct"), "f1_retention_pct": ua.get("f1_retention_pct"),
                   "verdict": (ua.get(rec.VERDICT) or {}).get("reason")},
    }
    if floor is not None:
        m["noise_floor"] = {k: v for k, v in floor.summary().items() if v is not None}
    if e.reuse_text:
        m["training_reused"] = e.reuse_text
    p = e.paired
    if p is not None and p.n:
        m["confirmation"] = {
            "split": "test", "paired_seeds": list(p.seeds), "confidence": rec.CONFIDENCE,
            "energy_saved_pct": _interval(p.saving), "f1_retention_pct": _interval(p.retention),
            "energy_j": _interval(p.energy_j, 1.0, 3), "f1": _interval(p.f1, 1.0, 6),
            "baseline_energy_j": _interval(p.baseline_energy_j, 1.0, 3), "baseline_f1": _interval(p.baseline_f1, 1.0, 6),
        }
    for key in ("weighted_f1", "accuracy", "trainable_params", "time_s"):
        if key in ua:
            m[key] = ua[key]
    return m


def _write_config(path: Path, study: optuna.Study, e: Entry, spec: dict[str, Any], floor: rec.NoiseFloor | None,
                  picked: str | None = None) -> None:
    result = rec.result_of(e.trial)
    seed = result.seed if result is not None else spec.get("seed")
    config = e.trial.user_attrs.get(rec.CONFIG)
    if config is None:
        raise GreenknobsError(f"trial {e.number} of study '{study.study_name}' has no stored knob config: "
                              "it was written by an older greenknobs; rerun that configuration")
    m = _measured(study, e, floor)
    label = {"estimated": "estimated from CPU and wall time", "simulated": "simulated (a model of the task, not "
             "measured)"}.get(m["energy_source"], f"measured ({m['energy_source']})")
    if e.recommended:
        verdict = (f"RECOMMENDED: on the test split at paired seeds {', '.join(map(str, e.paired.seeds))}, "
                   f"{rec.interval_text(e.paired.saving, 'saving')}; it kept "
                   f"{rec.interval_text(e.paired.retention, 'retention')}.")
    else:
        verdict = f"CANDIDATE, NOT RECOMMENDED: {e.reason}."
    runs = e.runs
    search = (f"Search (validation): {float(e.trial.values[0]):,.1f} J, F1 {float(e.trial.values[1]):.4f}, "
              + (f"mean of {len(runs)} runs" if len(runs) > 1 else "measured once") + ".")
    header = (
        (f"Picked by `greenknobs export`: {picked}.\n" if picked else "")
        + f"Pareto configuration from study '{study.study_name}', trial {e.number}. Energy {label}.\n"
        f"{verdict}\n{search}\n"
        f"Changed from the baseline: {', '.join(f'{k} = {v}' for k, v in e.changed.items())}.\n"
        f"Run it: greenknobs trial --config {path.name}\n"
        "[measured] is what the study saw; it is informational and never read back as input."
    )
    task = spec.get("task") or (result.task if result is not None else None)
    write_config_file(path, ConfigFile(knobs=dict(config), task=task, seed=seed, measured=m), header=header)


def _pm(iv: rec.Interval, fmt: str) -> str:
    return format(iv.mean, fmt) + (f" ± {format(iv.std, fmt)}" if iv.std is not None else "")


def index_markdown(study: optuna.Study, entries: list[Entry], floor: rec.NoiseFloor | None, word: str,
                   chosen: tuple[Entry, str] | None = None) -> str:
    recommended = [e for e in entries if e.recommended]
    others = [e for e in entries if not e.recommended]
    lines = [f"# What study `{study.study_name}` recommends", ""]
    if word == "estimated":
        lines += ["**Energy is estimated** from CPU time (busy cores) and wall time (idle cores), not measured by a "
                  "power meter: compare these joules with each other, not with a wall socket.", ""]
    elif word == "simulated":
        lines += ["**Energy is simulated**: computed by a model of the task calibrated on measured trials, not "
                  "measured.", ""]
    else:
        lines += ["Energy is measured (Zeus: GPU / RAPL counters).", ""]
    if floor is not None:
        lines += [f"**The {floor.text(word, spread=rec.study_spread(study))}.**", ""]
    lines += ["**How a recommendation is made.** The search selects on the validation split; every Pareto candidate "
              "and the baseline then ran again on the held-out **test** split at the same fresh training seeds, "
              "seed-major (more seeds for the candidates the first look left open). Per seed the candidate is "
              "paired with the baseline: F1 on F1 − floor × F1_baseline, energy on log(J / J_baseline), the noise "
              "pooled over every candidate and seed. *Recommended* = both one-sided Student-t tests pass (F1 kept "
              f"above the floor, energy saved above 0) at the study's false-recommendation rate of "
              f"{100 * rec.ALPHA:g}%, with Holm's correction across the candidates' training families (siblings "
              "served from one trained model are tested in a fixed sequence on one share) and α spent over the looks. "
              "Intervals are 95% Student-t intervals on the pooled spread. The baseline configuration is never "
              "listed.", ""]
    if chosen is not None:
        lines += [f"**Your pick** ([{BEST}]({BEST})): {chosen[1]}.", ""]
    training = sum(rec.budget_runs(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    measured = sum(rec.measured_runs(t) for t in study.get_trials(deepcopy=False))
    if measured != training:
        lines += [f"**A training run paid once.** The search measured {measured} configuration runs with {training} "
                  "training runs: a configuration that differs from a run already made only in how it serves "
                  "(its inference knobs) served that run's trained model, carrying its model and training joules as "
                  "recorded and measuring its own inference; the study's spend counts each training once.", ""]
    lines += [f"## Recommended ({len(recommended)})", ""]
    if recommended:
        unit = f"energy (J, test, {word})" if word else "energy (J, test)"
        lines += [f"| trial | knobs changed from the baseline | energy saved (95% CI) | F1 kept (95% CI) | paired seeds "
                  f"| {unit} | F1 (test) | file |", "|---:|---|---|---|---|---:|---:|---|"]
        for e in recommended:
            p = e.paired
            lines.append(f"| {e.number} | {_knobs(e)} | {rec.interval_text(p.saving, 'saving')} | "
                         f"{rec.interval_text(p.retention, 'retention')} | {', '.join(map(str, p.seeds))} | "
                         f"{_pm(p.energy_j, ',.1f')} | {_pm(p.f1, '.4f')} | [{e.file}]({e.file}) |")
        from greenknobs.search.analysis._break_even import break_even

        lines += ["", "**Break-even** (runs of the recommended configuration, each in place of a baseline run, that "
                  "pay back everything the study spent):", ""]
        lines += [f"- {b.text(word)}" for b in break_even(study)]
        reused = [e for e in recommended if e.reuse_text]
        if reused:
            lines += ["", "**Trained models reused:**", ""] + [f"- trial {e.number}: {e.reuse_text}" for e in reused]
    else:
        lines.append("No configuration is recommended: none passed both tests on the test split (see the "
                     "candidates below and why).")
    lines += ["", f"## Candidates, not recommended ({len(others)})", ""]
    if others:
        lines += ["| trial | knobs changed from the baseline | search (validation) | why not recommended | file |",
                  "|---:|---|---|---|---|"]
        for e in others:
            ua = e.trial.user_attrs
            runs = len(e.runs)
            search = (f"{rec.saving_text(ua.get('energy_reduction_pct', 0) / 100)}, "
                      f"{ua.get('f1_retention_pct', 0):.1f}% of the F1, "
                      + (f"mean of {runs} runs" if runs > 1 else "measured once"))
            reuse = f" ({e.reuse_text})" if e.reuse_text else ""
            lines.append(f"| {e.number} | {_knobs(e)} | {search}{reuse} | {e.reason} | "
                         f"[{e.file}]({e.file}) |")
    else:
        lines.append("None.")
    base_stats = next((e.paired for e in entries if e.paired is not None and e.paired.n), None)
    lines.append("")
    if base_stats is not None:
        lines.append(f"Baseline on the test split (trial {rec.baseline_trial(study).number}, seeds "
                     f"{', '.join(map(str, base_stats.seeds))}): {_pm(base_stats.baseline_energy_j, ',.1f')} J"
                     f"{f' ({word})' if word else ''}, F1 {_pm(base_stats.baseline_f1, '.4f')} (mean ± std).")
    lines.append("")
    return "\n".join(lines)


def _knobs(e: Entry) -> str:
    return ", ".join(f"`{k} = {v}`" for k, v in e.changed.items())


def index_csv(entries: list[Entry]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        ua = e.trial.user_attrs
        p = e.paired
        row = {
            "trial": e.number, "status": e.status, "reason": e.reason, "file": e.file,
            "changed_knobs": "; ".join(f"{k}={v}" for k, v in e.changed.items()),
            "search_energy_j": f"{float(e.trial.values[0]):.3f}", "search_f1": f"{float(e.trial.values[1]):.6f}",
            "search_energy_reduction_pct": ua.get("energy_reduction_pct", ""),
            "search_f1_retention_pct": ua.get("f1_retention_pct", ""), "search_runs": len(e.runs),
            "energy_source": ua.get("energy_source", "unknown"),
        }
        if p is not None and p.n:
            row.update(confirm_seeds=" ".join(map(str, p.seeds)), test_energy_j=f"{p.energy_j.mean:.3f}",
                       test_f1=f"{p.f1.mean:.6f}", saving_pct=f"{100 * p.saving.mean:.2f}",
                       retention_pct=f"{100 * p.retention.mean:.2f}")
            if p.saving.low is not None:
                row.update(saving_low_pct=f"{100 * p.saving.low:.2f}", saving_high_pct=f"{100 * p.saving.high:.2f}",
                           retention_low_pct=f"{100 * p.retention.low:.2f}",
                           retention_high_pct=f"{100 * p.retention.high:.2f}")
        writer.writerow(row)
    return buf.getvalue()
