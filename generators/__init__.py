"""Frozen generator clients: OpenAI-compatible (vLLM, hosted APIs), local transformers, an offline reader."""

from generators.base import ChatRequest, Generator, SamplingParams, cut_at_stop
from generators.cache import ResponseCache
from generators.factory import GeneratorConfig, load_generator
from generators.hf import TransformersGenerator
from generators.openai_client import GeneratorError, OpenAIGenerator, Usage

__all__ = [
    "ChatRequest",
    "Generator",
    "GeneratorConfig",
    "GeneratorError",
    "OpenAIGenerator",
    "ResponseCache",
    "SamplingParams",
    "TransformersGenerator",
    "Usage",
    "cut_at_stop",
    "load_generator",
]
