"""`greenknobs report`: the study's findings as report.md + PNG/HTML plots (see `_report`)."""

from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("report", help="single-knob effects, predicted vs observed cascades, importance, plots")
    add_common(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (replaced whole if an earlier report)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.cli._status import open_existing
    from greenknobs.search.analysis._report import build_report

    study = open_existing(args)
    path = build_report(study, args.out)
    print(f"report of study '{study.study_name}': {path}")
    return 0
