"""Trained-model reuse on the real default study: the same study seeds with reuse and without, paired.

    python -m benchmarks.reuse_seeds WITH_DIR WITHOUT_DIR [--out FILE.csv]

Each folder holds seedN/default.journal and summary.txt (`seed N exit C wall_s S ...` lines), as
benchmarks/results/default-study-seeds/run.sh writes them. For each seed and side: training runs (the budget's unit),
configurations measured (distinct configurations, and configuration runs: one configuration at one seed), the
confirmed result — the best saving recommended, with its 95% interval, and the hypervolume gained by the recommended
set on the test split (energy share × F1 share in the box [0, 1] × [floor, ∞), reference (1, floor): 0 when
nothing is recommended) — the joules spent in units of the study's own baseline run, minutes, and the other
processes' CPU share. Then, over the seeds both sides have, the paired differences (with reuse − without)."""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from benchmarks.default_seeds import _load, summarise
from benchmarks.searchbench.core import hv_gained
from greenknobs.search import records as rec
from greenknobs.search.study import confirmed


def measured(study: optuna.Study) -> dict[str, Any]:
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE
            and rec.role_of(t) in ("baseline", "search", "repeat")]
    runs = [r for t in done for r in rec.runs_of(t)]
    training = sum(rec.budget_runs(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    stats = confirmed(study)
    floor = rec.min_f1_retention(study) or 0.95
    points = [(1 - p.saving.mean, p.retention.mean) for p in stats.values() if p.recommended]
    return {"training_runs": training, "configurations": len(done), "configuration_runs": len(runs),
            "served_runs": sum(r.reused for r in runs),
            "configurations_per_training_run": round(len(done) / training, 2) if training else "",
            "configuration_runs_per_training_run": round(len(runs) / training, 2) if training else "",
            "hv_recommended": round(hv_gained(points, floor), 4),
            "best_saving_pct": round(100 * max((p.saving.mean for p in stats.values() if p.recommended), default=0.0),
                                     1)}


def table(folder: Path) -> dict[int, dict[str, Any]]:
    rows = {r["study_seed"]: r for r in summarise(folder)}
    for seed, row in rows.items():
        row.update(measured(_load(folder / f"seed{seed}" / "default.journal")))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("with_reuse", type=Path)
    ap.add_argument("without_reuse", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sides = {"reuse": table(args.with_reuse), "no reuse": table(args.without_reuse)}
    keys = ("recommended", "best", "saving", "retention", "best_saving_pct", "hv_recommended", "training_runs",
            "configurations", "configuration_runs", "served_runs", "configurations_per_training_run",
            "configuration_runs_per_training_run", "total_in_baseline_runs", "minutes", "foreign_load_mean")
    out = []
    for side, rows in sides.items():
        for seed, row in sorted(rows.items()):
            out.append({"side": side, "study_seed": seed, **{k: row.get(k, "") for k in keys}})
    for row in out:
        print(row)
    both = sorted(set(sides["reuse"]) & set(sides["no reuse"]))
    if both:
        print(f"\npaired over study seeds {both} (with reuse − without):")
        for key in ("best_saving_pct", "hv_recommended", "configurations", "configuration_runs", "training_runs",
                    "total_in_baseline_runs", "minutes"):
            d = [float(sides["reuse"][s][key]) - float(sides["no reuse"][s][key]) for s in both]
            sd = f", sd {statistics.stdev(d):.3f}" if len(d) > 1 else ""
            print(f"  {key}: mean {statistics.fmean(d):+.3f}{sd} ({', '.join(f'{x:+.3g}' for x in d)})")
        rec_with = sum(1 for s in both if sides["reuse"][s]["recommended"])
        rec_without = sum(1 for s in both if sides["no reuse"][s]["recommended"])
        print(f"  seeds with a recommendation: {rec_with} of {len(both)} with reuse, {rec_without} without")
    if args.out:
        with args.out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
