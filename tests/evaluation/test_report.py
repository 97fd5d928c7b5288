"""Tests of the report: averages, the Markdown table, the CSV, and the PNG plots."""

from __future__ import annotations

import csv
import json

import pytest
from eval_toy import KeywordMethod, toy_world

from evaluation.report import (
    average_rows,
    genacc_figure,
    markdown_table,
    plot_training_curves,
    read_training_log,
    training_figure,
    write_report,
)
from evaluation.run import evaluate
from generators.offline import ExtractiveReader

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows():
    base = {
        "f1": 50.0,
        "span": 40.0,
        "judge": None,
        "docs": 3.0,
        "input_tokens": 200.0,
        "turns": 0.0,
        "searches": 1.0,
    }
    return [
        {"method": "rag", "dataset": "nq", "n": 10, "genacc": 40.0, "em": 30.0, **base},
        {"method": "rag", "dataset": "hotpot", "n": 20, "genacc": 20.0, "em": 10.0, **base},
        {"method": "s3", "dataset": "nq", "n": 10, "genacc": 60.0, "em": 35.0, **base, "turns": 2.5},
        {"method": "s3", "dataset": "hotpot", "n": 20, "genacc": 50.0, "em": 15.0, **base, "turns": 3.5},
    ]


def test_average_is_the_unweighted_mean_over_datasets():
    avgs = {a["method"]: a for a in average_rows(_rows())}
    assert avgs["rag"]["genacc"] == pytest.approx(30.0)  # not the question-weighted 26.7
    assert avgs["s3"]["em"] == pytest.approx(25.0)
    assert avgs["s3"]["turns"] == pytest.approx(3.0)
    assert avgs["rag"]["n"] == 30
    assert avgs["rag"]["judge"] is None


def test_markdown_table_has_table1_layout_and_every_metric():
    text = markdown_table(_rows(), title="Toy")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Method | nq"))
    assert header == "| Method | nq | hotpot | Avg. |"
    assert "| s3 | 60.0 (35.0) | 50.0 (15.0) | **55.0** (25.0) |" in lines
    assert "| rag | 40.0 (30.0) | 20.0 (10.0) | **30.0** (20.0) |" in lines
    detail = next(line for line in lines if line.startswith("| Method | Dataset"))
    for col in ("GenAcc", "EM", "F1", "Span", "Judge", "Docs", "Input tok.", "Turns", "Searches"):
        assert col in detail
    assert "| s3 | average | 30 | 55.0 | 25.0 | 50.0 | 40.0 | – | 3.00 | 200 | 3.00 | 1.00 |" in lines


def test_write_report_from_a_run(tmp_path):
    examples, docs = toy_world(9)
    rows = evaluate(
        [KeywordMethod(docs), KeywordMethod({}, name="empty")],
        {"a": examples, "b": examples[:5]},
        ExtractiveReader(),
        tmp_path,
        progress=False,
    )
    log = tmp_path / "train" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        "".join(
            json.dumps({"step": s, "reward": s / 10, "gbr": s / 20, "note": "x"}) + "\n" for s in range(5)
        )
    )
    paths = write_report(tmp_path, training_logs=[log])
    assert set(paths) == {
        "table.md",
        "table.csv",
        "table-genacc.csv",
        "table-em.csv",
        "genacc.png",
        "training.png",
    }
    for name in ("genacc.png", "training.png"):
        assert paths[name].read_bytes()[:8] == PNG_MAGIC
    with open(paths["table.csv"]) as fh:
        table = list(csv.DictReader(fh))
    assert [(r["method"], r["dataset"]) for r in table] == [
        ("keyword", "a"), ("keyword", "b"), ("keyword", "average"),
        ("empty", "a"), ("empty", "b"), ("empty", "average"),
    ]  # fmt: skip
    by = {(r["method"], r["dataset"]): r for r in table}
    assert float(by[("keyword", "a")]["genacc"]) == pytest.approx(rows[0]["genacc"])
    assert float(by[("keyword", "average")]["genacc"]) == pytest.approx(
        (rows[0]["genacc"] + rows[1]["genacc"]) / 2
    )
    assert float(by[("empty", "a")]["genacc"]) == 0.0
    assert by[("empty", "a")]["judge"] == ""
    assert "| keyword |" in paths["table.md"].read_text()


def test_training_curves_errors_and_default_keys(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 0.5}\n\n{"global_step": 2, "loss": 0.4}\n')
    recs = read_training_log(log)
    assert [r["step"] for r in recs] == [1, 2]
    # no default key present: every numeric key is drawn
    assert plot_training_curves([log], tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="no metric to plot"):
        plot_training_curves([log], tmp_path / "d.png", keys=["reward"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        read_training_log(bad)


def test_genacc_plot_is_readable_with_many_methods():
    import matplotlib.pyplot as plt

    methods = ["naive-rag", "oracle", *(f"m{i}" for i in range(11))]  # 13 methods
    rows = [
        {"method": m, "dataset": "d", "n": 10, "genacc": 10.0 * i, "em": 0.0} for i, m in enumerate(methods)
    ]
    rows[1] = {
        "method": "oracle",
        "dataset": "d",
        "n": 10,
        "skipped": "no supporting documents",
        "genacc": None,
    }
    fig = genacc_figure(rows)
    ax = fig.axes[0]
    colours = {tuple(p.get_facecolor()) for p in ax.patches}
    assert len(ax.patches) == 13 and len(colours) == 13  # one distinct colour a method
    labels = [t.get_text() for t in ax.texts]
    assert labels[:3] == ["0.0", "skipped", "20.0"]  # a zero bar shows its value; a skipped row says so
    assert "naive RAG" in [t.get_text() for t in ax.get_legend().get_texts()]
    (line,) = [c for c in ax.collections if c.get_label() == "naive RAG"]
    assert line.get_segments()[0][0][1] == 0.0  # at naive RAG's GenAcc
    plt.close(fig)


def test_training_plot_names_every_run_with_integer_steps(tmp_path):
    import matplotlib.pyplot as plt

    logs = []
    for name in ("warm", "grpo"):
        path = tmp_path / name / "metrics.jsonl"
        path.parent.mkdir()
        path.write_text("".join(json.dumps({"step": s, "reward": s / 3}) + "\n" for s in (1, 2, 3)))
        logs.append(path)
    fig = training_figure(logs, keys=["reward"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["warm", "grpo"]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(fig)
