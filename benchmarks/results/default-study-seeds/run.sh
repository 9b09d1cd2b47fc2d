#!/usr/bin/env bash
# The default study at study seeds 0-4 on a fresh clone, one after the other, each holding the machine as far as
# this session allows (other work was paused or light; each run's foreign CPU share is recorded in its journal).
set -u
cd /tmp/fresh
python3 -m venv .venv && . .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1
python -m pip install -q torch==2.13.0 >/dev/null 2>&1
python -m pip install -q -e ".[test]" >/dev/null 2>&1
echo "installed $(date -u +%FT%TZ)"
for seed in 0 1 2 3 4; do
  d=out/seed$seed; mkdir -p $d
  start=$(date +%s); load0=$(cut -d' ' -f1 /proc/loadavg)
  greenknobs run studies/default.toml --seed $seed --storage journal:$PWD/$d/default.journal > $d/run.out 2> $d/run.log
  code=$?
  end=$(date +%s); load1=$(cut -d' ' -f1 /proc/loadavg)
  greenknobs export studies/default.toml --storage journal:$PWD/$d/default.journal --out $d/recommended > $d/export.out 2>&1
  greenknobs status studies/default.toml --storage journal:$PWD/$d/default.journal > $d/status.txt 2>&1
  echo "seed $seed exit $code wall_s $((end-start)) load_start $load0 load_end $load1" | tee -a out/summary.txt
done
echo "done $(date -u +%FT%TZ)"
