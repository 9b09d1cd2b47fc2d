from __future__ import annotations


def add_common(p, study_optional: bool = True) -> None:
    p.add_argument("study", nargs="?" if study_optional else None, default="studies/default.toml", metavar="STUDY.toml",
                   help="study definition file (default: studies/default.toml)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: journal file beside the study file)")
    p.add_argument("--study-name", metavar="NAME", help="study name in the storage (default: the file's)")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="create or resume a study and run trials until its budget")
    add_common(p)
    p.add_argument("--n-trials", type=int, metavar="N", help="trial budget, counted over every run of the study")
    p.add_argument("--timeout", type=float, metavar="S", help="stop starting trials after S seconds")
    p.add_argument("--sampler", metavar="NAME", help="tpe, nsga2, gp, random or cascade")
    p.add_argument("--seed", type=int, metavar="N", help="sampler and pipeline seed")
    p.set_defaults(handler=run)


def load(args):
    from greenknobs.search._spec import load_spec

    spec = load_spec(args.study)
    if getattr(args, "study_name", None):
        spec.name = args.study_name
    if getattr(args, "storage", None):
        spec.storage = args.storage
    return spec


def run(args) -> int:
    from greenknobs._errors import GreenknobsError
    from greenknobs.search._study import open_study, run_study

    if args.n_trials is not None and args.n_trials < 1:
        raise GreenknobsError(f"--n-trials must be at least 1, not {args.n_trials}")
    if args.timeout is not None and args.timeout <= 0:
        raise GreenknobsError(f"--timeout must be positive, not {args.timeout:g}")
    spec = load(args)
    ctx = open_study(spec, sampler=args.sampler, seed=args.seed)
    outcome = run_study(ctx, n_trials=args.n_trials, timeout_s=args.timeout)
    print(f"study '{spec.name}' in {spec.storage_url()}: {outcome['finished']}/{outcome['budget']} trials finished")
    from greenknobs.search._status import status_text

    print(status_text(ctx.study))
    return 0
