#!/usr/bin/env bash
# Serve a retrieval index on POST /retrieve (the Search-R1 / s3 wire format).
#
#   scripts/serve_retriever.sh idx/                  # 127.0.0.1:3000
#   PORT=4000 scripts/serve_retriever.sh idx/ --topk 12
#   HOST=0.0.0.0 S3_RETRIEVER_TOKEN=secret scripts/serve_retriever.sh idx/
#
# Without an argument it builds (once) and serves the bundled sample corpus.
set -euo pipefail
INDEX="${1:-}"
shift || true
if [[ -z "${INDEX}" ]]; then
  INDEX="${S3_SAMPLE_INDEX:-runs/sample_bm25}"
  if [[ ! -f "${INDEX}/index.json" ]]; then
    CORPUS="$(python -c 'from retrievers.data import sample_corpus_path; print(sample_corpus_path())')"
    s3 index --corpus "${CORPUS}" --output "${INDEX}"
  fi
fi
exec s3 serve-retriever --index "${INDEX}" --host "${HOST:-127.0.0.1}" --port "${PORT:-3000}" "$@"
