#!/usr/bin/env bash
# One prepared run for a GPU machine (one GPU; torch, transformers, peft, accelerate installed, no
# internet), for issues #12 and #18. About 10 minutes on an H200; each part has its own time limit so
# a slow one cannot eat the rest. Prints everything to stdout and writes JSON under bench/out/.
#
#   bash bench/trainer/gpu_check.sh [PYTHON]
set -uo pipefail
cd "$(dirname "$0")/../.."
PY="${1:-python3}"
export PYTHONPATH="$PWD/trainer${PYTHONPATH:+:$PYTHONPATH}"
export LORA_QUEUE_TINY_MODEL="${LORA_QUEUE_TINY_MODEL:-$PWD/.cache/tiny-model}"
nvidia-smi -L || true
"$PY" -c 'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "peft", peft.__version__)'
"$PY" -c 'import flash_attn' 2>/dev/null && echo "flash_attn: installed" || echo "flash_attn: not installed (packing uses SDPA with a block-diagonal mask)"
"$PY" -c 'import liger_kernel' 2>/dev/null && echo "liger_kernel: installed" || echo "liger_kernel: not installed (loss fused falls back to chunked)"

echo "== 1. the GPU-only pytest (bf16 autocast, gradient checkpointing, packing and the loss options on CUDA)"
timeout 240 "$PY" -m pytest test/trainer/test_trainer.py::test_gpu_bf16_gradient_checkpointing test/trainer/test_packing.py -q -rs -p no:cacheprovider

echo "== 2. #18: 1b-shaped model at 2,048 tokens: plain HF Trainer + PEFT, ours (defaults), ours with packing + fused loss, ours with gradient checkpointing"
timeout 420 "$PY" bench/trainer/run.py --size 1b --seq-len 2048 --batch-size 4 --grad-accum 1 --steps 20 --rounds 1 \
  --variants packed-fused,gc --device cuda

echo "== 3. #12: the launcher's overhead: one plain process against torchrun --nproc_per_node 1, 1b model"
timeout 240 "$PY" bench/trainer/dist.py --size 1b --seq-len 2048 --batch-size 4 --steps 15 --rounds 1 \
  --variants plain,torchrun1 --device cuda
