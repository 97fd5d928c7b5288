"""The README's Python example runs as written, verbatim, on a folder laid out like the demo's outputs.

The folder is made here with tiny settings (a small embedded task, its BM25 index, a tiny searcher
that remembers the ``tiny`` preset's rules), so the test takes seconds; the code block is taken from
README.md between its ``python-example`` markers and executed unchanged in that folder.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_example() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- python-example -->\n```python\n(.*?)```\n<!-- /python-example -->", text, re.DOTALL)
    assert m, "README.md has no <!-- python-example --> code block"
    return m.group(1)


def make_demo_like_run(root: Path) -> None:
    """``runs/demo/{task, precompute/index, train/final}`` with tiny settings."""
    from retrievers.bm25 import BM25Retriever
    from retrievers.corpus import read_corpus
    from s3.searcher import SearcherConfig, save_searcher_config
    from s3.task import build_embedded_task
    from s3.tiny_model import build_tiny_model

    run = root / "runs" / "demo"
    task = build_embedded_task(run / "task", seed=0, train=8, val=2, test=4)
    docs = list(read_corpus(task / "corpus.jsonl"))
    BM25Retriever.build(docs, run / "precompute" / "index").close()
    final = build_tiny_model(run / "train" / "final", texts=[f"{d.title}\n{d.text}" for d in docs[:200]],
                             vocab_size=400, seed=0)  # fmt: skip
    save_searcher_config(SearcherConfig().apply_preset("tiny"), final)


def test_readme_python_example_runs_verbatim(tmp_path, monkeypatch, capsys):
    code = readme_python_example()
    assert '"kind": "offline"' in code  # nothing to start: the example needs no generator server
    make_demo_like_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out.splitlines()
    question = (tmp_path / "runs" / "demo" / "task" / "test.jsonl").read_text().splitlines()[0]
    assert out and out[0] in question  # it asked a question of the demo's corpus
    assert len(out) >= 4  # documents, queries and turns, the generator's answer
