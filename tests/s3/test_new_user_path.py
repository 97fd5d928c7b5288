"""A new user's path, end to end through the CLI, on data made here (no embedded-task files).

A wiki-format corpus and two FlashRAG QA files whose names say nothing about their split: a tiny
searcher with a tokenizer trained on them, index,
precompute with the splits named, warm start from a teacher (a chat endpoint on 127.0.0.1, kept by
rejection sampling), train two GRPO steps under the same preset, evaluate with the default methods
(the oracle row is skipped, saying why: the data names no supporting documents), search with the
checkpoint, report. Every step must exit 0.
"""

from __future__ import annotations

import json

import pytest
from new_user_data import TeacherServer, make_world

from s3.cli import main


def _run(argv: list[str]) -> None:
    code = main(argv)
    assert code == 0, f"s3 {' '.join(argv)} exited {code}"


@pytest.mark.slow
def test_new_user_path_end_to_end(tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    world = make_world(tmp_path / "data")
    data = tmp_path / "data"
    model = tmp_path / "tiny"
    _run(["tiny-model", "--corpus", str(data / "corpus.jsonl"), "--data", str(data / "questions_a.jsonl"),
          "--data", str(data / "questions_b.jsonl"), "--output", str(model), "--vocab-size", "400"])  # fmt: skip
    _run(["index", "--corpus", str(data / "corpus.jsonl"), "--output", str(tmp_path / "idx")])
    pre = tmp_path / "pre"
    _run(["precompute", "--data", f"train={data / 'questions_a.jsonl'}", "--data",
          f"test={data / 'questions_b.jsonl'}", "--index", str(tmp_path / "idx"), "--output", str(pre),
          "--no-progress"])  # fmt: skip
    assert (pre / "train.jsonl").is_file() and (pre / "test.jsonl").is_file()
    train_rows = [json.loads(line) for line in (pre / "train.jsonl").open()]
    assert train_rows, "the filter kept no training question: naive RAG answered them all"

    good = set(world["questions"][:4])  # the teacher searches well for these, stops at once for the rest
    with TeacherServer(world["bridge"], good) as teacher:
        _run(["warmstart", "--preset", "tiny", f"model={model}", f"retriever={tmp_path / 'idx'}",
              f"train_file={pre / 'train.jsonl'}", f"output_dir={tmp_path / 'ws'}", "source=teacher",
              "teacher.model=teacher", f"teacher.base_url={teacher.base_url}", "teacher.samples=2",
              "max_steps=4", "batch_size=4", "progress=false"])  # fmt: skip
        assert teacher.requests > 0
    stats = json.loads((tmp_path / "ws" / "teacher.json").read_text())
    in_train = {r["question"] for r in train_rows}
    # rejection sampling: only questions the teacher searched well for gained beyond RAG
    assert 0 < stats["kept_questions"] <= len(good & in_train) < stats["questions"]
    saved = json.loads((tmp_path / "ws" / "final" / "s3_searcher.json").read_text())
    assert saved["preset"] == "tiny" and saved["protocol"] == "s3-brief"
    assert saved["rollout"]["max_new_tokens_per_turn"] == 24  # the preset's budget, remembered

    _run(["train", "--preset", "tiny", f"model={tmp_path / 'ws' / 'final'}", f"retriever={tmp_path / 'idx'}",
          f"data.train_file={pre / 'train.jsonl'}", f"reward.rag_cache={pre / 'rag_cache.jsonl'}",
          "grpo.max_steps=2", "grpo.questions_per_step=4", f"output_dir={tmp_path / 'train'}",
          "logging.progress=false"])  # fmt: skip
    assert (tmp_path / "train" / "final" / "s3_searcher.json").is_file()

    capsys.readouterr()
    _run(["evaluate", "--dataset", f"mine={pre / 'test.jsonl'}", "--index", str(tmp_path / "idx"),
          "--output", str(tmp_path / "eval"), "progress=false"])  # fmt: skip
    table = capsys.readouterr().out
    assert "| naive-rag |" in table
    assert "skipped: " in table and "supporting documents" in table  # the oracle row says why
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert {r["method"] for r in results} == {"naive-rag", "oracle", "direct", "cot"}

    _run(["search", world["questions"][0], "--model", str(tmp_path / "train" / "final"), "--index",
          str(tmp_path / "idx")])  # fmt: skip
    _run(["report", str(tmp_path / "eval"), "--training-log", str(tmp_path / "train" / "metrics.jsonl")])
    assert (tmp_path / "eval" / "table.md").is_file()
