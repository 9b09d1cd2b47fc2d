from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("export", help="write the Pareto set as runnable config files plus index.md / index.csv")
    add_common(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (replaced whole if an earlier export)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.cli._status import open_existing
    from greenknobs.search.analysis._export import export_pareto

    study = open_existing(args)
    files = export_pareto(study, args.out)
    configs = [f for f in files if f.suffix == ".toml"]
    print(f"exported {len(configs)} Pareto configuration(s) of study '{study.study_name}' to {args.out}:")
    for f in files:
        print(f"  {f}")
    return 0
