"""`greenknobs confirm`: run the Pareto candidates and the baseline on the test split at paired seeds (see
study/_confirm.py); `run` does this at its end unless told not to, so this command adds seeds or redoes it."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("confirm", help="run the Pareto candidates and the baseline on the test split at paired seeds; "
                                       "recommend those whose one-sided tests clear the floor and 0 (Holm across "
                                       "training families, a fixed sequence within one, alpha spent over the looks)")
    add_common(p)
    p.add_argument("--repeats", type=int, metavar="K",
                   help="paired seeds at most, counting those already run: more seeds for the candidates still "
                        "open, one more look paid from the reserve of alpha (default: the study's confirm_max_repeats)")
    p.set_defaults(handler=run)


def progress_line(t) -> None:
    ua = t.user_attrs
    what = (f"{ua.get('energy_j', 0):,.1f} J ({ua.get('energy_source')}), {ua.get('f1_kind', '')} F1 "
            f"{ua.get('f1', 0):.4f} (test)" if t.state.name == "COMPLETE"
            else f"{t.state.name}: {ua.get('fail_reason', '')}")
    if "spread_of" in ua:
        print(f"confirm: trial {ua['spread_of']}'s kept model of search seed {ua.get('confirm_seed')} on the test "
              f"split, for the spread alone: {what}", file=sys.stderr, flush=True)
        return
    print(f"confirm: trial {ua.get('confirm_of')} at seed {ua.get('confirm_seed')} on the test split: {what}",
          file=sys.stderr, flush=True)


def run(args) -> int:
    from greenknobs.search.cli._run import load
    from greenknobs.search.cli._status import open_existing
    from greenknobs.search.analysis import Notes, confirm_text
    from greenknobs.search.study import confirm_pareto, open_study

    open_existing(args)  # a missing study is an error here, not a new empty study
    ctx = open_study(load(args), notes=Notes())
    stats = confirm_pareto(ctx, args.repeats, on_run=progress_line)
    print(confirm_text(ctx.study, stats))
    return 0
