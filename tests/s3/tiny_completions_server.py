"""A real OpenAI-compatible ``/v1/completions`` server over a local transformers model (tests only).

It mirrors what the searcher's OpenAI backend relies on in vLLM's server: token-id prompts,
``logprobs``, ``return_tokens_as_token_ids`` and ``include_stop_str_in_output``. With ``--text-only``
it behaves like a server without those extensions (text back, stop strings dropped).

    python tiny_completions_server.py --model DIR --port 8123 [--text-only]
"""

from __future__ import annotations

import argparse
import time

import uvicorn
from fastapi import FastAPI, Request


def build_app(model_dir: str) -> FastAPI:
    import torch

    torch.set_num_threads(1)
    from s3.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(model_dir, device="cpu")
    tok = policy.tokenizer
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict:
        body = await request.json()
        text_only = body.get("model") == "text-only"
        prompt = body["prompt"]
        ids = tok(prompt, add_special_tokens=False)["input_ids"] if isinstance(prompt, str) else list(prompt)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        [gen] = policy.generate(
            [ids],
            max_new_tokens=int(body.get("max_tokens") or 16),
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            stop=stop,
            seed=body.get("seed"),
        )
        out_ids, logprobs = gen.token_ids, gen.logprobs
        text = tok.decode(out_ids, skip_special_tokens=True)
        stop_reason = None
        for s in stop:  # cut at the first stop string, as a serving engine does
            if s in text:
                text = text[: text.index(s) + len(s)]
                stop_reason = s
        if text_only and stop_reason:
            text = text[: -len(stop_reason)]
        choice = {"index": 0, "text": text, "finish_reason": gen.finish_reason, "stop_reason": stop_reason}
        if body.get("logprobs") is not None and not text_only:
            tokens = [f"token_id:{i}" for i in out_ids] if body.get("return_tokens_as_token_ids") else None
            choice["logprobs"] = {
                "tokens": tokens,
                "token_logprobs": logprobs,
                "top_logprobs": None,
                "text_offset": [],
            }
        return {
            "id": "cmpl-test",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "tiny"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": len(out_ids),
                "total_tokens": len(ids) + len(out_ids),
            },
        }

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")
