"""Resumable JSONL records: one behaviour on a torn last line for precompute, evaluation and search."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from evaluation.contexts import ContextRecord
from evaluation.records import RecordsError, append_records, read_records
from evaluation.run import gather_contexts
from s3.commands.search import _done_keys
from s3.precompute import _read_cache, load_rag_cache

ROWS = [{"key": f"q{i}", "id": f"q{i}", "question": f"question {i}?", "docs": []} for i in range(3)]


def _torn(path) -> bytes:
    """Two whole records, then the first half of the third (a writer killed mid-line)."""
    lines = [json.dumps(r) + "\n" for r in ROWS]
    data = (lines[0] + lines[1] + lines[2][: len(lines[2]) // 2]).encode()
    path.write_bytes(data)
    return data


def test_torn_last_line_is_dropped_and_cut_off(tmp_path):
    path = tmp_path / "r.jsonl"
    data = _torn(path)
    assert read_records(path, repair=False) == ROWS[:2]
    assert path.read_bytes() == data  # a reader leaves the file alone
    assert read_records(path) == ROWS[:2]
    append_records(path, [ROWS[2]])  # the resumed writer starts on a fresh line
    assert read_records(path) == ROWS
    assert path.read_text().splitlines() == [json.dumps(r) for r in ROWS]


@pytest.mark.parametrize(
    "tail, records",
    [
        (b'{"key": "q2"}', 2),  # complete JSON but no newline: the write was cut before it
        (b'{"key": "q2", "x": [1,\n', 2),  # newline, not JSON: the last line still counts as torn
        (b"\n\n", 2),  # blank lines are nothing
    ],
)
def test_what_counts_as_torn(tmp_path, tail, records):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in ROWS[:2]) + tail)
    assert len(read_records(path)) == records
    append_records(path, [ROWS[2]])
    assert read_records(path)[-1] == ROWS[2]


@pytest.mark.parametrize("bad", [b"garbage\n", b"[1, 2]\n"])
def test_a_bad_line_before_the_last_names_file_and_line(tmp_path, bad):
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(ROWS[0]).encode() + b"\n" + bad + json.dumps(ROWS[1]).encode() + b"\n")
    with pytest.raises(RecordsError, match=r"r.jsonl:2: corrupt line"):
        read_records(path)


def _precompute(path):
    data = path.read_bytes()
    assert set(load_rag_cache(path)) == {"q0", "q1"} and path.read_bytes() == data  # a reader: untouched
    keys = set(_read_cache(path, repair=True))  # what a resumed run reads before appending
    append_records(path, [ROWS[2]])
    return keys


def _evaluation(path):
    class Method:
        name = "m"

        def contexts(self, batch):
            return [ContextRecord(id=ex.id, question=ex.question, docs=[]) for ex in batch]

    examples = [SimpleNamespace(id=r["id"], question=r["question"], golden_answers=["x"]) for r in ROWS]
    before = {r["id"] for r in read_records(path, repair=False)}
    gather_contexts(Method(), examples, path, batch_size=1, progress=False)
    return before


@pytest.mark.parametrize("reader", ["precompute", "evaluation", "search"])
def test_every_resumable_writer_reads_a_torn_file_the_same_way(tmp_path, reader):
    path = tmp_path / "r.jsonl"
    _torn(path)
    if reader == "precompute":
        assert _precompute(path) == {"q0", "q1"}
        assert set(load_rag_cache(path)) == {"q0", "q1", "q2"}
    elif reader == "evaluation":
        assert _evaluation(path) == {"q0", "q1"}
        assert [r["id"] for r in read_records(path)] == ["q0", "q1", "q2"]
    else:
        assert _done_keys(path) == {"q0", "q1"}
        append_records(path, [ROWS[2]])
        assert [r["id"] for r in read_records(path)] == ["q0", "q1", "q2"]
    for line in path.read_text().splitlines():
        json.loads(line)  # no record glued to a fragment
