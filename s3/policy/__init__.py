"""Policy backends: the searcher's own LLM (transformers, vLLM, an OpenAI-compatible endpoint, scripted).

Import the backend you need from its module (``s3.policy.hf.HFPolicy``, ...); :func:`load_policy`
builds one by name. Heavy libraries are imported only by the backend that uses them.
"""

from __future__ import annotations

from typing import Any

from s3.policy.base import Generation, PolicyBackend

BACKENDS = ("transformers", "vllm", "openai")


def load_policy(path: str, backend: str = "transformers", **kwargs: Any) -> PolicyBackend:
    """Load a searcher model by backend name.

    Args:
        path: a model folder or hub id (for ``openai``: the tokenizer's folder or hub id).
        backend: ``"transformers"``, ``"vllm"`` or ``"openai"``.
        **kwargs: passed to the backend's ``from_pretrained`` (``device``, ``base_url``, ...).
    """
    if backend in ("transformers", "hf"):
        from s3.policy.hf import HFPolicy

        return HFPolicy.from_pretrained(path, **kwargs)
    if backend == "vllm":
        from s3.policy.vllm import VLLMPolicy

        return VLLMPolicy.from_pretrained(path, **kwargs)
    if backend == "openai":
        from s3.policy.openai import OpenAIPolicy

        return OpenAIPolicy.from_pretrained(path, **kwargs)
    raise ValueError(f"unknown policy backend {backend!r}; choose one of {BACKENDS}")


__all__ = ["BACKENDS", "Generation", "PolicyBackend", "load_policy"]
