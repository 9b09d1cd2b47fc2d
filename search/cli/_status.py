from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("status", help="trials by state, Pareto size, best reduction, energy spent")
    add_common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def open_existing(args):
    """The study a read-only command names: from the study file (name, storage), flags overriding."""
    from greenknobs.search.cli._run import load
    from greenknobs.search.study import load_study

    spec = load(args)
    return load_study(spec.name, spec.storage_url())


def out_folder(args, what: str) -> Path:
    """`--out`, else the folder `NAME-WHAT` beside the study file, where the default journal lies too:
    `report studies/default.toml` writes studies/default-report/."""
    from greenknobs.search.cli._run import load

    if args.out:
        return Path(args.out)
    spec = load(args)
    return (spec.path.parent if spec.path else Path("studies")) / f"{spec.name}-{what}"


def run(args) -> int:
    from greenknobs.search.analysis import status_text, study_status

    study = open_existing(args)
    print(json.dumps(study_status(study), indent=2) if args.json else status_text(study))
    return 0
