"""Policy backend for a searcher that is already served behind an OpenAI-compatible completions API.

Prompts are sent as token ids to ``/v1/completions``. On vLLM servers (``vllm_extensions=True``) the
reply carries the sampled ids themselves (``return_tokens_as_token_ids``) and their log-probs, so the
trajectory holds exactly what was sampled. Other servers return text: it is tokenised with the
model's tokenizer and log-probs are ``None`` (fine for inference, not for training).

Example::

    policy = OpenAIPolicy.from_pretrained("Qwen/Qwen2.5-7B-Instruct",   # the tokenizer
                                          base_url="http://127.0.0.1:8001/v1", model="searcher")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from s3.policy.base import Generation, PolicyBackend

log = logging.getLogger(__name__)


class OpenAIPolicy(PolicyBackend):
    """A served searcher model, called through the official ``openai`` client.

    Args:
        client: an ``openai.OpenAI`` client.
        model: the served model name.
        tokenizer: the model's tokenizer (prompts are token ids).
        vllm_extensions: send vLLM's extra parameters (token ids back, stop strings kept in the output).
        max_concurrency: requests in flight at once.
        max_stop_strings: send at most this many stop strings (OpenAI's own API accepts 4).
    """

    name = "openai"

    def __init__(
        self,
        client: Any,
        model: str,
        tokenizer: Any,
        vllm_extensions: bool = True,
        max_concurrency: int = 16,
        max_stop_strings: int | None = None,
    ):
        self.client = client
        self.model = model
        self.tokenizer = tokenizer
        self.vllm_extensions = vllm_extensions
        self.max_concurrency = max(1, max_concurrency)
        self.max_stop_strings = max_stop_strings
        self._warned_text = False

    @classmethod
    def from_pretrained(
        cls,
        tokenizer_path: str,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        **kwargs: Any,
    ) -> OpenAIPolicy:
        """Connect to ``base_url`` (default ``$S3_SEARCHER_BASE_URL``); ``model`` defaults to the path."""
        import openai
        from transformers import AutoTokenizer

        kwargs.pop("device", None)
        base_url = base_url or os.environ.get("S3_SEARCHER_BASE_URL")
        if not base_url:
            raise ValueError(
                "the openai backend needs base_url= (or S3_SEARCHER_BASE_URL), e.g. http://127.0.0.1:8001/v1"
            )
        client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY", "EMPTY"),
            timeout=timeout,
            max_retries=max_retries,
        )
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        return cls(client, model or tokenizer_path, tokenizer, **kwargs)

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        stops = list(stop)[: self.max_stop_strings] if self.max_stop_strings is not None else list(stop)

        def one(prompt: Sequence[int]) -> Generation:
            return self._complete(list(prompt), max_new_tokens, temperature, top_p, stops, seed)

        if len(prompts) <= 1:
            return [one(p) for p in prompts]
        with ThreadPoolExecutor(min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(one, prompts))

    def _complete(
        self,
        prompt: list[int],
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        stop: list[str],
        seed: int | None,
    ) -> Generation:
        extra: dict[str, Any] = {}
        if self.vllm_extensions:
            extra = {"return_tokens_as_token_ids": True, "include_stop_str_in_output": True}
        reply = self.client.completions.create(
            model=self.model,
            prompt=prompt,
            max_tokens=max_new_tokens,
            temperature=max(0.0, temperature),
            top_p=top_p if temperature > 0 else 1.0,
            stop=stop or None,
            logprobs=1 if self.vllm_extensions else None,
            seed=seed,
            extra_body=extra or None,
        )
        choice = reply.choices[0]
        finish = "length" if choice.finish_reason == "length" else "stop"
        lp = getattr(choice, "logprobs", None)
        tokens = getattr(lp, "tokens", None) if lp is not None else None
        if tokens:
            ids = [_token_id(t) for t in tokens]
            if all(i is not None for i in ids):
                values = [0.0 if x is None else float(x) for x in (lp.token_logprobs or [])]
                return Generation([int(i) for i in ids], values if len(values) == len(ids) else None, finish)
        text = choice.text or ""
        stop_reason = (getattr(choice, "model_extra", None) or {}).get("stop_reason")
        if isinstance(stop_reason, str) and not text.endswith(stop_reason):
            text += stop_reason  # the server dropped the stop string; the trajectory keeps it
        if not self._warned_text:
            log.warning("the server returned text, not token ids: re-tokenising it; log-probs unavailable")
            self._warned_text = True
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return Generation(ids, None, finish)

    def close(self) -> None:
        self.client.close()


def _token_id(token: str) -> int | None:
    """vLLM's ``token_id:1234`` form of a returned token."""
    if isinstance(token, str) and token.startswith("token_id:"):
        try:
            return int(token.split(":", 1)[1])
        except ValueError:
            return None
    return None
