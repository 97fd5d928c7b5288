"""Build context methods from short specs: ``naive-rag``, ``oracle``, ``s3:runs/ckpt``, ``rag-e5=naive-rag@e5``.

Spec grammar: ``[LABEL=]KIND[:ARG][@RETRIEVER]``.

* ``KIND``: a key of :data:`METHOD_KINDS`. ``ARG`` is the checkpoint of the searcher kinds
  (``s3``, ``s3-untrained``, ``s3-no-select``, ``s3-no-init``, ``s3-no-both``, ``search-r1``).
* ``@RETRIEVER``: a named retriever of the run (default: the run's main retriever), so
  ``naive-rag@e5`` is RAG-E5 when the run names a dense index ``e5``.
* ``LABEL``: the row label; default ``KIND`` (plus ``@RETRIEVER``). Labels must be unique.

Methods of the same kind and checkpoint share one :class:`~baselines.searcher.SharedSearch`, so the
s3 searcher runs once for ``s3``, ``s3-no-select`` and ``s3-no-init``.

Example::

    specs = parse_method_specs("naive-rag,oracle,s3:runs/ckpt,s3-no-select:runs/ckpt")
    methods = build_methods(specs, resources)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluation.contexts import ContextMethod
from generators.base import Generator, SamplingParams
from retrievers.base import Retriever

#: method kind -> what it needs: "retriever", "reasoner", "corpus", "checkpoint"
METHOD_KINDS: dict[str, tuple[str, ...]] = {
    "direct": (),
    "cot": (),
    "naive-rag": ("retriever",),
    "oracle": ("corpus",),
    "ircot": ("retriever", "reasoner"),
    "search-o1": ("retriever", "reasoner"),
    "query-rewrite": ("retriever", "reasoner"),
    "s3": ("retriever", "checkpoint"),
    "s3-untrained": ("retriever", "checkpoint"),
    "s3-no-select": ("retriever", "checkpoint"),
    "s3-no-init": ("retriever", "checkpoint"),
    "s3-no-both": ("retriever", "checkpoint"),
    "search-r1": ("retriever", "checkpoint"),
}

_SPEC = re.compile(
    r"^(?:(?P<label>[^=:@]+)=)?(?P<kind>[a-z0-9-]+)(?::(?P<arg>[^@]+))?(?:@(?P<retriever>[^@:=]+))?$"
)


@dataclass
class MethodSpec:
    """One parsed method spec (see the module docstring)."""

    label: str
    kind: str
    arg: str | None = None
    retriever: str | None = None


def parse_method_spec(spec: str) -> MethodSpec:
    """Parse ``[LABEL=]KIND[:ARG][@RETRIEVER]``; errors name the spec and list the known kinds."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"method spec {spec!r}: expected [LABEL=]KIND[:CHECKPOINT][@RETRIEVER]")
    kind = m["kind"]
    if kind not in METHOD_KINDS:
        raise ValueError(f"method spec {spec!r}: unknown kind {kind!r}; known: {', '.join(METHOD_KINDS)}")
    needs = METHOD_KINDS[kind]
    if "checkpoint" in needs and not m["arg"]:
        raise ValueError(f"method spec {spec!r}: {kind} needs a checkpoint, e.g. {kind}:runs/searcher")
    if "checkpoint" not in needs and m["arg"]:
        raise ValueError(f"method spec {spec!r}: {kind} takes no ':' argument")
    if m["retriever"] and "retriever" not in needs:
        raise ValueError(f"method spec {spec!r}: {kind} uses no retriever")
    label = m["label"] or (kind + (f"@{m['retriever']}" if m["retriever"] else ""))
    return MethodSpec(label=label.strip(), kind=kind, arg=m["arg"], retriever=m["retriever"])


