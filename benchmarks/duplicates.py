"""How many configurations do 3 parallel workers train twice by accident? (benchmarks/README.md, "Parallel
workers and duplicates")

Starts 3 plain `greenknobs worker` processes together on one journal file (no labels, as a user would on one host),
on `studies/smoke.toml` with `--sampler cascade --n-trials 12` (`--sampler tpe`: the smoke study's own), holding the machine for the whole study
(`_cpu.exclusive_cpu`), then counts what the workers trained:

- unlabelled duplicates: trials that trained (complete, or stopped early) as baseline or search trials a
  configuration an earlier such trial trained; each costs a training run that measures nothing new;
- labelled repeats (role "repeat") and proposals sent back to the sampler (role "duplicate", nothing trained).

    python -m benchmarks.duplicates --label after --seed 0
    PYTHONPATH=/path/to/old/site python -m benchmarks.duplicates --label before --seed 0   # the code before per-worker seeds

`--python-path` is put on the workers' PYTHONPATH, so the "before" row runs the previous commit's code (a
`greenknobs/` folder whose search, spaces and objectives link to that commit's tree). Appends one row to
benchmarks/results/duplicates.csv."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks._cpu import exclusive_cpu

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def count(study) -> dict:
    from optuna.trial import TrialState

    from greenknobs.search import records as rec

    trials = study.get_trials(deepcopy=False)
    seen: dict[str, int] = {}
    unlabelled, wasted_j = [], 0.0
    for t in trials:
        trained = t.state == TrialState.COMPLETE or (t.state == TrialState.PRUNED and "greenknobs.stopped" in t.user_attrs)
        if not trained or rec.role_of(t) not in ("baseline", "search") or rec.CONFIG not in t.user_attrs:
            continue
        key = json.dumps(t.user_attrs[rec.CONFIG], sort_keys=True)
        if key in seen:
            unlabelled.append(f"{t.number}={seen[key]}")
            wasted_j += rec.spent_j(t)
        else:
            seen[key] = t.number
    return {
        "trials": len(trials),
        "distinct_trained": len(seen),
        "unlabelled_duplicates": len(unlabelled),
        "which": " ".join(unlabelled),
        "joules_on_duplicates": round(wasted_j, 1),
        "repeats": sum(1 for t in trials if rec.role_of(t) == "repeat"),
        "asked_again": sum(1 for t in trials if rec.role_of(t) == "duplicate"),
        "surplus": sum(1 for t in trials if rec.role_of(t) == "surplus"),
        "sampler_seeds": len({t.user_attrs["greenknobs.sampler_seed"] for t in trials
                              if "greenknobs.sampler_seed" in t.user_attrs}),
        "energy_source": ",".join(rec.energy_sources(study)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True, help="before | after")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--n-trials", type=int, default=12)
    ap.add_argument("--sampler", default="cascade", help="cascade (the default strategy) or the smoke study's tpe")
    ap.add_argument("--python-path", default="", help="PYTHONPATH for the workers (the code under test)")
    args = ap.parse_args()

    folder = HERE / ".studies" / "duplicates"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"dup-{args.label}-{args.sampler}-s{args.seed}"
    study_file = folder / f"{name}.toml"
    shutil.copy(REPO / "studies" / "smoke.toml", study_file)
    journal = folder / f"{name}.journal"
    journal.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.python_path:
        env["PYTHONPATH"] = args.python_path
    cmd = [sys.executable, "-m", "greenknobs", "worker", str(study_file), "--storage", f"journal:{journal}",
           "--study-name", name, "--sampler", args.sampler, "--n-trials", str(args.n_trials), "--seed", str(args.seed),
           "--threads", "1"]
    with exclusive_cpu() as load:
        started = time.perf_counter()
        logs = [open(folder / f"{name}.w{i + 1}.log", "w") for i in range(args.workers)]
        # Not from the repository root: `python -m` puts the working folder first on sys.path, where the
        # repository's own greenknobs/ would shadow --python-path.
        procs = [subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - started
        for log in logs:
            log.close()
    if any(codes):
        print(f"workers exited with {codes}: see {folder}/{name}.w*.log", file=sys.stderr)
        return 1
    from greenknobs.search.study import finished_count, load_study

    study = load_study(name, f"journal:{journal}")
    row = {"date": date.today().isoformat(), "code": args.label, "sampler": args.sampler, "study_seed": args.seed,
           "workers": args.workers,
           "budget_runs": args.n_trials, "runs_finished": finished_count(study), **count(study),
           "wall_s": round(wall, 1), "load_at_start": round(load, 2), "command": " ".join(cmd[1:]).replace(str(REPO) + "/", "")}
    out = HERE / "results" / "duplicates.csv"
    new = not out.exists()
    with out.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
