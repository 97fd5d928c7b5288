"""Tests of the evaluation run: every question counted, metrics per question, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_toy import KeywordMethod, toy_world

from evaluation.metrics import exact_match, f1_score, span_check
from evaluation.records import read_records
from evaluation.run import (
    AnswerSettings,
    ResumeError,
    count_tokens_approx,
    evaluate,
)
from generators.base import Generator
from generators.offline import ExtractiveReader

HERE = Path(__file__).parent


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_question_counted_with_a_partial_last_batch(tmp_path):
    examples, docs = toy_world(13)
    rows = evaluate(
        [KeywordMethod(docs)], {"toy": examples}, ExtractiveReader(), tmp_path, batch_size=4, progress=False
    )
    assert len(rows) == 1 and rows[0]["n"] == 13  # 4+4+4+1: the last partial batch is kept
    answers = _lines(tmp_path / "keyword" / "toy" / "answers.jsonl")
    assert [a["id"] for a in answers] == [e.id for e in examples]
    # questions whose passage exists are answered right, the others are missed (every third one)
    expected = [0.0 if i % 3 == 2 else 1.0 for i in range(13)]
    assert [a["genacc"] for a in answers] == expected
    assert rows[0]["genacc"] == pytest.approx(100 * sum(expected) / 13)
    for a, e in zip(answers, examples):
        assert a["em"] == exact_match(a["prediction"], e.golden_answers)
        assert a["f1"] == f1_score(a["prediction"], e.golden_answers)
        assert a["span"] == float(span_check(a["prediction"], e.golden_answers))
        assert a["judge"] is None
        assert a["docs"] == (0 if int(e.id[1:]) % 3 == 2 else 1)
        assert a["input_tokens"] > count_tokens_approx(e.question)
    assert rows[0]["judge"] is None
    assert rows[0]["docs"] == pytest.approx(sum(a["docs"] for a in answers) / 13)
    # contexts saved with their trace, one per question
    ctx = _lines(tmp_path / "keyword" / "toy" / "contexts.jsonl")
    assert [c["id"] for c in ctx] == [e.id for e in examples]
    assert ctx[0]["docs"][0]["id"] == "d0" and ctx[0]["trace"] == {"n": 1}
    assert json.loads((tmp_path / "results.json").read_text()) == rows


class _YesJudge:
    """Says yes to answers that mention a gold answer's last word (a stand-in judge)."""

    def judge_batch(self, questions, predictions, golds):
        return [any(g.split()[-1].lower() in p.lower() for g in gs) for p, gs in zip(predictions, golds)]


class _Garbled(Generator):
    """A generator that answers with the founder's surname only (so the span check fails)."""

    name = "garbled"

    def generate(self, requests, sampling=None):
        out = []
        for r in requests:
            text = r[0]["content"]
            i = text.find("founded by ")
            out.append(text[i + len("founded by ") :].split(".")[0].split()[-1] if i >= 0 else "no idea")
        return out


def test_judge_column_and_genacc_span_or_judge(tmp_path):
    examples, docs = toy_world(6)
    rows = evaluate(
        [KeywordMethod(docs)], {"toy": examples}, _Garbled(), tmp_path, judge=_YesJudge(), progress=False
    )
    answers = _lines(tmp_path / "keyword" / "toy" / "answers.jsonl")
    # surname-only answers fail the span check but the judge accepts them
    have_doc = [int(e.id[1:]) % 3 != 2 for e in examples]
    assert [a["span"] for a in answers] == [0.0] * 6
    assert [a["judge"] for a in answers] == [float(h) for h in have_doc]
    assert [a["genacc"] for a in answers] == [float(h) for h in have_doc]
    assert rows[0]["judge"] == pytest.approx(100 * sum(have_doc) / 6)


