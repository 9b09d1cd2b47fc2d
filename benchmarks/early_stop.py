"""Early stopping: how many joules the safe rule saves a study, whether it changes what is recommended,
and whether it ever stopped a run that would have ended feasible (benchmarks/README.md, "Early stopping").

Three parts:

- `sim`: the default study's engine (cascade and random samplers, the default study's budget of 12 runs, 5 of
  them the baseline's, the paired confirmation at 3 seeds) on a simulated task, with early stopping "safe" and "off" at the same study
  seeds (so the same training seeds, the same noise draws). The simulated task is the single-knob table the
  scaled default task measured (`results/2026-11-27/screening-report/report.md`, 23 real runs, CPU estimate), composed
  multiplicatively for energy and additively for F1; the seed spread is the default task's measured one (F1 std
  0.012, energy std 7.5%); a run's slice-F1 curve follows the shape the default study's baseline runs recorded
  (`CURVE_SHAPE`). Ground truth is known here, so a stop is checked against what the run would have ended at.

      python -m benchmarks.early_stop sim --seeds 10

  `--budget 24` runs the same pairs at 24 runs (`results/early_stop_sim_b24.csv`). Slice scoring is free in the
  simulated pipeline; the summary also charges each report what it cost on the real studies (`SCORE_PER_REPORT`),
  and bounds any rule by an oracle that stops every run that ended infeasible at its first report.

- `monitored`: real default studies run with `early_stop = "monitor"` (every run reports, none is stopped), the
  rules replayed on each: the same search with and without stops, exactly paired, with the oracle's bound
  (`results/early_stop_monitored.csv`, `results/early_stop_monitored_stops.csv`).

      benchmarks/results/default-study-monitored/run.sh                    # study seeds 0, 1, 2, about 45 min
      python -m benchmarks.early_stop monitored benchmarks/results/default-study-monitored/seed{0,1,2}/default.journal

- `real`: two recorded real default studies, the same study file and seed, one with `early_stop = "safe"` (the
  default) and one with `"off"`; reads their journals and writes the comparison row.

      greenknobs run studies/default.toml                                   # early_stop = "safe"
      greenknobs run OFF.toml                                               # the same file, early_stop = "off"
      python -m benchmarks.early_stop real --safe studies/default.journal --off OFF.journal

Results: `results/early_stop_sim*.csv`, `results/early_stop_monitored*.csv`, `results/early_stop_real.csv`."""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STUDIES = HERE / ".studies" / "early-stop"

# Single-knob effects measured on the scaled default task (results/2026-11-27/screening-report/report.md): (share of the
# baseline's joules, F1 change relative to the baseline's F1 0.3566). Numeric knobs interpolate linearly between
# measured values and the baseline's (share 1, change 0).
MEASURED = {
    ("max_length", 32): (0.265, -0.0121), ("max_length", 64): (0.522, +0.0649),
    ("tokenizer", "rust"): (0.957, 0.0),
    ("train_fraction", 0.3): (0.371, -0.1051), ("train_fraction", 0.7): (0.717, -0.0949),
    ("padding", "dynamic"): (0.642, -0.0044),
    ("drop_layers", 2): (0.661, -0.1325), ("drop_layers", 5): (0.190, -0.2863),
    ("attention", "sdpa"): (1.037, 0.0),
    ("adaptation", "head"): (0.468, -0.1825), ("adaptation", "lora"): (1.047, -0.1840),
    ("optimizer", "adamw-8bit"): (1.184, 0.0),
    ("train_precision", "bf16"): (0.699, 0.0),
    ("batch_size", 32): (1.009, -0.0765),
    ("loader_workers", 1): (1.041, 0.0), ("cpu_threads", 1): (1.112, 0.0),
    ("infer_batch_size", 32): (0.959, 0.0), ("infer_batch_size", 64): (0.959, 0.0),
    ("quantization", "dynamic-int8"): (0.952, +0.0142),
}
SCREENING_BASE_F1 = 0.3566
KNOBS = ["max_length", "tokenizer", "train_fraction", "padding", "drop_layers", "attention", "adaptation",
         "optimizer", "train_precision", "batch_size", "loader_workers", "cpu_threads", "infer_batch_size",
         "quantization"]
