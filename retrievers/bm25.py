"""BM25, the embedded default retriever: streaming build, memory-mapped load, fast exact batched search.

Scoring is Lucene's BM25 as pyserini runs it (k1=0.9, b=0.4; idf ``log(1 + (N - df + 0.5)/(df + 0.5))``;
document lengths rounded to Lucene's one-byte norms), over terms from :class:`retrievers.analysis.Analyzer`
(Anserini's default English analysis). The on-disk layout is bm25s' (``data/indices/indptr.csc.index.npy``,
``vocab.index.json``, ``params.index.json``), so ``bm25s.BM25.load(dir)`` opens our indexes too, plus
a memory-mapped document store (:mod:`retrievers.docstore`) so results are full ``Doc`` records.

The build streams: documents go to disk as they are read, postings are spilled per chunk and then
assembled column block by column block under a memory budget, so a corpus larger than RAM can be
indexed. Search uses the exact MaxScore kernel of :mod:`retrievers.bm25_kernels`: on the 500k-passage
benchmark it answered 2.1x (kernel to kernel) to 3.2x (end to end) the queries per second of bm25s'
own numba backend on the same index, with the same top 10 up to tie order
(benchmarks/retrieval/RESULTS.md).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from retrievers import bm25_kernels
from retrievers.analysis import Analyzer
from retrievers.base import Retriever
from retrievers.corpus import batched
from retrievers.doc import Doc
from retrievers.docstore import DOCS_FILE, OFFSETS_FILE, DocStore, DocStoreWriter
from retrievers.integrity import VERIFY_MODES, IndexIntegrityError, checksums, verify_checksums

log = logging.getLogger(__name__)

DATA, INDICES, INDPTR = "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"
VOCAB, BM25S_PARAMS, PARAMS, COL_MAX = "vocab.index.json", "params.index.json", "bm25.json", "col_max.npy"
INDEX_FILES = (DATA, INDICES, INDPTR, VOCAB, BM25S_PARAMS, PARAMS, COL_MAX, DOCS_FILE, OFFSETS_FILE)
FORMAT_VERSION = 1


# --- Lucene's SmallFloat one-byte length norms (org.apache.lucene.util.SmallFloat) -------------------
def _long_to_int4(i: np.ndarray) -> np.ndarray:
    i = i.astype(np.int64)
    num_bits = np.where(i > 0, np.floor(np.log2(np.maximum(i, 1))).astype(np.int64) + 1, 0)
    shift = np.maximum(num_bits - 4, 0)
    normal = ((i >> shift) & 0x07) | ((shift + 1) << 3)
    return np.where(num_bits < 4, i, normal)


def _int4_to_long(i: np.ndarray) -> np.ndarray:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return np.where(shift == -1, bits, (bits | 0x08) << np.maximum(shift, 0))


_NUM_FREE = 255 - int(_long_to_int4(np.array([2**31 - 1]))[0])  # = 24


def lucene_norm_byte(lengths: np.ndarray) -> np.ndarray:
    """``SmallFloat.intToByte4``: a document length rounded to Lucene's one-byte norm code."""
    lengths = np.asarray(lengths, dtype=np.int64)
    coded = _NUM_FREE + _long_to_int4(np.maximum(lengths - _NUM_FREE, 0))
    return np.where(lengths < _NUM_FREE, lengths, coded).astype(np.uint8)


def lucene_norm_length(codes: np.ndarray) -> np.ndarray:
    """``SmallFloat.byte4ToInt``: the (rounded) length a norm code stands for."""
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(codes < _NUM_FREE, codes, _NUM_FREE + _int4_to_long(np.maximum(codes - _NUM_FREE, 0)))


# --- build -----------------------------------------------------------------------------------------
def _spill_chunk(texts: list[str], analyzer: Analyzer, vocab: dict[str, int], first_row: int):
    """Analyse a chunk; return (rows, cols, tfs) of its distinct (doc, term) pairs and doc lengths."""
    term_lists = analyzer.terms_batch(texts)
    lengths = np.fromiter(map(len, term_lists), dtype=np.int64, count=len(term_lists))
    flat = [vocab.setdefault(t, len(vocab)) for terms in term_lists for t in terms]
    ids = np.asarray(flat, dtype=np.int64)
    local = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    keys, tfs = np.unique((local << 32) | ids, return_counts=True)
    rows = ((keys >> 32) + first_row).astype(np.int32)
    cols = (keys & 0xFFFFFFFF).astype(np.int32)
    return rows, cols, tfs.astype(np.int32), lengths


