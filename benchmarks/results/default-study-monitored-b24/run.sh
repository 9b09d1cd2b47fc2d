#!/bin/bash
# The default study at 24 runs (the baseline's 5 and 19 search runs) with early_stop = "monitor", at the given study
# seeds, each holding the machine (benchmarks/_cpu.py's lock); the search's 12-minute timeout lifted to 40 minutes
# so that the budget, not the clock, ends it. From the repository root:
#   benchmarks/results/default-study-monitored-b24/run.sh [WORKDIR] [SEEDS...]
set -u
repo=$(pwd)
work=${1:-/tmp/esreal24}; shift || true
seeds=${*:-0}
exec 9>/tmp/greenknobs-cpu.lock; flock -x 9
for s in $seeds; do
  d=$work/s$s; rm -rf "$d"; mkdir -p "$d/studies"; cd "$d"
  sed -e "s/^seed = 0$/seed = $s/" -e 's/^early_stop = .*/early_stop = "monitor"/' "$repo/studies/default.toml" \
    > studies/default.toml
  echo "seed $s start $(date -u +%FT%TZ) load $(cut -d' ' -f1 /proc/loadavg)"
  t=$(date +%s)
  greenknobs run studies/default.toml --n-trials 24 --timeout 2400 > run.log 2>&1; rc=$?
  echo "seed $s run rc=$rc wall_s=$(( $(date +%s) - t )) end $(date -u +%FT%TZ)"
  greenknobs status studies/default.toml > status.txt 2>&1
done
