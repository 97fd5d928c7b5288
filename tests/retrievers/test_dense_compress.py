"""Converting a Flat dense index into compressed ones: same documents, the top hits within the stated
recall, resumable after a kill, memory-mapped search and exact refine, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from retrievers.dense import INDEX_FILE, PARAMS, DenseRetriever, build_dense  # noqa: E402
from retrievers.dense_compress import (  # noqa: E402
    PRESETS,
    REFINE_FILE,
    convert_dense,
    estimate_bytes,
    estimate_startup,
    refine_exact,
    resolve_factory,
)
from retrievers.doc import Doc  # noqa: E402
from retrievers.docstore import DocStore, DocStoreWriter  # noqa: E402

N, DIM = 3000, 32


def clustered_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Normalised vectors around 40 centres: like encoder output, neighbours are not all equidistant."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_flat_index(directory, vectors: np.ndarray, encoder: str = "unused") -> None:
    """A dense index folder as ``build_dense`` writes it, from given vectors (no encoder run)."""
    directory.mkdir(parents=True, exist_ok=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    faiss.write_index(index, str(directory / INDEX_FILE))
    with DocStoreWriter(directory) as store:
        for i in range(len(vectors)):
            store.add(Doc(id=f"d{i}", title=f"Title {i}", text=f"passage number {i}"))
    params = {"encoder": {"model": encoder}, "index_type": "flat", "dim": vectors.shape[1], "num_docs": len(vectors)}
    (directory / PARAMS).write_text(json.dumps(params))


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flat") / "idx"
    vectors = clustered_vectors(N, DIM)
    write_flat_index(directory, vectors)
    queries = clustered_vectors(50, DIM, seed=1)
    _, truth = faiss.read_index(str(directory / INDEX_FILE)).search(queries, 10)
    return directory, vectors, queries, truth


def recall_at_10(index_dir, queries: np.ndarray, truth: np.ndarray, refine: int = 0, nprobe=None, ef_search=64) -> float:
    index = faiss.read_index(str(index_dir / INDEX_FILE))
    if nprobe and faiss.try_extract_index_ivf(index) is not None:
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef_search
    if refine:
        _, cand = index.search(queries, 10 * refine)
        vectors = np.memmap(index_dir / REFINE_FILE, dtype=np.float16, mode="r", shape=(index.ntotal, index.d))
        _, rows = refine_exact(queries, cand, vectors, 10)
    else:
        _, rows = index.search(queries, 10)
    return float(np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, truth)]))


@pytest.mark.parametrize("preset", ["wiki-16gb", "wiki-8gb"])
def test_presets_keep_the_top_hits_and_the_documents(tmp_path, flat, preset):
    source, _, queries, truth = flat
    params = convert_dense(source, tmp_path / "out", preset=preset, checkpoint_seconds=0, chunk_size=1000)
    out = tmp_path / "out"
    assert params["num_docs"] == N and params["search"]["refine"] == PRESETS[preset].refine
    assert params["factory"] == resolve_factory(PRESETS[preset].factory, DIM, N)
    # the benchmark's bar (benchmarks/retrieval/RESULTS.md): recall@10 >= 0.95 of Flat's top 10
    search = params["search"]
    assert recall_at_10(out, queries, truth, search["refine"], search.get("nprobe"), search.get("ef_search")) >= 0.95
    assert (out / "docs.jsonl").read_bytes() == (source / "docs.jsonl").read_bytes()
    store = DocStore(out)
    assert store.get(1234).id == "d1234" and len(store) == N
    assert not list(tmp_path.glob(".*converting"))  # the work folder became the output


@pytest.mark.parametrize("factory, floor", [("SQfp16", 0.99), ("HNSW16,SQ8", 0.9), ("IVF32,SQ8", 0.85)])
def test_factories_without_refine(tmp_path, flat, factory, floor):
    source, vectors, queries, truth = flat
    convert_dense(source, tmp_path / "out", factory=factory, refine=0, chunk_size=700)
    assert not (tmp_path / "out" / REFINE_FILE).exists()
    assert recall_at_10(tmp_path / "out", queries, truth, nprobe=16) >= floor


def test_a_conversion_killed_midway_resumes_and_ends_correct(tmp_path, flat):
    source, vectors, queries, truth = flat
    out = tmp_path / "out"

    def die_after_two_chunks(added: int, total: int) -> None:
        if added >= 1000:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        convert_dense(source, out, factory="IVF32,Flat", refine=4, chunk_size=500, checkpoint_seconds=0,
                      on_chunk=die_after_two_chunks)  # fmt: skip
    assert not out.exists()
    state = json.loads((tmp_path / ".out.converting" / "convert.json").read_text())
    assert state["added"] == 1000
    seen = []
    convert_dense(source, out, factory="IVF32,Flat", refine=4, chunk_size=500, checkpoint_seconds=0,
                  on_chunk=lambda added, total: seen.append(added))  # fmt: skip
    assert seen[0] == 1500  # resumed after the last checkpoint, not from zero
    index = faiss.read_index(str(out / INDEX_FILE))
    assert index.ntotal == N  # nothing added twice
    stored = np.memmap(out / REFINE_FILE, dtype=np.float16, mode="r", shape=(N, DIM))
    np.testing.assert_allclose(stored, vectors, atol=1e-3)
    assert recall_at_10(out, queries, truth, refine=4, nprobe=32) == 1.0


def test_a_rerun_with_other_settings_restarts_cleanly(tmp_path, flat):
    source, *_ = flat
    out = tmp_path / "out"

    def die(added: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_dense(source, out, factory="IVF32,Flat", chunk_size=500, checkpoint_seconds=0, on_chunk=die)
    seen = []
    convert_dense(source, out, factory="SQfp16", chunk_size=500, on_chunk=lambda a, t: seen.append(a))
    assert seen[0] == 500 and faiss.read_index(str(out / INDEX_FILE)).ntotal == N


def test_a_killed_subprocess_can_be_rerun(tmp_path, flat):
    source, *_ = flat
    out = tmp_path / "out"
    script = (
        "import os, sys\n"
        "from retrievers.dense_compress import convert_dense\n"
        "def kill(added, total):\n"
        "    if added >= 1500: os._exit(9)\n"  # no clean-up at all, as with SIGKILL
        f"convert_dense({str(source)!r}, {str(out)!r}, factory='SQfp16', chunk_size=500, "
        "checkpoint_seconds=0, on_chunk=kill)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9
    assert not out.exists()
    convert_dense(source, out, factory="SQfp16", chunk_size=500, checkpoint_seconds=0)
    assert faiss.read_index(str(out / INDEX_FILE)).ntotal == N


def test_refine_exact_reranks_candidates_by_true_inner_product():
    vectors = clustered_vectors(200, 16)
    queries = vectors[:3]
    candidates = np.array([[5, 0, 7, -1], [1, 9, 2, 3], [-1, -1, -1, -1]])
    scores, rows = refine_exact(queries, candidates, vectors.astype(np.float16), k=2)
    assert rows[0, 0] == 0 and rows[1, 0] == 1  # each query's own vector wins
    assert rows[2].tolist() == [-1, -1] and np.isinf(scores[2]).all()
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-3) and scores[0, 0] >= scores[0, 1]


def test_mmap_search_and_refine_return_the_right_documents(tmp_path, tiny_encoder_dir, sample_corpus):
    from retrievers.corpus import read_corpus

    flat_dir = tmp_path / "flat"
    build_dense(read_corpus(sample_corpus), flat_dir, model=str(tiny_encoder_dir), index_type="flat")
    convert_dense(flat_dir, tmp_path / "pq", factory="IVF4,PQ16x4", refine=16, nprobe=4)
    docs = list(read_corpus(sample_corpus))[:20]
    texts = [d.contents for d in docs]
    exact = DenseRetriever.load(flat_dir).search(texts, k=3)
    refined = DenseRetriever.load(tmp_path / "pq", mmap=True)
    assert refined.refine == 16 and refined.startup["mmap"] and refined.startup["memory_bytes"] == 0
    hits = refined.search(texts, k=3)
    # the tiny random encoder puts all passages within cos 0.99 of each other: float16 may swap a few
    assert np.mean([row[0].id == e[0].id for row, e in zip(hits, exact)]) >= 0.9
    for row, exact_row in zip(hits, exact):  # exact scores, from the float16 copy (ties may swap)
        assert [h.score for h in row] == pytest.approx([h.score for h in exact_row], abs=1e-2)
        assert all(h.title and h.text for h in row)
    unrefined = DenseRetriever.load(tmp_path / "pq", mmap=True, refine=0).search(texts, k=3)
    gaps = [abs(u[0].score - e[0].score) for u, e in zip(unrefined, exact)]
    assert max(gaps) > 1e-3  # 8 bytes a vector only approximate the scores; refine made them exact

    from fastapi.testclient import TestClient

    from retrievers.server import create_app

    with TestClient(create_app(refined)) as client:
        startup = client.get("/health").json()["startup"]
    assert startup["mmap"] and startup["memory_bytes"] == 0 and startup["refine_bytes"] == 152 * 32 * 2
    assert startup["index_bytes"] == (tmp_path / "pq" / INDEX_FILE).stat().st_size
    assert startup["measured_load_seconds"] >= 0


def test_startup_estimate_reports_sizes(tmp_path, flat):
    source, *_ = flat
    est = estimate_startup(source)
    assert est["index_bytes"] == (source / INDEX_FILE).stat().st_size == est["memory_bytes"]
    assert est["refine_bytes"] == 0 and not est["mmap"]
    assert estimate_startup(source, mmap=True)["memory_bytes"] == 0


def test_memory_estimate_matches_a_written_index(tmp_path, flat):
    source, *_ = flat
    convert_dense(source, tmp_path / "out", factory="IVF32,PQ8", refine=0)
    written = (tmp_path / "out" / INDEX_FILE).stat().st_size
    assert estimate_bytes("IVF32,PQ8", DIM, N)["index_bytes"] == pytest.approx(written, rel=0.1)
    convert_dense(source, tmp_path / "hnsw", factory="HNSW16,SQ8", refine=0)
    written = (tmp_path / "hnsw" / INDEX_FILE).stat().st_size
    assert estimate_bytes("HNSW16,SQ8", DIM, N)["index_bytes"] == pytest.approx(written, rel=0.15)
    assert estimate_bytes("Flat", 768, 21_000_000)["index_bytes"] == pytest.approx(768 * 4 * 21_000_000, rel=1e-6)


def test_bad_input_gives_clear_errors(tmp_path, flat):
    source, *_ = flat
    with pytest.raises(ValueError, match="unknown preset 'wiki-2gb'; known presets: wiki-16gb"):
        convert_dense(source, tmp_path / "a", preset="wiki-2gb")
    with pytest.raises(FileNotFoundError, match="source index .*nowhere.* not found"):
        convert_dense(tmp_path / "nowhere", tmp_path / "b", preset="wiki-8gb")
    with pytest.raises(ValueError, match="exactly one of preset"):
        convert_dense(source, tmp_path / "c")
    with pytest.raises(ValueError, match="gpu preset needs no conversion"):
        convert_dense(source, tmp_path / "d", preset="gpu")
    with pytest.raises(ValueError, match="L2 metric.*refine > 0"):
        convert_dense(source, tmp_path / "l2", factory="HNSW16,PQ4", refine=0)
    with pytest.raises(ValueError, match="FAISS cannot build 'IVF32,PQ7'"):
        convert_dense(source, tmp_path / "e", factory="IVF32,PQ7")  # 7 does not divide 32
    (tmp_path / "f").mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        convert_dense(source, tmp_path / "f", preset="wiki-8gb")
    index_file = tmp_path / "bare.index"
    index_file.write_bytes((source / INDEX_FILE).read_bytes())
    with pytest.raises(ValueError, match="pass model="):
        convert_dense(index_file, tmp_path / "g", factory="SQfp16")
    with pytest.raises(FileNotFoundError, match="no document store"):
        convert_dense(index_file, tmp_path / "h", factory="SQfp16", model="intfloat/e5-base-v2")
    with pytest.raises(FileNotFoundError, match="refine needs"):
        DenseRetriever.load(source, refine=4)


def test_a_bare_faiss_file_with_its_corpus_becomes_a_dense_index(tmp_path, sample_corpus):
    from retrievers.corpus import read_corpus

    n = sum(1 for _ in read_corpus(sample_corpus))
    index_file = tmp_path / "e5_Flat.index"
    index = faiss.IndexFlatIP(DIM)
    index.add(clustered_vectors(n, DIM))
    faiss.write_index(index, str(index_file))
    params = convert_dense(index_file, tmp_path / "out", factory="SQfp16", corpus=sample_corpus,
                           model="intfloat/e5-base-v2")  # fmt: skip
    assert params["encoder"] == {"model": "intfloat/e5-base-v2"} and params["num_docs"] == n
    first = next(iter(read_corpus(sample_corpus)))
    assert DocStore(tmp_path / "out").get(0).id == first.id


def test_cli_convert_and_its_errors(tmp_path, flat, capsys):
    from s3.cli import main

    source, *_ = flat
    assert main(["index", "convert", str(source), "--output", str(tmp_path / "x"), "--preset", "wiki-1gb"]) == 2
    assert "unknown preset 'wiki-1gb'; known presets: wiki-16gb, wiki-8gb, gpu" in capsys.readouterr().err
    assert main(["index", "convert", str(tmp_path / "none"), "--output", str(tmp_path / "y"), "--preset", "wiki-8gb"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["index", "convert", str(source), "--output", str(tmp_path / "z"), "--preset", "wiki-16gb", "--dry-run"]) == 0
    assert "HNSW32,SQ4 over 3,000 x 32" in capsys.readouterr().out and not (tmp_path / "z").exists()
    assert main(["index", "convert", str(source), "--output", str(tmp_path / "s"), "--factory", "SQfp16"]) == 0
    assert faiss.read_index(str(tmp_path / "s" / INDEX_FILE)).ntotal == N
    assert main(["index", "--kind", "bm25"]) == 2
    assert "--corpus and --output required" in capsys.readouterr().err


def test_a_kill_while_finishing_can_be_rerun(tmp_path, flat, monkeypatch):
    import retrievers.dense_compress as dc

    source, *_ = flat
    real = dc._write_docstore

    def fail(*args):
        raise KeyboardInterrupt("killed while linking the document store")

    monkeypatch.setattr(dc, "_write_docstore", fail)
    with pytest.raises(KeyboardInterrupt):
        convert_dense(source, tmp_path / "out", factory="SQfp16", chunk_size=1000)
    monkeypatch.setattr(dc, "_write_docstore", real)
    seen = []
    convert_dense(source, tmp_path / "out", factory="SQfp16", chunk_size=1000, on_chunk=lambda a, t: seen.append(a))
    assert seen == []  # every vector was already in; only the last steps ran again
    assert faiss.read_index(str(tmp_path / "out" / INDEX_FILE)).ntotal == N
    assert DocStore(tmp_path / "out").get(7).id == "d7"
