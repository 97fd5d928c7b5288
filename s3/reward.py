"""The training reward of s3: the frozen generator's accuracy with the searcher's context.

Three named variants (``RewardConfig.kind``), per question ``q`` with gold answers ``A``:

* ``gbr`` (the paper, Gain Beyond RAG): ``GenAcc(G(q, D_s3), A) - baseline(q)``.
* ``gbr+acc`` (what the reference code trained with): ``GBR + GenAcc(G(q, D_s3), A)``, i.e.
  ``2 * GenAcc(s3) - baseline``.
* ``acc``: ``GenAcc(G(q, D_s3), A)`` alone (no baseline needed).

The baseline term is pluggable (:data:`BASELINES`): by default the naive-RAG GenAcc cached by
``s3 precompute`` (``rag_cache``); ``none`` (always 0); or any importable callable
``"package.module:factory"`` that builds a :class:`BaselineTerm` (e.g. another searcher's cached
accuracy). A question missing from the baseline is handled as ``RewardConfig.on_missing`` says:
``error`` (default: raise, naming the questions), ``skip`` (reward ``None``, which the GRPO trainer turns
into a zero advantage) or ``compute`` (answer with the naive-RAG documents now). It is never replaced
by a zero-shot answer.

Note: the baseline is constant within a GRPO group (one question), so with group-normalised
advantages (``scale_rewards="group"``) ``gbr``, ``gbr+acc`` and ``acc`` give the same advantages up to
the 2x scale of ``gbr+acc`` (which the normalisation removes); they differ with ``scale_rewards="batch"``
or ``"none"``, and in what is logged.

Generator calls are async and batched over the whole batch: the unique (question, context) pairs of
a batch go to the generator in one concurrent ``aanswer_batch`` call, and GenAcc results are
memoised per (question, context), so the identical contexts that a GRPO group often produces are
answered once.

Example::

    reward = SearchReward(generator, RewardConfig(kind="gbr"), baseline=RagCacheBaseline({"who ...": 0.0}))
    parts = reward.score(["who ..."], [["Paris"]], [[Doc("1", "Paris", "...")]])
    parts[0].reward, parts[0].genacc, parts[0].baseline
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from retrievers.doc import Doc
from s3.config import ConfigError, field

log = logging.getLogger(__name__)

KINDS = ("gbr", "gbr+acc", "acc")
ON_MISSING = ("error", "skip", "compute")


@dataclass
class RewardConfig:
    """How a searcher's context is scored during training."""

    kind: str = field(
        "gbr", help="gbr (GenAcc - naive-RAG GenAcc, the paper) | gbr+acc (reference code) | acc"
    )
    baseline: str = field(
        "rag_cache",
        help="baseline term: rag_cache | none | 'package.module:factory' (called with the config)",
    )
    rag_cache: str = field(
        "", help="naive-RAG cache file written by `s3 precompute` (for baseline=rag_cache)"
    )
    on_missing: str = field(
        "error",
        help="question missing from the baseline: error | skip (reward None -> advantage 0) | compute",
    )
    naive_rag_k: int = field(3, help="documents of the naive-RAG context when on_missing=compute")
    use_judge: bool = field(False, help="ask an LLM judge (the generator) when the answer-span check fails")
    memo_size: int = field(200_000, help="GenAcc results memoised per (question, context); 0 disables")
    check_baseline_settings: bool = field(
        True,
        help="refuse a naive-RAG cache computed with another generator or judge than this reward's",
    )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"reward.kind: {self.kind!r} is not one of {list(KINDS)}")
        if self.on_missing not in ON_MISSING:
            raise ConfigError(f"reward.on_missing: {self.on_missing!r} is not one of {list(ON_MISSING)}")
        if self.naive_rag_k < 1:
            raise ConfigError(f"reward.naive_rag_k must be >= 1, got {self.naive_rag_k}")


