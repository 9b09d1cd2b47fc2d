"""`greenknobs report`: the study's findings as report.md + PNG/HTML plots (see `_report`)."""

from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("report", help="single-knob effects, predicted vs observed cascades, importance, plots")
    add_common(p)
    p.add_argument("--out", metavar="DIR", help="folder to write, replaced whole if an earlier report (default: "
                                                "NAME-report beside the study file)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.analysis import build_report
    from greenknobs.search.cli._status import open_existing, out_folder

    study = open_existing(args)
    path = build_report(study, out_folder(args, "report"))
    print(f"report of study '{study.study_name}': {path}")
    return 0
