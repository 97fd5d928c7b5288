"""Build indexes from corpus files and open any retriever from a spec (index dir, URL or dict).

Both entry points are registries that other modules extend by adding entries:

* ``INDEX_BUILDERS[kind](corpus_path, output_dir, options) -> dict`` builds an index and returns
  facts for the manifest (document counts, ...);
* ``RETRIEVER_KINDS[kind](spec: dict) -> Retriever`` opens a retriever from a spec dict.

Every index directory carries a manifest ``index.json`` (kind, options, corpus path, counts, library
versions), so ``load_retriever("idx/")`` knows how to open it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from retrievers.base import Retriever
from retrievers.corpus import CorpusError, count_docs, read_corpus

log = logging.getLogger(__name__)

MANIFEST = "index.json"

RetrieverFactory = Callable[[dict[str, Any]], Retriever]
IndexBuilder = Callable[[Path, Path, dict[str, Any]], dict[str, Any]]


def _spec_path(spec: dict[str, Any]) -> str:
    path = spec.get("path") or spec.get("index")
    if not path:
        raise ValueError(f"retriever spec of kind {spec.get('kind')!r} needs 'path' (the index directory)")
    return str(path)


def _options(spec: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: spec[n] for n in names if n in spec and spec[n] is not None}


def _open_bm25(spec: dict[str, Any]) -> Retriever:
    from retrievers.bm25 import BM25Retriever

    return BM25Retriever.load(_spec_path(spec), **_options(spec, "mmap", "threads", "backend", "verify"))


def _open_dense(spec: dict[str, Any]) -> Retriever:
    from retrievers.dense import DenseRetriever

    return DenseRetriever.load(
        _spec_path(spec),
        **_options(spec, "mmap", "device", "batch_size", "use_gpu", "nprobe", "ef_search", "model", "refine"),
    )


def _open_lucene(spec: dict[str, Any]) -> Retriever:
    from retrievers.lucene import LuceneRetriever

    return LuceneRetriever(_spec_path(spec), **_options(spec, "corpus", "k1", "b", "threads"))


def _open_http(spec: dict[str, Any]) -> Retriever:
    from retrievers.client import HTTPRetriever

    if not spec.get("url"):
        raise ValueError("retriever spec of kind 'http' needs 'url'")
    return HTTPRetriever(
        spec["url"], **_options(spec, "timeout", "max_retries", "token", "backoff", "max_batch")
    )


RETRIEVER_KINDS: dict[str, RetrieverFactory] = {
    "bm25": _open_bm25,
    "dense": _open_dense,
    "lucene": _open_lucene,
    "http": _open_http,
}


def _open_web(spec: dict[str, Any]) -> Retriever:
    from retrievers.web import build_web_retriever

    return build_web_retriever(spec)


def _open_rerank(spec: dict[str, Any]) -> Retriever:
    from retrievers.rerank import build_reranked_retriever

    return build_reranked_retriever(spec, load_retriever)


def _open_fusion(spec: dict[str, Any]) -> Retriever:
    from retrievers.fusion import build_fusion_retriever

    return build_fusion_retriever(spec, load_retriever)


# Web search engines (retrievers/web), retrieve-then-rerank and reciprocal rank fusion.
RETRIEVER_KINDS.update({kind: _open_web for kind in ("google", "brave", "serpapi", "serper")})
RETRIEVER_KINDS.update({"rerank": _open_rerank, "fusion": _open_fusion})


def _build_bm25(corpus: Path, output: Path, options: dict[str, Any]) -> dict[str, Any]:
    from retrievers.bm25 import build_bm25

    params = build_bm25(read_corpus(corpus), output, total=options.pop("total", None), **options)
    return {"num_docs": params["num_docs"], "num_terms": params["num_terms"]}


def _build_dense(corpus: Path, output: Path, options: dict[str, Any]) -> dict[str, Any]:
    from retrievers.dense import build_dense

    return build_dense(read_corpus(corpus), output, **options)


def _build_lucene(corpus: Path, output: Path, options: dict[str, Any]) -> dict[str, Any]:
    from retrievers.lucene import build_lucene

    options.pop("total", None)
    return build_lucene(corpus, output, **options)


INDEX_BUILDERS: dict[str, IndexBuilder] = {
    "bm25": _build_bm25,
    "dense": _build_dense,
    "lucene": _build_lucene,
}


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("s3-search-agent", "bm25s", "numpy", "faiss-cpu", "torch", "transformers", "pyserini"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def build_index(
    corpus_path: str | os.PathLike, output_dir: str | os.PathLike, kind: str = "bm25", **options: Any
) -> Path:
    """Build an index of ``kind`` from a JSONL corpus and write its manifest ``output_dir/index.json``.

    Args:
        corpus_path: JSONL corpus, ``{"id","contents"}`` or ``{"id","title","text"}`` rows.
        output_dir: directory to create (or fill) with the index.
        kind: a key of ``INDEX_BUILDERS``: ``"bm25"`` (default), ``"dense"`` or ``"lucene"``.
        **options: passed to the builder (e.g. ``k1``, ``b`` for BM25; ``model``, ``index_type`` for dense).

    Returns:
        The index directory; open it with :func:`load_retriever`.

    Raises:
        CorpusError: the corpus is missing, empty or has a bad line (file and line named).

    Example:
        >>> build_index("corpus.jsonl", "idx/", kind="bm25")  # doctest: +SKIP
        >>> load_retriever("idx/").search(["who wrote hamlet"], k=3)  # doctest: +SKIP
    """
    if kind not in INDEX_BUILDERS:
        raise ValueError(f"unknown index kind {kind!r}; known: {', '.join(sorted(INDEX_BUILDERS))}")
    corpus = Path(corpus_path)
    total = count_docs(corpus)
    if total == 0:
        raise CorpusError(corpus, None, "corpus is empty: no documents to index")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    user_options = dict(options)
    facts = INDEX_BUILDERS[kind](corpus, output, {**options, "total": total})
    manifest = {
        "kind": kind,
        "options": user_options,
        "corpus": str(corpus.resolve()),
        "num_docs": facts.get("num_docs", total),
        **{k: v for k, v in facts.items() if k != "num_docs"},
        "build_seconds": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    log.info(
        "built %s index of %d documents in %.1fs -> %s",
        kind,
        manifest["num_docs"],
        manifest["build_seconds"],
        output,
    )
    return output


def read_manifest(index_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an index directory, or one inferred from its files for indexes built elsewhere."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise FileNotFoundError(f"index directory {index_dir} does not exist")
    path = index_dir / MANIFEST
    if path.is_file():
        return json.loads(path.read_text())
    if (index_dir / "bm25.json").is_file():
        return {"kind": "bm25"}
    if (index_dir / "dense.json").is_file():
        return {"kind": "dense"}
    if any(p.name.startswith("segments_") for p in index_dir.iterdir()):
        return {"kind": "lucene"}  # a Lucene index, e.g. a prebuilt Search-R1 BM25 index
    raise FileNotFoundError(
        f"{index_dir} has no {MANIFEST} and is not a recognised index (BM25, dense, Lucene)"
    )


#: spec keys that say how a retriever is reached or run, never which documents it returns
_CONNECTION_KEYS = ("url", "timeout", "max_retries", "token", "threads", "workers", "mmap", "verify")


def retriever_fingerprint(spec: str | os.PathLike | dict[str, Any] | None) -> Any:
    """What of a retriever spec decides its results, for the checks that guard resumed runs.

    An index folder is its path (without a trailing slash); a ``/retrieve`` URL is only "a remote
    server" (the same index may come back on another host or port); a spec dict loses the keys of
    :data:`_CONNECTION_KEYS`.

    Example:
        >>> retriever_fingerprint("http://a:3000/retrieve/") == retriever_fingerprint("http://b:4000")
        True
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {
            k: retriever_fingerprint(v) if k == "path" else v
            for k, v in spec.items()
            if k not in _CONNECTION_KEYS
        }
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return "http"
    return text.rstrip("/") or text


