"""Cross-encoder reranking with a tiny BERT cross-encoder built locally (random weights, own tokenizer).

The tiny model is saved with ``save_pretrained`` and loaded through the same ``from_pretrained`` code
path as a real checkpoint; its scores are random but deterministic, which is all the ordering,
top-k and batching tests need.
"""

from __future__ import annotations

import pytest
import torch

from retrievers.base import Retriever
from retrievers.doc import Doc
from retrievers.rerank import (
    CrossEncoderReranker,
    RerankedRetriever,
    build_reranked_retriever,
    default_passage,
)

CORPUS = [
    ("Paris", "Paris is the capital and largest city of France."),
    ("Berlin", "Berlin is the capital of Germany and its largest city."),
    ("Rome", "Rome is the capital city of Italy."),
    ("Madrid", "Madrid is the capital of Spain."),
    ("Vienna", "Vienna is the capital of Austria, on the Danube."),
    ("Lisbon", "Lisbon is the capital of Portugal, on the Atlantic coast."),
    ("Oslo", "Oslo is the capital of Norway."),
    ("Prague", "Prague is the capital of the Czech Republic."),
    ("Danube", "The Danube flows through Vienna, Budapest and Belgrade."),
    ("Seine", "The Seine flows through Paris to the English Channel."),
]
DOCS = [Doc(id=str(i), title=t, text=x) for i, (t, x) in enumerate(CORPUS)]


def build_tiny_cross_encoder(out_dir, texts: list[str]) -> str:
    """A 2-layer BERT with one relevance output and a WordPiece tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=128)
    fast.save_pretrained(out_dir)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        initializer_range=0.5,  # wide random weights: clearly different scores per pair
    )
    BertForSequenceClassification(config).eval().save_pretrained(out_dir)
    return str(out_dir)


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    torch.set_num_threads(1)
    texts = [f"{t} {x}" for t, x in CORPUS] + [
        "what is the capital of france",
        "which river flows through vienna",
    ]
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny_ce"), texts)


def independent_scores(model_dir: str, query: str, docs: list[Doc]) -> list[float]:
    """Scores computed one pair at a time, outside the reranker, straight from the saved model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for doc in docs:
            enc = tokenizer(
                query,
                f"{doc.title}\n{doc.text}",
                truncation="only_second",
                max_length=128,
                return_tensors="pt",
            )
            out.append(float(model(**enc).logits[0, 0]))
    return out


class CountingForward:
    """Records the batch size of every forward pass (a hook on the input embeddings, which every
    pass of the model goes through, whichever library calls it)."""

    def __init__(self, model: torch.nn.Module):
        self.sizes: list[int] = []
        model.get_input_embeddings().register_forward_hook(
            lambda _m, args, _out: self.sizes.append(args[0].shape[0])
        )


def test_reranker_orders_by_model_scores_and_keeps_k(tiny_cross_encoder):
    reranker = CrossEncoderReranker(tiny_cross_encoder, device="cpu", batch_size=4)
    query = "what is the capital of france"
    expected = independent_scores(tiny_cross_encoder, query, DOCS)
    assert len(set(round(s, 5) for s in expected)) == len(DOCS)  # distinct scores: the order is defined
    out = reranker.rerank([query], [DOCS], k=4)[0]
    order = sorted(range(len(DOCS)), key=lambda i: -expected[i])
    assert [d.id for d in out] == [DOCS[i].id for i in order[:4]]
    assert [d.score for d in out] == pytest.approx([expected[i] for i in order[:4]], abs=1e-4)
    assert reranker.score(query, DOCS) == pytest.approx(expected, abs=1e-4)  # padding does not change scores


def test_reranker_batches_pairs_across_queries(tiny_cross_encoder):
    reranker = CrossEncoderReranker(tiny_cross_encoder, device="cpu", batch_size=4)
    counter = CountingForward(reranker.model)
    queries = ["capital of france", "river in vienna", "capital of norway"]
    lists = [DOCS[:5], DOCS[3:6], DOCS[6:10]]  # 5 + 3 + 4 = 12 pairs
    out = reranker.rerank(queries, lists, k=2)
    assert counter.sizes == [4, 4, 4]
    assert [len(x) for x in out] == [2, 2, 2]
    for q, docs, got in zip(queries, lists, out):
        expected = independent_scores(tiny_cross_encoder, q, docs)
        best = sorted(range(len(docs)), key=lambda i: -expected[i])[:2]
        assert [d.id for d in got] == [docs[i].id for i in best]
    counter.sizes.clear()
    reranker.batch_size = 5
    reranker.rerank(queries, lists)
    assert counter.sizes == [5, 5, 2]


def test_sentence_transformers_backend_gives_the_same_order(tiny_cross_encoder):
    st = CrossEncoderReranker(tiny_cross_encoder, backend="sentence-transformers", device="cpu", batch_size=3)
    counter = CountingForward(st.model)
    query = "which river flows through vienna"
    expected = independent_scores(tiny_cross_encoder, query, DOCS)
    out = st.rerank([query], [DOCS], k=5)[0]
    assert [d.id for d in out] == [
        DOCS[i].id for i in sorted(range(len(DOCS)), key=lambda i: -expected[i])[:5]
    ]
    assert counter.sizes == [3, 3, 3, 1]


