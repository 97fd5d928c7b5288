#!/usr/bin/env bash
# The paper's Table 2: MIRAGE's medical multiple-choice sets (MedQA-US, MedMCQA, PubMedQA*, BioASQ-Y/N,
# MMLU-Med) in the 8-3-3 setting, every question, the question shown with its options to the searcher
# and the generator, the initial retrieval on the question alone, answers scored by option letter or
# option text, then the judge. Same environment overrides as scripts/evaluate-8-3-3.sh, e.g.:
#   MIRAGE_FILE=data/mirage/benchmark.json RETRIEVER=indexes/medcorp CKPT=runs/s3-7b/checkpoint-20 \
#   GENERATOR_MODEL=Qwen/Qwen2.5-14B-Instruct GENERATOR_URL=http://127.0.0.1:8000/v1 \
#   bash scripts/evaluate-mirage.sh
# MedCorp snippets (MedRAG's {id, title, content, contents} JSONL) index like any corpus:
#   s3 index --corpus medcorp.jsonl --output indexes/medcorp --kind bm25
set -euo pipefail
TABLE=medical exec bash "$(dirname "$0")/evaluate-8-3-3.sh" "$@"
