"""Length-grouped batches on the default task (issue 23, item 3): does `batching = "length-grouped"` pay, alone and
with dynamic padding?

    python -m benchmarks.batching                 # seeds 0 1 2: run what benchmarks/results/batching.csv lacks
    python -m benchmarks.batching --seeds 0 1 2 3 # more pairs
    python -m benchmarks.batching --summary       # only rewrite the summary from the CSV

The default study's task and baseline (studies/default.toml: MiniLM on fortunes, a 64-token window, the estimate
meter on a CPU) at each training seed, four configurations run one after the other (seed-major, interleaved):
the baseline, batching = length-grouped, padding = dynamic, and both. Each run holds the machine
(benchmarks/measure.py `held_machine`: the exclusive CPU lock, the load average when granted and the CPU seconds
*other* processes used during the run); on a shared machine that foreign load is recorded, not retried away. Each
row also counts the padded tokens the run's training batches carried (objectives/_train.py `padding_per_epoch`,
replayed at the run's seed outside its energy window). The summary pairs each configuration with the baseline by
seed: the share of the baseline's joules saved and of its macro-F1 kept, mean ± sd over seeds and a 95% t interval.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CSV = RESULTS / "batching.csv"
SUMMARY = RESULTS / "batching.md"
CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "length-grouped": {"batching": "length-grouped"},
    "dynamic": {"padding": "dynamic"},
    "length-grouped + dynamic": {"batching": "length-grouped", "padding": "dynamic"},
}
FIELDS = ("seed", "config", "batching", "padding", "energy_j", "energy_source", "training_j", "inference_j", "f1",
          "degenerate", "wall_s", "cpu_s", "torch_threads", "train_tokens", "padded_tokens", "padded_share", "load_1min", "foreign_cpu_s",
          "foreign_share", "date")


def plan(seeds: Sequence[int]) -> list[tuple[int, str]]:
    """Seed-major: at each seed the four configurations one after the other, so slow drifts hit all of them."""
    return [(seed, name) for seed in seeds for name in CONFIGS]


def read_rows(path: Path = CSV) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def run(seeds: Sequence[int], path: Path = CSV, threads: int | None = None) -> list[dict[str, Any]]:
    """Measure every (seed, configuration) of the plan that `path` lacks, appending a row after each run. `threads`
    sets torch's threads for every run alike (on a shared 2-core machine two threads spin-wait on each other)."""
    import torch

    from benchmarks.measure import _own_s, held_machine, load_task
    from greenknobs.objectives import padding_per_epoch

    if threads:
        torch.set_num_threads(threads)

    _, pipeline, space = load_task("default")
    done = {(int(r["seed"]), r["config"]) for r in read_rows(path)}
    todo = [p for p in plan(seeds) if p not in done]
    print(f"{len(todo)} runs to make", file=sys.stderr, flush=True)
    for i, (seed, name) in enumerate(todo):
        config = space.complete(CONFIGS[name])
        with held_machine() as held:
            own = _own_s()
            result = pipeline.run(config, seed=seed)
            own = _own_s() - own
        cached = pipeline.token_cache.get(pipeline._token_key(config, seed))  # the run's own tokenized splits
        train_set, _, tokenizer = cached[0] if cached else pipeline._tokenize(config, seed)
        epochs = padding_per_epoch(train_set, config, seed, tokenizer.pad_token_id)
        tokens, padded = (sum(x) for x in zip(*epochs))
        row = {"seed": seed, "config": name, "batching": config["batching"], "padding": config["padding"],
               "energy_j": round(result.energy_j, 2), "energy_source": result.energy_source,
               "training_j": round(result.phase_energy_j["training"], 2),
               "inference_j": round(result.phase_energy_j["inference"], 2), "f1": round(result.f1, 5),
               "degenerate": result.degenerate, "wall_s": round(result.time_s, 2), "cpu_s": round(own, 2),
               "torch_threads": torch.get_num_threads(), "train_tokens": tokens,
               "padded_tokens": padded, "padded_share": round(padded / tokens, 4),
               "load_1min": round(held["load_1min"], 2), "foreign_cpu_s": round(held["foreign_cpu_s"], 2),
               "foreign_share": round(held["foreign_share"], 4),
               "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")}
        new = not path.is_file()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"[{i + 1}/{len(todo)}] seed {seed} {name}: {row['energy_j']:.0f} J (estimated) F1 {row['f1']:.3f} "
              f"{row['wall_s']:.0f} s padded {100 * row['padded_share']:.0f}% foreign "
              f"{100 * row['foreign_share']:.0f}%", file=sys.stderr, flush=True)
    return read_rows(path)


