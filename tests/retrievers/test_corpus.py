"""Corpus reading: both row shapes, streaming, and errors that name file, line and field."""

from __future__ import annotations

import gzip
import json

import pytest

from retrievers.corpus import CorpusError, batched, count_docs, read_corpus, write_corpus
from retrievers.doc import Doc


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_reads_both_shapes_in_one_file(tmp_path):
    path = _write(
        tmp_path / "c.jsonl",
        [
            json.dumps({"id": "0", "contents": '"Paris (city)"\nParis is in France.\nSecond line.'}),
            "",
            json.dumps({"id": 7, "title": "Berlin", "text": "Berlin is in Germany.", "url": "u"}),
        ],
    )
    docs = list(read_corpus(path))
    assert [d.id for d in docs] == ["0", "7"]
    assert docs[0].title == "Paris (city)"
    assert docs[0].text == "Paris is in France.\nSecond line."
    assert docs[0].contents == '"Paris (city)"\nParis is in France.\nSecond line.'
    assert docs[1].title == "Berlin" and docs[1].meta == {"url": "u"}


def test_streams_lazily(tmp_path):
    path = _write(tmp_path / "c.jsonl", [json.dumps({"id": "0", "contents": '"A"\na'}), "{broken"])
    reader = read_corpus(path)
    assert next(reader).id == "0"  # the bad second line is not read yet
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: not valid JSON"):
        next(reader)


def test_gzip_corpus(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "1", "title": "T", "text": "x"}) + "\n")
    assert [d.title for d in read_corpus(path)] == ["T"]
    assert count_docs(path) == 1


@pytest.mark.parametrize(
    "row, message",
    [
        ({"contents": '"A"\na'}, "missing field 'id'"),
        ({"id": "1", "text": "no title"}, "missing field 'title'"),
        ({"id": "1"}, "missing field 'contents'"),
        ({"id": "1", "contents": 5}, "field 'contents' must be a string, got int"),
        ({"id": "1", "title": "T", "text": None}, "field 'text' must be a string, got NoneType"),
        ({"id": [1], "contents": "x"}, "field 'id' must be a string or integer"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, message):
    good = json.dumps({"id": "0", "contents": '"A"\na'})
    path = _write(tmp_path / "bad.jsonl", [good, good, json.dumps(row)])
    with pytest.raises(CorpusError) as info:
        list(read_corpus(path))
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)
    assert info.value.line == 3 and isinstance(info.value, ValueError)


def test_missing_file_and_duplicates(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        list(read_corpus(tmp_path / "nope.jsonl"))
    row = json.dumps({"id": "1", "contents": "x"})
    path = _write(tmp_path / "dup.jsonl", [row, row])
    assert len(list(read_corpus(path))) == 2
    with pytest.raises(CorpusError, match=r"dup\.jsonl:2: duplicate id '1'"):
        list(read_corpus(path, check_unique_ids=True))


def test_write_roundtrip_and_helpers(tmp_path):
    docs = [Doc("a", 'Title "quoted"', "text one", meta={"lang": "en"}), Doc("b", "T2", "text two")]
    for shape in ("contents", "title_text"):
        path = tmp_path / f"{shape}.jsonl"
        assert write_corpus(docs, path, shape=shape) == 2
        back = list(read_corpus(path))
        assert [(d.id, d.title, d.text, d.meta) for d in back] == [
            (d.id, d.title, d.text, d.meta) for d in docs
        ]
        assert count_docs(path) == 2
    assert [len(b) for b in batched(range(7), 3)] == [3, 3, 1]
    with pytest.raises(ValueError):
        list(batched([1], 0))


def test_sample_corpus_is_valid(sample_corpus):
    from retrievers.data import sample_queries

    docs = list(read_corpus(sample_corpus, check_unique_ids=True))
    assert 100 <= len(docs) <= 300
    assert [d.id for d in docs] == [str(i) for i in range(len(docs))]
    by_id = {d.id: d for d in docs}
    for q in sample_queries():
        assert any(a.lower() in by_id[q["doc_id"]].text.lower() for a in q["golden_answers"]), q
