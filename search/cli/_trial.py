from __future__ import annotations

import json
import sys

from greenknobs.objectives import TrialFailed


def add_parser(sub) -> None:
    p = sub.add_parser("trial", help="run one configuration: fine-tune, evaluate, meter the joules")
    p.add_argument("--config", metavar="FILE.toml", help="config file (as written by `export`); default: the baseline")
    p.add_argument("--task", help="built-in task (default: fortunes, MiniLM on FreeBSD fortune genres)")
    p.add_argument("--seed", type=int, help="seed for data order and head initialisation (default: the file's, or 0)")
    p.add_argument("--split", choices=("validation", "test"), help="split to evaluate on (default: the task's)")
    add_energy_options(p)
    p.add_argument("--json", action="store_true", help="print the full result as JSON on stdout")
    p.set_defaults(handler=run)


def add_energy_options(p) -> None:
    p.add_argument("--energy", choices=("auto", "zeus", "estimate"), default="auto",
                   help="energy meter: auto (GPU/RAPL counters through Zeus, else a labelled estimate), zeus, estimate")
    p.add_argument("--watts-per-core", type=float, metavar="W",
                   help="W per busy core for the estimate (default 10, or GREENKNOBS_WATTS_PER_CORE)")


def run(args) -> int:
    from greenknobs.search.study import ProgressPrinter, run_trial

    try:
        result = run_trial(args.config, task=args.task, seed=args.seed, split=args.split, energy=args.energy,
                           watts_per_core=args.watts_per_core, progress=ProgressPrinter(prefix="trial: "))
    except TrialFailed as err:
        print(f"greenknobs: trial failed: {err.reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(result.summary())
    return 0
