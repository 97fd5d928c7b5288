"""Compressed dense indexes: convert a FAISS index into a smaller one, estimate what loading it costs.

The public wiki-18 E5 index (``PeterJinGo/wiki-18-e5-index``) is a FAISS Flat index of 21M x 768
float32 vectors: 64.5 GB of memory. :func:`convert_dense` reads such an index (memory-mapped, so the
source never has to fit in memory) or one of ours (``retrievers/dense.py``), trains a compressed
index on a sample of its vectors, then streams every vector through it in chunks
(``reconstruct_n``), so the conversion needs about the size of the output plus one chunk and the
training sample. Progress is checkpointed; a conversion killed midway resumes from its last
checkpoint when rerun with the same arguments (and restarts cleanly with different ones), and the
finished index appears under its final name in one rename. The document store is linked (or copied)
unchanged.

With ``refine`` the conversion also writes ``vectors.f16``, a float16 copy of the vectors on disk.
A search then fetches ``refine`` x ``k`` candidates from the compressed index and reranks them
exactly against that file (a numpy memmap): recall comes back without holding vectors in memory.

Presets are named by what a user has (picked by benchmarks/retrieval/bench_dense_compression.py,
table in benchmarks/retrieval/RESULTS.md, "Dense retrieval at wiki scale"): ``wiki-16gb`` (HNSW over
4-bit codes, 13.8 GB for wiki-18), ``wiki-8gb`` (IVF-PQ, 4.3 GB), both reranked from float16
vectors on disk, and ``gpu`` (the Flat index as it is, sharded over the GPUs in float16).

Example::

    convert_dense("wiki18_e5/", "wiki18_e5_8gb/", preset="wiki-8gb")
    DenseRetriever.load("wiki18_e5_8gb/", mmap=True).search(["who wrote hamlet"], k=3)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

log = logging.getLogger(__name__)

INDEX_FILE, PARAMS, REFINE_FILE = "faiss.index", "dense.json", "vectors.f16"
DOCSTORE_FILES = ("docs.jsonl", "doc_offsets.npy")
STATE_FILE = "convert.json"
#: disk read speed assumed by start-up estimates (bytes/s): a SATA SSD; NVMe is faster
READ_BYTES_PER_S = 500e6


@dataclass(frozen=True)
class CompressionPreset:
    """A compressed index described by a FAISS ``index_factory`` string and its search settings.

    ``factory`` may use ``{nlist}`` (inverted lists for the corpus size, :func:`default_nlist`) and
    ``{d2}``, ``{d4}``, ``{d8}`` (the vector size divided by 2, 4, 8: PQ sub-quantisers).
    ``refine``: candidates per hit reranked exactly from ``vectors.f16`` (0: no refine step).
    """

    factory: str
    help: str
    nprobe: int | None = None
    ef_search: int | None = None
    refine: int = 0


PRESETS: dict[str, CompressionPreset] = {
    "wiki-16gb": CompressionPreset(
        "HNSW32,SQ4", ef_search=256, refine=4,
        help="a 16 GB machine: HNSW over 4-bit scalar codes, reranked from float16 vectors on disk",
    ),
    "wiki-8gb": CompressionPreset(
        "IVF{nlist},PQ{d4}", nprobe=512, refine=8,
        help="an 8 GB machine: IVF-PQ with d/4 bytes a vector, reranked from float16 vectors on disk",
    ),
    "gpu": CompressionPreset(
        "Flat", help="GPUs: the Flat index as it is, sharded over all GPUs in float16 (use_gpu=True)"
    ),
}  # fmt: skip


def default_nlist(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest 4 sqrt(n), at most 65,536."""
    target = 4 * np.sqrt(max(n, 1))
    return int(min(65536, max(1, 2 ** round(np.log2(target)))))