class ListRetriever(Retriever):
    """Returns the corpus in its stored order (the reranker is what is under test)."""

    def __init__(self):
        self.asked: list[int] = []

    def search(self, queries, k):
        self.asked.append(k)
        return [list(DOCS[:k]) for _ in queries]


def test_reranked_retriever_retrieves_n_and_keeps_k(tiny_cross_encoder):
    base = ListRetriever()
    reranker = CrossEncoderReranker(tiny_cross_encoder, device="cpu")
    rr = RerankedRetriever(base, reranker, n=8, k=3)
    query = "capital of spain"
    out = rr.search([query], k=3)[0]
    expected = independent_scores(tiny_cross_encoder, query, DOCS[:8])
    assert base.asked == [8]
    assert [d.id for d in out] == [DOCS[i].id for i in sorted(range(8), key=lambda i: -expected[i])[:3]]
    assert [d.id for d in rr.search_rerank([query], n=10, k=2)[0]] == [
        DOCS[i].id
        for i in sorted(range(10), key=lambda i: -independent_scores(tiny_cross_encoder, query, DOCS)[i])[:2]
    ]
    assert base.asked == [8, 10]
    assert len(rr.search([query], k=9)[0]) == 9 and base.asked[-1] == 9  # k > n retrieves k


@pytest.mark.parametrize("backend", ["transformers", "sentence-transformers"])
def test_passages_longer_than_the_model_are_truncated(tiny_cross_encoder, backend):
    reranker = CrossEncoderReranker(tiny_cross_encoder, backend=backend, device="cpu", max_length=512)
    assert reranker.max_length == 128  # capped at the model's positions
    long_doc = Doc(id="long", title="Paris", text=" ".join(["capital of france"] * 200))
    out = reranker.rerank(["capital of france"], [[long_doc, DOCS[1]]], k=2)[0]
    assert sorted(d.id for d in out) == ["1", "long"] and all(isinstance(d.score, float) for d in out)


def test_builder_and_errors(tiny_cross_encoder):
    base = ListRetriever()
    rr = build_reranked_retriever(
        {
            "kind": "rerank",
            "base": {"kind": "list"},
            "model": tiny_cross_encoder,
            "n": 6,
            "k": 2,
            "batch_size": 2,
        },
        lambda spec: base,
    )
    assert rr.n == 6 and rr.k == 2 and rr.reranker.batch_size == 2
    assert len(rr.search_rerank(["q"])[0]) == 2 and base.asked == [6]
    with pytest.raises(ValueError, match="needs 'base'"):
        build_reranked_retriever({"kind": "rerank", "model": tiny_cross_encoder}, lambda s: base)
    with pytest.raises(ValueError, match="backend"):
        CrossEncoderReranker(tiny_cross_encoder, backend="onnx")
    with pytest.raises(ValueError, match="n and k"):
        RerankedRetriever(base, None, n=0, k=1)
    assert default_passage(DOCS[0]) == "Paris\nParis is the capital and largest city of France."


# --- end to end: a RerankedRetriever over a real BM25 index behind the real /retrieve server ----------
def start_retriever_server(spec: dict, log_path, env: dict | None = None):
    """``python -m s3 serve-retriever --index <json spec>`` (one worker) on a free 127.0.0.1 port."""
    import json

    from local_servers import RetrieveServer

    return RetrieveServer(["--index", json.dumps(spec), "--workers", "1"], log_path, env=env, timeout=120)


@pytest.mark.slow
def test_server_reranks_a_bm25_index_end_to_end(tiny_cross_encoder, sample_index, tmp_path):
    import httpx

    from retrievers.factory import load_retriever

    spec = {
        "kind": "rerank",
        "base": {"kind": "bm25", "path": str(sample_index)},
        "model": tiny_cross_encoder,
        "device": "cpu",
        "n": 8,
        "k": 3,
    }
    queries = ["What is the capital of France?", "Who painted The Starry Night?"]
    bm25 = load_retriever({"kind": "bm25", "path": str(sample_index)})
    candidates = bm25.search(queries, 8)
    server = start_retriever_server(spec, tmp_path / "server.log")
    url = server.url
    try:
        health = httpx.get(url + "/health", timeout=10).json()
        body = {"queries": queries, "topk_retrieval": 8, "topk_rerank": 3, "return_scores": True}
        response = httpx.post(url + "/retrieve", json=body, timeout=60)
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        plain = httpx.post(
            url + "/retrieve", json={"queries": queries[:1], "topk": 2, "return_scores": True}, timeout=60
        )
    finally:
        server.stop()
    assert health["rerank"] is True
    for query, docs, got in zip(queries, candidates, result):
        expected = independent_scores(tiny_cross_encoder, query, docs)
        order = sorted(range(len(docs)), key=lambda i: -expected[i])
        assert [g["document"]["id"] for g in got] == [docs[i].id for i in order[:3]]
        assert [g["score"] for g in got] == pytest.approx([expected[i] for i in order[:3]], abs=1e-4)
        assert [g["document"]["id"] for g in got] != [d.id for d in docs[:3]] or order[:3] == [0, 1, 2]
    # a plain ``topk`` request to a reranking server is reranked too: best 2 of n=8
    expected = independent_scores(tiny_cross_encoder, queries[0], candidates[0])
    order = sorted(range(8), key=lambda i: -expected[i])
    assert [g["document"]["id"] for g in plain.json()["result"][0]] == [
        candidates[0][i].id for i in order[:2]
    ]
