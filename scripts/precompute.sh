#!/usr/bin/env bash
# Precompute naive RAG once per question: the cache s3's reward subtracts, and the trainer's files.
#
# Embedded default (no GPU, no downloads; builds the task in runs/task if missing, ~5 s):
#   bash scripts/precompute.sh
# Your data, a saved BM25 index and a vLLM-served generator (see scripts/serve_generator.sh), scored
# as the `7b` training preset's reward scores (the same generator; answer-span check, then that model
# as the judge): training refuses a cache computed with other generator or judge settings.
#   PRECOMPUTE_DATA="data/nq/train.jsonl data/hotpotqa/train.jsonl data/nq/test.jsonl" \
#   PRECOMPUTE_INDEX=indexes/wiki18-bm25 PRECOMPUTE_OUT=runs/precompute-nq \
#   bash scripts/precompute.sh generator.kind=openai generator.model=Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4 \
#       generator.base_url=http://127.0.0.1:8000/v1 generator.concurrency=64 \
#       judge.kind=openai judge.model=Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4 judge.base_url=http://127.0.0.1:8000/v1
# On Ray (a local one-node Ray is started; set ray_address=... for a cluster):
#   PRECOMPUTE_BACKEND=ray bash scripts/precompute.sh ray_workers=2
#
# A killed run resumes where it stopped when started again with the same settings.
# Environment overrides (defaults in brackets):
#   PRECOMPUTE_TASK_DIR [runs/task]        embedded-task folder (used when PRECOMPUTE_DATA is empty)
#   PRECOMPUTE_DATA     []                 QA files (.jsonl, .parquet) or hf:NAME/CONFIG:SPLIT, space separated
#   PRECOMPUTE_CORPUS   []                 corpus JSONL (BM25 is built from it)
#   PRECOMPUTE_INDEX    []                 saved BM25 index folder
#   PRECOMPUTE_OUT      [runs/precompute]  output folder
#   PRECOMPUTE_BACKEND  [local]            local | ray
#   Extra arguments are config overrides key=value (`s3 precompute --help-config` lists them).
set -euo pipefail
args=(--output "${PRECOMPUTE_OUT:-runs/precompute}" --backend "${PRECOMPUTE_BACKEND:-local}")
if [[ -n "${PRECOMPUTE_DATA:-}" ]]; then
  read -r -a data <<< "$PRECOMPUTE_DATA"
  for d in "${data[@]}"; do args+=(--data "$d"); done
else
  args+=(--task-dir "${PRECOMPUTE_TASK_DIR:-runs/task}")
fi
[[ -n "${PRECOMPUTE_CORPUS:-}" ]] && args+=(--corpus "$PRECOMPUTE_CORPUS")
[[ -n "${PRECOMPUTE_INDEX:-}" ]] && args+=(--index "$PRECOMPUTE_INDEX")
exec s3 precompute "${args[@]}" "$@"
