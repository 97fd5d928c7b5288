"""The learning test: on the embedded task, GRPO raises a warm-started tiny searcher's reward on
held-out questions, beyond seed noise, on a CPU within a few minutes."""

from __future__ import annotations

import pytest
from train_fixtures import build_embedded_run, tiny_overrides

#: the smallest gain (mean gbr reward on held-out questions, after minus before GRPO) the test accepts
MIN_GAIN = 0.08


@pytest.mark.slow
def test_grpo_improves_held_out_reward_over_the_warm_start(tmp_path):
    """SFT warm start on imperfect demonstrations, then 15 GRPO steps of the ``tiny`` preset.

    A tiny model cannot learn in minutes to copy a bridge entity into a query (measured: no held-out
    copy after 400 SFT steps), but it learns *selection*: the ``tiny`` preset passes only selected
    documents to the generator, and the warm start imitates a scripted searcher whose selections are
    replaced by wrong ones 60% of the time. The held-out reward is the mean gbr (GenAcc with the
    searcher's context minus the cached naive-RAG GenAcc, offline reader) over the 150 validation
    questions, two seeded samples each at the training temperature (1.0).

    Measured with these settings (2 loaded CPU cores, 75-170 s per run), training seeds 0/1/2/3:
    before -0.180/-0.167/-0.140/-0.160 -> after -0.007 each: gains +0.173/+0.160/+0.133/+0.153
    (mean +0.155, smallest +0.133). Seed noise of the measurement itself: re-sampling the held-out
    episodes of one model with four evaluation seeds moves its reward by at most 0.02 (warm start
    -0.18..-0.20, trained -0.007..0.0). MIN_GAIN = 0.08 sits between the two: four times the
    evaluation noise, and 0.05 under the smallest gain measured.
    """
    import torch

    torch.set_num_threads(1)
    from generators.offline import ExtractiveReader
    from retrievers.factory import load_retriever
    from s3.config import load_config
    from s3.policy.hf import HFPolicy
    from s3.protocol_registry import get_protocol
    from s3.reward import RewardConfig, SearchReward
    from s3.rollout import RolloutConfig
    from s3.train.config import load_train_config
    from s3.train.heldout import score_policy
    from s3.train.trainer import load_rows, train
    from s3.train.warmstart import WarmstartConfig, warmstart

    run = build_embedded_run(tmp_path / "run", train=600, val=150, drop_rag_correct=False)
    cfg = load_train_config(
        preset="tiny", overrides=tiny_overrides(run, tmp_path / "grpo", **{"grpo.seed": 0})
    )
    ws_cfg = load_config(
        WarmstartConfig,
        overrides=[
            f"model={run['model']}",
            f"retriever={run['index']}",
            f"train_file={run['train']}",
            f"output_dir={tmp_path / 'ws'}",
            f"protocol={cfg.protocol}",
            "max_steps=60",
            "learning_rate=2e-3",
            "select_noise_rate=0.6",
            "device=cpu",
            "progress=false",
        ],
    )
    ws_cfg.episode = cfg.episode
    warm = warmstart(ws_cfg)

    retriever = load_retriever(run["index"])
    reward = SearchReward(ExtractiveReader(), RewardConfig(kind="gbr", rag_cache=run["cache"]))
    held_out = load_rows(run["val"]) * 2
    sampling = RolloutConfig(
        temperature=cfg.rollout.temperature,
        top_p=1.0,
        seed=1234,
        max_new_tokens_per_turn=cfg.rollout.max_new_tokens_per_turn,
        max_total_tokens=cfg.rollout.max_total_tokens,
    )
    protocol = get_protocol(cfg.protocol)

    def held_out_reward(path) -> dict:
        policy = HFPolicy.from_pretrained(str(path), device="cpu")
        return score_policy(
            policy, held_out, retriever, protocol, cfg.episode, reward, sampling, batch_size=150
        )

    before = held_out_reward(warm)
    cfg.model = str(warm)
    summary = train(cfg)
    after = held_out_reward(summary["final_dir"])
    assert summary["steps"] == cfg.grpo.max_steps
    assert after["reward"] - before["reward"] >= MIN_GAIN, (before, after)
    # the gain is the generator answering more questions, not a logging artefact
    assert after["genacc"] > before["genacc"]
