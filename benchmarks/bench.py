"""Search-quality benchmarks: a simulator calibrated on measured runs, many seeds of every strategy on it,
and real studies as the check that its ranking holds. See benchmarks/README.md for what each figure is.

    python -m benchmarks.measure calibrate fortunes           # real runs the simulator is built from (+ validation)
    python -m benchmarks.bench fit fortunes                   # -> results/sim-fortunes.json, results/sim-validation-*
    python -m benchmarks.bench sim fortunes --reps 20         # simulated studies (resumable: .studies/sim-*.jsonl)
    python -m benchmarks.bench real fortunes --reps 5 --strategies random,cascade
    python -m benchmarks.bench summarize                      # tables, p-values, plots -> results/

Simulated studies are CPU work but measure nothing: each study takes the machine lock *shared*, so measured runs
(which take it exclusively) wait at most one study. Real runs hold it exclusively, one run at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.searchbench import core

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STUDIES = HERE / ".studies"


@contextlib.contextmanager
def shared_cpu() -> Iterator[None]:
    from benchmarks._cpu import LOCK

    with open(LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _quiet() -> None:
    import logging
    import warnings

    import optuna

    from greenknobs.search.cli import quiet_libraries

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    logging.getLogger("optuna").setLevel(logging.ERROR)


# -- fit and validate ---------------------------------------------------------------------------------------------
def chance_of(task: str) -> dict[str, dict[str, float]]:
    from greenknobs.objectives import CHANCE_Z, chance_levels

    from benchmarks.measure import load_task

    spec, pipeline, space = load_task(task)
    sp = pipeline.splits
    prior = sp.class_counts
    pos = (1 - sp.majority_label) if sp.num_labels == 2 else None
    out = {}
    for split in ("validation", "test"):
        labels = list(getattr(sp, split)["label"])
        constant, mean, sd = chance_levels(labels, sp.num_labels, prior, pos)
        out[split] = {"c0": mean, "threshold": max(constant, mean) + CHANCE_Z * sd, "constant": constant}
    return out, space.baseline()


def fit(args: argparse.Namespace) -> None:
    from benchmarks.searchbench import sim as S

    from benchmarks.measure import read_runs

    runs = read_runs(args.task)
    chance, baseline = chance_of(args.task)
    like = None
    if args.task == "project" and (RESULTS / "sim-fortunes.json").is_file():
        like = json.loads((RESULTS / "sim-fortunes.json").read_text())
    model = S.fit(runs, baseline, chance, args.task, like)
    if like is not None:  # the knobs the second task did not measure (calibration.BORROWED): fortunes' factors
        from benchmarks.calibration import BORROWED

        for key, level in like["levels"].items():
            if set(level["changes"]) <= set(BORROWED) and key not in model["levels"]:
                model["levels"][key] = {**level, "borrowed_from": "fortunes"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"sim-{args.task}.json").write_text(json.dumps(model, indent=1, default=str))
    validate(args.task, runs, S.Simulator(model))


def validate(task: str, runs: list[dict], sim: Any) -> None:
    """Predicted vs measured on the held-out combinations: energy as a ratio to the baseline's mean over its seeds,
    F1 paired with the baseline at seed 0 (the seed they were measured at)."""
    ok = [r for r in runs if r.get("ok") and not r.get("contaminated")]
    b0 = next(r for r in ok if r["group"] == "baseline" and r["seed"] == 0 and r["split"] == "validation")
    c0 = sim.model["chance"]["validation"]["c0"]
    rows = []
    for r in ok:
        if r["group"] != "validation":
            continue
        config = {**sim.baseline, **r["changes"]}
        e, q = sim.factors(config)
        base_e = sim.model["energy_base"]
        pred_ratio = sum(base_e[p] * e[p] for p in e) / sum(base_e.values())
        pred_f1 = c0 + (b0["f1"] - c0) * q
        rows.append({"changes": json.dumps(r["changes"], sort_keys=True),
                     "measured_ratio": r["energy_j"] / sum(base_e.values()),
                     "predicted_ratio": pred_ratio, "measured_f1": r["f1"], "predicted_f1": pred_f1,
                     "measured_retention": r["f1"] / b0["f1"], "predicted_retention": pred_f1 / b0["f1"]})
    for row in rows:
        row["energy_error_pct"] = 100 * (row["predicted_ratio"] / row["measured_ratio"] - 1)
        row["f1_error"] = row["predicted_f1"] - row["measured_f1"]
    _write_csv(RESULTS / f"sim-validation-{task}.csv", rows)
    from scipy import stats

    e_err = [abs(r["energy_error_pct"]) for r in rows]
    f_err = [r["f1_error"] for r in rows]
    summary = {
        "task": task, "combinations": len(rows),
        "energy_ratio_abs_error_pct_median": statistics.median(e_err), "energy_ratio_abs_error_pct_max": max(e_err),
        "energy_ratio_abs_error_pct_mean": statistics.fmean(e_err),
        "energy_spearman": stats.spearmanr([r["predicted_ratio"] for r in rows], [r["measured_ratio"] for r in rows])[0],
        "f1_mean_abs_error": statistics.fmean(abs(x) for x in f_err), "f1_rmse": math.sqrt(statistics.fmean(x * x for x in f_err)),
        "f1_bias": statistics.fmean(f_err),
        "f1_spearman": stats.spearmanr([r["predicted_f1"] for r in rows], [r["measured_f1"] for r in rows])[0],
        "f1_paired_noise_sd": sim.model["paired_sd"], "energy_noise_cv": sim.model["energy_cv"],
    }
    (RESULTS / f"sim-validation-{task}.json").write_text(json.dumps(summary, indent=1))
    _plot_validation(task, rows, summary)
    print(json.dumps(summary, indent=1))


def _plot_validation(task: str, rows: list[dict], summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    for a, (m, p, label) in zip(ax, (("measured_ratio", "predicted_ratio", "energy / baseline mean"),
                                     ("measured_f1", "predicted_f1", "F1 (validation, seed 0)"))):
        xs, ys = [r[m] for r in rows], [r[p] for r in rows]
        a.scatter(xs, ys)
        lo, hi = min(xs + ys), max(xs + ys)
        a.plot([lo, hi], [lo, hi], "k--", lw=1)
        a.set_xlabel(f"measured {label}")
        a.set_ylabel(f"simulated {label}")
    ax[0].set_title(f"energy: median |error| {summary['energy_ratio_abs_error_pct_median']:.1f}%")
    ax[1].set_title(f"F1: MAE {summary['f1_mean_abs_error']:.3f} (paired noise sd {summary['f1_paired_noise_sd']:.3f})")
    from benchmarks.searchbench.summary import machine_of, provenance

    meter = (machine_of(task) or {}).get("meter", "measured")
    fig.suptitle(f"simulator vs {len(rows)} held-out real combinations ({task}, {meter} energy)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.text(0.01, 0.01, provenance(f"python -m benchmarks.measure calibrate {task}; benchmarks.bench fit {task}",
                                    [task]), fontsize=7, color="0.35")
    fig.savefig(RESULTS / f"sim-validation-{task}.png", dpi=110)
    plt.close(fig)


# -- simulated campaign -------------------------------------------------------------------------------------------
def sim(args: argparse.Namespace) -> None:
    from benchmarks.searchbench.sim import Simulator

    _quiet()
    simulator = Simulator.load(RESULTS / f"sim-{args.task}.json")
    path = STUDIES / f"sim-{args.task}.jsonl"
    STUDIES.mkdir(exist_ok=True)
    done = set()
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["strategy"], r["budget"], r["rep"]))
    strategies = args.strategies.split(",")
    budgets = [int(b) for b in args.budgets.split(",")]
    slow = set(args.slow.split(",")) if args.slow else set()
    for rep in range(args.reps):
        for budget in budgets:
            order = list(strategies)
            random.Random(f"{args.task}-{rep}-{budget}").shuffle(order)  # interleaved, in a recorded order
            for strategy in order:
                if (strategy, budget, rep) in done or (strategy in slow and rep >= args.slow_reps):
                    continue
                timer = core.Timer()
                with shared_cpu():
                    t0 = time.perf_counter()
                    score = core.sim_study(simulator, args.task, strategy, budget, rep, timer=timer)
                    wall = time.perf_counter() - t0
                row = {**asdict(score), "wall_s": wall, "sampler_s": timer.wall["sampler"],
                       "storage_s": timer.wall["storage"], "sampler_cpu_s": timer.cpu["sampler"]}
                with path.open("a") as fh:
                    fh.write(json.dumps(row, default=str) + "\n")
                print(f"{args.task} {strategy} b{budget} r{rep}: hv {score.hv:.4f} true {score.true_hv:.4f} "
                      f"{wall:.1f} s", file=sys.stderr, flush=True)


# -- real campaign ------------------------------------------------------------------------------------------------
def real(args: argparse.Namespace) -> None:
    import optuna

    from greenknobs.objectives import TrialResult
    from greenknobs.search import records as rec
    from greenknobs.search.analysis import Notes
    from greenknobs.search.study import confirm_pareto, confirm_study, open_study, run_study
    from benchmarks.measure import load_task
    from benchmarks.searchbench.real import HeldPipeline

    _quiet()
    STUDIES.mkdir(exist_ok=True)
    log = STUDIES / f"real-{args.task}-runs.jsonl"
    HeldPipeline.log_path = log
    HeldPipeline.cache = {}
    if log.is_file():  # resume: the runs already measured are stored results
        for line in log.read_text().splitlines():
            r = json.loads(line)
            if "result" in r:
                HeldPipeline.cache[r["key"]] = TrialResult.from_dict(r["result"])
    spec0, _, space0 = load_task(args.task)
    from benchmarks.measure import read_runs

    for row in read_runs(args.task):  # the calibration's runs are stored results too (same configuration and seed)
        if row.get("ok") and not row.get("contaminated"):
            key = json.dumps([sorted(space0.complete(row["changes"]).items()), row["seed"], row["split"]], default=str)
            HeldPipeline.cache.setdefault(key, _result_of(row, space0.complete(row["changes"])))
    pipeline = HeldPipeline(spec0.task, meter=None, seed=spec0.seed)
    from greenknobs.objectives.energy import make_meter

    pipeline.meter = make_meter(spec0.energy, watts_per_core=spec0.watts_per_core)
    strategies = args.strategies.split(",")
    out = STUDIES / f"real-{args.task}.jsonl"
    done = set()
    if out.is_file():
        done = {(r["strategy"], r["rep"]) for r in map(json.loads, out.read_text().splitlines())}
    for rep in range(args.reps):
        ctxs, timers = {}, {}
        order = list(strategies)
        random.Random(f"real-{args.task}-{rep}").shuffle(order)
        for strategy in order:
            if (strategy, rep) in done:
                continue
            spec = core.load_spec(args.task, f"real-{args.task}-{strategy}-r{rep}", args.budget, rep,
                                  f"journal:{STUDIES / f'real-{args.task}-{strategy}-r{rep}.journal'}")
            spec.seed = args.training_seed  # every replicate at the same training seeds: only the sampler varies
            ctx = open_study(spec, pipeline=pipeline, notes=Notes())
            pipeline.warm_space = ctx.space
            ctx.study.sampler = core.make_strategy(strategy, rep, ctx.space, spec)
            timers[strategy] = core.Timer()
            timers[strategy].attach(ctx.study)
            ctxs[strategy] = ctx
        # Interleaved: one trial of each strategy in turn, so drift in the machine spreads over all of them.
        from greenknobs.search.study import finished_count

        from benchmarks.measure import chunk, chunk_over

        active = list(ctxs)
        while active:
            with chunk():  # the machine is held across a few trials at a time, then others get their turn
                while active and not chunk_over():
                    for strategy in list(active):
                        ctx = ctxs[strategy]
                        have = finished_count(ctx.study)
                        if have >= args.budget:
                            active.remove(strategy)
                            continue
                        # one trial per turn, the study's whole budget in view (a near-floor trial re-measures)
                        run_study(ctx, n_trials=args.budget, max_trials=1, show_progress=False)
        for strategy, ctx in ctxs.items():
            confirmed, confirm_j = {}, 0.0
            if args.confirm and rec.pareto_trials(ctx.study):
                confirmed = confirm_pareto(ctx)
                twin = confirm_study(ctx.study, create=False)
                confirm_j = sum(rec.spent_j(t) for t in twin.get_trials(deepcopy=False))  # spent: a served run's inference
            score = core.score_study(ctx.study, strategy, args.budget, rep, None, confirmed, confirm_j)
            t = timers[strategy]
            trial_time = sum((x.duration.total_seconds() if x.duration else 0.0)
                             for x in ctx.study.get_trials(deepcopy=False))
            row = {**asdict(score), "sampler_s": t.wall["sampler"], "storage_s": t.wall["storage"],
                   "sampler_j": t.joules("sampler"), "storage_j": t.joules("storage"), "trial_time_s": trial_time}
            with out.open("a") as fh:
                fh.write(json.dumps(row, default=str) + "\n")
            print(f"real {args.task} {strategy} r{rep}: hv {score.hv:.4f} runs {score.runs}", file=sys.stderr, flush=True)


def _result_of(row: dict, config: dict) -> Any:
    """A calibration run as a TrialResult (the first runs stored only the measured fields: the rest is blank)."""
    from greenknobs.objectives import TrialResult

    if "result" in row:
        return TrialResult.from_dict(row["result"])
    return TrialResult(task="", model=config["model"], config=config, seed=row["seed"], energy_j=row["energy_j"],
                       phase_energy_j=row["phase_energy_j"], phase_time_s=row["phase_time_s"],
                       energy_source=row["source"], energy_description=row["source"], time_s=row["time_s"], f1=row["f1"],
                       f1_kind="", weighted_f1=math.nan, accuracy=math.nan, majority_f1=math.nan,
                       degenerate=row["degenerate"], degenerate_reason="", predicted_counts={}, trainable_params=0,
                       total_params=0, layers=0, lora_modules=0, n_train=0, n_eval=0, eval_split=row["split"],
                       token_width=0, chance_f1=row["chance_f1"])


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fit")
    p.add_argument("task")
    p = sub.add_parser("sim")
    p.add_argument("task")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--budgets", default="9,15,24")
    p.add_argument("--strategies", default=",".join(core.STRATEGIES))
    p.add_argument("--slow", default="gp,gp-warm", help="strategies run for --slow-reps replicates only")
    p.add_argument("--slow-reps", type=int, default=10)
    p = sub.add_parser("real")
    p.add_argument("task")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=int, default=12)
    p.add_argument("--strategies", default="random,cascade")
    p.add_argument("--confirm", action="store_true")
    p.add_argument("--training-seed", type=int, default=0)
    sub.add_parser("summarize")
    args = ap.parse_args(argv)
    if args.cmd == "summarize":
        from benchmarks.searchbench import summary

        summary.summarize()
        return
    {"fit": fit, "sim": sim, "real": real}[args.cmd](args)


if __name__ == "__main__":
    main()
