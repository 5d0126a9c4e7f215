#!/usr/bin/env bash
# The prepared GPU check (one run of at most ~8 minutes on a lent H100/H200): full-size inference with random
# weights at 768² for 1 / 28 steps x guidance 1 / 2 (ours against the release-like baseline, and every speed option
# against the plain path: attention kernels, channels-last VAE, torch.compile with its warm-up, with ratios, peak
# memory and the output difference), the evaluation batch sizes, and full-size fine-tuning. It has not run yet:
# no GPU was lent to the session that prepared it.
#
# The GPU machine has torch but no diffusers/peft and no network, so carry wheels:
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
timeout 420 python speed/bench_core.py --preset full --device cuda --repeats 3 \
  --variants plain,flash,efficient,cudnn,channels_last_vae,compile --eval-batch-sizes 1,4,8,16 > "$OUT/core.json"
timeout 90 python speed/bench_finetune.py --preset full > "$OUT/finetune.json" || echo "finetune bench failed" >&2
cat "$OUT"/*.json
