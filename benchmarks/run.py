"""greenknobs benchmarks: search quality, headline table, overhead, search cost, pipeline reuse.

    python benchmarks/run.py search-quality   # strategies x seeds on the scaled default task (about an hour, 2 cores)
    python benchmarks/run.py headline         # best reduction at >=95% / >=99% F1, confirmed; + the vuln task
    python benchmarks/run.py screening        # every knob screened alone (cascade, 40 trials) + its report
    python benchmarks/run.py summarize        # CSV + Markdown + plots into benchmarks/results/ (overhead, search
                                              # cost and reuse are read from the stored trials)

Studies live in journal files under benchmarks/.studies/ (not committed), so an interrupted benchmark resumes where it
stopped: each study's budget counts over every run, as with `greenknobs run`.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STUDIES = HERE / ".studies"
STRATEGIES = ("random", "nsga2", "tpe", "gp", "cascade")
SEEDS = (0, 1, 2)


def _quiet() -> None:
    from greenknobs.search.cli._main import _quiet_libraries

    _quiet_libraries()


def _open(spec_path: Path, name: str, sampler: str, seed: int, n_trials: int | None = None) -> Any:
    from greenknobs.search.study._spec import load_spec
    from greenknobs.search.study._study import open_study

    spec = load_spec(spec_path)
    spec.name = name
    spec.storage = f"journal:{STUDIES / (name + '.journal')}"
    if n_trials is not None:
        spec.n_trials = n_trials
    return open_study(spec, sampler=sampler, seed=seed)


def search_quality(args: argparse.Namespace) -> None:
    from greenknobs.search.study._study import run_study

    spec_path = HERE / "studies" / "fortunes-scaled.toml"
    for seed in args.seeds:
        for strategy in args.strategies:
            name = f"sq-{strategy}-s{seed}"
            print(f"== {name}", file=sys.stderr, flush=True)
            ctx = _open(spec_path, name, strategy, seed)
            run_study(ctx, show_progress=True)


def headline(args: argparse.Namespace) -> None:
    """Confirm the Pareto set of each strategy's seed-0 study (the best point at >=95% and at >=99% F1 are on it);
    run and confirm the vuln task."""
    from greenknobs.search.records import _records as rec
    from greenknobs.search.study._confirm import confirm_pareto
    from greenknobs.search.study._study import run_study

    spec_path = HERE / "studies" / "fortunes-scaled.toml"
    for strategy in args.strategies:
        ctx = _open(spec_path, f"sq-{strategy}-s0", strategy, 0)
        print(f"== confirm sq-{strategy}-s0", file=sys.stderr, flush=True)
        if rec.pareto_trials(ctx.study):
            confirm_pareto(ctx, args.repeats)
    ctx = _open(HERE / "studies" / "vuln-scaled.toml", "vuln-scaled", args.vuln_sampler, 0)
    print("== vuln-scaled", file=sys.stderr, flush=True)
    run_study(ctx, show_progress=True)
    if rec.pareto_trials(ctx.study):
        confirm_pareto(ctx, args.repeats)


def screening(args: argparse.Namespace) -> None:
    """A cascade study on the scaled default task with a budget that screens every applicable knob alone, then its
    report: the single-knob effect of each knob and predicted vs observed combinations."""
    from greenknobs.search.analysis._report import build_report
    from greenknobs.search.study._study import run_study

    ctx = _open(HERE / "studies" / "fortunes-scaled.toml", "screening", "cascade", 0, n_trials=args.n_trials)
    run_study(ctx, show_progress=True)
    print(f"report: {build_report(ctx.study, RESULTS / 'screening-report')}", file=sys.stderr)


def _best_at(study: Any, floor_pct: float) -> Any:
    from greenknobs.search.records import _records as rec

    rows = [t for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE" and rec.role_of(t) == "search" and not t.user_attrs.get("degenerate")
            and t.user_attrs.get("f1_retention_pct", 0.0) >= floor_pct]
    return max(rows, key=lambda t: t.user_attrs.get("energy_reduction_pct", float("-inf")), default=None)


def _load(name: str) -> Any:
    import optuna
    from greenknobs.search.study._storage import open_storage

    path = STUDIES / f"{name}.journal"
    if not path.is_file():
        return None
    return optuna.load_study(study_name=name, storage=open_storage(f"journal:{path}", create=False))


def summarize(args: argparse.Namespace) -> None:
    from greenknobs.search.records import _records as rec
    from greenknobs.search.analysis._front import hypervolume_history

    RESULTS.mkdir(parents=True, exist_ok=True)
    studies = {(s, seed): _load(f"sq-{s}-s{seed}") for s in STRATEGIES for seed in SEEDS}
    studies = {k: v for k, v in studies.items() if v is not None}
    if not studies:
        raise SystemExit("no benchmark studies found: run `python benchmarks/run.py search-quality` first")
    baselines = [rec.baseline_trial(st).values[0] for st in studies.values() if rec.baseline_trial(st)]
    ref_j = statistics.mean(baselines)
    # Search quality: hypervolume against trials and against joules spent, one fixed reference for every run.
    hv_rows = []
    for (strategy, seed), st in sorted(studies.items()):
        spent = 0.0
        by_number = {t.number: t for t in st.get_trials(deepcopy=False)}
        for point in hypervolume_history(st, reference=(ref_j, 0.0)):
            t = by_number[point["trial"]]
            spent += rec.spent_j(t)
            hv_rows.append({"strategy": strategy, "seed": seed, "trial": point["trial"], "joules_spent": round(spent, 1),
                            "hypervolume": point["hypervolume"], "hv_share": point["share"]})
    _write_csv(RESULTS / "search_quality.csv", hv_rows)
    final = {}
    for strategy in STRATEGIES:
        per_seed = []
        for seed in SEEDS:
            rows = [r for r in hv_rows if r["strategy"] == strategy and r["seed"] == seed]
            if rows:
                per_seed.append(rows[-1]["hv_share"])
        if per_seed:
            final[strategy] = per_seed
    # Headline: best reduction at >=95% and >=99% of the baseline F1, with confirm repeats where made.
    head_rows = []
    for strategy in STRATEGIES:
        for seed in SEEDS:
            st = studies.get((strategy, seed))
            if st is None:
                continue
            for floor in (95.0, 99.0):
                head_rows.append(_headline_row(st, strategy, seed, floor))
    vuln = _load("vuln-scaled")
    if vuln is not None:
        for floor in (95.0, 99.0):
            head_rows.append(_headline_row(vuln, "vuln:" + vuln.user_attrs.get("greenknobs.spec", {}).get("sampler", "?"), 0, floor))
    _write_csv(RESULTS / "headline.csv", head_rows)
    # Overhead and search cost, from the stored trials.
    over_rows, cost_rows = [], []
    for (strategy, seed), st in sorted(studies.items()):
        over_rows.extend(_overhead_rows(st, strategy, seed))
        cost_rows.append(_cost_row(st, strategy, seed))
    _write_csv(RESULTS / "overhead.csv", over_rows)
    _write_csv(RESULTS / "search_cost.csv", cost_rows)
    reuse = _reuse_rows(studies)
    _write_csv(RESULTS / "reuse.csv", reuse)
    _plot(hv_rows, final)
    _markdown(final, head_rows, over_rows, cost_rows, reuse, ref_j, studies, vuln)


def _headline_row(st: Any, strategy: str, seed: int, floor: float) -> dict[str, Any]:
    best = _best_at(st, floor)
    row = {"strategy": strategy, "seed": seed, "f1_floor_pct": floor, "trial": None, "energy_reduction_pct": None,
           "f1_retention_pct": None, "confirmed_runs": 1, "energy_j_mean": None, "energy_j_std": None,
           "f1_mean": None, "f1_std": None, "energy_source": None, "changed_knobs": ""}
    if best is None:
        return row
    from greenknobs.search.study._confirm import confirmed

    ua = best.user_attrs
    conf = confirmed(st).get(best.number, {})
    row.update(trial=best.number, energy_reduction_pct=round(ua["energy_reduction_pct"], 1),
               f1_retention_pct=round(ua["f1_retention_pct"], 1), energy_source=ua.get("energy_source"),
               confirmed_runs=conf.get("runs", 1), energy_j_mean=conf.get("energy_j_mean", ua["energy_j"]),
               energy_j_std=conf.get("energy_j_std"), f1_mean=conf.get("f1_mean", ua["f1"]), f1_std=conf.get("f1_std"))
    from greenknobs.search.records._records import baseline_config, knob_differences

    row["changed_knobs"] = "; ".join(f"{k}={v}" for k, v in knob_differences(ua.get("greenknobs.config", {}), baseline_config(st)).items())
    return row


def _overhead_rows(st: Any, strategy: str, seed: int) -> list[dict[str, Any]]:
    from greenknobs.search.records import _records as rec

    rows = []
    for t in st.get_trials(deepcopy=False):
        result = rec.result_of(t)
        if result is None or t.datetime_complete is None or t.datetime_start is None:
            continue
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        # The process's one-off warm-up is neither the trial's work nor the tool's per-trial cost.
        inside = sum(result.phase_time_s.values()) + result.warmup_time_s
        rows.append({"strategy": strategy, "seed": seed, "trial": t.number, "trial_wall_s": round(wall, 3),
                     "phases_s": round(inside, 3), "overhead_s": round(wall - inside, 3),
                     "overhead_share_pct": round(100 * (wall - inside) / wall, 3) if wall > 0 else None})
    return rows


def _cost_row(st: Any, strategy: str, seed: int) -> dict[str, Any]:
    from greenknobs.search.records import _records as rec

    base_t = rec.baseline_trial(st)
    base = rec.result_of(base_t) if base_t else None
    spent = sum(rec.spent_j(t) for t in st.get_trials(deepcopy=False))
    best = _best_at(st, 95.0)
    row = {"strategy": strategy, "seed": seed, "study_joules": round(spent, 1),
           "baseline_joules": round(base.energy_j, 1) if base else None,
           "study_over_baseline": round(spent / base.energy_j, 2) if base else None,
           "best_trial_95": best.number if best else None, "break_even_predictions": None, "break_even_runs": None}
    if base and best:
        rec_result = rec.result_of(best)
        per_pred_base = base.phase_energy_j["inference"] / base.n_eval
        per_pred_rec = rec_result.phase_energy_j["inference"] / rec_result.n_eval
        saving_pred = per_pred_base - per_pred_rec
        row["break_even_predictions"] = round(spent / saving_pred) if saving_pred > 0 else None
        saving_run = base.energy_j - rec_result.energy_j
        row["break_even_runs"] = round(spent / saving_run, 1) if saving_run > 0 else None
    return row


def _reuse_rows(studies: dict) -> list[dict[str, Any]]:
    """What trials reuse: tokenized data (charged its recorded cost, actually a lookup) and the model weights
    (page cache): first vs later model-phase time."""
    from greenknobs.search.records import _records as rec

    rows = []
    for (strategy, seed), st in sorted(studies.items()):
        results = [rec.result_of(t) for t in sorted(st.get_trials(deepcopy=False), key=lambda t: t.number)]
        results = [r for r in results if r is not None]
        reused = [r for r in results if "data" in r.reused_phases]
        fresh = [r for r in results if "data" not in r.reused_phases]
        rows.append({
            "strategy": strategy, "seed": seed, "trials": len(results), "tokenized_data_reused": len(reused),
            "data_phase_j_fresh_mean": round(statistics.mean(r.phase_energy_j["data"] for r in fresh), 2) if fresh else None,
            "data_phase_s_fresh_mean": round(statistics.mean(r.phase_time_s["data"] for r in fresh), 3) if fresh else None,
            "model_phase_s_first": round(results[0].phase_time_s["model"], 3) if results else None,
            "model_phase_s_later_median": round(statistics.median(r.phase_time_s["model"] for r in results[1:]), 3) if len(results) > 1 else None,
        })
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _plot(hv_rows: list[dict[str, Any]], final: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for strategy in STRATEGIES:
        rows = [r for r in hv_rows if r["strategy"] == strategy]
        if not rows:
            continue
        by_idx: dict[int, list[float]] = {}
        by_idx_j: dict[int, list[float]] = {}
        for seed in SEEDS:
            seq = [r for r in rows if r["seed"] == seed]
            for i, r in enumerate(seq):
                by_idx.setdefault(i + 1, []).append(r["hv_share"])
                by_idx_j.setdefault(i + 1, []).append(r["joules_spent"])
        xs = sorted(by_idx)
        med = [statistics.median(by_idx[x]) for x in xs]
        lo = [min(by_idx[x]) for x in xs]
        hi = [max(by_idx[x]) for x in xs]
        line, = axes[0].plot(xs, med, label=strategy, marker="o", ms=3)
        axes[0].fill_between(xs, lo, hi, alpha=0.15, color=line.get_color())
        axes[1].plot([statistics.median(by_idx_j[x]) / 1000 for x in xs], med, label=strategy, marker="o", ms=3,
                     color=line.get_color())
    axes[0].set_xlabel("trials finished")
    axes[0].set_ylabel("hypervolume share (median, band = min–max over seeds)")
    axes[1].set_xlabel("kJ spent by the search (median over seeds; estimated from CPU and wall time)")
    axes[1].set_ylabel("hypervolume share (median)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Search quality on the scaled default task (MiniLM, fortune genres) — energy estimated")
    fig.tight_layout()
    fig.savefig(RESULTS / "search_quality.png", dpi=120)
    plt.close(fig)


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "—"
    return format(v, spec) if spec else str(v)


def _markdown(final, head_rows, over_rows, cost_rows, reuse, ref_j, studies, vuln) -> None:
    import torch
    import optuna

    cpu = _cpu_model()
    lines = [f"# Benchmark results ({date.today().isoformat()})", ""]
    lines.append(f"Machine: {cpu}, {os.cpu_count()} cores, no GPU; Python {platform.python_version()}, torch "
                 f"{torch.__version__}, optuna {optuna.__version__}. **Energy source: estimated** (wall time × 2 cores × "
                 "3 W idle + process CPU time × 7 W above idle; no RAPL or GPU counters on this machine) — every joule "
                 "figure below is an estimate. Runs were made one at a time, so no other load inflated them.")
    lines.append("")
    lines.append("## Search quality")
    lines.append("")
    lines.append(f"Hypervolume share of the feasible front (reference point: mean baseline energy {ref_j:,.0f} J, F1 = 0; "
                 "1.0 would be a zero-joule, F1 = 1 model), at the end of each study's budget.")
    lines.append("")
    lines.append("| strategy | median | min | max | seeds | vs random (median) |")
    lines.append("|---|---|---|---|---|---|")
    rnd = statistics.median(final["random"]) if "random" in final else None
    for s, vals in final.items():
        ratio = f"{statistics.median(vals) / rnd:.2f}×" if rnd else "—"
        lines.append(f"| {s} | {statistics.median(vals):.3f} | {min(vals):.3f} | {max(vals):.3f} | {len(vals)} | {ratio} |")
    lines.append("")
    lines.append("![search quality](search_quality.png)")
    lines.append("")
    lines.append("## Headline: best energy reduction at the F1 floor")
    lines.append("")
    lines.append("| strategy | seed | F1 floor | trial | energy reduction | F1 retained | runs | joules mean ± std | F1 mean ± std | knobs changed |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in head_rows:
        js = f"{r['energy_j_mean']:,.0f} ± {r['energy_j_std']:,.0f}" if r["energy_j_std"] is not None else _fmt(r["energy_j_mean"] and round(r["energy_j_mean"]))
        fs = f"{r['f1_mean']:.3f} ± {r['f1_std']:.3f}" if r["f1_std"] is not None else _fmt(r["f1_mean"] and round(r["f1_mean"], 3))
        lines.append(f"| {r['strategy']} | {r['seed']} | ≥{r['f1_floor_pct']:.0f}% | {_fmt(r['trial'])} | "
                     f"{_fmt(r['energy_reduction_pct'])}% | {_fmt(r['f1_retention_pct'])}% | {r['confirmed_runs']} | {js} | {fs} | {r['changed_knobs']} |")
    lines.append("")
    over = [r["overhead_share_pct"] for r in over_rows if r["overhead_share_pct"] is not None]
    if over:
        lines.append("## Overhead")
        lines.append("")
        lines.append(f"The tool's own time per trial (Optuna's trial wall time minus the four metered phases: sampling, "
                     f"storage writes, suggest/validate, result and note writes) over {len(over)} trials: median "
                     f"{statistics.median(over):.2f}%, max {max(over):.2f}% of trial time.")
        lines.append("")
    lines.append("## Search cost")
    lines.append("")
    lines.append("| strategy | seed | study joules | baseline joules | study / baseline | break-even predictions | break-even training runs |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in cost_rows:
        lines.append(f"| {r['strategy']} | {r['seed']} | {_fmt(r['study_joules'], ',.0f')} | {_fmt(r['baseline_joules'], ',.0f')} | "
                     f"{_fmt(r['study_over_baseline'])} | {_fmt(r['break_even_predictions'], ',')} | {_fmt(r['break_even_runs'])} |")
    lines.append("")
    lines.append("## Pipeline reuse")
    lines.append("")
    lines.append("| strategy | seed | trials | tokenized data reused | data phase fresh (J / s) | model phase first / later median (s) |")
    lines.append("|---|---|---|---|---|---|")
    for r in reuse:
        lines.append(f"| {r['strategy']} | {r['seed']} | {r['trials']} | {r['tokenized_data_reused']} | "
                     f"{_fmt(r['data_phase_j_fresh_mean'])} / {_fmt(r['data_phase_s_fresh_mean'])} | "
                     f"{_fmt(r['model_phase_s_first'])} / {_fmt(r['model_phase_s_later_median'])} |")
    (RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / "results.md").read_text())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("search-quality")
    p.add_argument("--strategies", type=lambda s: s.split(","), default=list(STRATEGIES))
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=list(SEEDS))
    p = sub.add_parser("headline")
    p.add_argument("--strategies", type=lambda s: s.split(","), default=list(STRATEGIES))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--vuln-sampler", default="tpe")
    p = sub.add_parser("screening")
    p.add_argument("--n-trials", type=int, default=40)
    sub.add_parser("summarize")
    args = parser.parse_args()
    _quiet()
    STUDIES.mkdir(parents=True, exist_ok=True)
    started = time.time()
    {"search-quality": search_quality, "headline": headline, "screening": screening, "summarize": summarize}[args.what](args)
    print(f"{args.what}: {time.time() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
