#!/usr/bin/env bash
# The GPU path on one NVIDIA GPU (H100/H200), in about 8 minutes, from the repository root:
#
#   bash benchmarks/gpu/fetch_wheels.sh            # here, once, where PyPI is reachable: fills benchmarks/gpu/wheels/
#   bash benchmarks/gpu/run.sh                     # there, with benchmarks/gpu/wheels carried along
#   GK_GPU_DRY_RUN=1 bash benchmarks/gpu/run.sh    # anywhere: the same steps on this CPU (tiny-bert, estimated),
#                                                  # into benchmarks/gpu/results-dry/ (ignored)
#   GK_GPU_STEPS="install study confirm export_front status" bash benchmarks/gpu/run.sh   # some steps again
#
# Steps (each with its own time limit; a failed step is logged and the next one runs):
#   1 install   the carried wheels and greenknobs into /tmp/gk-site (nothing is downloaded)
#   2 check     versions, the GPU, NVML's power limits
#   3 knobs     `greenknobs knobs`: what applies on this machine
#   4 trials    baseline + one trial per GPU-only knob value on MiniLM, measured-gpu; the power cap: set, read back,
#               a trial under it, restored, NVML's default limit recorded (or the exact error)
#   5 study     a 10-trial study, confirmed and exported
# Results: benchmarks/gpu/results/ (summary.md first; commit them); copied to $OUT when the device tool runs it.
set -euo pipefail

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DRY=${GK_GPU_DRY_RUN:-0}
# A rerun of some steps only (on the device, install is needed again: each machine starts bare).
STEPS=${GK_GPU_STEPS:-install check knobs trials study confirm export_front status}
RESULTS=${GK_GPU_RESULTS:-benchmarks/gpu/results$([ "$DRY" = 1 ] && echo -dry || true)}
mkdir -p "$RESULTS"
LOG="$RESULTS/run.log"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
export HF_HUB_DISABLE_PROGRESS_BARS=1 CUDA_DEVICE_ORDER=PCI_BUS_ID
PY=${GK_PYTHON:-python3}
STARTED=$(date +%s)
FAILED=()

if [ "$DRY" = 1 ]; then
  TASK=fortunes-tiny ENERGY=estimate FIXED='epochs=1,tokenizer="rust",max_length=32'
  GREENKNOBS=("$PY" -m greenknobs)
else
  TASK=fortunes ENERGY=zeus FIXED='epochs=1'
  SITE=/tmp/gk-site
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  GREENKNOBS=("$PY" -m greenknobs)
fi

log() { echo "[$(( $(date +%s) - STARTED ))s] $*" | tee -a "$LOG"; }

# step NAME SECONDS: run this script's function NAME in a child with a time limit (timeout runs programs, not
# functions), output to RESULTS/NAME.log and the run's log; a failure is recorded and the run goes on.
step() {
  local name=$1 limit=$2 rc=0
  case " $STEPS " in *" $name "*) ;; *) log "-- $name skipped (GK_GPU_STEPS)"; return 0 ;; esac
  log "== $name (limit ${limit}s)"
  timeout --kill-after=15 "$limit" bash "$SELF" --step "$name" >"$RESULTS/$name.log" 2>&1 || rc=$?
  tail -n 40 "$RESULTS/$name.log" >>"$LOG"
  if [ "$rc" -eq 0 ]; then
    log "ok $name"
  else
    local why="exit $rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="$why, timed out after ${limit}s"; fi
    FAILED+=("$name ($why)")
    log "!! $name failed: $why"
  fi
  return 0
}

