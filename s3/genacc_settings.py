"""What a GenAcc score depends on: the answering generator's settings and the judge's.

``s3 precompute`` records :func:`genacc_settings` with every naive-RAG cache entry, and ``s3 train``
compares them with its reward's (:func:`s3.train.plan.check_baseline_settings`): the gain beyond RAG
subtracts the cached score from the reward's, so both must be the same measurement.

Example::

    genacc_settings(GeneratorConfig(kind="openai", model="M"), judge=None)
    # {"generator": {"kind": "openai", "model": "M", "temperature": 0.0, ...}, "judge": None}
"""

from __future__ import annotations

from typing import Any

#: the generator fields that change a GenAcc score (endpoints, concurrency and caching do not)
GENACC_GENERATOR_FIELDS = ("kind", "model", "temperature", "top_p", "max_tokens", "stop")


def genacc_settings(generator: Any, judge: Any | None) -> dict[str, Any]:
    """What a GenAcc score depends on: the answering generator's settings and the judge's (``None``:
    the answer-span check alone). Recorded with every naive-RAG cache entry by ``s3 precompute`` and
    compared with the training reward's (the judge's own sampling is fixed by
    :class:`~evaluation.judge.LLMJudge`, so only its kind and model count).

    Args:
        generator, judge: :class:`~generators.factory.GeneratorConfig` objects.
    """
    gen = {name: getattr(generator, name) for name in GENACC_GENERATOR_FIELDS}
    gen["stop"] = list(gen["stop"])
    if gen["kind"] == "offline":  # the offline reader has no model: a model name left in the config is inert
        gen["model"] = ""
    return {
        "generator": gen,
        "judge": None if judge is None else {"kind": judge.kind, "model": judge.model},
    }


def describe_genacc_settings(settings: dict[str, Any]) -> str:
    """One line for messages: ``generator openai 'M' (temperature 0.0, ...), judge openai 'J'``."""
    g = settings.get("generator") or {}
    judge = settings.get("judge")
    name = f"{g.get('kind')} {g.get('model')!r}" if g.get("model") else str(g.get("kind"))
    extra = ", ".join(f"{k} {g.get(k)}" for k in ("temperature", "top_p", "max_tokens") if k in g)
    return f"generator {name} ({extra}), " + (
        f"judge {judge.get('kind')} {judge.get('model')!r}" if judge else "no judge (answer-span check only)"
    )
