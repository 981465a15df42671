#!/usr/bin/env bash
# cifar10-wrn end to end on one GPU (benchmarks/gpu_reproduce.py) on the offline CIFAR-10 sets,
# packed to travel with the checkout: WRN-40-2, 100-epoch baseline, 10-epoch OE fine-tune, the
# reference protocol, bf16 + channels-last + torch.compile; wall time per stage, images/s, test
# error, mean FPR95, and the fp32 reference-style pipeline's images/s (`ratio: X` last).
#
#   # here, where ../shared/data is (once): pack the data into the ignored benchmarks/pack/
#   python3 benchmarks/pack_cifar.py pack --data-root ../shared/data --out benchmarks/pack/cifar.npz
#   # on the GPU machine, with benchmarks/pack carried along (34.7 MiB):
#   bash benchmarks/gpu_reproduce.sh           # about 5 minutes on one H200 (estimate)
#   bash benchmarks/gpu_reproduce.sh --smoke   # CPU, seconds: a synthetic pack, one epoch each
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ "${1:-}" == "--smoke" ]]; then
    python3 benchmarks/pack_cifar.py pack --synthetic 40 --out "$work/pack.npz"
    python3 benchmarks/pack_cifar.py unpack "$work/pack.npz" --out "$work/cifar.npz"
    python3 benchmarks/gpu_reproduce.py --data "$work/cifar.npz" --out "$work/run" --smoke
    exit 0
fi
pack=benchmarks/pack/cifar.npz
if [[ ! -f "$pack" ]]; then
    echo "no $pack: make it where the shared data is (see the top of this file) and carry it" >&2
    exit 2
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 benchmarks/pack_cifar.py unpack "$pack" --out "$work/cifar.npz"
python3 benchmarks/gpu_reproduce.py --data "$work/cifar.npz" --out "$work/run"