install() {
  if [ "$DRY" = 1 ]; then
    echo "dry run: using the current environment"
    return 0
  fi
  ls benchmarks/gpu/wheels/*.whl >/dev/null 2>&1 || { echo "no wheels in benchmarks/gpu/wheels: run fetch_wheels.sh here and carry the folder"; return 1; }
  rm -rf "$SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" benchmarks/gpu/wheels/*.whl
  # greenknobs itself, from this working tree (setuptools is in the image)
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" .
}

check() {
  nvidia-smi --query-gpu=name,driver_version,power.limit,power.default_limit,power.min_limit,power.max_limit \
    --format=csv || echo "nvidia-smi: not available"
  "$PY" - <<'EOF'
import importlib, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
for name in ("transformers", "peft", "bitsandbytes", "zeus", "optuna", "datasets", "pyarrow", "accelerate",
             "greenknobs"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as err:
        print(name, "FAILED", type(err).__name__, err)
from greenknobs.objectives.energy import _gpu, make_meter
print("GPUs seen by Zeus", _gpu.gpu_probe())
if _gpu.gpu_count():
    try:
        print("power limit: range", _gpu.power_limit_range_w(0), "default", _gpu.default_power_limit_w(0),
              "now", _gpu.current_power_limit_w(0), "nvml index", _gpu.nvml_index(0))
    except Exception as err:
        print("power limit:", err)
print("meter:", make_meter("auto").description)
EOF
}

study() {
  local dir="$RESULTS/study"
  rm -rf "$dir"
  mkdir -p "$dir"
  local template=benchmarks/gpu/study.toml
  [ "$DRY" = 1 ] && template=benchmarks/gpu/study-dry.toml
  sed -e "s/@TASK@/$TASK/" -e "s/@ENERGY@/$ENERGY/" "$template" >"$dir/gpu.toml"
  if [ "$DRY" = 1 ]; then
    printf '\n[fixed]\nepochs = 1\ntokenizer = "rust"\n' >>"$dir/gpu.toml"
  else
    printf '\n[fixed]\nepochs = 1\n' >>"$dir/gpu.toml"
  fi
  "${GREENKNOBS[@]}" run "$dir/gpu.toml" --n-trials 10
}

knobs() { "${GREENKNOBS[@]}" knobs --task "$TASK"; }
trials() { "$PY" benchmarks/gpu/trials.py --out "$RESULTS" --task "$TASK" --energy "$ENERGY" --fixed "$FIXED"; }
confirm() { "${GREENKNOBS[@]}" confirm "$RESULTS/study/gpu.toml" --repeats 2; }
export_front() { "${GREENKNOBS[@]}" export "$RESULTS/study/gpu.toml" --out "$RESULTS/study/pareto"; }
status() { "${GREENKNOBS[@]}" status "$RESULTS/study/gpu.toml"; }

if [ "${1:-}" = --step ]; then  # a step's child (see step): run the one function
  "$2"
  exit
fi

# The GPU limits add up to 470 s: the run ends within 8 minutes whatever hangs.
: >"$LOG"
if [ "$DRY" = 1 ]; then LIMITS=(60 120 120 900 900 600 120 120); else LIMITS=(90 30 40 140 110 40 10 10); fi
log "greenknobs GPU run: dry=$DRY task=$TASK energy=$ENERGY results=$RESULTS"
step install "${LIMITS[0]}"
step check "${LIMITS[1]}"
step knobs "${LIMITS[2]}"
step trials "${LIMITS[3]}"
step study "${LIMITS[4]}"
step confirm "${LIMITS[5]}"
step export_front "${LIMITS[6]}"
step status "${LIMITS[7]}"

{
  echo "# GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "dry run: $DRY · task: $TASK · energy: $ENERGY · wall: $(( $(date +%s) - STARTED )) s"
  echo
  if [ ${#FAILED[@]} -eq 0 ]; then echo "Every step finished."; else echo "Steps that failed: ${FAILED[*]}"; fi
  echo
  echo '## Machine'; echo; echo '```'; cat "$RESULTS/check.log" 2>/dev/null; echo '```'
  echo
  echo '## Trials'; echo; cat "$RESULTS/trials.md" 2>/dev/null || echo "(no trials.md: see trials.log)"
  echo
  echo '## Study'; echo; echo '```'; tail -n 30 "$RESULTS/status.log" 2>/dev/null; echo '```'
  echo
  echo '## Knobs'; echo; echo '```'; cat "$RESULTS/knobs.log" 2>/dev/null; echo '```'
} >"$RESULTS/summary.md"
log "summary: $RESULTS/summary.md"

if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then  # the device tool brings back at most 8 files, 2 folders down
  cp "$RESULTS/summary.md" "$RESULTS/run.log" "$OUT/" 2>/dev/null || true
  cp "$RESULTS/trials.json" "$OUT/" 2>/dev/null || true
  tar -czf "$OUT/gpu-results.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")" 2>/dev/null || true
fi
[ ${#FAILED[@]} -eq 0 ]
