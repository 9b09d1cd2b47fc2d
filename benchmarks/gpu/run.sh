#!/usr/bin/env bash
# The GPU path on one NVIDIA GPU (H100/H200), in at most 9 minutes, from the repository root:
#
#   bash benchmarks/gpu/fetch_wheels.sh            # here, once, where PyPI is reachable: fills benchmarks/gpu/wheels/
#   bash benchmarks/gpu/run.sh                     # there, with benchmarks/gpu/wheels carried along (timeout_s = 600)
#   GK_GPU_DRY_RUN=1 bash benchmarks/gpu/run.sh    # anywhere: the same steps on this CPU (tiny-bert, estimated),
#                                                  # into benchmarks/gpu/results-dry/ (ignored)
#   GK_GPU_STEPS="install study confirm export_front status" bash benchmarks/gpu/run.sh   # some steps again
#
# Every step runs the *installed* package: greenknobs goes into a site folder ($GK_GPU_SITE) and Python runs with -P,
# so the checkout's greenknobs/ folder (which holds only the package's top, not spaces/objectives/search) is never
# on sys.path. The card is left as it is found: its power limits are read, never set (GREENKNOBS_SET_POWER_LIMITS is
# removed from the environment).
#
# Steps (each with its own time limit; a failed step is logged and the next one runs):
#   install       the carried wheels and greenknobs' wheel into the site folder (nothing is downloaded)
#   check         versions (setuptools, pyarrow, fsspec, ...), where greenknobs was imported from, the GPU, NVML's
#                 power limits (range, default, in force)
#   knobs         `greenknobs knobs`: what applies on this machine
#   trials        baseline + one trial per GPU-relevant knob value (bf16 training and inference, sdpa, fp16, pinned
#                 memory, QLoRA, bitsandbytes int8 / NF4, 8-bit AdamW): per-phase joules and seconds, peak GPU
#                 memory, what served, phases that fell back to an estimate labelled
#   compile       baseline + compile + infer_compile (torch.compile warms up for a minute or two: its own step)
#   study         a 10-trial study (--no-confirm)
#   confirm       the study's paired confirmation on the test split
#   export_front  the exported front
#   status        the study's status
# After every step: the step's tail on stdout, and summary.md, run.log, trials*.json and gpu-results.tar.gz refreshed
# in $RESULTS and in $OUT (when set), so that whatever stops the run, what ran comes back.
set -euo pipefail

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DRY=${GK_GPU_DRY_RUN:-0}
# A rerun of some steps only (on the device, install is needed again: each machine starts bare).
STEPS=${GK_GPU_STEPS:-install check knobs trials compile study confirm export_front status}
RESULTS=${GK_GPU_RESULTS:-benchmarks/gpu/results$([ "$DRY" = 1 ] && echo -dry || true)}
SITE=${GK_GPU_SITE:-/tmp/gk-site$([ "$DRY" = 1 ] && echo -dry || true)}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
LOG="$RESULTS/run.log"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
export HF_HUB_DISABLE_PROGRESS_BARS=1 CUDA_DEVICE_ORDER=PCI_BUS_ID
export PYTHONPATH="$SITE"  # the installed package and the carried wheels, before the image's own site-packages
unset GREENKNOBS_SET_POWER_LIMITS  # read the card's power limits, never set them
PY=${GK_PYTHON:-python3}
GREENKNOBS=("$PY" -P -m greenknobs)  # -P: the working directory (the checkout) is not on sys.path
STARTED=$(date +%s)
FAILED=()
GRACE=5  # seconds between a step's SIGTERM and its SIGKILL

if [ "$DRY" = 1 ]; then
  TASK=fortunes-tiny ENERGY=estimate FIXED='epochs=1,tokenizer="rust",max_length=32' STUDY_EPOCHS=3
  # install check knobs trials compile study confirm export_front status: CPU-sized, no tool limit to fit
  LIMITS=(300 120 120 900 900 900 600 60 60)
else
  # Enough work per phase for NVML's counter (~100 ms updates): 3 epochs of 600 texts in the trials.
  TASK=fortunes ENERGY=zeus FIXED='epochs=3' STUDY_EPOCHS=2
  # 490 s of limits + 9 x 5 s of kill grace = 535 s <= 540 s: a timeout_s = 600 call always returns the results.
  LIMITS=(45 25 25 130 80 80 45 30 30)