def parse_method_specs(specs: str | Sequence[str]) -> list[MethodSpec]:
    """Parse a comma-separated string or a list of specs; labels must be unique."""
    items = [s for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    parsed = [parse_method_spec(s) for s in items]
    labels = [p.label for p in parsed]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(
            f"method labels {dupes} repeat; name them apart with LABEL=KIND:..., e.g. s3-step20=s3:ckpt"
        )
    return parsed


@dataclass
class Resources:
    """Lazily built things methods need; each getter is called at most once per key.

    Attributes:
        retriever: name -> ``Retriever`` (``None`` or ``"default"`` is the run's main retriever).
        reasoner: builds the reasoning LLM of IRCoT, Search-o1 and query rewriting.
        corpus: the corpus file (for the oracle's document lookup).
        searcher: builds a ``Searcher`` for (kind, checkpoint, retriever).
        k: documents per retrieval of the static and multi-turn baselines (3).
        max_steps: IRCoT steps / Search-o1 searches at most (4).
        reasoner_sampling: the reasoner's sampling (greedy).
    """

    retriever: Callable[[str | None], Retriever] | None = None
    reasoner: Callable[[], Generator] | None = None
    corpus: str | None = None
    searcher: Callable[[str, str, Retriever], Any] | None = None
    k: int = 3
    max_steps: int = 4
    reasoner_sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_tokens=256)
    )
    _cache: dict[Any, Any] = field(default_factory=dict)

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


def _need(value: Any, what: str, spec: MethodSpec) -> Any:
    if value is None:
        raise ValueError(
            f"method {spec.label!r} ({spec.kind}) needs {what}, which this run does not configure"
        )
    return value


def build_method(spec: MethodSpec, res: Resources) -> ContextMethod:
    """Build one context method from its spec and the run's resources."""
    from baselines.cot import ChainOfThought
    from baselines.direct import DirectAnswer

    kind = spec.kind
    if kind == "direct":
        method: ContextMethod = DirectAnswer()
    elif kind == "cot":
        method = ChainOfThought()
    elif kind == "oracle":
        from baselines.oracle import OracleContext

        if res.corpus is None:  # the table then says why the row is missing
            method = OracleContext(None)
        else:
            corpus = res.corpus
            method = res.get(("oracle", corpus), lambda: OracleContext.from_corpus(corpus))
            method = OracleContext(method._lookup)
    else:
        get_retriever = _need(res.retriever, "a retriever (retriever=...)", spec)
        retriever = res.get(("retriever", spec.retriever), lambda: get_retriever(spec.retriever))
        retriever_name = spec.retriever or "default"
        if kind == "naive-rag":
            from baselines.naive_rag import NaiveRAG

            method = NaiveRAG(retriever, k=res.k, retriever_name=retriever_name)
        elif kind in ("ircot", "search-o1", "query-rewrite"):
            build_reasoner = _need(res.reasoner, "a reasoning LLM (reasoner.kind / reasoner.model)", spec)
            llm = res.get("reasoner", build_reasoner)
            if kind == "ircot":
                from baselines.ircot import IRCoT

                method = IRCoT(
                    llm, retriever, k=res.k, max_steps=res.max_steps, sampling=res.reasoner_sampling
                )
            elif kind == "search-o1":
                from baselines.search_o1 import SearchO1

                method = SearchO1(
                    llm, retriever, k=res.k, max_searches=res.max_steps, sampling=res.reasoner_sampling
                )
            else:
                from baselines.query_rewrite import QueryRewrite

                method = QueryRewrite(llm, retriever, k=res.k, sampling=res.reasoner_sampling)
        else:
            method = _searcher_method(spec, res, retriever)
    method.name = spec.label
    return method


def _searcher_method(spec: MethodSpec, res: Resources, retriever: Retriever) -> ContextMethod:
    from baselines.searcher import SearcherContext, SharedSearch

    build_searcher = _need(res.searcher, "a searcher loader", spec)
    mode = "search-r1" if spec.kind == "search-r1" else "s3"
    shared = res.get(
        ("searcher", mode, spec.arg, spec.retriever),
        lambda: SharedSearch(build_searcher(mode, spec.arg, retriever), label=spec.arg),
    )
    if spec.kind == "search-r1":
        from baselines.search_r1 import SearchR1Context

        return SearchR1Context(shared, name=spec.label)
    ablation = spec.kind[len("s3-") :] if spec.kind in ("s3-no-select", "s3-no-init", "s3-no-both") else None
    return SearcherContext(shared, name=spec.label, ablation=ablation)


def build_methods(specs: Sequence[MethodSpec], res: Resources) -> list[ContextMethod]:
    """Build every method, sharing retrievers, the reasoner and searcher runs between them."""
    return [build_method(s, res) for s in specs]
