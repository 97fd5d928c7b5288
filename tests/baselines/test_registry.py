"""Method specs: the grammar, labels, errors, and shared resources."""

from __future__ import annotations

import pytest

from baselines.naive_rag import NaiveRAG
from baselines.oracle import OracleContext
from baselines.registry import MethodSpec, Resources, build_methods, parse_method_spec, parse_method_specs


def test_spec_grammar():
    assert parse_method_spec("naive-rag") == MethodSpec("naive-rag", "naive-rag")
    assert parse_method_spec("rag-e5=naive-rag@e5") == MethodSpec("rag-e5", "naive-rag", None, "e5")
    assert parse_method_spec("naive-rag@e5").label == "naive-rag@e5"
    assert parse_method_spec("s3:runs/ckpt-20") == MethodSpec("s3", "s3", "runs/ckpt-20")
    assert parse_method_spec("step20=s3-no-init:/abs/ckpt") == MethodSpec("step20", "s3-no-init", "/abs/ckpt")
    assert [s.label for s in parse_method_specs("direct, cot,,oracle")] == ["direct", "cot", "oracle"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("bm25", "unknown kind 'bm25'"),
        ("s3", "needs a checkpoint"),
        ("oracle:x", "takes no ':' argument"),
        ("direct@e5", "uses no retriever"),
        ("a=b=c", "expected"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_method_spec(spec)


def test_duplicate_labels_are_refused():
    with pytest.raises(ValueError, match=r"\['s3'\] repeat"):
        parse_method_specs(["s3:a", "s3:b"])
    assert len(parse_method_specs(["s3:a", "s3-b=s3:b"])) == 2


def test_build_shares_retrievers_and_checks_needs(bm25, corpus, tmp_path):
    opened = []

    def open_retriever(name):
        opened.append(name)
        return bm25

    res = Resources(retriever=open_retriever, k=2)
    methods = build_methods(parse_method_specs("naive-rag,k2=naive-rag,direct"), res)
    assert [m.name for m in methods] == ["naive-rag", "k2", "direct"]
    assert isinstance(methods[0], NaiveRAG) and methods[0].k == 2
    assert opened == [None]  # one retriever for both rows
    with pytest.raises(ValueError, match="needs a reasoning LLM"):
        build_methods(parse_method_specs("ircot"), res)
    (no_corpus,) = build_methods(parse_method_specs("oracle"), res)  # the table says why it is skipped
    assert "no corpus" in no_corpus.unavailable([])
    path = tmp_path / "corpus.jsonl"
    from retrievers.corpus import write_corpus

    write_corpus(corpus.values(), path)
    oracle = build_methods(parse_method_specs("gold=oracle"), Resources(corpus=str(path)))[0]
    assert isinstance(oracle, OracleContext) and oracle.name == "gold"
