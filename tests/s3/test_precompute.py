"""The precompute stage in-process: outputs, determinism, resume, validation before work, CLI."""

from __future__ import annotations

import json

import pytest

import generators.offline
from evaluation.metrics import span_check
from s3.cli import main as cli_main
from s3.config import ConfigError
from s3.data import DataError, normalize_question
from s3.precompute import (
    CACHE_FILE,
    INDEX_DIR,
    PrecomputeConfig,
    initial_docs,
    load_rag_cache,
    run_precompute,
)
from s3.task import EmbeddedTaskConfig, build_embedded_task

OUT_FILES = (CACHE_FILE, "train.jsonl", "val.jsonl", "test.jsonl", "summary.json")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    cfg = EmbeddedTaskConfig(seed=3, train=60, val=20, test=20)
    return build_embedded_task(tmp_path_factory.mktemp("task"), config=cfg)


@pytest.fixture(scope="module")
def first_run(task_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre")
    cfg = PrecomputeConfig(
        task_dir=str(task_dir), output_dir=str(out), retrieve_k=5, chunk_size=16, progress=False
    )
    return out, run_precompute(cfg)


class CountingReader(generators.offline.ExtractiveReader):
    """The real reader, counting the questions it is asked (installed in place of the offline kind)."""

    asked: list[str] = []

    def answer_batch(self, questions, contexts, sampling=None):
        CountingReader.asked.extend(questions)
        return super().answer_batch(questions, contexts, sampling)


@pytest.fixture
def counting_reader(monkeypatch):
    CountingReader.asked = []
    monkeypatch.setattr(generators.offline, "ExtractiveReader", CountingReader)
    return CountingReader


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cache_and_trainer_files(first_run, task_dir):
    out, summary = first_run
    cache = load_rag_cache(out / CACHE_FILE)
    assert len(cache) == 100 and summary["questions"] == 100
    task_rows = {
        r["question"]: r for s in ("train", "val", "test") for r in read_rows(task_dir / f"{s}.jsonl")
    }
    for key, entry in cache.items():
        assert key == normalize_question(entry["question"])
        assert len(entry["docs"]) == 5 and entry["docs"][0]["score"] >= entry["docs"][-1]["score"]
        assert entry["genacc"] == int(span_check(entry["answer"], entry["golden_answers"]))
        # naive RAG is right exactly when the answer passage is among the first 3 documents here
        answer_doc = task_rows[entry["question"]]["answer_doc_id"]
        assert entry["genacc"] == int(answer_doc in [d["id"] for d in entry["docs"][:3]])
    train = read_rows(out / "train.jsonl")
    n_train_correct = sum(e["genacc"] for e in cache.values() if e["split"] == "train")
    assert len(train) == 60 - n_train_correct and all(r["rag_genacc"] == 0 for r in train)
    assert summary["train_filter"]["kept"] == len(train)
    val = read_rows(out / "val.jsonl")
    assert len(val) == 20 and {r["split"] for r in val} == {"val"}
    row = val[0]
    assert len(row["initial_docs"]) == 3 and row["meta"]["supporting_doc_ids"]
    assert [d.id for d in initial_docs(row)] == [
        d["id"] for d in cache[normalize_question(row["question"])]["docs"][:3]
    ]
    accuracy = summary["naive_rag"]["embedded/val"]
    assert accuracy["n"] == 20 and accuracy["genacc"] == sum(r["rag_genacc"] for r in val) / 20


def test_two_runs_are_byte_identical(first_run, task_dir, tmp_path):
    out, _ = first_run
    cfg = PrecomputeConfig(task_dir=str(task_dir), output_dir=str(tmp_path), retrieve_k=5, chunk_size=7,
                           inflight_chunks=3, progress=False)  # fmt: skip
    run_precompute(cfg)
    for name in OUT_FILES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_resume_skips_finished_questions_and_repairs_a_truncated_line(
    first_run, task_dir, tmp_path, counting_reader
):
    out, _ = first_run
    full = (out / CACHE_FILE).read_text().splitlines(keepends=True)
    # an interrupted run: 40 whole lines, then half of the 41st
    (tmp_path / CACHE_FILE).write_text("".join(full[:40]) + full[40][: len(full[40]) // 2])
    cfg = PrecomputeConfig(
        task_dir=str(task_dir), output_dir=str(tmp_path), retrieve_k=5, chunk_size=16, progress=False
    )
    summary = run_precompute(cfg)
    done = {json.loads(line)["key"] for line in full[:40]}
    assert len(counting_reader.asked) == 60 and summary["computed_this_run"] == 60
    assert not done & {normalize_question(q) for q in counting_reader.asked}
    for name in OUT_FILES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    # a finished run costs nothing
    counting_reader.asked.clear()
    assert run_precompute(cfg)["computed_this_run"] == 0 and counting_reader.asked == []


def test_saved_index_gives_the_same_entries(first_run, task_dir, tmp_path):
    out, _ = first_run
    cfg = PrecomputeConfig(
        data=[str(task_dir / "val.jsonl")], index=str(out / INDEX_DIR), output_dir=str(tmp_path),
        retrieve_k=5, progress=False,
    )  # fmt: skip
    run_precompute(cfg)
    assert not (tmp_path / INDEX_DIR).exists()
    mine, ref = load_rag_cache(tmp_path / CACHE_FILE), load_rag_cache(out / CACHE_FILE)
    assert len(mine) == 20
    for key, entry in mine.items():
        assert {k: v for k, v in entry.items() if k not in ("source", "split")} == {
            k: v for k, v in ref[key].items() if k not in ("source", "split")
        }


def test_corrupt_middle_line_and_changed_settings_are_refused(first_run, task_dir, tmp_path):
    out, _ = first_run
    lines = (out / CACHE_FILE).read_text().splitlines(keepends=True)
    (tmp_path / CACHE_FILE).write_text("".join(lines[:3]) + "garbage\n" + "".join(lines[3:10]))
    cfg = PrecomputeConfig(task_dir=str(task_dir), output_dir=str(tmp_path), retrieve_k=5, progress=False)
    with pytest.raises(DataError, match=rf"{CACHE_FILE}:4: corrupt line"):
        run_precompute(cfg)
    other = tmp_path / "other"
    other.mkdir()
    for name in (CACHE_FILE, "precompute.yaml"):
        (other / name).write_bytes((out / name).read_bytes())
    cfg = PrecomputeConfig(task_dir=str(task_dir), output_dir=str(other), retrieve_k=5, k=2, progress=False)
    with pytest.raises(ConfigError, match="different k"):
        run_precompute(cfg)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            '{"id": "x", "question": "q?", "golden_answers": [""]}',
            r"bad.jsonl:3: field 'golden_answers\[0\]' is an empty answer",
        ),
        ('{"id": "x", "golden_answers": ["a"]}', r"bad.jsonl:3: missing field 'question'"),
        ("{broken", r"bad.jsonl:3: not valid JSON"),
    ],
)
def test_malformed_data_fails_before_any_work(task_dir, tmp_path, row, message, counting_reader):
    good = json.dumps({"id": "g", "question": "In which country is nowhere?", "golden_answers": ["x"]})
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f"{good}\n{good.replace('nowhere', 'somewhere')}\n{row}\n")
    out = tmp_path / "out"
    cfg = PrecomputeConfig(
        data=[str(bad)], corpus=str(task_dir / "corpus.jsonl"), output_dir=str(out), progress=False
    )
    with pytest.raises(DataError, match=message):
        run_precompute(cfg)
    assert not (out / INDEX_DIR).exists() and not (out / CACHE_FILE).exists()
    assert counting_reader.asked == []


def test_config_checks():
    with pytest.raises(ConfigError, match="retrieve_k"):
        PrecomputeConfig(k=5, retrieve_k=3)
    with pytest.raises(ConfigError, match="backend"):
        PrecomputeConfig(backend="spark")
    with pytest.raises(ConfigError, match="no questions"):
        run_precompute(PrecomputeConfig(progress=False))


def test_cli_precompute_and_datasheet(task_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        cli_main(
            ["precompute", "--task-dir", str(task_dir), "--output", str(out), "--no-progress", "limit=5"]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["questions"] == 15 and len(load_rag_cache(out / CACHE_FILE)) == 15
    assert cli_main(["datasheet", "--task-dir", str(task_dir), "--json", str(tmp_path / "ds.json")]) == 0
    table = capsys.readouterr().out
    assert "oracle GenAcc" in table and "founder_birthplace (2-hop)" in table
    stats = json.loads((tmp_path / "ds.json").read_text())
    assert stats["overall"]["oracle"] > stats["overall"]["naive_rag"] + 0.5