fi
[ -n "${GK_GPU_BASELINE_ONLY:-}" ] && ONLY=(--baseline-only) || ONLY=()

log() { echo "[$(( $(date +%s) - STARTED ))s] $*" | tee -a "$LOG"; }

summary() {
  {
    echo "# GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "dry run: $DRY · task: $TASK · energy: $ENERGY · fixed: $FIXED · wall so far: $(( $(date +%s) - STARTED )) s"
    echo
    if [ ${#FAILED[@]} -eq 0 ]; then echo "No step failed (so far)."; else echo "Steps that failed: ${FAILED[*]}"; fi
    echo
    echo '## Machine'; echo; echo '```'; cat "$RESULTS/check.log" 2>/dev/null; echo '```'
    echo
    echo '## Trials'; echo; cat "$RESULTS/trials.md" 2>/dev/null || echo "(no trials.md: see trials.log)"
    echo
    echo '## torch.compile'; echo; cat "$RESULTS/trials-compile.md" 2>/dev/null || echo "(no trials-compile.md)"
    echo
    echo '## Study'; echo; echo '```'; tail -n 30 "$RESULTS/status.log" 2>/dev/null; echo '```'
    echo
    echo '## Knobs'; echo; echo '```'; cat "$RESULTS/knobs.log" 2>/dev/null; echo '```'
  } >"$RESULTS/summary.md"
}

# What comes back (the device tool: at most 8 files, 2 folders down): refreshed after every step.
refresh() {
  summary || true  # (errexit is off inside: a step that wrote nothing leaves a gap, not an exit)
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$RESULTS/summary.md" "$RESULTS/run.log" "$OUT/" 2>/dev/null || true
    cp "$RESULTS"/trials*.json "$OUT/" 2>/dev/null || true
    tar -czf "$OUT/gpu-results.tar.gz.part" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")" 2>/dev/null \
      && mv "$OUT/gpu-results.tar.gz.part" "$OUT/gpu-results.tar.gz" || true
  fi
}

# step NAME SECONDS: run this script's function NAME in a child with a time limit (timeout runs programs, not
# functions), output to RESULTS/NAME.log; its tail goes to stdout and the run's log; a failure is recorded and the
# run goes on.
step() {
  local name=$1 limit=$2 rc=0
  case " $STEPS " in *" $name "*) ;; *) log "-- $name skipped (GK_GPU_STEPS)"; return 0 ;; esac
  log "== $name (limit ${limit}s)"
  timeout --kill-after="$GRACE" "$limit" bash "$SELF" --step "$name" >"$RESULTS/$name.log" 2>&1 || rc=$?
  tail -n 25 "$RESULTS/$name.log" | sed 's/^/   | /' | tee -a "$LOG"
  if [ "$rc" -eq 0 ]; then
    log "ok $name"
  else
    local why="exit $rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="$why, timed out after ${limit}s"; fi
    FAILED+=("$name ($why)")
    log "!! $name failed: $why"
  fi
  refresh
  return 0
}

