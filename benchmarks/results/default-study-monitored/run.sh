#!/bin/bash
# Real default studies with early_stop = "monitor" (every run reports, none is stopped) at study seeds 0, 1, 2, each
# holding the machine (benchmarks/_cpu.py's lock); then, from the repository root:
#   python -m benchmarks.early_stop monitored benchmarks/results/default-study-monitored/seed{0,1,2}/default.journal
# Measured 2026-11-30 from /tmp/esreal (run.out, seed*/run.log), on studies/default.toml as it was before its
# `early_stop = "off"` line (the same file otherwise; the sed then inserted the monitor line after `seed`).
# Usage: benchmarks/results/default-study-monitored/run.sh [WORKDIR]   (from the repository root)
set -u
repo=$(pwd)
work=${1:-/tmp/esreal}
exec 9>/tmp/greenknobs-cpu.lock; flock -x 9
for s in 0 1 2; do
  d=$work/s$s; rm -rf "$d"; mkdir -p "$d/studies"; cd "$d"
  sed -e "s/^seed = 0$/seed = $s/" -e 's/^early_stop = .*/early_stop = "monitor"/' "$repo/studies/default.toml" \
    > studies/default.toml
  grep -n "^seed\|^early_stop" studies/default.toml
  echo "seed $s start $(date -u +%FT%TZ) load $(cut -d' ' -f1 /proc/loadavg)"
  t=$(date +%s)
  greenknobs run studies/default.toml > run.log 2>&1; rc=$?
  echo "seed $s run rc=$rc wall_s=$(( $(date +%s) - t )) end $(date -u +%FT%TZ)"
  greenknobs status studies/default.toml > status.txt 2>&1
done
