from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("knobs", help="list every knob: phase, domain, baseline, and whether it applies here")
    p.add_argument("--task", help="task whose models resolve task-dependent domains (default: fortunes)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.analysis import knob_rows

    rows = knob_rows(args.task)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    widths = {"name": 22, "phase": 9, "domain": 40, "baseline": 9}
    print(f"{'knob':<{widths['name']}} {'phase':<{widths['phase']}} {'domain':<{widths['domain']}} "
          f"{'baseline':<{widths['baseline']}} applies here")
    for r in rows:
        applies = "yes" if r["applies"] == "yes" else f"{r['applies']}: {r['why']}"
        print(f"{r['name']:<{widths['name']}} {r['phase']:<{widths['phase']}} {r['domain']:<{widths['domain']}} "
              f"{r['baseline']:<{widths['baseline']}} {applies}")
        print(f"{'':<22} {r['help']}" + (f" (only when {r['condition']})" if r["condition"] else ""))
    return 0