def resolve_factory(factory: str, dim: int, n: int) -> str:
    """``factory`` with ``{nlist}``, ``{d2}``, ``{d4}``, ``{d8}`` filled in for ``n`` vectors of ``dim``."""
    return factory.format(nlist=default_nlist(n), d2=dim // 2, d4=dim // 4, d8=dim // 8)


def train_size_for(factory: str, n: int) -> int:
    """Training sample: 50 vectors per inverted list (at least 10,000 for PQ codebooks), at most ``n``."""
    needed = 10_000
    if "IVF" in factory:
        nlist = int(factory.split("IVF", 1)[1].split(",", 1)[0].split("_", 1)[0])
        needed = max(needed, 50 * nlist)
    return min(n, needed)


def preset_or_error(name: str) -> CompressionPreset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def estimate_bytes(factory: str, dim: int, n: int) -> dict[str, int]:
    """Bytes in memory of the index ``factory`` over ``n`` vectors (an empty one is measured, then scaled).

    Returns ``{"index_bytes", "bytes_per_vector", "train_sample_bytes"}``: the fixed part (quantisers,
    OPQ rotation) plus ``n`` x the per-vector part (codes, ids, graph links).
    """
    import faiss

    probe = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    fixed = faiss.serialize_index(probe).nbytes
    ivf = faiss.try_extract_index_ivf(probe)
    if ivf is not None:
        fixed += ivf.nlist * dim * 4  # trained centroids
        per_vector = ivf.code_size + 8  # code + 64-bit id in the inverted lists
    else:
        base = faiss.downcast_index(probe.index) if isinstance(probe, faiss.IndexPreTransform) else probe
        base = faiss.downcast_index(base.storage) if hasattr(base, "hnsw") else base
        per_vector = int(getattr(base, "code_size", 4 * dim))
        if hasattr(probe, "hnsw"):  # level-0 links (2M) + upper levels (~M/(M-1) more) + level/offset
            m = probe.hnsw.nb_neighbors(1)
            per_vector += 4 * (2 * m + m // max(1, m - 1)) + 12
    pq = getattr(ivf, "pq", None)
    if pq is not None:
        fixed += pq.M * pq.ksub * pq.dsub * 4
    return {
        "index_bytes": int(fixed + n * per_vector),
        "bytes_per_vector": int(per_vector),
        "train_sample_bytes": int(train_size_for(factory, n) * dim * 4),
    }


def estimate_startup(directory: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """What opening the dense index in ``directory`` will cost, from file sizes alone (nothing loaded).

    Returns ``memory_bytes`` (resident after loading: the whole index file, or with ``mmap`` only
    pages touched by searches), ``load_seconds`` (reading the file at :data:`READ_BYTES_PER_S`; with
    ``mmap`` near zero), ``index_bytes``, ``refine_bytes`` (the float16 vectors, read on demand).
    """
    directory = Path(directory)
    index_path = directory / INDEX_FILE
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path} not found: {directory} is not a dense index")
    size = index_path.stat().st_size
    refine = directory / REFINE_FILE
    docs = sum((directory / f).stat().st_size for f in DOCSTORE_FILES if (directory / f).is_file())
    return {
        "index_bytes": size,
        "memory_bytes": 0 if mmap else size,
        "load_seconds": round(0.0 if mmap else size / READ_BYTES_PER_S, 2),
        "refine_bytes": refine.stat().st_size if refine.is_file() else 0,
        "docstore_bytes": docs,
        "mmap": mmap,
    }


def refine_exact(
    query_vectors: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rerank candidate rows exactly: inner products against ``vectors`` (a float16 memmap).

    Args:
        query_vectors: ``(q, d)`` float32.
        candidates: ``(q, c)`` row ids from the compressed index (``-1`` = none).
        vectors: ``(n, d)`` array of the stored vectors (read only at the candidate rows).
        k: hits to keep per query.

    Returns:
        ``(scores, rows)``, each ``(q, k)``, best first; missing hits are ``-inf`` / ``-1``.
    """
    q = len(query_vectors)
    scores = np.full((q, k), -np.inf, dtype=np.float32)
    rows = np.full((q, k), -1, dtype=np.int64)
    wanted = np.unique(candidates[candidates >= 0])
    if wanted.size == 0:
        return scores, rows
    stored = np.asarray(vectors[wanted], dtype=np.float32)  # sorted rows: sequential-ish reads
    for i in range(q):
        cand = candidates[i][candidates[i] >= 0]
        if cand.size == 0:
            continue
        exact = stored[np.searchsorted(wanted, cand)] @ query_vectors[i]
        top = np.argsort(-exact, kind="stable")[:k]
        scores[i, : top.size], rows[i, : top.size] = exact[top], cand[top]
    return scores, rows


def open_refine_vectors(directory: Path, num: int, dim: int) -> np.ndarray:
    """The float16 copy of an index's vectors, memory-mapped (``refine`` reads candidate rows only)."""
    path = directory / REFINE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"refine needs {path}, the float16 vectors: convert with refine > 0 (s3 index convert --refine N)"
        )
    if path.stat().st_size != num * dim * 2:
        raise ValueError(f"{path} holds {path.stat().st_size} bytes, not {num} x {dim} float16 vectors")
    return np.memmap(path, dtype=np.float16, mode="r", shape=(num, dim))


# ---------------------------------------------------------------------------------------- conversion


def read_index_mmap(path: str | os.PathLike):
    """A FAISS index memory-mapped, read only: flat codes (Flat, SQ, HNSW storage) or inverted lists.

    FAISS maps flat codes with ``IO_FLAG_MMAP_IFC`` and inverted lists with ``IO_FLAG_MMAP``, and
    refuses both at once for inverted lists, so an IVF index is read with the second alone.
    """
    import faiss

    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def _read_source(source: Path):
    """The source index, memory-mapped (a 64 GB Flat index costs no memory up front)."""
    import faiss

    path = source / INDEX_FILE if source.is_dir() else source
    if not path.is_file():
        raise FileNotFoundError(f"source index {path} not found (a dense index folder or a FAISS index file)")
    try:
        index = read_index_mmap(path)
    except RuntimeError as exc:
        raise ValueError(f"{path} is not a FAISS index FAISS can read: {exc}") from exc
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:  # reconstructing from inverted lists needs the id -> list map
        ivf.make_direct_map()
    return index, path


def _source_signature(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime": stat.st_mtime}


def _atomic_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def _write_docstore(source: Path, work: Path, corpus: str | os.PathLike | None) -> None:
    if corpus is not None:
        from retrievers.corpus import read_corpus
        from retrievers.docstore import DocStoreWriter

        with DocStoreWriter(work) as store:
            for doc in tqdm(read_corpus(corpus), desc="document store", unit="doc", disable=None):
                store.add(doc)
        return
    missing = [f for f in DOCSTORE_FILES if not (source / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{source} has no document store ({', '.join(missing)} missing): pass corpus= (the JSONL "
            "corpus whose row order the index follows, e.g. wiki-18.jsonl)"
        )
    for name in DOCSTORE_FILES:
        _link_or_copy(source / name, work / name)


def _source_params(source: Path, model: str | None, dim: int) -> dict[str, Any]:
    params_path = source / PARAMS
    if source.is_dir() and params_path.is_file():
        params = json.loads(params_path.read_text())
        if model:
            params["encoder"] = {"model": model}
        return params
    if not model:
        raise ValueError(
            f"{source} has no {PARAMS}: pass model= (the encoder that made the vectors, "
            "e.g. intfloat/e5-base-v2 for the wiki-18 E5 index)"
        )
    return {"encoder": {"model": model}, "dim": dim, "metric": "inner_product"}


def conversion_plan(
    source: str | os.PathLike, preset: str | None = None, factory: str | None = None
) -> dict[str, Any]:
    """What converting ``source`` with ``preset`` (or ``factory``) would write, before any work.

    Returns ``factory`` (resolved for the source's size), ``num_vectors``, ``dim``, ``source`` (the
    index file), the memory estimate of :func:`estimate_bytes`, and (for :func:`convert_dense`)
    ``chosen`` (the preset) and ``source_index`` (the source, memory-mapped).
    """
    if (preset is None) == (factory is None):
        raise ValueError("give exactly one of preset= (a name) or factory= (a FAISS index_factory string)")
    chosen = preset_or_error(preset) if preset else CompressionPreset(factory, help="custom")
    if preset == "gpu":
        raise ValueError(
            "the gpu preset needs no conversion: serve the Flat index as it is with use_gpu=True "
            "(it is sharded over all GPUs in float16)"
        )
    index_src, src_path = _read_source(Path(source))
    n, dim = index_src.ntotal, index_src.d
    if n == 0:
        raise ValueError(f"{src_path} holds no vectors")
    resolved = resolve_factory(chosen.factory, dim, n)
    try:
        estimate = estimate_bytes(resolved, dim, n)
    except RuntimeError as exc:
        raise ValueError(f"FAISS cannot build {resolved!r}: {exc}") from exc
    estimate["inner_product"] = _builds_inner_product(resolved, dim)
    return {"factory": resolved, "num_vectors": n, "dim": dim, "source": src_path, **estimate,
            "chosen": chosen, "source_index": index_src}  # fmt: skip


def _builds_inner_product(factory: str, dim: int) -> bool:
    import faiss

    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT).metric_type == faiss.METRIC_INNER_PRODUCT


def convert_dense(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    preset: str | None = None,
    factory: str | None = None,
    refine: int | None = None,
    nprobe: int | None = None,
    ef_search: int | None = None,
    train_size: int | None = None,
    chunk_size: int = 262_144,
    checkpoint_seconds: float = 300.0,
    corpus: str | os.PathLike | None = None,
    model: str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Convert the FAISS index at ``source`` into a compressed dense index at ``output``.

    Args:
        source: a dense index folder (ours: ``faiss.index``, ``dense.json``, document store) or a
            FAISS index file (e.g. the public ``e5_Flat.index``; then pass ``corpus`` and ``model``).
        output: folder to create; it must not exist yet (it appears in one rename when done).
        preset: a key of :data:`PRESETS` (``wiki-16gb``, ``wiki-8gb``); or give ``factory``.
        factory: a FAISS ``index_factory`` string (``{nlist}``/``{d4}``... allowed), e.g. ``HNSW32,SQ8``.
        refine: candidates per hit reranked exactly from a float16 copy written beside the index
            (0: none; default: the preset's).
        nprobe / ef_search: search settings stored with the index (default: the preset's).
        train_size: vectors sampled to train the quantiser (default :func:`train_size_for`).
        chunk_size: vectors read from the source and added per step.
        checkpoint_seconds: at most this long between checkpoints (0: after every chunk).
        corpus: JSONL corpus for the document store when ``source`` has none (row i = vector i).
        model: encoder of the vectors when ``source`` has no ``dense.json``.
        on_chunk: called as ``on_chunk(added, total)`` after each chunk.

    Returns:
        The parameters written to ``output/dense.json``.

    Raises:
        ValueError: unknown preset, neither or both of preset/factory, the gpu preset, a bad factory.
        FileNotFoundError: no source index, or no document store and no ``corpus``.
        FileExistsError: ``output`` exists.
    """
    import faiss

    source, output = Path(source), Path(output)
    if output.exists():
        raise FileExistsError(f"{output} exists; choose a new output folder (or remove it)")
    plan = conversion_plan(source, preset=preset, factory=factory)
    index_src, src_path, n, dim = plan.pop("source_index"), plan["source"], plan["num_vectors"], plan["dim"]
    chosen = plan.pop("chosen")
    params = _source_params(source, model, dim)
    spec = {
        "factory": plan["factory"],
        "refine": chosen.refine if refine is None else int(refine),
        "nprobe": chosen.nprobe if nprobe is None else nprobe,
        "ef_search": chosen.ef_search if ef_search is None else ef_search,
        "train_size": train_size,
        "preset": preset,
    }
    log.info(
        "converting %d x %d vectors from %s to %s: about %.2f GB in memory (%d bytes a vector), "
        "training sample %.2f GB, refine vectors %.2f GB on disk",
        n, dim, src_path, spec["factory"], plan["index_bytes"] / 1e9, plan["bytes_per_vector"],
        plan["train_sample_bytes"] / 1e9, (n * dim * 2 if spec["refine"] else 0) / 1e9,
    )  # fmt: skip
    if not plan["inner_product"] and not spec["refine"]:
        raise ValueError(
            f"FAISS builds {spec['factory']!r} with the L2 metric: it ranks normalised vectors as inner "
            "product does, but its scores would be distances; convert with refine > 0 (exact inner products)"
        )
    source_dir = source if source.is_dir() else source.parent
    work = output.with_name(f".{output.name}.converting")
    state_path = work / STATE_FILE
    wanted = {"spec": spec, "source": _source_signature(src_path), "chunk_size": chunk_size}
    state = json.loads(state_path.read_text()) if state_path.is_file() else None
    if state is None or {k: state.get(k) for k in wanted} != wanted:
        if work.exists():
            log.info("%s holds another conversion's work: starting again", work)
            shutil.rmtree(work)
        work.mkdir(parents=True)
        state = {**wanted, "added": 0, "index_file": None, "started": time.time()}
    else:
        log.info("resuming the conversion in %s: %d of %d vectors done", work, state["added"], n)
    start_time = time.perf_counter()
    if state["index_file"] is None:
        index = _train(spec, index_src, n, dim)
        faiss.write_index(index, str(work / "trained.index"))
        state["index_file"] = "trained.index"
        _atomic_json(state_path, state)
    else:
        index = faiss.read_index(str(work / state["index_file"]))
    vectors16 = None
    if spec["refine"]:
        f16 = work / REFINE_FILE
        mode = "r+" if f16.is_file() else "w+"
        vectors16 = np.memmap(f16, dtype=np.float16, mode=mode, shape=(n, dim))
    last_checkpoint = time.perf_counter()
    bar = tqdm(total=n, initial=state["added"], desc="convert", unit="vec", disable=None)
    for begin in range(state["added"], n, chunk_size):
        count = min(chunk_size, n - begin)
        chunk = np.ascontiguousarray(index_src.reconstruct_n(begin, count), dtype=np.float32)
        if vectors16 is not None:
            vectors16[begin : begin + count] = chunk
        index.add(chunk)
        bar.update(count)
        done = begin + count
        if done == n or time.perf_counter() - last_checkpoint >= checkpoint_seconds:
            _checkpoint(work, state, index, vectors16, done)
            last_checkpoint = time.perf_counter()
        if on_chunk is not None:
            on_chunk(done, n)
    bar.close()
    del vectors16
    if state["index_file"] != INDEX_FILE:  # a rerun after a kill in the steps below skips this
        os.replace(work / state["index_file"], work / INDEX_FILE)
        state["index_file"] = INDEX_FILE
        _atomic_json(state_path, state)
    _write_docstore(source_dir, work, corpus)
    params.update(
        index_type="faiss", factory=spec["factory"], num_docs=n, dim=dim,
        search={k: spec[k] for k in ("nprobe", "ef_search", "refine") if spec[k]},
        converted_from={"path": str(src_path.resolve()), "preset": preset},
    )  # fmt: skip
    params.pop("index_options", None)
    (work / PARAMS).write_text(json.dumps(params, indent=2))
    seconds = time.perf_counter() - start_time
    manifest = {"kind": "dense", "num_docs": n, "factory": spec["factory"], "convert_seconds": round(seconds, 2)}
    (work / "index.json").write_text(json.dumps(manifest, indent=2))
    state_path.unlink()
    os.replace(work, output)
    log.info("converted index written to %s (%.1f s this run)", output, seconds)
    return params


def _train(spec: dict[str, Any], index_src, n: int, dim: int):
    import faiss

    index = faiss.index_factory(dim, spec["factory"], faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(index)
    if isinstance(ivf, faiss.IndexIVFPQ):  # polysemous codes serve Hamming filtering, unused here,
        ivf.do_polysemous_training = False  # and their training is ~100x slower than the codebooks
    if not index.is_trained:
        size = spec["train_size"] or train_size_for(spec["factory"], n)
        rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, size), replace=False))
        log.info("training %s on %d sampled vectors", spec["factory"], len(rows))
        sample = np.ascontiguousarray(index_src.reconstruct_batch(rows), dtype=np.float32)
        index.train(sample)
    return index


def _checkpoint(work: Path, state: dict[str, Any], index, vectors16, done: int) -> None:
    """Save the index so far and then, atomically, the state naming it; older saves go after."""
    import faiss

    if vectors16 is not None:
        vectors16.flush()
    name = f"partial-{done}.index"
    faiss.write_index(index, str(work / name))
    previous = state["index_file"]
    state.update(added=done, index_file=name)
    _atomic_json(work / STATE_FILE, state)
    if previous and previous != name:
        (work / previous).unlink(missing_ok=True)


def describe_presets() -> str:
    """One line per preset, for ``--help`` and error messages."""
    return "\n".join(f"  {name}: {p.help} ({p.factory})" for name, p in PRESETS.items())

