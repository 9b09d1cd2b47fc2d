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
from greenknobs.search.study import (CONFIRM_OF, CONFIRM_SEED, CONFIRMED_ATTR, SPREAD_OF, confirm_study, confirmed,
                                     measures, spread_measures)


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


def replay(study: optuna.Study, rho: float = rec.SPENDING_RHO) -> dict[str, Any]:
    """The study's confirmation replayed under the α-spending exponent `rho` (the shipped one by default) on the runs
    it recorded, staged by `records.sequential` itself: the first look at its first `confirm_repeats` seeds, the
    candidates still open (and the baseline) on to the planned K_max. F1 on this task is the same at a seed whatever
    the run (the fine-tune is deterministic on the CPU), so the verdicts are those the rule would have reached; the
    joules are the recorded runs it would have made (a training a closed candidate made for an open sibling is
    counted whole, its one inference pass included), the search's models served for the spread included. Returns
    the trials recommended, the seeds used and the confirmation's joules in baseline runs."""
    twin = confirm_study(study, create=False)
    stored = rec.study_record(study, CONFIRMED_ATTR, {})
    base = rec.baseline_trial(study)
    if twin is None or not stored.get("trials") or base is None:
        return {"replay_recommended": [], "replay_seeds": 0, "replay_confirm_in_baseline_runs": 0.0}
    seeds, k_max = list(stored["seeds"]), int(stored.get("k_max") or len(stored["seeds"]))
    first = min(int(rec.study_record(study, rec.SPEC_ATTR, {}).get("confirm_repeats", 3)), k_max)
    runs = measures(twin)
    cands = [int(k) for k in stored["trials"]]
    kept: set[tuple[int, int]] = set()  # (trial, seed): the runs the rule asks for

    def measure(seed: int, targets: list[int | None]) -> None:
        kept.update((base.number if t is None else t, seed) for t in targets)

    def recorded() -> tuple[dict[int, dict[int, rec.RunMeasure]], dict[int, rec.RunMeasure]]:
        def asked(n: int) -> dict[int, rec.RunMeasure]:
            return {s: r for s, r in runs.get(n, {}).items() if (n, s) in kept}
        return {c: asked(c) for c in cands}, asked(base.number)

    stats, looks = rec.sequential(measure, recorded, cands, seeds, first, k_max,
                                  rec.min_f1_retention(study) or 0.95, k_max, rho=rho, spread=spread_measures(twin))
    used = max(looks)
    made = []  # (candidate, seed), its training, whether it served a kept model, the joules it spent
    for t in twin.get_trials(deepcopy=False):
        if t.state.is_finished() and CONFIRM_OF in t.user_attrs:
            result = t.user_attrs.get(rec.RESULT, {})
            made.append(((int(t.user_attrs[CONFIRM_OF]), int(t.user_attrs[CONFIRM_SEED])),
                         result.get("training_id", ""), bool(result.get("reused_training")), rec.spent_j(t)))
    trainer = {(tid, key[1]): (key, j) for key, tid, reused, j in made if not reused}
    spent = sum(j for key, _, _, j in made if key in kept)
    spent += sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False) if SPREAD_OF in t.user_attrs)
    for key, tid, reused, _ in made:  # a kept run served a training that a closed candidate made: it trains
        owner = trainer.get((tid, key[1])) if reused and key in kept else None
        if owner is not None and owner[0] not in kept:
            spent += owner[1]
            kept.add(owner[0])
    unit = rec.noise_floor(study).energy_j[0]
    return {"replay_recommended": sorted(c for c, p in stats.items() if p.recommended), "replay_seeds": used,
            "replay_confirm_in_baseline_runs": round(spent / unit, 1)}


def table(folder: Path) -> dict[int, dict[str, Any]]:
    rows = {r["study_seed"]: r for r in summarise(folder)}
    for seed, row in rows.items():
        study = _load(folder / f"seed{seed}" / "default.journal")
        row.update(measured(study))
        row.update(replay(study))
        row["replay_total_in_baseline_runs"] = round(
            row["search_j"] / row["baseline_run_j"] + row["replay_confirm_in_baseline_runs"], 1)
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
            "configuration_runs_per_training_run", "total_in_baseline_runs", "minutes", "foreign_load_mean",
            "replay_recommended", "replay_seeds", "replay_confirm_in_baseline_runs",
            "replay_total_in_baseline_runs")
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
