"""Every bad input a new user met ends the command with one line naming the file, line or field and
the fix, exit code 2, and no traceback (``--debug`` shows it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3.cli import main

REPO = Path(__file__).resolve().parents[2]


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"s3 {' '.join(argv)}: exit {code}, stderr {err!r}"
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith(f"s3 {argv[0]}") and "error:" in lines[0], err
    return lines[0]


@pytest.fixture()
def qa_file(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(
        json.dumps({"id": "a", "question": "Who founded Zorbex?", "golden_answers": ["Talen"]}) + "\n"
    )
    return path


@pytest.fixture()
def trainer_file(tmp_path):
    """A training file as `s3 precompute` writes it, for data without ground truth or supporting passages."""
    path = tmp_path / "train.jsonl"
    row = {"id": "a", "question": "Who founded Zorbex?", "golden_answers": ["Talen"], "initial_docs": [],
           "rag_genacc": 0}  # fmt: skip
    path.write_text(json.dumps(row) + "\n")
    return path


def test_nonexistent_model_names_the_setting(capsys, tmp_path, trainer_file):
    line = _one_line_error(capsys, ["search", "Who?", "--model", "runs/nope/final", "--index", str(tmp_path)])
    assert "--model" in line and "runs/nope/final" in line and "Repo id" not in line
    line = _one_line_error(
        capsys,
        ["train", "--preset", "tiny", "model=runs/nope", "retriever=x", f"data.train_file={trainer_file}"],
    )
    assert line.startswith("s3 train: error: model: runs/nope")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    line = _one_line_error(
        capsys, ["warmstart", f"model={empty}", "retriever=x", f"train_file={trainer_file}"]
    )
    assert "no config.json" in line


def test_warm_start_without_ground_truth_names_the_choices(capsys, tmp_path, tiny_model_dir, trainer_file):
    line = _one_line_error(
        capsys,
        ["warmstart", "--preset", "tiny", f"model={tiny_model_dir}", f"retriever={tmp_path}", f"train_file={trainer_file}"],
    )  # fmt: skip
    assert "source=teacher" in line and "source=none" in line


def test_bad_qa_line_names_file_line_and_field(capsys, tmp_path, qa_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(qa_file.read_text() + json.dumps({"id": "b", "question": "Why?"}) + "\n")
    line = _one_line_error(capsys, ["precompute", "--data", f"test={bad}", "--corpus", "c.jsonl", "--output",
                                    str(tmp_path / "pre")])  # fmt: skip
    assert f"{bad}:2" in line and "golden_answers" in line


def test_unknown_names_list_the_known_ones(capsys, tmp_path, qa_file):
    line = _one_line_error(capsys, ["evaluate", "--dataset", f"d={qa_file}", "--methods", "naive-rag,orcale"])
    assert "orcale" in line and "oracle" in line and "naive-rag" in line
    line = _one_line_error(capsys, ["warmstart", "--preset", "tiniest", "--help-config"])
    assert "tiniest" in line and "tiny" in line and "8-3-3" in line
    line = _one_line_error(capsys, ["train", "--preset", "huge"])
    assert "huge" in line and "7b" in line
    line = _one_line_error(capsys, ["train", "grpo.max_stepz=3"])
    assert "max_stepz" in line


def test_empty_question_and_usage_errors_are_one_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["search", "   ", "--model", "m", "--index", str(tmp_path)])
    assert "question: empty" in line
    with pytest.raises(SystemExit) as exc:  # argparse's own errors: one line too, exit 2
        main(["search", "Who?"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and "--model" in err


def test_missing_extra_names_the_pip_command(capsys, tmp_path, monkeypatch):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "1", "contents": '"T"\nText.'}) + "\n")
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now fails as if it were not installed
    line = _one_line_error(capsys, ["index", "--corpus", str(corpus), "--output", str(tmp_path / "i"), "--kind",
                                    "dense", "--model", "m"])  # fmt: skip
    assert "pip install 's3-search-agent[dense]'" in line


def test_debug_shows_the_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "s3", "search", "Who?", "--model", "runs/nope/x", "--index", str(tmp_path)]
    plain = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [plain.stderr.strip()]
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert debug.returncode != 0 and "Traceback" in debug.stderr
