"""Fixtures for the retrieval tests: the sample corpus, a BM25 index of it, a tiny encoder, real server processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_servers import RetrieveServer

from retrievers.data import sample_corpus_path


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    return sample_corpus_path()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, sample_corpus) -> Path:
    from retrievers.factory import build_index

    return build_index(sample_corpus, tmp_path_factory.mktemp("sample_bm25"), kind="bm25")


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """Factory: ``start_server(args) -> RetrieveServer``; every server started is stopped at teardown."""
    started: list[RetrieveServer] = []

    def start(args: list[str]) -> RetrieveServer:
        proc = RetrieveServer(args, tmp_path_factory.mktemp("server") / "server.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def server(sample_index, tmp_path_factory):
    """The sample BM25 index served by ``python -m s3 serve-retriever`` with small limits."""
    proc = RetrieveServer(
        ["--index", str(sample_index), "--max-queries", "8", "--max-topk", "50"],
        tmp_path_factory.mktemp("server") / "server.log",
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, sample_corpus):
    """A random 2-layer BERT with a WordPiece tokenizer trained on the sample corpus."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from retrievers.corpus import read_corpus

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_bert")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        [d.contents for d in read_corpus(sample_corpus)],
        trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(out)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(out)
    return out
