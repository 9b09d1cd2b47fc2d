"""`export`: the Pareto set as recommended configs — one runnable TOML per Pareto trial, plus index.md / index.csv.

The folder is built beside its destination and swapped in whole: a reader sees the old export or the new one,
never a mix, and a folder that is not an earlier export is refused rather than overwritten."""

from __future__ import annotations

import csv
import io
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.search.analysis._outdir import marker_name, replacing_folder
from greenknobs.search.records import _records as rec
from greenknobs.search.records._records import SPEC_ATTR, baseline_config, is_estimated, knob_differences
from greenknobs.spaces import ConfigFile, atomic_write_text, write_config_file

MARKER = marker_name("export")  # present in every folder export wrote; the licence to replace it
CONFIRM_OF = "confirm_of"
CSV_FIELDS = ("trial", "role", "changed_knobs", "energy_j", "energy_j_std", "energy_reduction_pct", "f1", "f1_std",
              "f1_retention_pct", "runs", "energy_source", "file")


@dataclass
class Entry:
    """One Pareto configuration: its original trial and any `confirm` repeats, summarised."""

    trial: FrozenTrial
    runs: list[FrozenTrial]  # the original first, then its repeats
    changed: dict[str, Any]

    @property
    def number(self) -> int:
        return self.trial.number

    def _stat(self, index: int) -> tuple[float, float | None]:
        values = [float(t.values[index]) for t in self.runs]
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)

    @property
    def energy(self) -> tuple[float, float | None]:
        return self._stat(0)

    @property
    def f1(self) -> tuple[float, float | None]:
        return self._stat(1)

    @property
    def confirmed(self) -> bool:
        return len(self.runs) > 1

    @property
    def file(self) -> str:
        return f"trial-{self.number}.toml"


