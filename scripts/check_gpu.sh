#!/usr/bin/env bash
# First check on a GPU machine: two GRPO steps each of the tiny model and SmolLM2-135M-Instruct, full
# fine-tuning and LoRA, bf16 on CUDA; then the FAISS GPU index if FAISS has GPU support. Prints the step
# time, peak memory, the trained weights' dtype and whether they moved; exit 0 when all did.
#
#   scripts/check_gpu.sh                                   # CUDA, the default models
#   scripts/check_gpu.sh --models tiny,/path/to/SmolLM2-135M-Instruct --output check.json
#   scripts/check_gpu.sh --device cpu --models tiny        # a smoke test of this script on a CPU
#
# Environment overrides: PYTHON (default: python). Arguments go to `python -m s3.train.gpu_check`.
set -euo pipefail
exec "${PYTHON:-python}" -m s3.train.gpu_check "$@"
