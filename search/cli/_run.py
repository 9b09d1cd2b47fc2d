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
    from greenknobs.search.study import load_spec

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
    import signal
    import sys

    from greenknobs.search.analysis import Notes, confirm_text, status_text
    from greenknobs.search.cli._confirm import progress_line
    from greenknobs.search.study import run as run_study_file, redact

    check_counts(args)
    spec = load(args)
    out = run_study_file(spec, n_trials=args.n_trials, timeout_s=args.timeout, sampler=args.sampler, seed=args.seed,
                         workers=args.workers, confirm=args.confirm, on_confirm_run=progress_line, notes=Notes())
    if out.confirmation == "done":
        print(confirm_text(out.ctx.study, out.confirmed))
    for i, code in enumerate(out.worker_codes):
        if code in (0, 130) or out.interrupted and code in (-signal.SIGINT, -signal.SIGTERM):
            continue  # done, or stopped by the signal passed on to it
        why = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        print(f"greenknobs: worker w{i + 1} {why}", file=sys.stderr)
    print(f"study '{spec.name}' in {redact(spec.storage_url())}: {out.finished}/{out.budget} runs finished")
    print(status_text(out.ctx.study))
    if out.interrupted:
        return 130
    return max((2 if c == 2 else 1 for c in out.worker_codes if c != 0), default=0)


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