def paired_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration, paired with the baseline by seed: saving and retention as t intervals over seeds."""
    from greenknobs.search.records import t_interval

    by = {(int(r["seed"]), r["config"]): r for r in rows}
    base = {s: r for (s, c), r in by.items() if c == "baseline"}
    out = []
    for name in CONFIGS:
        seeds = sorted(s for (s, c) in by if c == name and s in base)
        runs = [by[s, name] for s in seeds]

        def col(key: str, rs: Sequence[Mapping[str, Any]] = runs) -> list[float]:
            return [float(r[key]) for r in rs]

        out.append({
            "config": name, "seeds": seeds, "energy_j": t_interval(col("energy_j")), "f1": t_interval(col("f1")),
            "wall_s": t_interval(col("wall_s")), "cpu_s": t_interval(col("cpu_s")), "padded_share": t_interval(col("padded_share")),
            "train_tokens": t_interval(col("train_tokens")), "foreign_share": t_interval(col("foreign_share")),
            "saving": t_interval([1 - float(r["energy_j"]) / float(base[s]["energy_j"]) for s, r in zip(seeds, runs)]),
            "cpu_saving": t_interval([1 - float(r["cpu_s"]) / float(base[s]["cpu_s"]) for s, r in zip(seeds, runs)]),
            "retention": t_interval([float(r["f1"]) / float(base[s]["f1"]) for s, r in zip(seeds, runs)]),
        })
    return out


def _pm(iv: Any, fmt: str, scale: float = 1.0) -> str:
    return f"{iv.mean * scale:{fmt}} ± {(iv.std or 0.0) * scale:{fmt}}"


def summary(rows: Sequence[Mapping[str, Any]], command: str) -> str:
    from greenknobs.search.records import interval_text

    table = paired_table(rows)
    seeds = sorted({int(r["seed"]) for r in rows})
    foreign = [float(r["foreign_share"]) for r in rows]
    loads = [float(r["load_1min"]) for r in rows]
    sources = sorted({r["energy_source"] for r in rows})
    lines = [
        "# Length-grouped batches on the default task (issue 23, item 3)",
        "",
        f"- **Command:** `{command}` (script: `benchmarks/batching.py`; raw rows: `benchmarks/results/batching.csv`)",
        f"- **Machine:** 2-core CPU VM ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), no GPU,"
        " shared with other engineers",
        f"- **Energy source:** `{', '.join(sources)}`: every joule here is **estimated**, not measured (no RAPL, no "
        "GPU: process CPU time × busy watts per core + wall time × idle watts per core)",
        f"- **Date:** {min(r['date'] for r in rows)[:10]} to {max(r['date'] for r in rows)[:10]}",
        f"- **Task:** studies/default.toml (MiniLM-L6 on fortunes, 600 training texts, macro-F1 on the 484 validation "
        f"texts), its baseline (64-token window, fixed padding, batch 16, 2 epochs, fp32)",
        f"- **Seeds:** training seeds {', '.join(map(str, seeds))} ({len(seeds)} paired seeds, {len(rows)} runs), "
        "seed-major: at each seed the 4 configurations one after the other",
        f"- **Foreign load:** other processes used {100 * min(foreign):.0f}–{100 * max(foreign):.0f}% of the machine's "
        f"core-seconds during the runs (mean {100 * sum(foreign) / len(foreign):.0f}%); 1-minute load average "
        f"{min(loads):.2f}–{max(loads):.2f} at the start. The estimate charges wall time, so foreign load inflates "
        "joules; pairing by seed, interleaved, spreads it over all four configurations. The process's own CPU "
        "seconds are the figure least moved by it.",
        f"- **Torch threads:** {', '.join(sorted({r['torch_threads'] for r in rows}))} for every run alike (two "
        "threads spin-wait on each other on a shared 2-core machine; the default study runs with torch's default).",
        "",
        f"Per configuration, over {len(seeds)} seeds (mean ± sd; intervals are 95% t intervals over the paired seeds):",
        "",
        "| configuration | energy, J (estimated) | energy vs baseline (paired) | macro-F1 | F1 kept (paired) | "
        "wall time, s | own CPU time, s | CPU time vs baseline (paired) | padded share of training tokens | "
        "training tokens | foreign load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        vs = "—" if t["config"] == "baseline" else interval_text(t["saving"], "saving")
        kept = "—" if t["config"] == "baseline" else interval_text(t["retention"], "retention").replace(" of the F1", "")
        cpu = "—" if t["config"] == "baseline" else interval_text(t["cpu_saving"], "saving").replace(" energy", " CPU time")
        lines.append(
            f"| {t['config']} | {_pm(t['energy_j'], ',.1f')} | {vs} | {_pm(t['f1'], '.4f')} | {kept} | "
            f"{_pm(t['wall_s'], '.1f')} | {_pm(t['cpu_s'], '.1f')} | {cpu} | {_pm(t['padded_share'], '.1f', 100)}% | {_pm(t['train_tokens'], ',.0f')} | "
            f"{_pm(t['foreign_share'], '.0f', 100)}% |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    from greenknobs.search.cli import quiet_libraries

    quiet_libraries()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=None, help="torch threads for every run (default: torch's)")
    ap.add_argument("--summary", action="store_true", help="only rewrite the summary from the CSV")
    args = ap.parse_args(argv)
    rows = read_rows() if args.summary else run(args.seeds, threads=args.threads)
    command = "python -m benchmarks.batching --seeds " + " ".join(map(str, args.seeds)) + (
        f" --threads {args.threads}" if args.threads else "")
    SUMMARY.write_text(summary(rows, command))
    print(SUMMARY.read_text())


if __name__ == "__main__":
    main()
