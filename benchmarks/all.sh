#!/usr/bin/env bash
# Every benchmark, one after the other (never two at once: the estimate charges idle cores for wall time, so a
# concurrent load would inflate the joules). About 1 h 15 min on a 2-core CPU. Run from the repository root.
set -euo pipefail
python benchmarks/run.py search-quality
python benchmarks/run.py headline
python benchmarks/run.py screening
python benchmarks/run.py summarize
