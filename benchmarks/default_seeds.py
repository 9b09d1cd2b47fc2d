"""The real default study at several study seeds, summarised: for each seed, what it recommends (saving and F1 kept
with their 95% intervals and one-sided p), the joules it spent (search and confirmation, and in units of its own
baseline run, so that studies made on days of different meter levels compare), its minutes, its training runs, the
other processes' CPU share recorded beside each run, and what the rule it replaced (two-sided 95% intervals at 3
paired seeds) would have said on the first 3 paired seeds of the same confirmation.

    python -m benchmarks.default_seeds RESULTS_DIR [--old DIR ...]

RESULTS_DIR holds seedN/default.journal and summary.txt (`seed N exit C wall_s S ...` lines, as
benchmarks/results/default-study-seeds/run.sh writes them); --old names folders of earlier studies (seedN/
default.journal) whose spend is reported in the same units, their early-stopping slice scoring taken out."""

from __future__ import annotations

import argparse
import csv
import math
import re
import statistics
from pathlib import Path
from typing import Any

import optuna

from greenknobs.search import records as rec
from greenknobs.search.study import confirm_study, confirmed, measures


def _load(journal: Path) -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    name = next(s.study_name for s in optuna.get_all_study_summaries(storage) if not s.study_name.endswith(":confirm"))
    return optuna.load_study(study_name=name, storage=storage)


def spend(study: optuna.Study) -> dict[str, float]:
    """Joules of the search and of the confirmation, slice scoring left out; and the study's baseline-run joules."""
    search = sum(rec.spent_j(t) - t.user_attrs.get("monitor_energy_j", 0.0) for t in study.get_trials(deepcopy=False))
    twin = confirm_study(study, create=False)
    confirm = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False)) if twin is not None else 0.0
    runs = sum(rec.budget_runs(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    confirm_runs = len(twin.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) if twin else 0
    floor = rec.noise_floor(study)
    return {"search_j": search, "confirm_j": confirm, "total_j": search + confirm, "baseline_run_j": floor.energy_j[0],
            "total_in_baseline_runs": (search + confirm) / floor.energy_j[0], "search_runs": runs,
            "confirm_runs": confirm_runs}


def loads(study: optuna.Study) -> list[float]:
    out = [r.foreign_load for t in study.get_trials(deepcopy=False) for r in rec.runs_of(t) if r.foreign_load is not None]
    twin = confirm_study(study, create=False)
    if twin is not None:
        out += [r.foreign_load for by in measures(twin).values() for r in by.values() if r.foreign_load is not None]
    return out


def old_rule(study: optuna.Study) -> dict[int, bool]:
    """The replaced rule on the first 3 paired test seeds: per-seed ratios, two-sided 95% t intervals."""
    twin = confirm_study(study, create=False)
    base = rec.baseline_trial(study)
    if twin is None or base is None:
        return {}
    from benchmarks.verdict_power import old_rule as replaced_rule

    runs = measures(twin)
    b = runs.get(base.number, {})
    first = {s: b[s] for s in sorted(b)[:3]}
    return {n: replaced_rule(runs.get(n, {}), first, rec.min_f1_retention(study)) for n in confirmed(study)}


def summarise(folder: Path) -> list[dict[str, Any]]:
    walls = {int(m.group(1)): int(m.group(3)) for m in re.finditer(r"seed (\d+) exit (\d+) wall_s (\d+)",
                                                                   (folder / "summary.txt").read_text())}
    rows = []
    for journal in sorted(folder.glob("seed*/default.journal")):
        seed = int(journal.parent.name[4:])
        if seed not in walls:
            continue  # still running
        study = _load(journal)
        stats = confirmed(study)
        best = min((p for p in stats.values() if p.recommended), key=lambda p: p.energy_j.mean, default=None)
        number = next((n for n, p in stats.items() if p is best), None)
        knobs = ""
        if number is not None:
            diff = rec.knob_differences(study.trials[number].user_attrs[rec.CONFIG], rec.baseline_config(study))
            knobs = ", ".join(f"{k}={v}" for k, v in diff.items())
        load = loads(study)
        rows.append({
            "study_seed": seed, "minutes": round(walls.get(seed, math.nan) / 60, 1),
            "candidates": len(stats), "recommended": sum(p.recommended for p in stats.values()), "best": knobs,
            "saving": rec.interval_text(best.saving, "saving") if best else "",
            "retention": rec.interval_text(best.retention, "retention") if best else "",
            "p": f"{best.p_value:.4f}" if best else "", "paired_seeds": best.n if best else "",
            "old_rule_would_recommend": sum(old_rule(study).values()),
            **{k: round(v, 1) for k, v in spend(study).items()},
            "foreign_load_mean": round(statistics.fmean(load), 3) if load else "",
            "foreign_load_max": round(max(load), 3) if load else "",
            "runs_flagged": sum(1 for x in load if x > rec.LOAD_FLAG),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--old", type=Path, nargs="*", default=[])
    args = ap.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = summarise(args.folder)
    with (args.folder / "seeds.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(r)
    for old in args.old:
        for journal in sorted(old.glob("seed*/default.journal")):
            s = spend(_load(journal))
            print(f"old {journal.parent}: {s['total_j']:,.0f} J = {s['total_in_baseline_runs']:.1f} baseline runs "
                  f"({s['search_runs']} search runs, {s['confirm_runs']} confirmation runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