def load_retriever(spec: str | os.PathLike | dict[str, Any] | Retriever, **overrides: Any) -> Retriever:
    """Open a retriever from an index directory, a ``/retrieve`` URL or a spec dict.

    Args:
        spec: ``"idx/"`` (reads ``idx/index.json``), ``"http://host:port[/retrieve]"`` (HTTP client),
            ``{"kind": "bm25", "path": "idx/", ...}`` or an existing ``Retriever`` (returned as is).
        **overrides: merged into the spec (e.g. ``threads=2``, ``corpus="corpus.jsonl"``).

    Returns:
        A ``Retriever``.

    Example:
        >>> load_retriever("http://127.0.0.1:3000/retrieve")  # doctest: +SKIP
    """
    if isinstance(spec, Retriever):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        if text.startswith(("http://", "https://")):
            spec = {"kind": "http", "url": text}
        else:
            manifest = read_manifest(text)
            spec = {"kind": manifest["kind"], "path": text}
            if manifest["kind"] == "lucene" and manifest.get("corpus"):
                spec["corpus"] = manifest["corpus"]
    elif not isinstance(spec, dict):
        raise TypeError(f"retriever spec must be a path, URL, dict or Retriever, got {type(spec).__name__}")
    spec = {**spec, **overrides}
    kind = spec.get("kind")
    if kind not in RETRIEVER_KINDS:
        raise ValueError(f"unknown retriever kind {kind!r}; known: {', '.join(sorted(RETRIEVER_KINDS))}")
    return RETRIEVER_KINDS[kind](spec)
