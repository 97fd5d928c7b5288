"""A damaged BM25 index gives a clear error naming the file, never a crash or silently wrong results."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from retrievers.bm25 import DATA, INDICES, INDPTR, PARAMS, BM25Retriever
from retrievers.bm25_kernels import HAVE_NUMBA
from retrievers.corpus import read_corpus
from retrievers.docstore import DOCS_FILE, OFFSETS_FILE
from retrievers.integrity import IndexIntegrityError, verify_checksums


@pytest.fixture()
def index(tmp_path, sample_corpus):
    directory = tmp_path / "idx"
    BM25Retriever.build(read_corpus(sample_corpus), directory).close()
    return directory


def _flip_bytes(path, n=20, seed=0) -> None:
    raw = bytearray(path.read_bytes())
    start = np.load(path, mmap_mode="r").offset if path.suffix == ".npy" else 0  # past the header
    rng = np.random.default_rng(seed)
    for pos in rng.choice(np.arange(start, len(raw)), size=n, replace=False):
        raw[pos] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_build_records_checksums_and_intact_index_loads(index):
    import json

    params = json.loads((index / PARAMS).read_text())
    assert {DATA, INDICES, INDPTR, DOCS_FILE, OFFSETS_FILE} <= set(params["checksums"])
    verify_checksums(index, params["checksums"], "full")
    with BM25Retriever.load(index, verify="full") as bm25:
        assert bm25.search(["capital"], 2)


@pytest.mark.parametrize("name", [DATA, INDICES, INDPTR, DOCS_FILE])
def test_flipped_bytes_are_refused_naming_the_file(index, name):
    _flip_bytes(index / name)
    with pytest.raises(IndexIntegrityError, match=rf"{name}: checksum mismatch.*rebuild it \(s3 index"):
        BM25Retriever.load(index)


@pytest.mark.parametrize("name", [DATA, INDPTR, OFFSETS_FILE, DOCS_FILE])
def test_truncated_file_is_refused_naming_the_file(index, name):
    path = index / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for verify in ("quick", "off"):  # the structure checks name it too, without checksums
        with pytest.raises(IndexIntegrityError, match=name):
            BM25Retriever.load(index, verify=verify)


def test_out_of_range_indptr_is_refused(index):
    indptr = np.load(index / INDPTR)
    indptr[len(indptr) // 2] = indptr[-1] + 1000
    np.save(index / INDPTR, indptr)
    with pytest.raises(IndexIntegrityError, match=f"{INDPTR}: column pointers"):
        BM25Retriever.load(index, verify="off")


@pytest.mark.parametrize(
    "backend",
    [
        "numpy",
        pytest.param(
            "numba",
            marks=pytest.mark.skipif(
                not HAVE_NUMBA,
                reason="numba is a core dependency (CI always has it); skipped only where its install failed",
            ),
        ),
    ],
)
def test_out_of_range_rows_at_search_name_the_file(index, backend):
    indices = np.load(index / INDICES)
    indices[:] = 1 << 30  # damage the sampled checksum did not see (verify="off" stands for it)
    np.save(index / INDICES, indices)
    with BM25Retriever.load(index, verify="off", backend=backend) as bm25:
        with pytest.raises(IndexIntegrityError, match=f"{INDICES}: .*postings with a row outside"):
            bm25.search(["capital of france"], 3)


@pytest.mark.skipif(
    not HAVE_NUMBA,
    reason="numba is a core dependency (CI always has it); skipped only where its install failed",
)
def test_numba_kernel_never_reads_out_of_bounds(tmp_path):
    """Rows far outside the document range once crashed the process (SIGSEGV): the exit code is the check."""
    script = textwrap.dedent(
        """
        import numpy as np
        from retrievers import bm25_kernels

        n_docs, n_terms, per_term = 100, 4, 50
        indptr = np.arange(0, n_terms * per_term + 1, per_term, dtype=np.int64)
        indices = np.full(n_terms * per_term, 2**31 - 1, dtype=np.int32)
        indices[::2] = -(2**31)
        data = np.ones(n_terms * per_term, dtype=np.float32)
        col_max = np.ones(n_terms, dtype=np.float32)
        q_ptr = np.array([0, 2, 4], dtype=np.int64)
        q_terms = np.array([0, 1, 2, 3], dtype=np.int64)
        q_weights = np.ones(4)
        acc, cand = np.zeros(n_docs), np.empty(n_docs, dtype=np.int64)
        out_docs, out_scores = np.empty((2, 3), dtype=np.int64), np.empty((2, 3))
        bad = bm25_kernels.search_batch_jit(
            data, indices, indptr, col_max, q_ptr, q_terms, q_weights, 3, acc, cand, out_docs, out_scores
        )
        assert bad == n_terms * per_term, bad
        assert (out_docs == -1).all() and not acc.any()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])


def test_server_refuses_to_start_on_a_corrupt_index(index):
    _flip_bytes(index / INDICES)
    proc = subprocess.run(
        [sys.executable, "-m", "retrievers.server", "--index", str(index), "--port", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert f"{index / INDICES}: checksum mismatch" in proc.stderr


def test_index_without_checksums_still_gets_its_structure_checked(index):
    import json

    params = json.loads((index / PARAMS).read_text())
    del params["checksums"]  # built before checksums existed
    (index / PARAMS).write_text(json.dumps(params))
    with BM25Retriever.load(index) as bm25:
        assert bm25.search(["capital"], 1)
    indptr = np.load(index / INDPTR)
    indptr[-1] += 1
    np.save(index / INDPTR, indptr)
    with pytest.raises(IndexIntegrityError, match=INDPTR):
        BM25Retriever.load(index)
