#!/usr/bin/env bash
# Serve the frozen generator behind an OpenAI-compatible endpoint.
#
# On GPUs (vLLM; install with `pip install -e ".[vllm]"`), the `7b` training preset's generator and judge:
#   bash scripts/serve_generator.sh
# another model (then give the same generator.model to `s3 precompute` and `s3 train`):
#   GENERATOR_MODEL=Qwen/Qwen2.5-14B-Instruct GENERATOR_TP=2 bash scripts/serve_generator.sh
# On a CPU, for a small local model folder (transformers serve; slow, for testing):
#   GENERATOR_BACKEND=transformers GENERATOR_MODEL=runs/demo/model/base bash scripts/serve_generator.sh
#
# Then point s3 at it, e.g. `s3 precompute generator.kind=openai generator.base_url=http://127.0.0.1:8000/v1
# generator.model=$GENERATOR_MODEL`. Several replicas can be listed as base URLs; requests are shared
# round-robin. Environment overrides (defaults in brackets):
#   GENERATOR_BACKEND [vllm]   vllm | transformers
#   GENERATOR_MODEL   [Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4]   hub id or local folder (the 7b preset's)
#   GENERATOR_HOST    [127.0.0.1]   bind address (use 0.0.0.0 only behind a firewall)
#   GENERATOR_PORT    [8000]
#   GENERATOR_TP      [1]   tensor-parallel size (vLLM)
#   GENERATOR_MAX_LEN [8192]  maximum context length (vLLM)
#   GENERATOR_GPU_MEM [0.9]   fraction of GPU memory vLLM may use
#   Extra arguments are passed to the server unchanged.
set -euo pipefail
backend=${GENERATOR_BACKEND:-vllm}
model=${GENERATOR_MODEL:-Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4}
host=${GENERATOR_HOST:-127.0.0.1}
port=${GENERATOR_PORT:-8000}
case "$backend" in
  vllm)
    exec vllm serve "$model" --host "$host" --port "$port" \
      --tensor-parallel-size "${GENERATOR_TP:-1}" --max-model-len "${GENERATOR_MAX_LEN:-8192}" \
      --gpu-memory-utilization "${GENERATOR_GPU_MEM:-0.9}" "$@"
    ;;
  transformers)
    exec transformers serve "$model" --host "$host" --port "$port" "$@"
    ;;
  *)
    echo "GENERATOR_BACKEND must be vllm or transformers, got '$backend'" >&2
    exit 2
    ;;
esac
