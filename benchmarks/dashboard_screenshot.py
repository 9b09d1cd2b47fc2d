"""A screenshot of a study's dashboard, taken in headless Chromium: the page people see with `greenknobs dashboard`.

    python -m benchmarks.dashboard_screenshot studies/default.toml --out benchmarks/results/dashboard.png
    python -m benchmarks.dashboard_screenshot STUDY.toml --storage URL [--study-name NAME] [--out FILE.png]
                                              [--width 1600] [--height 2400] [--timeout 180] [--no-push]

It starts the real command (`python -m greenknobs dashboard STUDY.toml --port FREE` on 127.0.0.1), opens the study's
page, waits until it is drawn, writes the PNG (the full page), and prints what the page shows: figures, Best Trials,
the trials the Pareto-front chart greys out as infeasible. The browser client is the dashboard tests' own
(tests/_browser.py): what the tests check is what this draws.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests._browser import NO_CHROMIUM, REPO, BrowserError, capture, dashboard, find_chromium, infeasible_points


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", help="study definition file (e.g. studies/default.toml)")
    p.add_argument("--storage", help="Optuna storage URL (default: the study file's)")
    p.add_argument("--study-name", help="study name in the storage (default: the study file's)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dashboard.png")
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=2400)
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for the page (default 180)")
    p.add_argument("--no-push", action="store_true", help="serve without (re)saving greenknobs' figures")
    args = p.parse_args(argv)
    try:
        if find_chromium() is None:  # before starting anything
            raise BrowserError(NO_CHROMIUM)
        name = args.study_name or _study_name(args.study)
        with dashboard(args.study, storage=args.storage, study_name=args.study_name, push=not args.no_push,
                       timeout=args.timeout) as base:
            shot = capture(base, name, args.out, width=args.width, height=args.height, timeout=args.timeout)
    except BrowserError as err:
        print(f"dashboard_screenshot: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) from {shot['url']}")
    print(f"figures drawn: {', '.join(k for k, v in shot['figures'].items() if v['drawn'])}")
    print(f"Best Trials: {shot['best_trials']}")
    print(f"greyed out as infeasible in the Pareto-front chart: {len(infeasible_points(shot))} trial(s)")
    return 0


def _study_name(study_file: str) -> str:
    from greenknobs._errors import GreenknobsError
    from greenknobs.search.study import load_spec

    try:
        return load_spec(study_file).name
    except GreenknobsError as err:
        raise BrowserError(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
