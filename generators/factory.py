"""Build a frozen generator from config: ``load_generator(GeneratorConfig(...) | dict)``.

One config shape covers the three kinds: ``offline`` (the extractive reader that needs no model),
``openai`` (any OpenAI-compatible endpoint: ``vllm serve``, hosted APIs, ``transformers serve``) and
``transformers`` (a local model in this process). The sampling fields become the generator's
default sampling.

Example::

    gen = load_generator({"kind": "openai", "model": "Qwen/Qwen2.5-14B-Instruct",
                          "base_url": ["http://10.0.0.1:8000/v1"], "cache_dir": "runs/cache"})
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.base import Generator, SamplingParams

KINDS = ("offline", "openai", "transformers")

#: environment variable that overrides the default endpoint of the ``openai`` kind
BASE_URL_ENV = "S3_GENERATOR_BASE_URL"


def field(default: Any = dataclasses.MISSING, *, help: str = "", default_factory: Any = dataclasses.MISSING):
    """A dataclass field with a help text (``s3 <cmd> --help-config`` shows it; every config uses this)."""
    kwargs: dict[str, Any] = {"metadata": {"help": help}}
    if default_factory is not dataclasses.MISSING:
        kwargs["default_factory"] = default_factory
    else:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def _default_base_url() -> str:
    return os.environ.get(BASE_URL_ENV, "http://127.0.0.1:8000/v1")


@dataclass
class GeneratorConfig:
    """Which frozen generator to use and how to call it."""

    kind: str = field("offline", help="offline | openai | transformers")
    model: str = field("", help="model name sent to the endpoint, or the local model path (transformers)")
    base_url: str | list[str] = field(
        default_factory=_default_base_url,
        help=f"endpoint base URL or list of replicas (openai kind; default from ${BASE_URL_ENV})",
    )
    api_key_env: str = field("OPENAI_API_KEY", help="environment variable holding the API key")
    concurrency: int = field(32, help="requests in flight at once (openai kind)")
    timeout: float = field(60.0, help="seconds per attempt (openai kind)")
    max_retries: int = field(3, help="extra attempts after a retryable failure (openai kind)")
    cache_dir: str | None = field(None, help="folder of the on-disk response cache; None disables it")
    extra_body: dict[str, Any] = field(
        default_factory=dict, help="extra JSON fields per request (openai kind)"
    )
    temperature: float = field(0.0, help="sampling temperature (0 = greedy)")
    top_p: float = field(1.0, help="nucleus sampling mass")
    max_tokens: int = field(64, help="answer length limit in tokens")
    stop: list[str] = field(default_factory=list, help="stop strings (cut client-side too)")
    seed: int | None = field(None, help="sampling seed")
    device: str = field("cpu", help="torch device (transformers kind)")
    batch_size: int = field(8, help="requests per generate call (transformers kind)")
    dtype: str = field("float32", help="torch dtype (transformers kind)")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"generator.kind: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind in ("openai", "transformers") and not self.model:
            raise ValueError(f"generator.model: required for kind {self.kind!r}")
        if self.max_tokens < 1:
            raise ValueError(f"generator.max_tokens: must be >= 1, got {self.max_tokens}")

    def sampling(self) -> SamplingParams:
        """The sampling fields as :class:`~generators.base.SamplingParams`."""
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=list(self.stop),
            seed=self.seed,
        )


#: fields that say how the generator is reached, never what it answers: resumed runs may change them
CONNECTION_FIELDS = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "cache_dir")


def generator_fingerprint(cfg: GeneratorConfig | dict[str, Any] | None) -> dict[str, Any] | None:
    """The settings of a generator that change its answers (kind, model, sampling, extra request
    fields, dtype, ...) without those that only say how it is reached (:data:`CONNECTION_FIELDS`).

    A run resumed against the same model on another port, with another timeout or retry budget,
    compares equal; one resumed with another model or temperature does not.

    Example:
        >>> a = generator_fingerprint(GeneratorConfig(kind="openai", model="m", base_url="http://a:1/v1"))
        >>> a == generator_fingerprint(GeneratorConfig(kind="openai", model="m", base_url="http://b:2/v1/"))
        True
    """
    if cfg is None:
        return None
    fields = dataclasses.asdict(cfg) if isinstance(cfg, GeneratorConfig) else dict(cfg)
    return {k: v for k, v in fields.items() if k not in CONNECTION_FIELDS}


def load_generator(cfg: GeneratorConfig | dict[str, Any]) -> Generator:
    """Build the generator a config describes.

    Args:
        cfg: a :class:`GeneratorConfig` or a dict of its fields (unknown keys are an error).

    Returns:
        A :class:`~generators.base.Generator` whose default sampling is the config's.

    Raises:
        ValueError: an unknown kind or field, or a missing model, naming the field.
    """
    if isinstance(cfg, dict):
        names = {f.name for f in dataclasses.fields(GeneratorConfig)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise ValueError(
                f"generator: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        cfg = GeneratorConfig(**cfg)
    gen: Generator
    if cfg.kind == "openai":
        from generators.cache import ResponseCache
        from generators.openai_client import OpenAIGenerator

        cache = ResponseCache(Path(cfg.cache_dir) / "responses.sqlite") if cfg.cache_dir else None
        gen = OpenAIGenerator(
            cfg.model,
            cfg.base_url,
            api_key_env=cfg.api_key_env,
            concurrency=cfg.concurrency,
            timeout=cfg.timeout,
            max_retries=cfg.max_retries,
            cache=cache,
            extra_body=cfg.extra_body or None,
        )
    elif cfg.kind == "transformers":
        from generators.hf import TransformersGenerator

        gen = TransformersGenerator(cfg.model, device=cfg.device, batch_size=cfg.batch_size, dtype=cfg.dtype)
    else:
        from generators.offline import ExtractiveReader

        gen = ExtractiveReader()
    gen.default_sampling = cfg.sampling()
    return gen
