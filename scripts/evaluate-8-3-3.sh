#!/usr/bin/env bash
# The paper's tables in its 8-3-3 setting (8 documents per search, at most 3 selected per search, 3
# searches; naive RAG and the multi-turn baselines retrieve 3 per query) with one frozen generator:
# Table 1 (general QA: NQ, TriviaQA, PopQA, HotpotQA, 2Wiki, MuSiQue) by default, Table 2 (MIRAGE's
# medical multiple-choice sets) with TABLE=medical or scripts/evaluate-mirage.sh. As the paper's
# tables did: at most 3,000 sampled questions per general set (seed 42; the test split, else dev),
# every MIRAGE question, at most 20 documents to the generator, GenAcc with the generator as judge
# (or JUDGE_MODEL). Writes table.md (differences from the paper listed under the table), table.csv,
# table-genacc.csv / table-em.csv (rows = methods, columns = datasets, average) and genacc.png.
# Resumes if rerun.
#
# Table 1 from the Hugging Face hub (FlashRAG_datasets), a /retrieve server and a vLLM-served generator:
#   CKPT=runs/s3-7b/checkpoint-20 RETRIEVER=http://127.0.0.1:3000/retrieve \
#   GENERATOR_MODEL=Qwen/Qwen2.5-14B-Instruct GENERATOR_URL=http://127.0.0.1:8000/v1 \
#   bash scripts/evaluate-8-3-3.sh
# The same from offline copies (FLASHRAG_DIR/<config>/test.jsonl, else dev.jsonl):
#   FLASHRAG_DIR=data/flashrag CKPT=... RETRIEVER=... GENERATOR_MODEL=... bash scripts/evaluate-8-3-3.sh
# Table 2 over MedCorp:
#   TABLE=medical MIRAGE_FILE=data/mirage/benchmark.json RETRIEVER=indexes/medcorp CKPT=... \
#   GENERATOR_MODEL=... bash scripts/evaluate-8-3-3.sh
# The embedded task on a CPU (BM25 and the offline generator; nothing to download):
#   CKPT=runs/demo/train/final TASK_DIR=runs/demo/task bash scripts/evaluate-8-3-3.sh
# Extra arguments go to `s3 evaluate` unchanged (`--limit 20`, `--set episode_preset=5-3-4`).
#
# Environment overrides (defaults in brackets):
#   TABLE           [general]  general (Table 1) | medical (Table 2)
#   CKPT            []  searcher checkpoint; adds the s3 row and its no-select / no-init ablations
#   METHODS         [naive-rag,(oracle,)direct,cot + the s3 rows]  comma-separated method specs
#                        (naive-rag, oracle, direct, cot, ircot, search-o1, query-rewrite,
#                         s3:CKPT, s3-untrained:BASE, s3-no-select:CKPT, s3-no-init:CKPT, search-r1:CKPT)
#   DATASETS        []  space-separated NAME=QA_SPEC in place of the table's sets
#   FLASHRAG_DIR    []  offline FlashRAG_datasets folder for Table 1; empty = the hub
#   MIRAGE_FILE     [data/mirage/benchmark.json]  MIRAGE's benchmark.json for Table 2
#   TASK_DIR        []  embedded task folder (built if missing): evaluate on it instead of a table
#   RETRIEVER       []  index folder or /retrieve URL; empty = BM25 built over CORPUS
#   CORPUS          []  corpus JSONL (the oracle's documents; the default BM25 index)
#   GENERATOR_MODEL []  served generator model; empty = the offline extractive reader (no judge)
#   GENERATOR_URL   [$S3_GENERATOR_BASE_URL or http://127.0.0.1:8000/v1]
#   JUDGE_MODEL     []  LLM judge model (same endpoint unless JUDGE_URL); empty = the generator judges
#   JUDGE_URL       [$GENERATOR_URL]
#   REASONER        []  local model folder for IRCoT / Search-o1 / query rewriting
#   OUTPUT          [runs/eval-8-3-3 (embedded), runs/eval-general-qa, runs/eval-mirage]
set -euo pipefail

table=${TABLE:-general}
methods=${METHODS:-}
if [[ -z "$methods" ]]; then
  methods="naive-rag"
  # the oracle needs gold passages: the embedded task and corpora given with CORPUS have them
  [[ -n "${TASK_DIR:-}" || ( "$table" == general && -n "${CORPUS:-}" ) ]] && methods+=",oracle"
  methods+=",direct,cot"
  [[ -n "${CKPT:-}" ]] && methods+=",s3:${CKPT},s3-no-select:${CKPT},s3-no-init:${CKPT}"
fi

args=(evaluate --methods "$methods")
if [[ -n "${TASK_DIR:-}" ]]; then
  args+=(--preset embedded --task-dir "$TASK_DIR" --output "${OUTPUT:-runs/eval-8-3-3}" --set episode_preset=8-3-3)
else
  case "$table" in
    general) args+=(--preset general-qa) ;;
    medical) args+=(--preset mirage --set "mirage_file=${MIRAGE_FILE:-data/mirage/benchmark.json}") ;;
    *) echo "TABLE must be general or medical, got '$table'" >&2; exit 2 ;;
  esac
  [[ -n "${OUTPUT:-}" ]] && args+=(--output "$OUTPUT")
  [[ -n "${FLASHRAG_DIR:-}" ]] && args+=(--set "flashrag_dir=$FLASHRAG_DIR")
  for d in ${DATASETS:-}; do args+=(--dataset "$d"); done
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