def test_resume_skips_finished_work_and_repairs_a_cut_line(tmp_path):
    examples, docs = toy_world(13)
    full = evaluate(
        [KeywordMethod(docs)],
        {"toy": examples},
        ExtractiveReader(),
        tmp_path / "a",
        batch_size=4,
        progress=False,
    )

    # simulate a kill: contexts complete for 2 chunks + half a line, answers for 1 chunk
    out = tmp_path / "b"
    evaluate([KeywordMethod(docs)], {"toy": examples}, ExtractiveReader(), out, batch_size=4, progress=False)
    ctx = out / "keyword" / "toy" / "contexts.jsonl"
    ans = out / "keyword" / "toy" / "answers.jsonl"
    ctx_lines = ctx.read_text().splitlines(keepends=True)
    ctx.write_text("".join(ctx_lines[:6]) + ctx_lines[6][:20])
    ans.write_text("".join(ans.read_text().splitlines(keepends=True)[:4]))
    (out / "results.json").unlink()

    method = KeywordMethod(docs, log_path=tmp_path / "calls.log")
    reader = ExtractiveReader(request_log=tmp_path / "gen.log")
    again = evaluate([method], {"toy": examples}, reader, out, batch_size=4, progress=False)
    assert again == full
    # chunk 2 (questions 4..7) was cut short: redone as the same batch; chunks 3 and 4 are new
    asked = (tmp_path / "calls.log").read_text().split()
    assert asked == [e.id for e in examples[4:]]
    assert len((tmp_path / "gen.log").read_text().splitlines()) == 13 - 4
    assert [r["id"] for r in read_records(ctx)] == [e.id for e in examples]


def test_bad_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"x.jsonl:2: corrupt line"):
        read_records(path)


def test_resume_with_other_settings_is_refused(tmp_path):
    examples, docs = toy_world(4)
    evaluate([KeywordMethod(docs)], {"toy": examples}, ExtractiveReader(), tmp_path, progress=False)

    def with_other_settings(**options):
        return evaluate(
            [KeywordMethod(docs)],
            {"toy": examples},
            ExtractiveReader(),
            tmp_path,
            settings=AnswerSettings(max_tokens=7),
            progress=False,
            **options,
        )

    with pytest.raises(ResumeError, match="answer_settings"):
        with_other_settings()
    rows = with_other_settings(overwrite=True)
    assert rows[0]["n"] == 4


def test_duplicate_ids_are_rejected(tmp_path):
    examples, docs = toy_world(3)
    with pytest.raises(ValueError, match="repeats id 'q0'"):
        evaluate([KeywordMethod(docs)], {"toy": examples + examples[:1]}, ExtractiveReader(), tmp_path)


def _run_script(out: Path, latency: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, str(HERE / "eval_toy.py"), str(out), str(latency)], env=env)


def test_killed_evaluation_resumes_to_the_same_table(tmp_path):
    """A real process is SIGKILLed midway; the rerun finishes to the table of an uninterrupted run."""
    ref_dir = tmp_path / "ref" / "out"
    ref_dir.parent.mkdir()
    assert _run_script(ref_dir, 0.0).wait(timeout=120) == 0

    out = tmp_path / "killed" / "out"
    out.parent.mkdir()
    proc = _run_script(out, 0.15)
    answers = out / "keyword" / "toy" / "answers.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (answers.exists() and answers.read_text().count("\n") >= 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "results.json").exists(), "the run finished before it could be killed"
    done_before = {r["id"] for r in read_records(answers)}
    assert 3 <= len(done_before) < 13

    assert _run_script(out, 0.0).wait(timeout=120) == 0
    assert json.loads((out / "results.json").read_text()) == json.loads(
        (ref_dir / "results.json").read_text()
    )
    for method, dataset in (("keyword", "toy"), ("keyword", "toy2"), ("empty", "toy")):
        got = _lines(out / method / dataset / "answers.jsonl")
        ref = _lines(ref_dir / method / dataset / "answers.jsonl")
        assert sorted(got, key=lambda r: r["id"]) == sorted(ref, key=lambda r: r["id"])
    # finished answers were not sent to the generator again: 13+7 questions per method, each once,
    # except those of the chunk cut short by the kill (at most one batch of 3)
    sent = [json.loads(x)["question"] for x in (out.parent / "generator.log").read_text().splitlines()]
    assert 2 * (13 + 7) <= len(sent) <= 2 * (13 + 7) + 3
