"""QA data readers, normalisation, duplicates and the s3 training filter."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3.data import (
    DataError,
    QAExample,
    deduplicate,
    filter_training,
    find_duplicates,
    load_hf_dataset,
    load_qa,
    normalize_question,
    read_flashrag_jsonl,
    read_searchr1_parquet,
)


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_normalize_question():
    assert normalize_question("  who wrote hamlet ") == "who wrote hamlet?"
    assert normalize_question("who wrote hamlet?") == "who wrote hamlet?"
    assert normalize_question("\twhere?\n") == "where?"


def test_read_flashrag_jsonl(tmp_path):
    path = write_jsonl(
        tmp_path / "nq" / "test.jsonl",
        [
            {"id": "q1", "question": "who wrote hamlet", "golden_answers": ["Shakespeare"], "extra": 1},
            {"id": 7, "question": "year of the moon landing?", "golden_answers": [1969, "July 1969"]},
            {"question": "capital of france", "answer": "Paris", "metadata": {"type": "bridge"}},
        ],
    )
    examples = read_flashrag_jsonl(path)
    assert [e.source for e in examples] == ["nq"] * 3 and {e.split for e in examples} == {"test"}
    assert examples[0].meta == {"extra": 1} and examples[0].key == "who wrote hamlet?"
    assert examples[1].id == "7" and examples[1].golden_answers == ["1969", "July 1969"]
    assert examples[2].golden_answers == ["Paris"] and examples[2].meta == {"type": "bridge"}
    assert examples[2].id == "test-2"
    assert read_flashrag_jsonl(path, source="x", split="dev")[0].split == "dev"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q", "golden_answers": ["a"]', "test.jsonl:2: not valid JSON"),
        ('{"golden_answers": ["a"]}', "test.jsonl:2: missing field 'question'"),
        ('{"question": "q"}', "test.jsonl:2: missing field 'golden_answers'"),
        ('{"question": 5, "golden_answers": ["a"]}', "test.jsonl:2: field 'question' must be a string"),
        ('{"question": "  ", "golden_answers": ["a"]}', "test.jsonl:2: field 'question' is empty"),
        ('{"question": "q", "golden_answers": {"a": 1}}', "field 'golden_answers' must be a list"),
        ('{"question": "q", "golden_answers": []}', "test.jsonl:2: field 'golden_answers' is empty"),
        ('{"question": "q", "golden_answers": ["a", " "]}', "field 'golden_answers[1]' is an empty answer"),
        ('{"question": "q", "golden_answers": ["a", null]}', "field 'golden_answers[1]' must be a string"),
        ('["q", "a"]', "test.jsonl:2: expected a JSON object"),
    ],
)
def test_malformed_jsonl_names_file_line_and_field(tmp_path, line, message):
    good = json.dumps({"question": "fine?", "golden_answers": ["x"]})
    path = write_jsonl(tmp_path / "test.jsonl", [good, line, good])
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_flashrag_jsonl(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_flashrag_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no questions"):
        read_flashrag_jsonl(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="unknown QA format"):
        load_qa(tmp_path / "data.csv")


def _searchr1_rows():
    prompt = [{"role": "user", "content": "Instructions ... <question>[user's question]</question> ... Now start.\n"
               "<question>who founded zorbex?</question><information>Doc 1 ...</information>"}]  # fmt: skip
    return [
        {
            "data_source": "hotpotqa",
            "prompt": prompt,
            "ability": "fact-reasoning",
            "reward_model": {
                "style": "rule",
                "ground_truth": {
                    "question": "who founded zorbex",
                    "target": ["Talen Morvik"],
                    "gt_docs": ["d1"],
                },
            },
            "extra_info": {"split": "train", "index": 3},
        },
        {
            "data_source": "nq",
            "prompt": prompt,
            "ability": "fact-reasoning",
            "reward_model": {"style": "rule", "ground_truth": {"target": ["A", "B"]}},
            "extra_info": {"split": "test", "index": 4},
        },
    ]


def test_read_searchr1_parquet(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(_searchr1_rows()), path)
    a, b = read_searchr1_parquet(path)
    assert (a.question, a.golden_answers, a.source, a.split, a.id) == (
        "who founded zorbex",
        ["Talen Morvik"],
        "hotpotqa",
        "train",
        "3",
    )
    assert a.supporting_facts == ["d1"] and a.meta["ability"] == "fact-reasoning"
    # no question in ground truth: taken from the last <question> of the prompt, not the template's
    assert b.question == "who founded zorbex?" and b.golden_answers == ["A", "B"] and b.split == "test"
    assert load_qa(path)[0].question == "who founded zorbex"


def test_read_searchr1_parquet_plain_target_and_errors(tmp_path):
    rows = _searchr1_rows()
    rows[0]["reward_model"] = {"style": "rule", "ground_truth": {"question": "q", "target": []}}
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows[:1]), path)
    with pytest.raises(
        DataError, match=r"bad.parquet \(row 0\): field 'reward_model.ground_truth.target' is empty"
    ):
        read_searchr1_parquet(path)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="not a readable parquet"):
        read_searchr1_parquet(tmp_path / "broken.parquet")


def test_load_hf_dataset_through_datasets_on_local_files(tmp_path):
    folder = tmp_path / "my_qa"
    write_jsonl(folder / "test.jsonl", [{"id": "1", "question": "q1?", "golden_answers": ["a"]}])
    write_jsonl(folder / "train.jsonl", [{"id": "2", "question": "q2?", "golden_answers": ["b", "c"]}])
    train = load_hf_dataset(str(folder), None, "train")
    assert [(e.id, e.golden_answers, e.split, e.source) for e in train] == [
        ("2", ["b", "c"], "train", "my_qa")
    ]
    assert load_qa(f"hf:{folder}:test")[0].question == "q1?"
    write_jsonl(tmp_path / "bad" / "test.jsonl", [{"id": "1", "question": "q1?", "golden_answers": [""]}])
    with pytest.raises(DataError, match=r"\(row 0\): field 'golden_answers\[0\]' is an empty answer"):
        load_hf_dataset(str(tmp_path / "bad"), None, "test")


def _ex(q, answers, i=0, source="nq"):
    return QAExample(id=str(i), question=q, golden_answers=answers, source=source, split="train")


def test_duplicates_detected_and_first_kept():
    examples = [_ex("who?", ["a"], 0), _ex(" who", ["a"], 1, "hotpotqa"), _ex("what?", ["b"], 2)]
    dups = find_duplicates(examples)
    assert list(dups) == ["who?"] and [e.id for e in dups["who?"]] == ["0", "1"]
    kept, dropped = deduplicate(examples)
    assert [e.id for e in kept] == ["0", "2"] and dropped == 1


def test_filter_training_drops_yes_no_and_rag_correct():
    examples = [
        _ex("is it?", ["yes"], 0),
        _ex("true or not?", ["True"], 1),
        _ex("not true?", ["not true"], 2),  # a phrase containing 'true' is kept
        _ex("easy?", ["a"], 3),
        _ex("hard?", ["b"], 4),
        _ex("unseen?", ["c"], 5),
    ]
    cache = {"not true?": {"genacc": 0}, "easy?": {"genacc": 1}, "hard?": {"genacc": 0}}
    kept, stats = filter_training(examples, cache)
    assert [e.id for e in kept] == ["2", "4"]
    assert stats == {"input": 6, "yes_no": 2, "rag_correct": 1, "not_in_cache": 1, "kept": 2}
    kept, _ = filter_training(examples, drop_rag_correct=False)
    assert [e.id for e in kept] == ["2", "3", "4", "5"]
    kept, _ = filter_training(examples, cache, drop_yes_no=False, drop_rag_correct=False)
    assert len(kept) == 6
    with pytest.raises(ValueError, match="rag_cache"):
        filter_training(examples)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"question": "Who?"}', "{not json"], r"q\.jsonl:2: not valid JSON \(.* at column 2\)"),
        (['{"question": "Who?"}', '["a list"]'], r"q\.jsonl:2: expected a JSON object, got list"),
        (['{"question": "Who?"}', "", '{"question": "  "}'], r"q\.jsonl:3: a row needs a non-empty 'question'"),
    ],
)
def test_search_command_question_file_errors_name_the_file_and_line(tmp_path, lines, message):
    from s3.commands.search import read_questions

    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_questions(str(path))


def test_search_command_reads_question_rows_in_order_skipping_blank_lines(tmp_path):
    from s3.commands.search import read_questions

    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Who?", "id": 7}\n\n{"question": "Where?"}\n', encoding="utf-8")
    assert read_questions(str(path)) == [{"question": "Who?", "id": 7}, {"question": "Where?"}]


def test_a_gzipped_flashrag_file_reads_like_the_plain_one(tmp_path):
    import gzip

    row = '{"question": "Who?", "golden_answers": ["Ann"]}\n'
    (tmp_path / "test.jsonl").write_text(row, encoding="utf-8")
    with gzip.open(tmp_path / "test.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(row)
    plain = read_flashrag_jsonl(tmp_path / "test.jsonl", split="test")
    packed = read_flashrag_jsonl(tmp_path / "test.jsonl.gz", split="test")
    assert [(e.question, e.golden_answers) for e in plain] == [(e.question, e.golden_answers) for e in packed]
