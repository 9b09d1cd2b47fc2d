"""`greenknobs export`: the recommended configurations, the unconfirmed candidates apart, and your own pick."""

from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("export", help="write the recommended configurations (and the candidates apart) as runnable "
                                      "config files plus index.md / index.csv")
    add_common(p)
    p.add_argument("--out", metavar="DIR", help="folder to write, replaced whole if an earlier export (default: "
                                                "NAME-recommended beside the study file)")
    p.add_argument("--min-f1-retention", type=float, metavar="R",
                   help="also write best.toml: the cheapest confirmed configuration whose F1-kept interval stays at "
                        "or above R (e.g. 0.99)")
    p.add_argument("--max-energy-j", type=float, metavar="J",
                   help="also write best.toml: the cheapest confirmed configuration whose test joules stay at or "
                        "below J (upper end of the interval)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.analysis import export_pareto
    from greenknobs.search.cli._status import open_existing, out_folder

    study = open_existing(args)
    out = out_folder(args, "recommended")
    files, picked = export_pareto(study, out, min_f1_retention=args.min_f1_retention, max_energy_j=args.max_energy_j)
    recommended = [f for f in files if f.suffix == ".toml" and f.parent.name != "candidates" and f.name != "best.toml"]
    candidates = [f for f in files if f.parent.name == "candidates"]
    print(f"exported study '{study.study_name}' to {out}: {len(recommended)} recommended configuration(s), "
          f"{len(candidates)} candidate(s) not recommended (in candidates/, each says why)")
    if picked:
        print(f"best.toml: {picked}")
    for f in files:
        print(f"  {f}")
    return 0