RANGES = {"max_length": "{ choices = [32, 64, 128] }", "train_fraction": "{ low = 0.3, high = 1.0, step = 0.1 }",
          "batch_size": "{ choices = [16, 32] }", "loader_workers": "{ choices = [0, 1] }",
          "infer_batch_size": "{ choices = [16, 32, 64] }", "drop_layers": "{ choices = [0, 2, 5] }"}
BASE_F1 = 0.611  # the default task's baseline macro-F1 (benchmarks/README.md: 5 seeds, 0.611 ± 0.012)
F1_SD = 0.012  # its seed-to-seed std on the 484-text validation split
SLICE_SD = 0.02  # the slice (a quarter of it) around the curve shape, as the baseline runs' slices scattered
ENERGY_SD = 0.075  # the estimate's run-to-run std on the default study's baseline (3 runs: 1,240 ± 93 J)
BASE_J = 1000.0
CHANCE_F1 = 0.2
# The default study's baseline runs' slice F1 at 25/50/75% of training, as a share of the way from chance (0.2) to
# their final F1: seeds 0, 1, 2 gave 0.32/0.18/0.20, 0.82/0.87/0.86 and 0.96/0.94/0.87 (`real` prints it).
CURVE_SHAPE = (0.23, 0.85, 0.92)
PHASES = {"data": 0.02, "model": 0.03, "training": 0.8, "inference": 0.15}
# What scoring one report's slice cost on the real default study, as a share of a baseline run's joules (`monitored`
# prints it: seeds 0-2 of the monitored studies). The simulated pipeline scores for free; `summarise` charges this.
SCORE_PER_REPORT = 0.0154  # 1.63%, 1.52% and 1.46% at study seeds 0, 1, 2


