"""Frozen generator clients: OpenAI-compatible (vLLM, hosted APIs), local transformers, an offline reader."""

from generators.base import ChatRequest, Generator, SamplingParams, cut_at_stop

__all__ = ["ChatRequest", "Generator", "SamplingParams", "cut_at_stop"]
