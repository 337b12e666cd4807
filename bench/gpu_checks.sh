#!/usr/bin/env bash
# The GPU half of the speed work, in one go on a machine with a CUDA device (one H200 is what the targets name):
#   1. packing isolation and the labelled-token head with the GPU kernels (tests/test_packing_gpu.py), and the
#      memory estimate against the real peak (tests/test_memory_gpu.py)
#   2. bench/train_throughput.py on the Qwen2.5-0.5B and Llama-3.2-1B shapes: LoRA, QLoRA and full against their
#      padded baselines, peak memory and MFU, written to bench/RESULTS_GPU.md
# Targets (issue 13): LoRA >= 4.5x on the 0.5B shape at no more peak memory, QLoRA >= 4x, full >= 30 % MFU on 1B.
#   bash bench/gpu_checks.sh            # about 10 min on one H200 (most of it the throughput benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
python -c "import importlib.util as u; print({p: bool(u.find_spec(p)) for p in ('flash_attn', 'liger_kernel', 'bitsandbytes')})"
python -m pytest -q -p no:cacheprovider -s -m gpu tests/test_packing_gpu.py tests/test_memory_gpu.py
python bench/train_throughput.py --examples "${EXAMPLES:-640}" --results bench/RESULTS_GPU.md