def effect(key: str, value: Any, base: Any) -> tuple[float, float]:
    if value == base:
        return 1.0, 0.0
    if (key, value) in MEASURED:
        return MEASURED[(key, value)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        points = sorted([(float(base), (1.0, 0.0))] + [(float(v), e) for (k, v), e in MEASURED.items() if k == key])
        for (x0, e0), (x1, e1) in zip(points, points[1:]):
            if x0 <= value <= x1:
                w = (value - x0) / (x1 - x0)
                return e0[0] + w * (e1[0] - e0[0]), e0[1] + w * (e1[1] - e0[1])
    return 1.0, 0.0  # a value the screening did not reach (conditional LoRA knobs): its parent's effect only


class Landscape:
    """(config, seed, split) -> Response: deterministic per (config, seed, split), so safe and off studies see the
    same run at the same seed, and a stopped run's counterfactual end is known."""

    def __init__(self, baseline: dict[str, Any]) -> None:
        self.baseline = baseline

    def truth(self, config: dict[str, Any]) -> tuple[float, float]:
        share, df1 = 1.0, 0.0
        for k in KNOBS:
            s, d = effect(k, config.get(k), self.baseline.get(k))
            share, df1 = share * s, df1 + d
        return share, BASE_F1 * (1 + df1 / SCREENING_BASE_F1)

    def __call__(self, config: dict[str, Any], seed: int, split: str):
        from greenknobs.objectives import Response

        share, f1 = self.truth(config)
        key = json.dumps({k: config.get(k) for k in KNOBS}, sort_keys=True, default=str)
        rng = random.Random(f"{key}|{seed}|{split}")
        energy = BASE_J * share * (1 + rng.gauss(0, ENERGY_SD))
        final = max(0.0, f1 + rng.gauss(0, F1_SD))
        curve = tuple((at, max(0.0, CHANCE_F1 + (final - CHANCE_F1) * g + rng.gauss(0, SLICE_SD)), False)
                      for at, g in zip((0.25, 0.5, 0.75), CURVE_SHAPE))
        return Response({p: energy * s for p, s in PHASES.items()}, final, curve=curve)


def _spec(name: str, sampler: str, seed: int, mode: str, budget: int = 12):
    from greenknobs.search.study import load_spec

    STUDIES.mkdir(parents=True, exist_ok=True)
    path = STUDIES / f"{name}.toml"
    ranges = "\n".join(f"{k} = {v}" for k, v in RANGES.items())
    path.write_text(f'[study]\nname = "{name}"\nsampler = "{sampler}"\nn_trials = {budget}\nbaseline_repeats = 5\nseed = {seed}\n'
                    f'energy = "estimate"\nmin_f1_retention = 0.95\nearly_stop = "{mode}"\n\n[task]\nname = "fortunes"\n\n'
                    f"[search]\nknobs = {json.dumps(KNOBS)}\n\n[search.ranges]\n{ranges}\n")
    spec = load_spec(path)
    journal = STUDIES / f"{name}.journal"
    journal.unlink(missing_ok=True)
    spec.storage = f"journal:{journal}"
    return spec


def one(sampler: str, seed: int, mode: str, budget: int = 12) -> dict[str, Any]:
    from greenknobs.objectives import SimulatedPipeline
    from greenknobs.search import records as rec
    from greenknobs.search.records import CURVE, STOPPED, replay
    from greenknobs.search.analysis import Notes
    from greenknobs.search.study import confirm_pareto, confirm_study, open_study, run_study
    from benchmarks.searchbench.core import simulated_hardware

    spec = _spec(f"es-{sampler}-{mode}-b{budget}-s{seed}", sampler, seed, mode, budget)
    land = Landscape({})
    ctx = open_study(spec, pipeline=SimulatedPipeline(spec.task, land, hardware=simulated_hardware()), notes=Notes())
    land.baseline = ctx.space.baseline()
    run_study(ctx, show_progress=False)
    study = ctx.study
    trials = study.get_trials(deepcopy=False)
    stats = confirm_pareto(ctx) if rec.pareto_trials(study) else {}
    twin = confirm_study(study, create=False)
    confirm_j = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False)) if twin else 0.0
    floor = rec.noise_floor(study)
    stopped = [t for t in trials if STOPPED in t.user_attrs]
    reports = sum(len(run.get("curve", [])) for t in trials for run in t.user_attrs.get(rec.RUNS, [])) + \
        sum(len(t.user_attrs.get(CURVE, [])) for t in stopped)
    # Ground truth for each stop: the run the study stopped, had it gone on (same config, same seed).
    false_stops = 0
    for t in stopped:
        config = t.user_attrs[rec.CONFIG]
        r = land(config, rec.runs_of(t)[0].seed if rec.runs_of(t) else t.user_attrs.get(rec.SEED, spec.seed), "validation")
        # As `replay` counts one: the run would have ended feasible (F1 above the floor, a measurable saving).
        if r.f1 >= floor.f1_floor and sum(r.phase_energy_j.values()) < floor.energy_j[0] - floor.saving_margin_j():
            false_stops += 1
    recommended = {json.dumps(rec.knob_differences(study.trials[n].user_attrs[rec.CONFIG], ctx.space.baseline()),
                              sort_keys=True, default=str): p.saving.mean for n, p in stats.items() if p.recommended}
    # The oracle (on an "off" study): every search run that ended infeasible stopped at its first report (25% of
    # training: data, model and a quarter of training, 0.25 of a run's joules by PHASES), re-measurements skipped.
    oracle_j = sum(sum(r.energy_j for r in rec.runs_of(t)) - 0.25 * rec.runs_of(t)[0].energy_j for t in trials
                   if rec.role_of(t) == "search" and t.values is not None and not rec.is_feasible(t))
    return {"sampler": sampler, "budget": budget, "seed": seed, "mode": mode,
            "runs": sum(rec.budget_runs(t) for t in trials), "oracle_saved_j": round(oracle_j, 1) if mode == "off" else "",
            "search_j": round(sum(rec.spent_j(t) for t in trials), 1), "confirm_j": round(confirm_j, 1),
            "floor_j": round(rec.spent_j(rec.baseline_trial(study)), 1),
            "stopped": len(stopped), "false_stops": false_stops, "reports": reports,
            "replay_false_stops": sum(r.false_stop for r in replay(trials, floor, "safe")) if mode == "off" else "",
            "recommended": sorted(recommended), "best_saving": round(max(recommended.values(), default=0.0), 4)}


