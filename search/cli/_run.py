from __future__ import annotations


def add_common(p, study_optional: bool = True) -> None:
    p.add_argument("study", nargs="?" if study_optional else None, default="studies/default.toml", metavar="STUDY.toml",
                   help="study definition file (default: studies/default.toml)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: journal file beside the study file)")
    p.add_argument("--study-name", metavar="NAME", help="study name in the storage (default: the file's)")


def add_budget_options(p) -> None:
    p.add_argument("--n-trials", type=int, metavar="N",
                   help="budget in training runs (the baseline's seeds and re-measurements count), over every run and "
                        "worker of the study")
    p.add_argument("--timeout", type=float, metavar="S", help="stop starting trials after S seconds")
    p.add_argument("--sampler", "--strategy", dest="sampler", metavar="NAME", help="tpe, nsga2, gp, random or cascade")
    p.add_argument("--seed", type=int, metavar="N", help="sampler and pipeline seed")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="create or resume a study and run trials until its budget")
    add_common(p)
    add_budget_options(p)
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes on this host, sharing the study (one GPU each; without GPUs, a share of the cores)")
    p.add_argument("--no-confirm", dest="confirm", action="store_false", default=None,
                   help="skip the paired confirmation of the Pareto candidates on the test split at the end")
    p.set_defaults(handler=run)


def load(args):
    from greenknobs.search.study._spec import load_spec

    spec = load_spec(args.study)
    if getattr(args, "study_name", None):
        spec.name = args.study_name
    if getattr(args, "storage", None):
        spec.storage = args.storage
    if getattr(args, "n_trials", None) is not None:
        spec.n_trials = args.n_trials  # the budget a sampler plans for (cascade) is the one this run counts to
    return spec


def check_counts(args) -> None:
    from greenknobs._errors import GreenknobsError

    if args.n_trials is not None and args.n_trials < 1:
        raise GreenknobsError(f"--n-trials must be at least 1, not {args.n_trials}")
    if args.timeout is not None and not args.timeout > 0:
        raise GreenknobsError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    for flag in ("workers", "threads"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise GreenknobsError(f"--{flag} must be at least 1, not {value}")


def run(args) -> int:
    from greenknobs.search.analysis._status import status_text
    from greenknobs.search.study._storage import _redact
    from greenknobs.search.study._study import open_study, run_study
    from greenknobs.search.study._workers import check_shared_storage, heartbeat_for, sigterm_interrupts

    check_counts(args)
    spec = load(args)
    url = spec.storage_url()
    if args.workers > 1:
        check_shared_storage(url, args.workers, f"--workers {args.workers}")
        return _run_workers(args, spec, url)
    with sigterm_interrupts():
        ctx = open_study(spec, sampler=args.sampler, seed=args.seed, heartbeat_interval_s=heartbeat_for(url))
        outcome = run_study(ctx, n_trials=args.n_trials, timeout_s=args.timeout)
        confirm_at_end(ctx, args)
    print(f"study '{spec.name}' in {_redact(url)}: {outcome['finished']}/{outcome['budget']} runs finished")
    print(status_text(ctx.study))
    return 0


def confirm_at_end(ctx, args) -> None:
    """The paired confirmation on the test split, by default (`--no-confirm` or `confirm = false` skip it)."""
    import sys

    from greenknobs.search.cli._confirm import progress_line
    from greenknobs.search.records._records import pareto_trials
    from greenknobs.search.study._confirm import confirm_pareto, confirm_seeds, confirm_text, write_notes

    write_notes(ctx.study)  # the candidates' role and the noise floor, in the dashboard's notes
    if not (ctx.spec.confirm if args.confirm is None else args.confirm):
        print("confirmation skipped: nothing is recommended until `greenknobs confirm` runs the candidates on the "
              "test split", file=sys.stderr, flush=True)
        return
    candidates = pareto_trials(ctx.study)
    if not candidates:
        print("nothing to confirm: no trial saved a measurable amount of energy above the F1 floor",
              file=sys.stderr, flush=True)
        return
    seeds = confirm_seeds(ctx)
    print(f"confirming {len(candidates)} candidate(s) and the baseline on the test split at paired seeds "
          f"{', '.join(map(str, seeds))} ({(len(candidates) + 1) * len(seeds)} runs at most)", file=sys.stderr,
          flush=True)
    print(confirm_text(ctx.study, confirm_pareto(ctx, on_run=progress_line)))


def _run_workers(args, spec, url: str) -> int:
    import signal
    import sys

    from greenknobs.objectives.energy import make_meter
    from greenknobs.search.study._lost import recover_lost_trials
    from greenknobs.search.analysis._status import status_text
    from greenknobs.search.study._storage import _redact
    from greenknobs.search.study._study import ensure_baseline, finished_count, open_study
    from greenknobs.search.study._workers import plan, run_workers, sigterm_interrupts, worker_command

    meter = make_meter(spec.energy, watts_per_core=spec.watts_per_core)
    envs, threads, how = plan(args.workers, meter.source)
    with sigterm_interrupts():
        # Created here, once: the workers find the study, its baseline queued and this host's dead trials failed.
        ctx = open_study(spec, sampler=args.sampler, seed=args.seed, meter=meter)
        recover_lost_trials(ctx.study)
        ensure_baseline(ctx)
    budget = args.n_trials if args.n_trials is not None else spec.n_trials
    print(f"study '{spec.name}' in {_redact(url)}: {how}", file=sys.stderr, flush=True)
    commands = [worker_command(str(args.study), url, spec.name, budget, timeout_s=args.timeout, sampler=args.sampler,
                               seed=args.seed, threads=threads, label=f"w{i + 1}") for i in range(args.workers)]
    codes, interrupted = run_workers(commands, envs)
    if not interrupted and all(c == 0 for c in codes):
        with sigterm_interrupts():
            confirm_at_end(ctx, args)
    for i, code in enumerate(codes):
        if code in (0, 130) or interrupted and code in (-signal.SIGINT, -signal.SIGTERM):
            continue  # done, or stopped by the signal passed on to it
        why = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        print(f"greenknobs: worker w{i + 1} {why}", file=sys.stderr)
    print(f"study '{spec.name}' in {_redact(url)}: {finished_count(ctx.study)}/{budget} runs finished")
    print(status_text(ctx.study))
    if interrupted:
        return 130
    return max((2 if c == 2 else 1 for c in codes if c != 0), default=0)


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