@dataclass
class RewardComponents:
    """The reward of one trajectory and its parts (all logged).

    Attributes:
        reward: the scalar the trainer sees; ``None`` when the baseline is missing and ``on_missing=skip``.
        genacc: GenAcc of the generator's answer with the searcher's context (0 or 1).
        baseline: the baseline GenAcc (naive RAG by default); ``None`` for ``kind=acc`` or when missing.
        gbr: ``genacc - baseline`` (``None`` when the baseline is ``None``).
        answer: the generator's answer.
    """

    reward: float | None
    genacc: float
    baseline: float | None
    gbr: float | None
    answer: str


class MissingBaselineError(KeyError):
    """Questions have no baseline entry and ``on_missing=error``; the message names them."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class BaselineTerm(Protocol):
    """The baseline of GBR: one accuracy per question, ``None`` where it is not known."""

    async def __call__(
        self, questions: Sequence[str], golds: Sequence[Sequence[str]]
    ) -> list[float | None]: ...


class ZeroBaseline:
    """A baseline of 0 for every question (GBR then equals GenAcc)."""

    def __init__(self, config: RewardConfig | None = None) -> None:
        self.source = "zero baseline"

    async def __call__(self, questions: Sequence[str], golds: Sequence[Sequence[str]]) -> list[float | None]:
        return [0.0] * len(questions)


class RagCacheBaseline:
    """Naive-RAG GenAcc looked up in the precompute cache, by normalised question.

    Args:
        scores: normalised question -> GenAcc of the generator with the naive-RAG top-k documents.
        source: where the scores came from (named in errors).
        normalize: the question normaliser the cache was keyed with (:func:`s3.data.normalize_question`).
    """

    def __init__(
        self,
        scores: Mapping[str, float],
        source: str = "<memory>",
        normalize: Callable[[str], str] | None = None,
    ) -> None:
        if normalize is None:
            from s3.data import normalize_question as normalize
        self.normalize = normalize
        self.scores = {self.normalize(q): float(v) for q, v in scores.items()}
        self.source = source

    @classmethod
    def from_file(cls, path: str) -> RagCacheBaseline:
        """Read the cache written by ``s3 precompute`` (see :func:`s3.precompute.load_rag_cache`)."""
        from s3.precompute import load_rag_cache

        cache = load_rag_cache(path)
        scores = {}
        for key, entry in cache.items():
            value = entry.get("genacc") if isinstance(entry, Mapping) else getattr(entry, "genacc", entry)
            if value is None:
                raise ConfigError(f"{path}: cache entry for {key!r} has no genacc")
            scores[key] = float(value)
        return cls(scores, source=str(path))

    async def __call__(self, questions: Sequence[str], golds: Sequence[Sequence[str]]) -> list[float | None]:
        return [self.scores.get(self.normalize(q)) for q in questions]


def _import_factory(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"reward.baseline: {spec!r} is not a known name nor 'package.module:factory'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"reward.baseline: cannot import {spec!r}: {exc}") from None


#: baseline factories by name; each is called with the :class:`RewardConfig`
BASELINES: dict[str, Callable[[RewardConfig], BaselineTerm]] = {
    "rag_cache": lambda cfg: _rag_cache_from_config(cfg),
    "none": ZeroBaseline,
}


def _rag_cache_from_config(cfg: RewardConfig) -> BaselineTerm:
    if not cfg.rag_cache:
        raise ConfigError(
            "reward.rag_cache: set the naive-RAG cache file (from `s3 precompute`) for baseline=rag_cache"
        )
    return RagCacheBaseline.from_file(cfg.rag_cache)


def register_baseline(name: str, factory: Callable[[RewardConfig], BaselineTerm]) -> None:
    """Make ``reward.baseline=<name>`` build ``factory(config)``."""
    BASELINES[name] = factory


def make_baseline(cfg: RewardConfig) -> BaselineTerm | None:
    """The baseline term named by ``cfg.baseline`` (``None`` for ``kind=acc``, which needs none)."""
    if cfg.kind == "acc":
        return None
    if cfg.baseline in BASELINES:
        return BASELINES[cfg.baseline](cfg)
    return _import_factory(cfg.baseline)(cfg)


def _context_key(question: str, docs: Sequence[Doc]) -> str:
    payload = json.dumps([question, [[d.id, d.title, d.text] for d in docs]], ensure_ascii=False)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


class SearchReward:
    """Scores searcher contexts with the frozen generator; see the module docstring for the variants.

    Args:
        generator: a :class:`~generators.base.Generator`; its ``aanswer_batch`` is used with the
            generator's own default sampling (``GeneratorConfig``: greedy, ``max_tokens``).
        config: the :class:`RewardConfig`.
        baseline: the baseline term; by default built from ``config`` (:func:`make_baseline`).
        judge: an optional LLM judge for GenAcc (``ajudge_batch``); by default an
            :class:`~evaluation.judge.LLMJudge` on the generator when ``config.use_judge``.
    """

    def __init__(
        self,
        generator: Any,
        config: RewardConfig | None = None,
        baseline: BaselineTerm | None = None,
        judge: Any | None = None,
    ) -> None:
        self.config = config or RewardConfig()
        self.generator = generator
        # kind=acc never consults a baseline, so a missing entry cannot stop it
        self.baseline = None if self.config.kind == "acc" else (baseline or make_baseline(self.config))
        if self.config.kind != "acc" and self.baseline is None:
            raise ConfigError(f"reward.kind={self.config.kind} needs a baseline term")
        if judge is None and self.config.use_judge:
            from evaluation.judge import LLMJudge

            judge = LLMJudge(generator)
        self.judge = judge
        self._memo: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._computed_baseline: dict[str, float] = {}
        #: counters for logging: generator calls made, memo hits, baselines computed on the fly, skipped
        self.stats = {"generator_calls": 0, "memo_hits": 0, "baseline_computed": 0, "skipped": 0}

    # ------------------------------------------------------------------ GenAcc with a context

    async def _genacc(
        self, questions: Sequence[str], golds: Sequence[Sequence[str]], contexts: Sequence[Sequence[Doc]]
    ) -> list[tuple[str, float]]:
        """(answer, GenAcc) per item; unique uncached (question, context) pairs go out in one batch."""
        from evaluation.metrics import agenacc_batch

        keys = [_context_key(q, docs) for q, docs in zip(questions, contexts)]
        todo: dict[str, int] = {}
        known: dict[str, tuple[str, float]] = {}
        for i, key in enumerate(keys):
            if key in self._memo:
                self.stats["memo_hits"] += 1
                known[key] = self._memo[key]
            elif key not in todo:
                todo[key] = i
        if todo:
            idx = list(todo.values())
            answers = await self.generator.aanswer_batch(
                [questions[i] for i in idx], [list(contexts[i]) for i in idx]
            )
            self.stats["generator_calls"] += len(idx)
            scores = await agenacc_batch(
                [questions[i] for i in idx], answers, [golds[i] for i in idx], judge=self.judge
            )
            for key, answer, score in zip(todo, answers, scores):
                known[key] = (answer, float(score))
                self._remember(key, known[key])
        return [known[k] for k in keys]

    def _remember(self, key: str, value: tuple[str, float]) -> None:
        if self.config.memo_size <= 0:
            return
        self._memo[key] = value
        self._memo.move_to_end(key)
        while len(self._memo) > self.config.memo_size:
            self._memo.popitem(last=False)

    # ------------------------------------------------------------------ the baseline term

    async def _baseline(
        self,
        questions: Sequence[str],
        golds: Sequence[Sequence[str]],
        initial_docs: Sequence[Sequence[Doc]] | None,
    ) -> list[float | None]:
        if self.baseline is None:
            return [None] * len(questions)
        values = list(await self.baseline(questions, golds))
        missing = [
            i for i, v in enumerate(values) if v is None and questions[i] not in self._computed_baseline
        ]
        for i, v in enumerate(values):
            if v is None and questions[i] in self._computed_baseline:
                values[i] = self._computed_baseline[questions[i]]
        if not missing:
            return values
        policy = self.config.on_missing
        if policy == "error":
            names = sorted({questions[i] for i in missing})
            shown = "; ".join(repr(q) for q in names[:5]) + (
                f" and {len(names) - 5} more" if len(names) > 5 else ""
            )
            source = getattr(self.baseline, "source", type(self.baseline).__name__)
            raise MissingBaselineError(
                f"{len(names)} question(s) have no baseline entry in {source}: {shown}. Run `s3 precompute` on "
                "the training file, or set reward.on_missing=skip (reward None, advantage 0) or compute "
                "(answer with the naive-RAG documents now)."
            )
        if policy == "skip":
            self.stats["skipped"] += len(missing)
            return values
        # compute: the naive-RAG context is the episode's initial documents (the top-k for the raw question)
        if initial_docs is None:
            raise ValueError(
                "reward.on_missing=compute needs the naive-RAG (initial) documents of each question"
            )
        unique: dict[str, int] = {}
        for i in missing:
            unique.setdefault(questions[i], i)
        k = self.config.naive_rag_k
        scored = await self._genacc(
            [questions[i] for i in unique.values()],
            [golds[i] for i in unique.values()],
            [list(initial_docs[i])[:k] for i in unique.values()],
        )
        for question, (_, score) in zip(unique, scored):
            self._computed_baseline[question] = score
        self.stats["baseline_computed"] += len(unique)
        log.info("computed the naive-RAG baseline for %d question(s) missing from the cache", len(unique))
        return [self._computed_baseline.get(q) if v is None else v for q, v in zip(questions, values)]

    # ------------------------------------------------------------------ public API

    async def ascore(
        self,
        questions: Sequence[str],
        golds: Sequence[Sequence[str] | str],
        contexts: Sequence[Sequence[Doc]],
        initial_docs: Sequence[Sequence[Doc]] | None = None,
    ) -> list[RewardComponents]:
        """Score a batch of contexts (one per trajectory); generator calls run concurrently.

        Args:
            questions: the question of each trajectory.
            golds: the gold answers of each trajectory (a string counts as one answer).
            contexts: the documents the searcher hands to the generator (``Episode.context()``).
            initial_docs: the naive-RAG documents of each trajectory (needed for ``on_missing=compute``).

        Returns:
            One :class:`RewardComponents` per trajectory, in order.
        """
        if not (len(questions) == len(golds) == len(contexts)):
            raise ValueError(
                f"lengths differ: {len(questions)} questions, {len(golds)} golds, {len(contexts)} contexts"
            )
        gold_lists = [[g] if isinstance(g, str) else list(g) for g in golds]
        acc, base = await asyncio.gather(
            self._genacc(questions, gold_lists, contexts), self._baseline(questions, gold_lists, initial_docs)
        )
        out = []
        for (answer, genacc), b in zip(acc, base):
            gbr = None if b is None else genacc - b
            if self.config.kind == "acc":
                reward: float | None = genacc
            elif gbr is None:
                reward = None
            elif self.config.kind == "gbr":
                reward = gbr
            else:  # gbr+acc
                reward = gbr + genacc
            out.append(RewardComponents(reward=reward, genacc=genacc, baseline=b, gbr=gbr, answer=answer))
        return out

    def score(self, *args: Any, **kwargs: Any) -> list[RewardComponents]:
        """Synchronous :meth:`ascore`, same arguments (for callers outside an event loop)."""
        return asyncio.run(self.ascore(*args, **kwargs))


def summarize(parts: Sequence[RewardComponents]) -> dict[str, float]:
    """Batch means for logging: reward, GenAcc, baseline GenAcc, GBR, and the fraction without a reward."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {
        "reward": mean([p.reward for p in parts if p.reward is not None]),
        "genacc": mean([p.genacc for p in parts]),
        "baseline_genacc": mean([p.baseline for p in parts if p.baseline is not None]),
        "gbr": mean([p.gbr for p in parts if p.gbr is not None]),
        "unscored_rate": mean([1.0 if p.reward is None else 0.0 for p in parts]),
    }