install() {
  rm -rf "$SITE"
  mkdir -p "$SITE"
  local pip=("$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE")
  local wheel=""
  if [ "$DRY" = 1 ]; then
    echo "dry run: dependencies from the current environment; greenknobs built from this tree"
  else
    local carried=()
    mapfile -t carried < <(ls benchmarks/gpu/wheels/*.whl 2>/dev/null | grep -v '/greenknobs-' || true)
    [ ${#carried[@]} -gt 0 ] || { echo "no wheels in benchmarks/gpu/wheels: run fetch_wheels.sh here and carry the folder"; return 1; }
    "${pip[@]}" "${carried[@]}"
    wheel=$(ls benchmarks/gpu/wheels/greenknobs-*.whl 2>/dev/null | head -n 1 || true)
  fi
  if [ -z "$wheel" ]; then  # build it from this tree, in a clean copy (a stale build/ folder would leak in)
    local src
    src=$(mktemp -d)
    tar -cf - --exclude=__pycache__ pyproject.toml README.md greenknobs spaces objectives search | tar -xf - -C "$src"
    "$PY" -c 'import setuptools; print("setuptools", setuptools.__version__)'
    "$PY" -m pip wheel -q --no-index --no-deps --no-build-isolation -w "$src/dist" "$src"
    wheel=$(ls "$src"/dist/greenknobs-*.whl)
  fi
  echo "greenknobs from $(basename "$wheel")"
  "${pip[@]}" "$wheel"
  ls "$SITE"
}

check() {
  nvidia-smi --query-gpu=name,driver_version,power.limit,power.default_limit,power.min_limit,power.max_limit \
    --format=csv || echo "nvidia-smi: not available"
  "$PY" -P - "$SITE" <<'EOF'
import importlib, importlib.metadata, os, sys
import torch
site = os.path.realpath(sys.argv[1])
print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
for name in ("setuptools", "pyarrow", "fsspec", "datasets", "transformers", "peft", "bitsandbytes", "zeus", "optuna",
             "accelerate", "huggingface_hub", "greenknobs"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as err:
        print(name, "FAILED", type(err).__name__, err)
import greenknobs
if not os.path.realpath(greenknobs.__file__).startswith(site + os.sep):
    sys.exit(f"greenknobs comes from {greenknobs.__file__}, not the installed package in {site}")
from greenknobs.objectives.energy import _gpu, make_meter
print("GPUs seen by Zeus", _gpu.gpu_probe())
if _gpu.gpu_count():
    try:
        print("power limit (read only): range", _gpu.power_limit_range_w(0), "default", _gpu.default_power_limit_w(0),
              "in force", _gpu.limit_in_force_w(0), "nvml index", _gpu.nvml_index(0))
    except Exception as err:
        print("power limit:", err)
print("setting power limits allowed:", _gpu.setting_power_limits_allowed())
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
  printf '\n[fixed]\nepochs = %s\n' "$STUDY_EPOCHS" >>"$dir/gpu.toml"
  [ "$DRY" = 1 ] && printf 'tokenizer = "rust"\nlearning_rate = 1e-3\n' >>"$dir/gpu.toml"
  "${GREENKNOBS[@]}" run "$dir/gpu.toml" --n-trials 10 --no-confirm
}

knobs() { "${GREENKNOBS[@]}" knobs --task "$TASK"; }
trials() { "$PY" -P benchmarks/gpu/trials.py --out "$RESULTS" --task "$TASK" --energy "$ENERGY" --fixed "$FIXED" "${ONLY[@]}"; }
compile() { "$PY" -P benchmarks/gpu/trials.py --out "$RESULTS" --task "$TASK" --energy "$ENERGY" --fixed "$FIXED" --group compile; }
# A study whose search found no candidate is a finding, not a broken step: greenknobs says so in one line (exit 2).
finding_if_no_candidate() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  echo "$out"
  if [ "$rc" -eq 2 ] && grep -q "has no Pareto candidate" <<<"$out"; then echo "finding: no Pareto candidate"; return 0; fi
  return "$rc"
}
confirm() { finding_if_no_candidate "${GREENKNOBS[@]}" confirm "$RESULTS/study/gpu.toml" --repeats 2; }
export_front() { finding_if_no_candidate "${GREENKNOBS[@]}" export "$RESULTS/study/gpu.toml" --out "$RESULTS/study/pareto"; }
status() { "${GREENKNOBS[@]}" status "$RESULTS/study/gpu.toml"; }

if [ "${1:-}" = --step ]; then  # a step's child (see step): run the one function
  "$2"
  exit
fi

: >"$LOG"
log "greenknobs GPU run: dry=$DRY task=$TASK energy=$ENERGY results=$RESULTS site=$SITE python=$PY"
step install "${LIMITS[0]}"
step check "${LIMITS[1]}"
step knobs "${LIMITS[2]}"
step trials "${LIMITS[3]}"
step compile "${LIMITS[4]}"
step study "${LIMITS[5]}"
step confirm "${LIMITS[6]}"
step export_front "${LIMITS[7]}"
step status "${LIMITS[8]}"
log "done in $(( $(date +%s) - STARTED )) s; ${#FAILED[@]} step(s) failed; summary: $RESULTS/summary.md"
refresh
[ ${#FAILED[@]} -eq 0 ]
