from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_budget_options, add_common

    p = sub.add_parser("worker", help="join a study as one more worker: any number of them, on any hosts, one storage")
    add_common(p)
    add_budget_options(p)
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for this worker (default: every core)")
    p.add_argument("--label", default="", metavar="NAME",
                   help="this worker's name on its host (`run --workers` names its workers w1, w2, ...); with the host "
                        "name and the study's seed it gives the worker's sampler seed (default: its GPUs and cores)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.analysis import Notes
    from greenknobs.search.cli._run import check_counts, load
    from greenknobs.search.study import redact, open_study, run_study, still_running
    from greenknobs.search.study import check_shared_storage, heartbeat_for, joined_as_worker, sigterm_interrupts, worker_of

    check_counts(args)
    spec = load(args)
    url = spec.storage_url()
    check_shared_storage(url, 2, "a worker (which shares its study with others)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    # Its sampler seed: the study's seed and this worker's identity, so workers do not draw the same configurations.
    with sigterm_interrupts(), joined_as_worker(args.label):
        ctx = open_study(spec, sampler=args.sampler, seed=args.seed, heartbeat_interval_s=heartbeat_for(url),
                         notes=Notes())
        outcome = run_study(ctx, n_trials=args.n_trials, timeout_s=args.timeout, label=args.label)
    me = worker_of(ctx)
    who = f"worker {me.identity} (sampler seed {me.seed})"
    running = still_running(ctx.study)
    elsewhere = f", {running} still running on other workers" if running else ""
    print(f"{who}: study '{spec.name}' in {redact(url)}: {outcome['finished']}/{outcome['budget']} runs finished"
          f"{elsewhere}")
    return 0
