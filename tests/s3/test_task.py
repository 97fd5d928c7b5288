"""The embedded task: deterministic files, real 2-hop structure, measured headroom, demonstrations."""

from __future__ import annotations

import json
import re

import pytest

from generators.offline import ExtractiveReader
from retrievers.bm25 import BM25Retriever
from retrievers.corpus import read_corpus
from retrievers.doc import Doc
from s3.data import read_flashrag_jsonl
from s3.protocol import S3Protocol
from s3.task import ONE_HOP, TWO_HOP, build_embedded_task, demonstration_turns
from s3.task.datasheet import measure_task, read_task

FILES = ("corpus.jsonl", "train.jsonl", "val.jsonl", "test.jsonl", "task.json")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    return build_embedded_task(tmp_path_factory.mktemp("task"), seed=0)


@pytest.fixture(scope="module")
def bm25(task_dir):
    retriever = BM25Retriever.build(read_corpus(task_dir / "corpus.jsonl"))
    yield retriever
    retriever.close()


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(task_dir, tmp_path):
    again = build_embedded_task(tmp_path / "again", seed=0)
    for name in FILES:
        assert (again / name).read_bytes() == (task_dir / name).read_bytes(), name
    other = build_embedded_task(tmp_path / "other", seed=1)
    assert (other / "corpus.jsonl").read_bytes() != (task_dir / "corpus.jsonl").read_bytes()


def test_sizes_and_shapes(task_dir):
    corpus, splits = read_task(task_dir)
    assert {s: len(r) for s, r in splits.items()} == {"train": 600, "val": 150, "test": 150}
    assert 1000 <= len(corpus) <= 5000
    first = json.loads((task_dir / "corpus.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "contents"} and first["contents"].startswith('"')
    assert [d.id for d in corpus] == [str(i) for i in range(len(corpus))]
    # readable by the project's own QA reader, ground truth kept in meta
    examples = read_flashrag_jsonl(task_dir / "test.jsonl", source="embedded")
    assert examples[0].split == "test" and "supporting_doc_ids" in examples[0].meta
    # every split has the same type mix: a quarter 1-hop
    for rows in splits.values():
        types = {r["type"] for r in rows}
        assert types == set(ONE_HOP) | set(TWO_HOP)
        one_hop = sum(r["hops"] == 1 for r in rows) / len(rows)
        assert 0.2 <= one_hop <= 0.3
    questions = [r["question"] for rows in splits.values() for r in rows]
    assert len(set(questions)) == len(questions)


def test_ground_truth_is_consistent_and_second_hop_needs_the_bridge(task_dir):
    corpus, splits = read_task(task_dir)
    by_id = {d.id: d for d in corpus}
    for rows in splits.values():
        for r in rows:
            answer = r["golden_answers"][0]
            answer_doc = by_id[r["answer_doc_id"]]
            assert re.search(rf"\b{re.escape(answer)}\b", answer_doc.text)
            assert r["supporting_doc_ids"][-1] == r["answer_doc_id"]
            if r["hops"] == 2:
                first = by_id[r["supporting_doc_ids"][0]]
                bridge = r["bridge"]
                assert r["ideal_queries"] == [bridge]
                assert bridge in first.text and bridge not in r["question"]
                assert answer_doc.title == bridge or bridge in answer_doc.text
                # the answer is not in the first-hop passage, and no word of the question's subject
                # is in the answer passage: BM25 on the question cannot find it by name
                assert not re.search(rf"\b{re.escape(answer)}\b", first.text)
                assert r["subject"] not in answer_doc.text
                # the bridge sits at a fixed place: the end of the first or second sentence
                assert re.search(rf"(founded by|headquartered in|born in) {re.escape(bridge)}\.", first.text)


def test_headroom_is_real(task_dir, bm25):
    stats = measure_task(task_dir, retriever=bm25, generator=ExtractiveReader(), k=3)
    overall = stats["overall"]
    assert overall["oracle"] >= 0.95
    assert overall["naive_rag"] <= 0.40
    assert overall["oracle"] - overall["naive_rag"] >= 0.5
    for name, block in stats["by_type"].items():
        if "2-hop" in name:
            assert block["naive_rag"] <= 0.1 and block["recall@3"] <= 0.1, name
            assert block["bridge_recall@8"] >= 0.95, name  # the ideal second query finds the answer
        else:
            assert block["naive_rag"] >= 0.9, name


def test_demonstrations_reach_the_answer_and_parse_with_the_protocol(task_dir, bm25):
    _, splits = read_task(task_dir)
    rows = splits["val"][:60]
    initial = bm25.search([r["question"] for r in rows], 3)
    reader = ExtractiveReader()
    protocol = S3Protocol()
    correct = 0
    for row, docs in zip(rows, initial):
        turns = demonstration_turns(row, docs, bm25, k=8)
        assert turns[-1].complete and all(not t.complete for t in turns[:-1])
        if row["hops"] == 2 and row["answer_doc_id"] not in {d.id for d in docs}:
            assert turns[0].query == row["bridge"]
        if row["hops"] == 1:
            assert len(turns) == 1  # the answer passage is among the initial documents
        # the generator's context: what each turn selected from the window it saw
        windows = [docs] + [t.results for t in turns if t.query is not None]
        context: list[Doc] = []
        for window, turn in zip(windows, turns):
            context += [window[i - 1] for i in turn.selected or []]
        assert {d.id for d in context} == set(row["supporting_doc_ids"])
        correct += reader.answer(row["question"], context) == row["golden_answers"][0]
        for turn in turns:
            action = protocol.parse_turn(turn.text, window_size=8, select_cap=3)
            assert action.kind == ("complete" if turn.complete else "search")
            assert action.query == turn.query
            assert (action.selected or []) == (turn.selected or [])
    assert correct == len(rows)


def test_demonstration_fetches_a_missing_first_hop_by_the_subject(task_dir, bm25):
    _, splits = read_task(task_dir)
    row = next(r for r in splits["train"] if r["hops"] == 2)
    turns = demonstration_turns(row, [], bm25, k=8)  # no initial documents at all
    assert [t.query for t in turns[:-1]] == [row["subject"], row["bridge"]]
    assert turns[-1].complete