def sim(args: argparse.Namespace) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for sampler in args.samplers:
        for seed in range(args.seeds):
            pair = {mode: one(sampler, seed, mode, args.budget) for mode in ("off", "safe")}
            rows += pair.values()
            off, safe = pair["off"], pair["safe"]
            print(f"{sampler} seed {seed}: total {off['search_j'] + off['confirm_j']:,.0f} J off, "
                  f"{safe['search_j'] + safe['confirm_j']:,.0f} J safe; stopped {safe['stopped']} "
                  f"(false {safe['false_stops']}); best recommended {off['best_saving']:.1%} off, "
                  f"{safe['best_saving']:.1%} safe", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("early_stop_sim.csv" if args.budget == 12 else f"early_stop_sim_b{args.budget}.csv")
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["date", *rows[0]])
        w.writeheader()
        for r in rows:
            w.writerow({"date": date.today().isoformat(), **r, "recommended": " | ".join(r["recommended"])})
    summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> None:
    """Per sampler: the paired cut in study joules (search and confirmation), its mean ± std and range over seeds,
    the stops, the false stops, and how often the recommendation changed."""
    for sampler in sorted({r["sampler"] for r in rows}):
        pairs = [(o, s) for o in rows for s in rows if o["sampler"] == s["sampler"] == sampler
                 and o["seed"] == s["seed"] and o["mode"] == "off" and s["mode"] == "safe"]
        cuts = [1 - (s["search_j"] + s["confirm_j"]) / (o["search_j"] + o["confirm_j"]) for o, s in pairs]
        net = [1 - (s["search_j"] + s["confirm_j"] + s["reports"] * SCORE_PER_REPORT * BASE_J)
               / (o["search_j"] + o["confirm_j"]) for o, s in pairs]
        # search_j holds the whole study before confirmation (the floor's 5 runs too): "search alone" leaves it out
        search_cuts = [1 - (s["search_j"] - s["floor_j"]) / (o["search_j"] - o["floor_j"]) for o, s in pairs]
        oracle = [o["oracle_saved_j"] / (o["search_j"] + o["confirm_j"]) for o, _ in pairs]
        same = sum(o["recommended"] == s["recommended"] for o, s in pairs)
        worse = sum(s["best_saving"] < o["best_saving"] - 1e-9 for o, s in pairs)
        print(f"{sampler}: {len(pairs)} seeds; study joules (search + confirmation) {statistics.mean(cuts):.1%} less "
              f"± {statistics.stdev(cuts):.1%} (min {min(cuts):.1%}, max {max(cuts):.1%}); net of scoring at the real "
              f"study's cost {statistics.mean(net):.1%} ± {statistics.stdev(net):.1%}; search alone "
              f"{statistics.mean(search_cuts):.1%} less; the oracle's bound {statistics.mean(oracle):.1%} ± "
              f"{statistics.stdev(oracle):.1%} (max {max(oracle):.1%}); stopped {sum(s['stopped'] for _, s in pairs)} runs, "
              f"false stops {sum(s['false_stops'] for _, s in pairs)} (replayed on the 'off' studies: "
              f"{sum(o['replay_false_stops'] for o, _ in pairs)}); same recommendation in {same}/{len(pairs)}, "
              f"best recommended saving lower in {worse}/{len(pairs)}")


