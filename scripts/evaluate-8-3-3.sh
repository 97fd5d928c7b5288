#!/usr/bin/env bash
# Evaluate searchers and baselines in the paper's 8-3-3 setting (8 documents per search, at most 3
# selected per search, 3 searches; naive RAG and the multi-turn baselines retrieve 3 per query) with
# one frozen generator, then write the table (Markdown, CSV) and plots. Resumes if rerun.
#
# The demo's searcher on the embedded task on a CPU (BM25 and the offline generator; nothing to
# download; run `s3 demo` first):
#   CKPT=runs/demo/train/final TASK_DIR=runs/demo/task bash scripts/evaluate-8-3-3.sh
# Real test sets, a /retrieve server and a vLLM-served generator (see scripts/serve_generator.sh):
#   CKPT=runs/s3-7b/checkpoint-20 RETRIEVER=http://127.0.0.1:3000/retrieve \
#   DATASETS="nq=data/nq/test.jsonl hotpotqa=data/hotpotqa/test.jsonl" \
#   GENERATOR_MODEL=Qwen/Qwen2.5-14B-Instruct GENERATOR_URL=http://127.0.0.1:8000/v1 \
#   bash scripts/evaluate-8-3-3.sh
# Another setting is the same script with an override, e.g. `bash scripts/evaluate-8-3-3.sh --set
# episode_preset=5-3-4`; extra arguments go to `s3 evaluate` unchanged (`--limit 20`, `--set key=value`).
#
# Environment overrides (defaults in brackets):
#   CKPT            []  searcher checkpoint; adds the s3 row and its no-select / no-init ablations
#   METHODS         [naive-rag,oracle,direct,cot + the s3 rows]  comma-separated method specs
#                        (naive-rag, oracle, direct, cot, ircot, search-o1, query-rewrite,
#                         s3:CKPT, s3-untrained:BASE, s3-no-select:CKPT, s3-no-init:CKPT, search-r1:CKPT)
#   DATASETS        []  space-separated NAME=QA_FILE; empty = the embedded task's test split
#   TASK_DIR        [runs/embedded/task]  embedded task folder (built if missing)
#   RETRIEVER       []  index folder or /retrieve URL; empty = BM25 built over the corpus
#   CORPUS          []  corpus JSONL (the oracle's documents; the default BM25 index)
#   GENERATOR_MODEL []  served generator model; empty = the offline extractive reader
#   GENERATOR_URL   [$S3_GENERATOR_BASE_URL or http://127.0.0.1:8000/v1]
#   JUDGE_MODEL     []  LLM judge model (same endpoint unless JUDGE_URL); empty = span check only
#   JUDGE_URL       [$GENERATOR_URL]
#   REASONER        []  local model folder for IRCoT / Search-o1 / query rewriting
#   OUTPUT          [runs/eval-8-3-3]
set -euo pipefail

methods=${METHODS:-}
if [[ -z "$methods" ]]; then
  methods="naive-rag"
  [[ -z "${DATASETS:-}" || -n "${CORPUS:-}" ]] && methods+=",oracle"
  methods+=",direct,cot"
  [[ -n "${CKPT:-}" ]] && methods+=",s3:${CKPT},s3-no-select:${CKPT},s3-no-init:${CKPT}"
fi

args=(evaluate --methods "$methods" --output "${OUTPUT:-runs/eval-8-3-3}" --set episode_preset=8-3-3)
if [[ -z "${DATASETS:-}" ]]; then
  args+=(--preset embedded --task-dir "${TASK_DIR:-runs/embedded/task}")
else
  args+=(--preset 8-3-3)
  for d in $DATASETS; do args+=(--dataset "$d"); done
fi
[[ -n "${RETRIEVER:-}" ]] && args+=(--retriever "$RETRIEVER")
[[ -n "${CORPUS:-}" ]] && args+=(--set "corpus=$CORPUS")
[[ -n "${REASONER:-}" ]] && args+=(--reasoner "$REASONER")
url=${GENERATOR_URL:-${S3_GENERATOR_BASE_URL:-http://127.0.0.1:8000/v1}}
if [[ -n "${GENERATOR_MODEL:-}" ]]; then
  args+=(--set generator.kind=openai --set "generator.model=$GENERATOR_MODEL" --set "generator.base_url=$url")
fi
if [[ -n "${JUDGE_MODEL:-}" ]]; then
  args+=(--set judge.kind=openai --set "judge.model=$JUDGE_MODEL" --set "judge.base_url=${JUDGE_URL:-$url}")
fi
exec s3 "${args[@]}" "$@"