def _write_npy_stream(path: Path, dtype: str, length: int):
    handle = open(path, "wb")
    np.lib.format.write_array_header_2_0(handle, {"descr": dtype, "fortran_order": False, "shape": (length,)})
    return handle


def _assemble(
    work: Path,
    out: Path,
    n_chunks: int,
    df: np.ndarray,
    idf: np.ndarray,
    norm_inv: np.ndarray,
    memory_mb: int,
) -> None:
    """Write the CSC impact matrix column block by column block from the spilled chunks."""
    indptr = np.zeros(df.size + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    nnz = int(indptr[-1])
    np.save(out / INDPTR, indptr)
    budget = max(1_000_000, memory_mb * 2**20 // 48)
    col_max = np.zeros(df.size, dtype=np.float32)
    data_out = _write_npy_stream(out / DATA, "<f4", nnz)
    idx_out = _write_npy_stream(out / INDICES, "<i4", nnz)
    c0 = 0
    with tqdm(total=nnz, desc="bm25 postings", unit="post", disable=None) as bar:
        while c0 < df.size:
            c1 = int(np.searchsorted(indptr, indptr[c0] + budget, side="right")) - 1
            c1 = min(max(c1, c0 + 1), df.size)
            rows_b, cols_b, tfs_b = [], [], []
            for n in range(n_chunks):
                cols = np.load(work / f"cols{n}.npy")
                mask = (cols >= c0) & (cols < c1)
                if mask.any():
                    cols_b.append(cols[mask])
                    rows_b.append(np.load(work / f"rows{n}.npy", mmap_mode="r")[mask])
                    tfs_b.append(np.load(work / f"tfs{n}.npy", mmap_mode="r")[mask])
                del cols, mask
            cols = np.concatenate(cols_b)
            order = np.argsort(cols, kind="stable")  # chunks are in row order, so rows stay ascending
            cols, rows = cols[order], np.concatenate(rows_b)[order]
            tfs = np.concatenate(tfs_b)[order].astype(np.float32)
            del order, rows_b, cols_b, tfs_b
            weight = idf[cols]
            scores = weight - weight / (np.float32(1.0) + tfs * norm_inv[rows])
            data_out.write(scores.astype(np.float32).tobytes())
            idx_out.write(rows.astype(np.int32).tobytes())
            starts = indptr[c0:c1] - indptr[c0]
            col_max[c0:c1] = np.maximum.reduceat(scores, starts)
            bar.update(scores.size)
            c0 = c1
    data_out.close()
    idx_out.close()
    np.save(out / COL_MAX, col_max)


def build_bm25(
    docs: Iterable[Doc],
    output_dir: str | os.PathLike,
    *,
    k1: float = 0.9,
    b: float = 0.4,
    stemmer: str = "porter",
    stopwords: str | list[str] | None = "lucene",
    chunk_size: int = 10_000,
    memory_mb: int = 512,
    total: int | None = None,
) -> dict[str, Any]:
    """Stream ``docs`` into a BM25 index in ``output_dir``; returns the index parameters written."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    analyzer = Analyzer(stemmer=stemmer, stopwords=stopwords)
    vocab: dict[str, int] = {}
    df = np.zeros(0, dtype=np.int64)
    lengths: list[np.ndarray] = []
    work = Path(tempfile.mkdtemp(prefix="_bm25_build_", dir=out))
    try:
        n_chunks = 0
        with DocStoreWriter(out) as store:
            bar = tqdm(docs, total=total, desc="bm25 analyse", unit="doc", disable=None)
            for chunk in batched(bar, chunk_size):
                first = len(store)
                for doc in chunk:
                    store.add(doc)
                rows, cols, tfs, lens = _spill_chunk(
                    [f"{d.title}\n{d.text}" for d in chunk], analyzer, vocab, first
                )
                np.save(work / f"rows{n_chunks}.npy", rows)
                np.save(work / f"cols{n_chunks}.npy", cols)
                np.save(work / f"tfs{n_chunks}.npy", tfs)
                n_chunks += 1
                counts = np.bincount(cols, minlength=len(vocab))
                df = np.concatenate([df, np.zeros(len(vocab) - df.size, dtype=np.int64)]) + counts
                lengths.append(lens)
            n_docs = len(store)
        if n_docs == 0:
            raise ValueError("no documents to index: the corpus is empty")
        doc_len = np.concatenate(lengths)
        del lengths
        n_field = int(np.count_nonzero(doc_len))  # Lucene's docCount: documents with at least one term
        total_terms = int(doc_len.sum())
        avgdl = np.float32(total_terms / max(n_field, 1))
        idf = np.log1p((n_field - df + 0.5) / (df + 0.5)).astype(np.float32)
        table = lucene_norm_length(np.arange(256))
        cache = (1.0 / (k1 * ((1 - b) + b * table.astype(np.float32) / avgdl))).astype(np.float32)
        norm_inv = cache[lucene_norm_byte(doc_len)]
        del doc_len
        _assemble(work, out, n_chunks, df, idf, norm_inv, memory_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    with open(out / VOCAB, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    import bm25s

    bm25s_params = {
        "k1": k1, "b": b, "delta": 0.5, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
        "int_dtype": "int32", "num_docs": n_docs, "version": bm25s.__version__, "backend": "numpy",
    }  # fmt: skip
    (out / BM25S_PARAMS).write_text(json.dumps(bm25s_params, indent=2))
    params = {
        "format_version": FORMAT_VERSION, "k1": k1, "b": b, "analyzer": analyzer.config(),
        "num_docs": n_docs, "num_docs_with_terms": n_field, "num_terms": len(vocab),
        "num_postings": int(df.sum()), "avgdl": float(avgdl), "length_norm": "lucene-smallfloat",
        "checksums": checksums(out, [name for name in INDEX_FILES if name != PARAMS]),
    }  # fmt: skip
    (out / PARAMS).write_text(json.dumps(params, indent=2))
    log.info("BM25 index: %d documents, %d terms, %d postings -> %s", n_docs, len(vocab), df.sum(), out)
    return params


# --- search ----------------------------------------------------------------------------------------
class BM25Retriever(Retriever):
    """Lucene-compatible BM25 over an index directory; results are ``Doc`` records with scores.

    Example:
        >>> from retrievers.corpus import read_corpus
        >>> bm25 = BM25Retriever.build(read_corpus("corpus.jsonl"), "idx/")  # doctest: +SKIP
        >>> bm25 = BM25Retriever.load("idx/")  # doctest: +SKIP
        >>> bm25.search(["capital of france"], k=3)[0][0].title  # doctest: +SKIP
        'Paris'
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        mmap: bool = True,
        threads: int | None = None,
        backend: str = "auto",
        verify: str = "quick",
    ):
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {list(VERIFY_MODES)}, got {verify!r}")
        self.directory = Path(directory)
        params_path = self.directory / PARAMS
        if not params_path.is_file():
            raise FileNotFoundError(f"{params_path} not found: {self.directory} is not a BM25 index")
        try:
            self.params = json.loads(params_path.read_text())
        except ValueError as exc:
            raise IndexIntegrityError(params_path, f"not valid JSON ({exc})") from None
        if "checksums" in self.params:
            verify_checksums(self.directory, self.params["checksums"], verify)
        elif verify != "off":
            log.info("%s: no checksums (built by an older version); checking structure only", params_path)
        self.k1, self.b = self.params["k1"], self.params["b"]
        self.analyzer = Analyzer.from_config(self.params["analyzer"])
        mode = "r" if mmap else None
        self._data = _load_array(self.directory / DATA, mode, np.float32)
        self._indices = _load_array(self.directory / INDICES, mode, np.int32)
        self._indptr = _load_array(self.directory / INDPTR, None, np.int64)
        self._col_max = _load_array(self.directory / COL_MAX, None, np.float32)
        try:
            with open(self.directory / VOCAB, encoding="utf-8") as f:
                self.vocab: dict[str, int] = json.load(f)
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(self.directory / VOCAB, f"cannot be read ({exc})") from None
        self.docstore = DocStore(self.directory, mmap_mode=mmap)
        self.num_docs = len(self.docstore)
        self._check_structure()
        if backend not in ("auto", "numba", "numpy"):
            raise ValueError(f"backend must be 'auto', 'numba' or 'numpy', got {backend!r}")
        if backend == "numba" and not bm25_kernels.HAVE_NUMBA:
            raise ImportError(
                "backend='numba' needs numba, a core dependency missing from this environment: "
                "pip install 'numba>=0.59' (or use backend='numpy': the same results, slower)"
            )
        self.backend = "numba" if backend == "auto" and bm25_kernels.HAVE_NUMBA else backend
        self.backend = "numpy" if self.backend == "auto" else self.backend
        self.threads = max(1, threads or min(os.cpu_count() or 1, 8))
        self._scratch: list[tuple[np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _check_structure(self) -> None:
        """Shapes and bounds the search kernel relies on (cheap: no pass over the postings)."""
        d, indptr, n_terms = self.directory, self._indptr, len(self.vocab)
        nnz = self._data.shape[0]
        if self._indices.shape[0] != nnz:
            raise IndexIntegrityError(d / INDICES, f"{self._indices.shape[0]} postings, {DATA} has {nnz}")
        if indptr.shape[0] != n_terms + 1:
            raise IndexIntegrityError(d / INDPTR, f"{indptr.shape[0]} entries for {n_terms} terms in {VOCAB}")
        if indptr[0] != 0 or indptr[-1] != nnz or (n_terms and np.any(indptr[1:] < indptr[:-1])):
            raise IndexIntegrityError(d / INDPTR, f"column pointers are not increasing from 0 to {nnz}")
        if self._col_max.shape[0] != n_terms or not np.all(np.isfinite(self._col_max)):
            raise IndexIntegrityError(d / COL_MAX, f"needs {n_terms} finite term maxima")
        ids = np.fromiter(self.vocab.values(), dtype=np.int64, count=n_terms)
        if n_terms and (ids.min() < 0 or ids.max() >= n_terms or np.unique(ids).size != n_terms):
            raise IndexIntegrityError(d / VOCAB, f"term ids are not a permutation of 0..{n_terms - 1}")
        if self.params.get("num_docs", self.num_docs) != self.num_docs:
            raise IndexIntegrityError(
                d / OFFSETS_FILE, f"{self.num_docs} documents, {PARAMS} says {self.params['num_docs']}"
            )

    # construction ----------------------------------------------------------------------------------
    @classmethod
    def build(
        cls, docs: Iterable[Doc], output_dir: str | os.PathLike | None = None, **options: Any
    ) -> BM25Retriever:
        """Index ``docs`` (streamed) into ``output_dir`` (a temporary folder if None) and open it.

        Options: ``k1`` (0.9), ``b`` (0.4), ``stemmer`` ("porter"), ``stopwords`` ("lucene"),
        ``chunk_size`` (documents per spill, 10000), ``memory_mb`` (posting assembly budget, 512),
        ``total`` (document count for the progress bar), and ``threads``/``backend`` for searching.
        """
        open_opts = {k: options.pop(k) for k in ("threads", "backend", "mmap") if k in options}
        tmp = None
        if output_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="bm25_")
            output_dir = tmp.name
        build_bm25(docs, output_dir, **options)
        retriever = cls(output_dir, **open_opts)
        retriever._tmp = tmp
        return retriever

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True, **options: Any) -> BM25Retriever:
        """Open a saved index; ``mmap=True`` maps postings and documents instead of reading them.

        ``verify``: ``"quick"`` (default: file sizes, sampled checksums, structure and bounds),
        ``"full"`` (checksums of every byte) or ``"off"`` (structure and bounds only); see
        :mod:`retrievers.integrity`. A damaged index raises :class:`IndexIntegrityError`.
        """
        return cls(directory, mmap=mmap, **options)

    def save(self, directory: str | os.PathLike) -> Path:
        """Copy the index files to ``directory`` (no-op if it is already there); returns the path."""
        target = Path(directory)
        if target.resolve() == self.directory.resolve():
            return target
        target.mkdir(parents=True, exist_ok=True)
        for name in INDEX_FILES:
            shutil.copyfile(self.directory / name, target / name)
        return target

    # search ----------------------------------------------------------------------------------------
    def _encode_queries(self, queries: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ptr, terms, weights = [0], [], []
        for terms_of_q in self.analyzer.terms_batch(queries):
            counts = Counter(self.vocab[t] for t in terms_of_q if t in self.vocab)
            terms.extend(counts.keys())
            weights.extend(counts.values())
            ptr.append(len(terms))
        return (
            np.asarray(ptr, dtype=np.int64),
            np.asarray(terms, dtype=np.int64),
            np.asarray(weights, dtype=np.float64),
        )

    def _take_scratch(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._scratch:
                return self._scratch.pop()
        return np.zeros(self.num_docs, dtype=np.float64), np.empty(self.num_docs, dtype=np.int64)

    def _give_scratch(self, scratch: tuple[np.ndarray, np.ndarray]) -> None:
        with self._lock:
            self._scratch.append(scratch)

    def _run(self, ptr, terms, weights, k, out_docs, out_scores) -> None:
        acc, cand = self._take_scratch()
        try:
            if self.backend == "numba":
                bad = bm25_kernels.search_batch_jit(
                    self._data, self._indices, self._indptr, self._col_max,
                    ptr, terms, weights, k, acc, cand, out_docs, out_scores,
                )  # fmt: skip
            else:
                bad = bm25_kernels.search_numpy(
                    self._data, self._indices, self._indptr, ptr, terms, weights, k, acc, out_docs, out_scores
                )
        finally:
            self._give_scratch((acc, cand))
        if bad:
            raise IndexIntegrityError(
                self.directory / INDICES,
                f"{bad} postings with a row outside 0..{self.num_docs - 1} or an invalid score in {DATA}",
            )

    def search_ids(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and scores per query as arrays ``(n_queries, k)``; missing hits are row -1."""
        _check_request(queries, k)
        ptr, terms, weights = self._encode_queries(queries)
        nq = len(queries)
        out_docs = np.full((nq, k), -1, dtype=np.int64)
        out_scores = np.zeros((nq, k), dtype=np.float64)
        groups = min(self.threads, nq)
        if groups <= 1 or nq < 8:
            self._run(ptr, terms, weights, k, out_docs, out_scores)
            return out_docs, out_scores.astype(np.float32)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="bm25")
        bounds = np.linspace(0, nq, groups + 1).astype(int)
        futures = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            sub_ptr = ptr[lo : hi + 1] - ptr[lo]
            sub_terms, sub_weights = terms[ptr[lo] : ptr[hi]], weights[ptr[lo] : ptr[hi]]
            futures.append(
                self._pool.submit(
                    self._run, sub_ptr, sub_terms, sub_weights, k, out_docs[lo:hi], out_scores[lo:hi]
                )
            )
        for future in futures:
            future.result()
        return out_docs, out_scores.astype(np.float32)

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """Top-``k`` ``Doc`` records per query, best first (fewer if fewer documents match)."""
        rows, scores = self.search_ids(queries, k)
        return [
            [self.docstore.get(int(r), score=float(s)) for r, s in zip(row, srow) if r >= 0]
            for row, srow in zip(rows, scores)
        ]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.docstore.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __len__(self) -> int:
        return self.num_docs


def _load_array(path: Path, mmap_mode: str | None, dtype: type) -> np.ndarray:
    """A one-dimensional ``.npy`` array of ``dtype``, or an error naming the file."""
    try:
        array = np.load(path, mmap_mode=mmap_mode)
    except (OSError, ValueError, EOFError) as exc:
        raise IndexIntegrityError(path, f"cannot be read as a .npy array ({exc})") from None
    if array.ndim != 1 or array.dtype != dtype:
        raise IndexIntegrityError(
            path, f"expected a 1-D {np.dtype(dtype)} array, got {array.dtype} {array.shape}"
        )
    return np.asarray(array)


def _check_request(queries: list[str], k: int) -> None:
    if isinstance(queries, str) or not isinstance(queries, (list, tuple)):
        raise TypeError("queries must be a list of strings")
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise TypeError(f"queries[{i}] must be a string, got {type(q).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