def real(args: argparse.Namespace) -> None:
    from greenknobs.search import records as rec
    from greenknobs.search.records import STOPPED, replay
    from greenknobs.search.study import confirm_study, confirmed

    out = []
    for mode, path in (("safe", args.safe), ("off", args.off)):
        study = _load(path)
        trials = study.get_trials(deepcopy=False)
        twin = confirm_study(study, create=False)
        floor = rec.noise_floor(study)
        base = rec.baseline_trial(study)
        baseline_j = statistics.mean(r.energy_j for r in rec.runs_of(base))
        shapes = []
        for run in base.user_attrs.get(rec.RUNS, []):
            for p in run.get("curve", []):
                shapes.append((p["at"], (p["f1"] - CHANCE_F1) / (run["f1"] - CHANCE_F1)))
        stats = confirmed(study)
        search_j = sum(rec.spent_j(t) for t in trials)
        confirm_j = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False)) if twin else 0.0
        recommended = sorted(json.dumps(rec.knob_differences(study.trials[n].user_attrs[rec.CONFIG],
                                                             base.user_attrs[rec.CONFIG]), sort_keys=True, default=str)
                             for n, p in stats.items() if p.recommended)
        row = {"date": date.today().isoformat(), "mode": mode, "journal": str(path), "runs": sum(rec.budget_runs(t) for t in trials),
               "search_j": round(search_j, 1), "confirm_j": round(confirm_j, 1), "baseline_run_j": round(baseline_j, 1),
               "search_in_baseline_runs": round(search_j / baseline_j, 2),
               "stopped": sum(STOPPED in t.user_attrs for t in trials),
               "replay_false_stops": sum(r.false_stop for r in replay(trials, floor, "safe")),
               "recommended": " | ".join(recommended),
               "best_saving": max((p.saving.mean for p in stats.values() if p.recommended), default=0.0),
               "energy_source": ",".join(rec.energy_sources(study))}
        out.append(row)
        print(json.dumps(row))
        by_at: dict[float, list[float]] = {}
        for at, g in shapes:
            by_at.setdefault(at, []).append(g)
        print(f"{mode}: curve shape of the baseline runs (share of chance→final):",
              {at: round(statistics.mean(gs), 3) for at, gs in sorted(by_at.items())})
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "early_stop_real.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)


def _load(path: Path):
    from greenknobs.search.records import CONFIRM_SUFFIX
    from greenknobs.search.study import open_storage

    import optuna

    storage = open_storage(f"journal:{path}")
    name = [n for n in optuna.get_all_study_names(storage) if not n.endswith(CONFIRM_SUFFIX)][0]
    return optuna.load_study(study_name=name, storage=storage)


