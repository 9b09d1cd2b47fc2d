"""Tables, paired tests and plots from the campaigns' rows (benchmarks/.studies/{sim,real}-*.jsonl) into
benchmarks/results/: searchbench.md (every table), searchbench.csv, searchbench_pairs.csv, anytime-*.png.

Statistics (scipy): per task and budget, every pair of strategies is compared on HV gained with a paired Wilcoxon
signed-rank test over the replicates they share (common random numbers pair them; zero differences split between
the ranks, `zero_method="zsplit"`); the p-values of one budget are Holm-corrected together (written here: it is a
few lines). Mean ranks (1 = best, ties averaged) are Friedman's; a win rate counts ties as half a win.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
RESULTS = HERE / "results"
STUDIES = HERE / ".studies"


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input's order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def wilcoxon_p(a: list[float], b: list[float]) -> float:
    from scipy.stats import wilcoxon

    if all(x == y for x, y in zip(a, b)):
        return 1.0
    return float(wilcoxon(a, b, zero_method="zsplit").pvalue)


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    import numpy as np

    q = np.percentile(xs, [25, 50, 75])
    return float(q[1]), float(q[0]), float(q[2])


def load(kind: str, task: str) -> list[dict[str, Any]]:
    path = STUDIES / f"{kind}-{task}.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seen = {}
    for r in rows:  # a resumed campaign may have written a study twice: keep the last
        seen[(r["strategy"], r["budget"], r["rep"])] = r
    return list(seen.values())


def ranks(table: dict[str, dict[int, float]], reps: list[int]) -> dict[str, float]:
    from scipy.stats import rankdata

    names = list(table)
    total = defaultdict(float)
    for rep in reps:
        r = rankdata([-table[n][rep] for n in names])  # 1 = highest HV
        for n, x in zip(names, r):
            total[n] += x
    return {n: total[n] / len(reps) for n in names}


def compare(rows: list[dict], key: str = "hv") -> dict[int, dict[str, Any]]:
    """Per budget: per strategy summary, mean ranks, win rate vs random, pairwise Holm-corrected Wilcoxon."""
    out = {}
    for budget in sorted({r["budget"] for r in rows}):
        at = [r for r in rows if r["budget"] == budget]
        by: dict[str, dict[int, dict]] = defaultdict(dict)
        for r in at:
            by[r["strategy"]][r["rep"]] = r
        names = sorted(by)
        shared = sorted(set.intersection(*(set(v) for v in by.values())))
        table = {n: {rep: by[n][rep][key] for rep in shared} for n in names}
        mean_rank = ranks(table, shared) if shared else {}
        pairs = list(combinations(names, 2))
        raw = []
        for a, b in pairs:
            common = sorted(set(by[a]) & set(by[b]))
            raw.append(wilcoxon_p([by[a][r][key] for r in common], [by[b][r][key] for r in common]) if common else 1.0)
        adj = holm(raw) if raw else []
        stats_ = {}
        for n in names:
            vals = [v[key] for v in by[n].values()]
            med, q1, q3 = quartiles(vals)
            win = None
            if "random" in by and n != "random":
                common = sorted(set(by[n]) & set(by["random"]))
                win = sum(1.0 if by[n][r][key] > by["random"][r][key] else 0.5 if by[n][r][key] == by["random"][r][key]
                          else 0.0 for r in common) / len(common)
            stats_[n] = {"n": len(vals), "median": med, "q1": q1, "q3": q3, "mean": statistics.fmean(vals),
                         "win_vs_random": win, "mean_rank": mean_rank.get(n)}
        out[budget] = {"stats": stats_, "pairs": [{"a": a, "b": b, "p": p, "p_holm": q, "n": len(set(by[a]) & set(by[b])),
                                                    "median_diff": statistics.median(
                                                        [by[a][r][key] - by[b][r][key] for r in sorted(set(by[a]) & set(by[b]))])}
                                                   for (a, b), p, q in zip(pairs, raw, adj)],
                       "shared_reps": len(shared)}
    return out


def false_recs(rows: list[dict]) -> dict[tuple[str, int], dict[str, Any]]:
    from scipy.stats import binomtest

    out = {}
    for key in sorted({(r["strategy"], r["budget"]) for r in rows}):
        at = [r for r in rows if (r["strategy"], r["budget"]) == key]
        recs = [x for r in at for x in r["recommended"] if x["recommended"]]
        false = [x for x in recs if x.get("false")]
        ci = binomtest(len(false), len(recs)).proportion_ci() if recs else None
        best_true = [max((1 - x["true_ratio"] for x in r["recommended"] if x["recommended"] and not x.get("false")),
                         default=0.0) for r in at]
        # Payback: training runs of the best recommended configuration (by its confirmed paired saving) that repay
        # the search's joules (confirmation excluded; reported apart as its own payback).
        payback, payback_confirm = [], []
        for r in at:
            saved = max((x["saving"] for x in r["recommended"] if x["recommended"]), default=0.0)
            if saved > 0:
                payback.append(r["spent_j"] / (saved * r["baseline_j"]))
                payback_confirm.append((r["spent_j"] + r["confirm_j"]) / (saved * r["baseline_j"]))
        out[key] = {"studies": len(at), "recommended": len(recs), "false": len(false),
                    "studies_recommending": len(payback),
                    "payback_runs_median": statistics.median(payback) if payback else math.nan,
                    "payback_with_confirmation_median": statistics.median(payback_confirm) if payback else math.nan,
                    "rate": len(false) / len(recs) if recs else math.nan,
                    "ci": (ci.low, ci.high) if ci else (math.nan, math.nan),
                    "studies_with_false": sum(1 for r in at if any(x.get("false") and x["recommended"]
                                                                   for x in r["recommended"])),
                    "best_true_saving_median": statistics.median(best_true)}
    return out


def machine_of(task: str) -> dict[str, Any] | None:
    """The hardware record (CPU, cores, GPU, meter) of the task's measured runs, which every figure of the task rests
    on: the simulator is fitted on them and the real studies reuse them. None when no run is stored."""
    from benchmarks.measure import read_runs

    rows = read_runs(task)
    published = RESULTS / f"measure-{task}.jsonl"
    if not rows and published.is_file():
        rows = [json.loads(line) for line in published.read_text().splitlines() if line.strip()]
    return next((r["result"]["hardware"] for r in rows if (r.get("result") or {}).get("hardware")), None)


def machine_text(hardware: dict[str, Any] | None) -> str:
    """'Intel(R) Xeon(R) Processor, 2 cores, no GPU · energy: estimated', from a recorded hardware record."""
    if not hardware:
        return "machine not recorded"
    gpu = "no GPU" if hardware.get("gpu", "none") == "none" else f"{hardware.get('gpu_count', 1)}× {hardware['gpu']}"
    return f"{hardware.get('cpu', 'CPU')}, {hardware.get('cpu_cores', '?')} cores, {gpu}  ·  energy: " \
           f"{hardware.get('meter', 'not recorded')}"


def provenance(command: str, tasks: Sequence[str]) -> str:
    """The line every figure carries: what made it, on which machine with which energy source (as the tasks'
    measured runs recorded them), when."""
    import datetime

    recorded = [hw for hw in map(machine_of, tasks) if hw]
    machines = list(dict.fromkeys(map(machine_text, recorded))) or [machine_text(None)]
    return f"{command}  ·  {'; '.join(machines)}  ·  {datetime.date.today().isoformat()}"


def anytime_plot(rows: list[dict], task: str, budget: int, source: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    at = [r for r in rows if r["budget"] == budget]
    names = sorted({r["strategy"] for r in at})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, xkey, xlabel in ((axes[0], "runs", "training runs (budget units; the baseline's seeds first)"),
                             (axes[1], "spent", "joules spent ÷ the study's baseline mean (noise floor in, confirmation out)")):
        grid = (np.arange(3, budget + 1) if xkey == "runs"
                else np.linspace(0, max(c[xkey] for r in at for c in r["curve"]), 60))
        for n in names:
            curves = []
            for r in (x for x in at if x["strategy"] == n):
                xs = [c[xkey] for c in r["curve"]]
                ys = [c["hv"] for c in r["curve"]]
                curves.append([ys[max(0, np.searchsorted(xs, g, side="right") - 1)] if xs and g >= xs[0] else 0.0
                               for g in grid])
            arr = np.array(curves)
            med, q1, q3 = (np.percentile(arr, q, axis=0) for q in (50, 25, 75))
            line, = ax.step(grid, med, where="post", label=f"{n} (n={len(curves)})")
            ax.fill_between(grid, q1, q3, step="post", alpha=0.15, color=line.get_color())
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("HV gained beyond the baseline\n(energy ratio × F1 share, ref (1.0, 0.95))")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{task}, budget {budget} runs, {source}: median and interquartile band over replicates")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.text(0.01, 0.01, provenance(f"python -m benchmarks.bench {'real' if 'real' in source else 'sim'} {task}; "
                                    f"benchmarks.bench summarize", [task]), fontsize=7, color="0.35")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _label(strategy: str) -> str:
    """A strategy's name, marked when it reads the knob declarations and the baseline's per-phase joules."""
    from benchmarks.searchbench.core import STRATEGIES

    return f"{strategy} (grey-box)" if STRATEGIES.get(strategy, ("", False))[1] else strategy


def _fmt(x: float | None, d: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def _pfmt(p: float) -> str:
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def quality_table(cmp: dict, lines: list[str], title: str, extra: dict | None = None) -> None:
    for budget, c in cmp.items():
        lines += [f"#### {title}, budget {budget} runs ({c['shared_reps']} paired replicates)", "",
                  "| strategy | HV gained: median [IQR] | mean | mean rank | win rate vs random |"
                  + (" true HV: median [IQR] |" if extra else ""),
                  "|---|---|---|---|---|" + ("---|" if extra else "")]
        for n, s in sorted(c["stats"].items(), key=lambda kv: (kv[1]["mean_rank"] or 99)):
            row = (f"| {_label(n)} | {_fmt(s['median'], 4)} [{_fmt(s['q1'], 4)}, {_fmt(s['q3'], 4)}] | {_fmt(s['mean'], 4)} | "
                   f"{_fmt(s['mean_rank'], 2)} | {_fmt(s['win_vs_random'], 2)} |")
            if extra:
                t = extra[budget]["stats"].get(n)
                row += f" {_fmt(t['median'], 4)} [{_fmt(t['q1'], 4)}, {_fmt(t['q3'], 4)}] |" if t else " |"
            lines.append(row)
        sig = [p for p in c["pairs"] if p["p_holm"] < 0.05]
        lines += ["", f"Pairs that differ (paired Wilcoxon, Holm over {len(c['pairs'])} pairs, p < 0.05): "
                  + ("; ".join(f"{p['a']} vs {p['b']}: median diff {p['median_diff']:+.4f}, p_holm {_pfmt(p['p_holm'])}"
                               for p in sig) or "none") + ".", ""]


def summarize() -> None:
    RESULTS.mkdir(exist_ok=True)
    lines = ["# Search-quality results", "",
             "Generated by `python -m benchmarks.bench summarize` from the campaigns' rows; see benchmarks/README.md "
             "for the commands, the machine and what each figure means.", "",
             provenance("python -m benchmarks.bench sim|real TASK; benchmarks.bench summarize",
                        [t for t in ("default", "project", "fortunes") if load("sim", t) or load("real", t)]), "",
             "Strategies (grey-box: reads the knob "
             "declarations and the baseline's per-phase joules, which a black-box sampler does not):", ""]
    from benchmarks.searchbench.core import STRATEGIES

    lines += [f"- `{n}`: {what}{' (grey-box)' if grey else ''}" for n, (what, grey) in STRATEGIES.items()] + [""]
    csv_rows, pair_rows = [], []
    for task in ("default", "project", "fortunes"):
        rows = load("sim", task)
        if not rows:
            continue
        cmp_hv, cmp_true = compare(rows, "hv"), compare(rows, "true_hv")
        meter = (machine_of(task) or {}).get("meter", "measured")
        lines += [f"## {task}: simulator (energy simulated from {meter} joules)", ""]
        quality_table(cmp_hv, lines, f"{task}, simulated", cmp_true)
        for budget, c in cmp_hv.items():
            for n, s in c["stats"].items():
                csv_rows.append({"task": task, "source": "simulated", "budget": budget, "strategy": n, **s,
                                 **{f"true_{k}": v for k, v in cmp_true[budget]["stats"][n].items()}})
            for p in c["pairs"]:
                pair_rows.append({"task": task, "source": "simulated", "budget": budget, "metric": "hv", **p})
            for p in cmp_true[budget]["pairs"]:
                pair_rows.append({"task": task, "source": "simulated", "budget": budget, "metric": "true_hv", **p})
        fr = false_recs(rows)
        lines += [f"#### {task}, simulated: recommendations against the simulator's ground truth", "",
                  "A false recommendation: recommended after paired confirmation, but its true (noise-free) retention "
                  "is below the floor, it is truly degenerate, or it truly saves nothing.", "",
                  "| strategy | budget | studies | recommended | false | false-recommendation rate [95% CI] | studies with a false one | best true saving recommended (median per study) | studies recommending | payback, training runs (median): search / + confirmation |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for (n, b), f in sorted(fr.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            lines.append(f"| {n} | {b} | {f['studies']} | {f['recommended']} | {f['false']} | "
                         f"{_fmt(f['rate'], 3)} [{_fmt(f['ci'][0], 3)}, {_fmt(f['ci'][1], 3)}] | {f['studies_with_false']} | "
                         f"{100 * f['best_true_saving_median']:.1f}% | {f['studies_recommending']} | "
                         f"{_fmt(f['payback_runs_median'], 1)} / {_fmt(f['payback_with_confirmation_median'], 1)} |")
            csv_rows.append({"task": task, "source": "simulated-recommendations", "budget": b, "strategy": n, **{
                k: v for k, v in f.items() if k != "ci"}, "ci_low": f["ci"][0], "ci_high": f["ci"][1]})
        lines.append("")
        for budget in sorted({r["budget"] for r in rows}):
            png = RESULTS / f"anytime-{task}-simulated-b{budget}.png"
            anytime_plot(rows, task, budget, "simulated", png)
            lines += [f"![anytime {task}, budget {budget}]({png.name})", ""]
        # Overhead on the simulator: the sampler's and storage's own time (no training in the way).
        lines += [f"#### {task}, simulated: sampler and storage time per trial (in-memory storage)", "",
                  "| strategy | budget | sampler s / trial: median | storage s / trial: median |", "|---|---|---|---|"]
        for n in sorted({r["strategy"] for r in rows}):
            for b in sorted({r["budget"] for r in rows}):
                at = [r for r in rows if r["strategy"] == n and r["budget"] == b]
                if at:
                    per = [r["sampler_s"] / max(1, len(r["curve"])) for r in at]
                    st = [r["storage_s"] / max(1, len(r["curve"])) for r in at]
                    lines.append(f"| {n} | {b} | {statistics.median(per):.4f} | {statistics.median(st):.4f} |")
        lines.append("")
    for task in ("default", "fortunes", "project"):
        rows = load("real", task)
        if not rows:
            continue
        cmp_hv = compare(rows, "hv")
        meter = (machine_of(task) or {}).get("meter", "measured")
        lines += [f"## {task}: real studies (energy: {meter})", ""]
        quality_table(cmp_hv, lines, f"{task}, real")
        for budget, c in cmp_hv.items():
            for n, s in c["stats"].items():
                csv_rows.append({"task": task, "source": meter, "budget": budget, "strategy": n, **s})
            for p in c["pairs"]:
                pair_rows.append({"task": task, "source": meter, "budget": budget, "metric": "hv", **p})
            png = RESULTS / f"anytime-{task}-real.png"
            anytime_plot(rows, task, budget, f"{meter} (real runs)", png)
            lines += [f"![anytime {task} real]({png.name})", ""]
        lines += [f"#### {task}, real: overhead and cost per strategy", "",
                  "Sampler and storage calls timed directly (outermost call only); joules by the estimate meter's "
                  "formula (2 cores × 3 W idle × wall + 7 W × CPU s). Search cost: every search run's joules (the "
                  "process warm-up excluded), ÷ the study's baseline mean; confirmation apart.", "",
                  "Trial time: each run's recorded time (a run served from the store of common random numbers counts "
                  "its recorded time, as its joules count).", "",
                  "| strategy | sampler: % of trial time | storage: % of trial time | sampler + storage: % of trial joules | search cost in baseline runs (its noise floor included): median | confirmation cost (baseline runs): median | recommended (studies) |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows:
            r["charged_time_s"] = charged_time_s(task, r)
        for n in sorted({r["strategy"] for r in rows}):
            at = [r for r in rows if r["strategy"] == n]
            t = sum(r["charged_time_s"] or r["trial_time_s"] for r in at)
            j = sum(r["spent_j"] for r in at)
            lines.append(f"| {n} | {100 * sum(r['sampler_s'] for r in at) / t:.2f}% | "
                         f"{100 * sum(r['storage_s'] for r in at) / t:.2f}% | "
                         f"{100 * sum(r['sampler_j'] + r['storage_j'] for r in at) / j:.2f}% | "
                         f"{statistics.median(r['spent_j'] / r['baseline_j'] for r in at):.1f} | "
                         f"{statistics.median(r['confirm_j'] / r['baseline_j'] for r in at):.1f} | "
                         + (f"{sum(1 for r in at if any(x['recommended'] for x in r['recommended']))} of {len(at)} |"
                            if any(r["recommended"] for r in at) else
                            f"not confirmed here; candidates per study: median {statistics.median(r['candidates'] for r in at):g} |"))
        lines.append("")
    _csv(RESULTS / "searchbench.csv", csv_rows)
    _csv(RESULTS / "searchbench_pairs.csv", pair_rows)
    (RESULTS / "searchbench.md").write_text("\n".join(lines) + "\n")
    print(RESULTS / "searchbench.md")


def charged_time_s(task: str, row: dict[str, Any]) -> float | None:
    """The training time a real study's trials stand for: each run's recorded time, a run served from the common
    random numbers' store included (its trial took milliseconds, but the study is charged the run's joules, so its
    overhead is measured against the run's time too). None when the study's journal is gone."""
    path = STUDIES / f"real-{task}-{row['strategy']}-r{row['rep']}.journal"
    if not path.is_file():
        return None
    import optuna

    from greenknobs.search import records as rec
    from greenknobs.search.study import open_storage

    study = optuna.load_study(study_name=path.stem, storage=open_storage(f"journal:{path}", create=False))
    results = [(rec.result_of(t), rec.budget_runs(t)) for t in study.get_trials(deepcopy=False)]
    return sum(r.time_s * runs for r, runs in results if r is not None)


def _csv(path: Path, rows: list[dict]) -> None:
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
