"""`greenknobs confirm`: repeat each Pareto configuration K times and store mean ± std (see `_confirm`)."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("confirm", help="re-run each Pareto configuration K times (seeds s+1..s+K); store mean ± std")
    add_common(p)
    p.add_argument("--repeats", type=int, default=3, metavar="K",
                   help="repeats per Pareto configuration, counting those already run (default 3)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs._errors import GreenknobsError
    from greenknobs.search.cli._status import open_existing
    from greenknobs.search.cli._run import load
    from greenknobs.search.study._confirm import confirm_pareto, confirm_text
    from greenknobs.search.study._study import open_study

    if args.repeats < 1:
        raise GreenknobsError(f"--repeats must be at least 1, not {args.repeats}")
    open_existing(args)  # a missing study is an error here, not a new empty study
    ctx = open_study(load(args))

    def progress(t) -> None:
        ua = t.user_attrs
        what = (f"{ua.get('energy_j', 0):,.1f} J ({ua.get('energy_source')}), F1 {ua.get('f1', 0):.4f}"
                if t.state.name == "COMPLETE" else f"{t.state.name}: {ua.get('fail_reason', '')}")
        print(f"confirm: trial {t.number} repeats trial {ua.get('confirm_of')} with seed {ua.get('confirm_seed')}: {what}",
              file=sys.stderr, flush=True)

    stats = confirm_pareto(ctx, args.repeats, on_trial=progress)
    print(confirm_text(ctx.study, stats, args.repeats))
    return 0
