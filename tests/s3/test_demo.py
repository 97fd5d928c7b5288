"""``s3 demo`` on a shrunken config: every stage runs, the table is written, and a rerun reuses the stages."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_demo_stages_write_the_table_and_a_rerun_reuses_them(tmp_path):
    import torch

    torch.set_num_threads(1)
    from s3.demo import DemoConfig, run_demo

    cfg = DemoConfig(
        run_dir=str(tmp_path / "demo"),
        searcher="tiny",
        train_questions=60,
        val_questions=10,
        test_questions=20,
        vocab_size=512,
        warmstart_max_steps=4,
        grpo_steps=1,
        train_overrides=["grpo.questions_per_step=2", "grpo.num_generations=2"],
        search_r1_warmstart_steps=4,
        search_r1_grpo_steps=1,
        search_r1_overrides=["grpo.questions_per_step=2", "grpo.num_generations=2"],
        baselines=["naive-rag", "oracle", "direct"],
        ablations=False,
        progress=False,
    )
    summary = run_demo(cfg)
    run = tmp_path / "demo"

    rows = json.loads((run / "eval" / "results.json").read_text())
    by_method = {r["method"]: r for r in rows}
    assert set(by_method) == {
        "naive-rag", "oracle", "direct", "s3 untrained", "s3 warm start", "s3 trained", "search-r1 trained"
    }  # fmt: skip
    assert all(r["n"] == 20 for r in rows)  # every test question counted

    # naive RAG in the table is the precompute cache's naive RAG on the same test questions
    cache = [json.loads(line) for line in (run / "precompute" / "rag_cache.jsonl").open()]
    test_q = {json.loads(line)["question"] for line in (run / "task" / "test.jsonl").open()}
    cached = [e["genacc"] for e in cache if e["question"] in test_q]
    assert len(cached) == 20
    assert by_method["naive-rag"]["genacc"] == pytest.approx(100.0 * sum(cached) / len(cached))
    assert by_method["oracle"]["genacc"] == pytest.approx(100.0)  # the task's headroom is real
    assert by_method["direct"]["genacc"] == pytest.approx(0.0)  # invented names: no context, no answer

    table = (run / "eval" / "table.md").read_text()
    for method in by_method:
        assert f"| {method} |" in table
    assert summary["table"] == table
    assert (run / "eval" / "genacc.png").stat().st_size > 0
    assert summary["genacc"]["naive-rag"] == pytest.approx(by_method["naive-rag"]["genacc"])
    assert (run / "train" / "final" / "config.json").exists()
    assert (run / "warmstart" / "final" / "config.json").exists()
    # every searcher checkpoint remembers the protocol and episode rules it runs with
    from s3.searcher import load_searcher_config

    saved = [load_searcher_config(run / d) for d in ("model/base", "warmstart/final", "train/final")]
    assert len({(c.protocol, c.episode.max_turns, c.episode.docs_per_search) for c in saved}) == 1
    # the Search-R1-mode searcher: trained with its own protocol, scored as Search-R1 (Ret)
    r1 = load_searcher_config(run / "search-r1" / "train" / "final")
    assert r1.protocol == "search-r1" and r1.episode.initial_k == 0 and not r1.episode.use_selection
    r1_metrics = [json.loads(line) for line in (run / "search-r1" / "train" / "metrics.jsonl").open()]
    assert any("reward/em" in m for m in r1_metrics)  # rewarded by the exact match of its own answers
    assert by_method["search-r1 trained"]["n"] == 20

    # a rerun reuses every stage: the trained model is not rewritten and the table is the same
    model_file = next((run / "train" / "final").glob("*.safetensors"))
    stamp = model_file.stat().st_mtime_ns
    again = run_demo(cfg)
    assert model_file.stat().st_mtime_ns == stamp
    assert again["genacc"] == summary["genacc"]
