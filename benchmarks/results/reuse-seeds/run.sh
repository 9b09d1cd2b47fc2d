#!/usr/bin/env bash
# The default study with trained-model reuse (as shipped) and without it (`reuse_training = false`, everything else
# the same), at the same study seeds, one study after another on a fresh clone, with and without interleaved per seed
# so that the machine's drift falls on both sides. Each run's foreign CPU share is recorded in its journal.
#   bash benchmarks/results/reuse-seeds/run.sh CLONE_DIR SIDE:SEED ...   (SIDE: reuse | no-reuse), in the order given
set -u
cd "$1"
shift
python3 -m venv .venv && . .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1
python -m pip install -q torch==2.13.0 >/dev/null 2>&1
python -m pip install -q -e ".[test]" >/dev/null 2>&1
sed 's/^reuse_training = true.*/reuse_training = false/' studies/default.toml > studies/default-no-reuse.toml
grep -q '^reuse_training = false' studies/default-no-reuse.toml || { echo "no reuse switch in the study file"; exit 2; }
echo "installed $(git rev-parse --short HEAD) $(date -u +%FT%TZ)"
one() {  # side seed study_file
  d=out/$1/seed$2; mkdir -p $d
  start=$(date +%s); load0=$(cut -d' ' -f1 /proc/loadavg)
  greenknobs run $3 --seed $2 --storage journal:$PWD/$d/default.journal > $d/run.out 2> $d/run.log
  code=$?
  end=$(date +%s); load1=$(cut -d' ' -f1 /proc/loadavg)
  greenknobs export $3 --storage journal:$PWD/$d/default.journal --out $d/recommended > $d/export.out 2>&1
  greenknobs status $3 --storage journal:$PWD/$d/default.journal > $d/status.txt 2>&1
  echo "seed $2 exit $code wall_s $((end-start)) load_start $load0 load_end $load1" | tee -a out/$1/summary.txt
}
for item in "$@"; do
  side=${item%%:*}; seed=${item##*:}
  if [ "$side" = reuse ]; then one reuse $seed studies/default.toml; else one no-reuse $seed studies/default-no-reuse.toml; fi
done
echo "done $(date -u +%FT%TZ)"
