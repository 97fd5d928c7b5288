#!/usr/bin/env bash
# Train an s3 searcher with GRPO (TRL) on the gain-beyond-RAG reward.
#
# One device (a GPU, or a CPU with the tiny preset):
#   PRESET=7b CONFIG=my_run.yaml scripts/train_s3.sh
#   PRESET=tiny scripts/train_s3.sh model=runs/warmstart/final retriever=runs/precompute/index \
#       data.train_file=runs/precompute/train.jsonl reward.rag_cache=runs/precompute/rag_cache.jsonl
#
# Many GPUs (accelerate; DeepSpeed ZeRO-3 here, see configs/accelerate/README.md for the others):
#   ACCELERATE_CONFIG=configs/accelerate/zero3.yaml NUM_PROCESSES=8 PRESET=7b CONFIG=my_run.yaml scripts/train_s3.sh
# which runs:
#   accelerate launch --config_file configs/accelerate/zero3.yaml --num_processes 8 -m s3 train --preset 7b --config my_run.yaml
#
# Check the run first, on any machine (no GPU, no model download; exit 0, or 2 naming the field to change):
#   DRY_RUN=1 ACCELERATE_CONFIG=configs/accelerate/zero3.yaml NUM_PROCESSES=8 PRESET=7b scripts/train_s3.sh
#
# Environment overrides (all optional):
#   PRESET             tiny | 7b                      (default: 7b)
#   CONFIG             a YAML file of TrainConfig keys (default: none)
#   OUTPUT_DIR         where checkpoints and metrics go (default: the config's output_dir)
#   ACCELERATE_CONFIG  an accelerate config file; set it to launch with accelerate
#   NUM_PROCESSES      processes for accelerate (default: the accelerate config's)
#   S3_GENERATOR_BASE_URL  the frozen generator's OpenAI-compatible endpoint (read by the config)
#   PYTHON             the interpreter (default: python)
#   DRY_RUN            1: print and check the run plan (world size, batch split, precision, generator,
#                      baseline settings) for this launch, and exit
# Further arguments are passed on as key=value overrides (s3 train --help-config lists them).
# No host, GPU or path is fixed here: choose GPUs with CUDA_VISIBLE_DEVICES as usual.
set -euo pipefail

PRESET="${PRESET:-7b}"
PYTHON="${PYTHON:-python}"
args=(train --preset "$PRESET")
if [[ -n "${CONFIG:-}" ]]; then args+=(--config "$CONFIG"); fi
if [[ -n "${OUTPUT_DIR:-}" ]]; then args+=("output_dir=$OUTPUT_DIR"); fi
args+=("$@")

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  args+=(--dry-run)
  if [[ -n "${ACCELERATE_CONFIG:-}" ]]; then args+=(--accelerate-config "$ACCELERATE_CONFIG"); fi
  if [[ -n "${NUM_PROCESSES:-}" ]]; then args+=(--num-processes "$NUM_PROCESSES"); fi
  exec "$PYTHON" -m s3 "${args[@]}"
fi

if [[ -n "${ACCELERATE_CONFIG:-}" ]]; then
  if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "train_s3.sh: no CUDA GPU is visible here, and ACCELERATE_CONFIG=$ACCELERATE_CONFIG launches on GPUs;" \
      "DRY_RUN=1 checks this run without one" >&2
    exit 2
  fi
  launch=(accelerate launch --config_file "$ACCELERATE_CONFIG")
  if [[ -n "${NUM_PROCESSES:-}" ]]; then launch+=(--num_processes "$NUM_PROCESSES"); fi
  exec "${launch[@]}" -m s3 "${args[@]}"
else
  exec "$PYTHON" -m s3 "${args[@]}"
fi