def monitored(args: argparse.Namespace) -> None:
    """Real default studies run with `early_stop = "monitor"` (every run reports, none is stopped): the same search
    with and without stops, exactly paired. The rules are replayed on each (records/_early_stop.py `replay`: a run
    they stop ends there and is no evidence for later ones); "off" is the study less its slice scoring; "safe" is it
    less what each stopped run would still have spent (its training after the stop, its re-measurements, its later
    scoring). The oracle bounds any rule: it stops, at its first report and with free scoring, every search run
    that ended infeasible."""
    from greenknobs.search import records as rec
    from greenknobs.search.records import curve_of, replay, scoring_j
    from greenknobs.search.study import confirm_study, confirmed

    rows, stops = [], []
    for path in args.journals:
        study = _load(path)
        trials = study.get_trials(deepcopy=False)
        by_number = {t.number: t for t in trials}
        twin = confirm_study(study, create=False)
        floor = rec.noise_floor(study)
        base = rec.baseline_trial(study)
        baseline_j = statistics.mean(r.energy_j for r in rec.runs_of(base))
        search = [t for t in trials if rec.role_of(t) == "search"]
        floor_j = rec.spent_j(base)
        search_j = sum(rec.spent_j(t) for t in trials) - floor_j
        confirm_j = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False)) if twin else 0.0
        monitor_j = sum(scoring_j(t) for t in trials)
        monitored_total = floor_j + search_j + confirm_j
        search_off_j = search_j - sum(scoring_j(t) for t in search)
        off_total = monitored_total - monitor_j
        stats = confirmed(study)
        candidates = set(stats)
        recommended = sorted(json.dumps(rec.knob_differences(by_number[n].user_attrs[rec.CONFIG],
                                                             base.user_attrs[rec.CONFIG]), sort_keys=True, default=str)
                             for n, p in stats.items() if p.recommended)
        row = {"date": date.today().isoformat(), "journal": str(path), "study_seed": rec.study_record(study, rec.SPEC_ATTR, {}).get("seed", ""),
               "search_runs": sum(rec.budget_runs(t) for t in search),
               "baseline_run_j": round(baseline_j, 1), "floor_j": round(floor_j, 1), "search_j": round(search_j, 1),
               "confirm_j": round(confirm_j, 1), "monitor_j": round(monitor_j, 1), "off_total_j": round(off_total, 1),
               "recommended": " | ".join(recommended), "energy_source": ",".join(rec.energy_sources(study))}
        for mode in ("safe", "aggressive"):
            saved = 0.0
            got = replay(trials, floor, mode)
            for r in got:
                if r.stop is None:
                    continue
                t = by_number[r.trial]
                runs = rec.runs_of(t)
                later_scoring = scoring_j(t) - (r.monitor_spent_j or 0.0)
                saved += sum(x.energy_j for x in runs) - r.spent_j + later_scoring
                if mode == "safe" or r.false_stop:
                    stops.append({"journal": str(path), "mode": mode, "trial": r.trial, "rule": r.stop.rule,
                                  "at": round(r.at, 3), "spent_j": round(r.spent_j, 1),
                                  "run_j": round(r.energy_j, 1), "runs": len(runs), "final_f1": round(t.values[1], 4),
                                  "floor_f1": round(floor.f1_floor, 4), "false_stop": r.false_stop,
                                  "candidate": r.trial in candidates})
            row[f"{mode}_stops"] = sum(r.stop is not None for r in got)
            row[f"{mode}_false_stops"] = sum(r.false_stop for r in got)
            row[f"{mode}_stopped_candidates"] = sum(r.stop is not None and r.trial in candidates for r in got)
            row[f"{mode}_total_j"] = round(monitored_total - saved, 1)
            row[f"{mode}_cut_vs_off"] = round(1 - (monitored_total - saved) / off_total, 4)
            row[f"{mode}_search_cut_vs_off"] = round(1 - (search_j - saved) / search_off_j, 4)
        oracle = 0.0
        for t in search:
            curve = curve_of(t)
            if t.values is None or rec.is_feasible(t) or not curve:
                continue
            oracle += sum(x.energy_j for x in rec.runs_of(t)) - curve[0].energy_j
        row["oracle_cut_vs_off"] = round(oracle / off_total, 4)
        row["oracle_search_cut_vs_off"] = round(oracle / search_off_j, 4)
        reports = sum(len(run.get("curve", [])) for t in trials for run in t.user_attrs.get(rec.RUNS, []))
        row["reports"] = reports
        row["scoring_per_report_of_baseline_run"] = round(monitor_j / reports / baseline_j, 4) if reports else ""
        row["off_total_in_baseline_runs"] = round(off_total / baseline_j, 2)
        row["off_search_in_baseline_runs"] = round(search_off_j / baseline_j, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for r in stops:
        print(json.dumps(r))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, table in ((f"early_stop_monitored{args.suffix}.csv", rows),
                        (f"early_stop_monitored{args.suffix}_stops.csv", stops)):
        if table:
            with (args.out / name).open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(table[0]))
                w.writeheader()
                w.writerows(table)
    for key in ("safe_cut_vs_off", "aggressive_cut_vs_off", "oracle_cut_vs_off", "safe_search_cut_vs_off",
                "oracle_search_cut_vs_off", "scoring_per_report_of_baseline_run", "off_search_in_baseline_runs"):
        values = [r[key] for r in rows]
        fmt = (lambda v: f"{v:.2f}×") if key.endswith("_runs") else (lambda v: f"{v:.1%}")
        spread = f" ± {fmt(statistics.stdev(values))}" if len(values) > 1 else " (measured once)"
        print(f"{key}: mean {fmt(statistics.mean(values))}{spread} over {len(values)} studies "
              f"(min {fmt(min(values))}, max {fmt(max(values))})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sim")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--samplers", nargs="+", default=["cascade", "random"])
    p.add_argument("--budget", type=int, default=12, help="training runs per study (the default study's: 12)")
    p.set_defaults(fn=sim)
    p = sub.add_parser("real")
    p.add_argument("--safe", type=Path, required=True)
    p.add_argument("--off", type=Path, required=True)
    p.set_defaults(fn=real)
    p = sub.add_parser("monitored")
    p.add_argument("journals", type=Path, nargs="+", help="journals of default studies run with early_stop = \"monitor\"")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the two CSVs go (default: benchmarks/results)")
    p.add_argument("--suffix", default="", help="added to the CSVs' names (e.g. _b24 for the 24-run studies)")
    p.set_defaults(fn=monitored)
    args = ap.parse_args()
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
