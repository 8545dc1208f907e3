#!/usr/bin/env bash
# Fetch, on a machine with network, the wheels that a GPU machine without network needs for scripts/gpu_check.sh:
# har's pure-Python dependencies that a CUDA PyTorch + Lightning + torchmetrics environment lacks (Hydra, OmegaConf
# and ANTLR's runtime, albumentations and its needs, pycocotools and faster-coco-eval, orjson), for the GPU
# machine's Python version and platform. They go to wheels/gpu/ (git-ignored); copy the repository with that folder
# to the GPU machine, where gpu_check.sh installs them from it (pip --no-index). The folder must stay <= 60 MiB.
#
#   scripts/gpu_wheels.sh                         # for this machine's Python (e.g. 3.11) on manylinux x86_64
#   scripts/gpu_wheels.sh --python-version 3.12   # for the GPU machine's Python
#   scripts/gpu_wheels.sh --with-opencv           # also opencv-python-headless (~55 MiB alone) if it lacks cv2
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEST=wheels/gpu
PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PLATFORMS=(manylinux2014_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64)  # glibc >= 2.28 on the GPU machine
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYVER=$2; shift 2 ;;
    --platform) PLATFORMS=("$2"); shift 2 ;;
    --with-opencv) EXTRA+=("$(grep -E '^opencv-python-headless==' requirements.txt | cut -d' ' -f1)"); shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "gpu_wheels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
pin() { grep -E "^$1==" requirements.txt | cut -d' ' -f1; }
# Pinned in requirements.txt: the versions the suite runs with.
PINNED=(hydra-core omegaconf albumentations pycocotools faster-coco-eval orjson)
# Their own needs that a torch/Lightning environment does not bring (versions as resolved here by pip).
NEEDS=(albucore pydantic pydantic-core annotated-types typing-inspection stringzilla simsimd PyYAML)
mkdir -p "$DEST"
SPECS=()
for name in "${PINNED[@]}"; do SPECS+=("$(pin "$name")"); done
for name in "${NEEDS[@]}"; do
  version=$("$PY" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)
  SPECS+=("$name${version:+==$version}")
done
echo "gpu_wheels.sh: Python $PYVER, ${PLATFORMS[*]} -> $DEST: ${SPECS[*]} ${EXTRA[*]}"
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp "${PLATFORMS[@]/#/--platform=}" -d "$DEST" "${SPECS[@]}" "${EXTRA[@]}"
# OmegaConf's ANTLR runtime is published as a source archive only: build its (pure-Python) wheel here.
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$DEST" "antlr4-python3-runtime==4.9.3"
size=$(du -sm "$DEST" | cut -f1)
ls -1 "$DEST"
echo "gpu_wheels.sh: $(ls "$DEST" | wc -l) wheels, $size MiB in $DEST"
if [ "$size" -gt 60 ]; then
  echo "gpu_wheels.sh: $DEST is over 60 MiB" >&2
  exit 1
fi
