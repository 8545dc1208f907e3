#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py), one command on a single-GPU machine that has CUDA PyTorch, Lightning and
# torchmetrics but no network: installs what is missing from wheels/gpu/ (fetched beforehand by
# scripts/gpu_wheels.sh), builds the ROI JPEG decoder if it can, and runs the check (about 5-8 minutes). It writes
# outputs/gpu_check/gpu_check.json and gpu_check.md and prints the table.
#
#   scripts/gpu_check.sh                  # on the GPU machine
#   scripts/gpu_check.sh --cpu            # the smoke version on a CPU (tiny networks; the test suite runs it)
#   scripts/gpu_check.sh --out DIR        # other options go to bench/gpu_check.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export NO_ALBUMENTATIONS_UPDATE=1 WANDB_MODE=offline PYTHONUNBUFFERED=1 HAR_ROOT="$PWD"
missing=()
for pair in hydra:hydra-core omegaconf:omegaconf albumentations:albumentations pycocotools:pycocotools \
            faster_coco_eval:faster-coco-eval orjson:orjson cv2:opencv-python-headless; do
  "$PY" -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ ! -d wheels/gpu ]; then
    echo "gpu_check.sh: missing ${missing[*]} and no wheels/gpu/: run scripts/gpu_wheels.sh where there is network" >&2
    exit 1
  fi
  echo "gpu_check.sh: installing ${missing[*]} (and their needs) from wheels/gpu/"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-index --find-links wheels/gpu "${missing[@]}"
fi
"$PY" -m har.data.io.jpeg_roi --optional || true   # the ROI JPEG decoder where a compiler and libjpeg are found
exec "$PY" -m bench.gpu_check "$@"
