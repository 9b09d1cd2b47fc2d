from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_budget_options, add_common

    p = sub.add_parser("worker", help="join a study as one more worker: any number of them, on any hosts, one storage")
    add_common(p)
    add_budget_options(p)
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for this worker (default: every core)")
    p.add_argument("--label", default="", help=argparse.SUPPRESS)  # set by `run --workers` to tell its workers apart
    p.set_defaults(handler=run)


def run(args) -> int:
    import socket

    from greenknobs.search.cli._run import check_counts, load
    from greenknobs.search.study._storage import _redact
    from greenknobs.search.study._study import open_study, run_study, still_running
    from greenknobs.search.study._workers import check_shared_storage, heartbeat_for, sigterm_interrupts

    check_counts(args)
    spec = load(args)
    url = spec.storage_url()
    check_shared_storage(url, 2, "a worker (which shares its study with others)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with sigterm_interrupts():
        ctx = open_study(spec, sampler=args.sampler, seed=args.seed, heartbeat_interval_s=heartbeat_for(url))
        outcome = run_study(ctx, n_trials=args.n_trials, timeout_s=args.timeout, label=args.label)
    who = f"worker {args.label} ({socket.gethostname()})" if args.label else f"worker on {socket.gethostname()}"
    running = still_running(ctx.study)
    elsewhere = f", {running} still running on other workers" if running else ""
    print(f"{who}: study '{spec.name}' in {_redact(url)}: {outcome['finished']}/{outcome['budget']} runs finished"
          f"{elsewhere}")
    return 0