def repeats_of(study: optuna.Study) -> dict[int, list[FrozenTrial]]:
    """Complete `confirm` trials by the trial number they repeat."""
    out: dict[int, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if rec.role_of(t) == "confirm" and t.values is not None and CONFIRM_OF in t.user_attrs:
            out.setdefault(int(t.user_attrs[CONFIRM_OF]), []).append(t)
    return {k: sorted(v, key=lambda t: t.number) for k, v in out.items()}


def pareto_entries(study: optuna.Study) -> tuple[list[Entry], Entry | None]:
    """The Pareto set (cheapest first) and the baseline, each with its confirm repeats folded in."""
    repeats = repeats_of(study)
    base_cfg = baseline_config(study)

    def entry(t: FrozenTrial) -> Entry:
        return Entry(t, [t, *repeats.get(t.number, [])], knob_differences(t.user_attrs.get(rec.CONFIG, {}), base_cfg))

    base = rec.baseline_trial(study)
    return [entry(t) for t in rec.pareto_trials(study)], (entry(base) if base is not None else None)


def export_pareto(study: optuna.Study, out_dir: str | os.PathLike) -> list[Path]:
    """Write the Pareto set of `study` to `out_dir`; returns the files written (inside `out_dir`)."""
    out = Path(out_dir)
    entries, base = pareto_entries(study)
    if not entries:
        raise GreenknobsError(f"study '{study.study_name}' has no feasible trial yet, so no Pareto set to export: "
                              "run more trials with `greenknobs run`, or relax min_f1_retention in the study file")
    spec = study.user_attrs.get(SPEC_ATTR, {})
    with replacing_folder(out, "export", study.study_name) as tmp:
        for e in entries:
            _write_config(tmp / e.file, study, e, base, spec)
        estimated = is_estimated(study)
        atomic_write_text(tmp / "index.md", index_markdown(study, entries, base, estimated))
        atomic_write_text(tmp / "index.csv", index_csv(entries, base))
    return sorted(out / p.name for p in out.iterdir() if p.name != MARKER)


def _reduction(value: float, reference: float) -> float:
    return 100.0 * (1.0 - value / reference) if reference > 0 else 0.0


def _retention(value: float, reference: float) -> float:
    return 100.0 * value / reference if reference > 0 else 0.0


def _measured(study: optuna.Study, e: Entry, base: Entry | None) -> dict[str, Any]:
    ua = e.trial.user_attrs
    energy, energy_sd = e.energy
    f1, f1_sd = e.f1
    m: dict[str, Any] = {
        "study": study.study_name, "trial": e.number, "role": rec.role_of(e.trial),
        "energy_j": round(energy, 3), "energy_source": ua.get("energy_source", "unknown"),
        "f1": round(f1, 6), "f1_kind": ua.get("f1_kind", ""), "runs": len(e.runs),
        "changed_knobs": sorted(e.changed),
    }
    if e.confirmed:
        m.update(energy_j_std=round(energy_sd, 3), f1_std=round(f1_sd, 6), confirm_trials=[t.number for t in e.runs[1:]])
    if base is not None:
        m.update(energy_reduction_pct=round(_reduction(energy, base.energy[0]), 2),
                 f1_retention_pct=round(_retention(f1, base.f1[0]), 2),
                 baseline_energy_j=round(base.energy[0], 3), baseline_f1=round(base.f1[0], 6))
    for key in ("weighted_f1", "accuracy", "trainable_params", "time_s"):
        if key in ua:
            m[key] = ua[key]
    return m


def _write_config(path: Path, study: optuna.Study, e: Entry, base: Entry | None, spec: dict[str, Any]) -> None:
    result = rec.result_of(e.trial)
    seed = result.seed if result is not None else spec.get("seed")
    config = e.trial.user_attrs.get(rec.CONFIG)
    if config is None:
        raise GreenknobsError(f"trial {e.number} of study '{study.study_name}' has no stored knob config: "
                              "it was written by an older greenknobs; rerun that configuration")
    m = _measured(study, e, base)
    label = "estimated from CPU and wall time" if m["energy_source"] == "estimated" else f"measured ({m['energy_source']})"
    runs = f"mean of {len(e.runs)} runs (confirmed)" if e.confirmed else "measured once"
    header = (
        f"Pareto configuration from study '{study.study_name}', trial {e.number}"
        + (" (the baseline)" if rec.role_of(e.trial) == "baseline" else "") + ".\n"
        f"Energy {m['energy_j']:,.1f} J, {label}; F1 {m['f1']:.4f}; {runs}.\n"
        f"Changed from the baseline: {', '.join(f'{k} = {v}' for k, v in e.changed.items()) or 'nothing'}.\n"
        f"Run it: greenknobs trial --config {path.name}\n"
        "[measured] is what the study saw; it is informational and never read back as input."
    )
    task = spec.get("task") or (result.task if result is not None else None)
    write_config_file(path, ConfigFile(knobs=dict(config), task=task, seed=seed, measured=m), header=header)


def _pm(mean: float, sd: float | None, fmt: str) -> str:
    return format(mean, fmt) + (f" ± {format(sd, fmt)}" if sd is not None else "")


def index_markdown(study: optuna.Study, entries: list[Entry], base: Entry | None, estimated: bool) -> str:
    confirmed = any(e.confirmed for e in entries)
    lines = [f"# Pareto set of study `{study.study_name}`", ""]
    lines.append(f"{len(entries)} configuration(s) that no other feasible trial beats on both energy and F1, "
                 "cheapest first. Each `trial-N.toml` runs as is: `greenknobs trial --config trial-N.toml`.")
    lines.append("")
    if estimated:
        lines.append("**Energy is estimated** from CPU time (busy cores) and wall time (idle cores), not measured by a power "
                     "meter: compare these joules with each other, not with a wall socket.")
    else:
        lines.append("Energy is measured (Zeus: GPU / RAPL counters).")
    lines.append("")
    if confirmed:
        lines.append("**Confirmed** where runs > 1: the figures are mean ± standard deviation over the original trial "
                     "and its `greenknobs confirm` repeats. Rows with runs = 1 were measured once.")
    else:
        lines.append("Each figure was **measured once** (one trial per configuration): run `greenknobs confirm` to "
                     "repeat them and see the spread.")
    lines.append("")
    unit = "energy (J, estimated)" if estimated else "energy (J)"
    lines.append(f"| trial | knobs changed from the baseline | {unit} | energy saved | F1 | F1 kept | runs | energy source |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---|")
    for e in entries:
        energy, energy_sd = e.energy
        f1, f1_sd = e.f1
        changed = ", ".join(f"`{k} = {v}`" for k, v in e.changed.items()) or "none (baseline configuration)"
        saved = f"{_reduction(energy, base.energy[0]):+.1f}%" if base else "n/a"
        kept = f"{_retention(f1, base.f1[0]):.1f}%" if base else "n/a"
        name = f"[{e.number}]({e.file})" + (" (baseline)" if rec.role_of(e.trial) == "baseline" else "")
        lines.append(f"| {name} | {changed} | {_pm(energy, energy_sd, ',.1f')} | {saved} | {_pm(f1, f1_sd, '.4f')} | "
                     f"{kept} | {len(e.runs)} | {e.trial.user_attrs.get('energy_source', 'unknown')} |")
    lines.append("")
    if base is not None:
        energy, energy_sd = base.energy
        f1, f1_sd = base.f1
        lines.append(f"Baseline (trial {base.number}): {_pm(energy, energy_sd, ',.1f')} J"
                     f"{' (estimated)' if estimated else ''}, F1 {_pm(f1, f1_sd, '.4f')}, {len(base.runs)} run(s). "
                     "Energy saved = 1 − joules / baseline joules; F1 kept = F1 / baseline F1.")
    else:
        lines.append("The baseline trial has not finished, so savings are not shown.")
    lines.append("")
    return "\n".join(lines)


def index_csv(entries: list[Entry], base: Entry | None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        energy, energy_sd = e.energy
        f1, f1_sd = e.f1
        writer.writerow({
            "trial": e.number, "role": rec.role_of(e.trial),
            "changed_knobs": "; ".join(f"{k}={v}" for k, v in e.changed.items()),
            "energy_j": f"{energy:.3f}", "energy_j_std": "" if energy_sd is None else f"{energy_sd:.3f}",
            "energy_reduction_pct": f"{_reduction(energy, base.energy[0]):.2f}" if base else "",
            "f1": f"{f1:.6f}", "f1_std": "" if f1_sd is None else f"{f1_sd:.6f}",
            "f1_retention_pct": f"{_retention(f1, base.f1[0]):.2f}" if base else "",
            "runs": len(e.runs), "energy_source": e.trial.user_attrs.get("energy_source", "unknown"), "file": e.file,
        })
    return buf.getvalue()
