"""Lucene BM25 through pyserini 0.22.1 (Java 11+): build from our corpora, open prebuilt indexes.

The backend for Wikipedia-scale corpora and for the BM25 indexes Search-R1 and s3 users already
have. Documents come back as ``Doc`` records: from the raw JSON Lucene stored (``--storeRaw``), or,
for indexes without stored documents, by looking the hit up in the corpus file (by row number, as
Search-R1 does, checked against the id, else by id).

Needs the ``pyserini`` extra (which also needs torch and faiss installed, as pyserini imports them).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from array import array
from pathlib import Path
from typing import Any

from retrievers.base import Retriever
from retrievers.corpus import CorpusError, read_corpus
from retrievers.doc import Doc

log = logging.getLogger(__name__)

LUCENE_SUBDIR = "lucene"


def _is_lucene_dir(path: Path) -> bool:
    return path.is_dir() and any(p.name.startswith("segments_") for p in path.iterdir())


def lucene_dir(path: str | os.PathLike) -> Path:
    """The Lucene index folder: ``path`` itself or its ``lucene/`` subfolder (our layout)."""
    path = Path(path)
    for candidate in (path / LUCENE_SUBDIR, path):
        if _is_lucene_dir(candidate):
            return candidate
    raise FileNotFoundError(f"{path} holds no Lucene index (no segments_* file)")


def build_lucene(
    corpus: str | os.PathLike,
    output_dir: str | os.PathLike,
    threads: int = 1,
    store_raw: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Index a JSONL corpus (either row shape) with pyserini into ``output_dir/lucene``.

    Rows are validated and rewritten as ``{"id", "contents"}`` for Anserini's ``JsonCollection``.
    """
    if extra:
        raise TypeError(f"unknown Lucene build options: {', '.join(sorted(extra))}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="_lucene_build_", dir=out))
    try:
        n = 0
        with open(work / "corpus.jsonl", "w", encoding="utf-8") as f:
            for doc in read_corpus(corpus):
                f.write(json.dumps({"id": doc.id, "contents": doc.contents}, ensure_ascii=False) + "\n")
                n += 1
        if n == 0:
            raise CorpusError(corpus, None, "corpus is empty: no documents to index")
        cmd = [
            sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection",
            "--input", str(work), "--index", str(out / LUCENE_SUBDIR),
            "--generator", "DefaultLuceneDocumentGenerator", "--threads", str(threads),
            "--storePositions", "--storeDocvectors",
        ]  # fmt: skip
        if store_raw:
            cmd.append("--storeRaw")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pyserini indexing failed ({done.returncode}):\n{done.stderr[-3000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"num_docs": n, "store_raw": store_raw}


class CorpusLookup:
    """Find corpus rows by document id without loading the corpus: line offsets plus a lazy id map."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._offsets = array("Q")
        with open(self.path, "rb") as f:
            pos = 0
            for line in f:
                if line.strip():
                    self._offsets.append(pos)
                pos += len(line)
        self._file = open(self.path, "rb")
        self._lock = threading.Lock()
        self._by_id: dict[str, int] | None = None

    def _row(self, row: int) -> dict:
        with self._lock:
            self._file.seek(self._offsets[row])
            return json.loads(self._file.readline())

    def get(self, doc_id: str) -> dict | None:
        if doc_id.isdigit() and int(doc_id) < len(self._offsets):
            record = self._row(int(doc_id))
            if str(record.get("id", doc_id)) == doc_id:
                return record
        if self._by_id is None:
            self._by_id = {str(self._row(i).get("id")): i for i in range(len(self._offsets))}
        row = self._by_id.get(doc_id)
        return None if row is None else self._row(row)

    def close(self) -> None:
        self._file.close()


class LuceneRetriever(Retriever):
    """BM25 search of a Lucene index with pyserini's ``LuceneSearcher``.

    Args:
        index: an index folder (ours, or a prebuilt Search-R1/pyserini BM25 index).
        corpus: JSONL corpus to look documents up in when the index stores no raw documents.
        k1, b: BM25 parameters (pyserini's defaults).
        threads: Java threads for batched search.

    Example:
        >>> LuceneRetriever("wiki18_bm25/", corpus="wiki-18.jsonl").search(["hamlet author"], k=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        index: str | os.PathLike,
        corpus: str | os.PathLike | None = None,
        k1: float = 0.9,
        b: float = 0.4,
        threads: int = 1,
    ):
        try:
            from pyserini.search.lucene import LuceneSearcher
        except ImportError as exc:
            raise ImportError(
                "the Lucene backend needs pyserini and Java 11+: pip install 's3-search-agent[pyserini]'"
            ) from exc
        self.path = lucene_dir(index)
        self.searcher = LuceneSearcher(str(self.path))
        self.searcher.set_bm25(k1, b)
        self.threads = max(1, int(threads))
        self.num_docs = int(self.searcher.num_docs)
        self.corpus = CorpusLookup(corpus) if corpus else None
        self._lock = threading.Lock()

    def _to_doc(self, hit) -> Doc:
        raw = hit.raw
        if raw:
            record = json.loads(raw)
            if "contents" in record or "title" in record:
                record.setdefault("id", hit.docid)
                return Doc.from_dict(record, score=float(hit.score))
        if self.corpus is None:
            raise ValueError(
                f"the Lucene index {self.path} stores no documents; pass corpus=... (the JSONL it was built from)"
            )
        record = self.corpus.get(str(hit.docid))
        if record is None:
            raise KeyError(f"document {hit.docid!r} of {self.path} is not in the corpus {self.corpus.path}")
        return Doc.from_dict(record, score=float(hit.score))

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """Top-``k`` Lucene BM25 hits per query, best first."""
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise TypeError("queries must be a list of strings")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        with self._lock:
            if len(queries) == 1:
                hits = [self.searcher.search(queries[0], k)]
            else:
                qids = [str(i) for i in range(len(queries))]
                found = self.searcher.batch_search(list(queries), qids, k, self.threads)
                hits = [found.get(q, []) for q in qids]
            return [[self._to_doc(h) for h in hs] for hs in hits]

    def close(self) -> None:
        self.searcher.close()
        if self.corpus is not None:
            self.corpus.close()
