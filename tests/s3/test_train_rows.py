"""Question rows of ``s3 precompute`` files (:mod:`s3.train.rows`): reading, errors, stored documents."""

from __future__ import annotations

import json

import pytest

from retrievers.doc import Doc
from s3.config import ConfigError
from s3.train.rows import load_rows, row_initial_docs, rows_initial_docs

DOC = {"id": "d1", "title": "T", "text": "x"}


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_rows_keep_the_first_of_a_repeated_question_a_string_answer_becomes_a_list_and_limit_counts(tmp_path):
    path = _write(
        tmp_path / "train.jsonl",
        [
            json.dumps({"question": "q1", "golden_answers": "a", "initial_docs": [DOC]}),
            "",
            json.dumps({"question": "q1", "golden_answers": ["other"]}),
            json.dumps({"question": "q2", "golden_answers": ["b"]}),
            json.dumps({"question": "q3", "golden_answers": ["c"]}),
        ],
    )
    rows = load_rows(path)
    assert [(r["question"], r["golden_answers"]) for r in rows] == [
        ("q1", ["a"]),
        ("q2", ["b"]),
        ("q3", ["c"]),
    ]
    assert [r["question"] for r in load_rows(path, limit=2)] == ["q1", "q2"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("{broken", r"train\.jsonl:2: not valid JSON"),
        ('["a list"]', r"train\.jsonl:2: expected a JSON object"),
        ('{"question": "q"}', r"train\.jsonl:2: missing field 'golden_answers'"),
    ],
)
def test_a_bad_row_is_a_config_error_naming_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "train.jsonl", [json.dumps({"question": "q", "golden_answers": ["a"]}), line])
    with pytest.raises(ConfigError, match=message):
        load_rows(path)


def test_a_missing_or_empty_file_is_a_config_error(tmp_path):
    with pytest.raises(
        ConfigError, match=r"nope\.jsonl: training file not found \(run `s3 precompute` first\)"
    ):
        load_rows(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match=r"empty\.jsonl: no questions"):
        load_rows(_write(tmp_path / "empty.jsonl", [""]))


def test_stored_documents_are_used_only_when_every_row_has_them():
    with_docs = {"question": "q1", "initial_docs": [DOC]}
    assert row_initial_docs(with_docs) == [Doc.from_dict(DOC)]
    assert rows_initial_docs([with_docs, with_docs]) == [[Doc.from_dict(DOC)]] * 2
    assert rows_initial_docs([with_docs, {"question": "q2"}]) is None
