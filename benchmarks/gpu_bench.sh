#!/usr/bin/env bash
# The prepared GPU check (one run of at most ~5 minutes on a lent H100/H200): full-size inference and fine-tuning
# speed with random weights. The GPU machine has torch but no diffusers/peft and no network, so carry wheels:
#
#   pip download -q --only-binary=:all: --no-deps --python-version 3.12 --platform manylinux2014_x86_64 \
#       -d gpu_wheels diffusers==0.41.0 peft==0.21.2 ml-dtypes==0.6.0 pycocotools==2.0.11 \
#       opencv-python-headless==4.12.0.88
#   (then run this script through the device tool with carry=["gpu_wheels"]; results land in $OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./gpu_results}
mkdir -p "$OUT"
if [ -d gpu_wheels ]; then
  pip install -q --no-index --find-links gpu_wheels diffusers peft ml-dtypes pycocotools opencv-python-headless
fi
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/card.csv" || true
timeout 200 python benchmarks/bench_core.py --preset full --device cuda --repeats 3 > "$OUT/core.json"
timeout 80 python benchmarks/bench_finetune.py --preset full > "$OUT/finetune.json" || echo "finetune bench failed" >&2
cat "$OUT"/*.json
