#!/usr/bin/env bash
# One prepared GPU check for issue 4, sized to finish in about 8 minutes on one H200:
# WRN-40-2 on synthetic CIFAR-shaped data, the OE step (128 in-distribution + 256 outliers):
# images/s in fp32, bf16, bf16 + channels-last, and bf16 + channels-last + torch.compile; the
# reference-style pipeline (per-image PIL transforms in DataLoader workers); evaluation in fp32
# and bf16; the projected wall time of the CIFAR-10 recipe (100-epoch baseline + 10-epoch
# OE fine-tune) from the measured rates; and a streamed JPEG folder at 224 px (host decoding,
# the reference's DataLoader, GPU decoding; about a minute more).
#   bash benchmarks/gpu.sh            (needs a CUDA GPU; prints everything to stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(0), torch.__version__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

python3 benchmarks/gpu_step.py --steps 60 --warmup 10
echo "--- reference-style pipeline (PIL transforms, 8 DataLoader workers), fp32"
python3 benchmarks/bench_train_step.py --model wrn-40-2 --device cuda --steps 40 --warmup 5 --workers 8
echo "--- evaluation"
python3 benchmarks/bench_eval.py --model wrn-40-2 --device cuda --n 20000 --batch 1000
echo "--- streamed JPEG folder at 224 px: host decoding (16 threads) vs DataLoader (16 workers), and GPU decoding"
python3 benchmarks/bench_folder_pipeline.py --device cuda --workers 16 --images 3200 --batch-size 128
