"""Training steps of a tiny model on a CPU through the trainer's real paths: the configured bf16
precision path moves weights at learning rate 1e-6 as fp32 training does (bf16 weights would not),
and a prompt longer than the token budget does not break the GRPO step."""

from __future__ import annotations

import random

from train_fixtures import embedded_run, tiny_overrides  # noqa: F401

from s3.policy.scripted import ScriptedPolicy
from s3.train.config import load_train_config

LR = 1e-6


def _policy(tokenizer) -> ScriptedPolicy:
    """Turns that differ between the samples of a question, so every advantage is non-zero."""
    rng = random.Random(0)

    def turn(question: str, index: int) -> str:
        ids = sorted(rng.sample([1, 2, 3], rng.randint(0, 3)))
        return f"<important_info>{ids}</important_info><search_complete>True</search_complete>"

    return ScriptedPolicy(tokenizer, turn)


def _varied_reward(prompts, completions, completion_ids, **kwargs):
    return [float(sum(ids) % 7) for ids in completion_ids]


def _scripted_trainer(run: dict, out, **settings):
    """A trainer on the tiny preset that rolls out with :func:`_policy` and scores with the varied reward."""
    from transformers import AutoTokenizer

    from s3.train.trainer import build_trainer

    cfg = load_train_config(preset="tiny", overrides=tiny_overrides(run, out, **settings))
    tokenizer = AutoTokenizer.from_pretrained(run["model"])
    return build_trainer(cfg, policy=_policy(tokenizer), reward_funcs=[_varied_reward])


def _weight_change(run: dict, out, steps: int = 3, **extra) -> tuple[float, float, str]:
    """(mean |dw|, share of weights that changed, the loaded dtype) after ``steps`` GRPO steps."""
    import torch

    torch.manual_seed(0)
    settings = {"grpo.max_steps": steps, "grpo.learning_rate": LR, "grpo.questions_per_step": 2,
                "grpo.num_generations": 4, "grpo.micro_batch_size": 8,
                "grpo.mask_truncated_completions": "false", "logging.report_to": "[]"}  # fmt: skip
    trainer = _scripted_trainer(run, out, **{**settings, **extra})
    before = {k: v.detach().float().clone() for k, v in trainer.model.named_parameters()}
    dtype = str(next(trainer.model.parameters()).dtype)
    trainer.train()
    diffs = [(p.detach().float() - before[k]).abs() for k, p in trainer.model.named_parameters()]
    total = sum(d.numel() for d in diffs)
    mean = sum(float(d.sum()) for d in diffs) / total
    changed = sum(int((d > 0).sum()) for d in diffs) / total
    return mean, changed, dtype


def test_bf16_precision_path_moves_weights_like_fp32_at_lr_1e6(embedded_run, tmp_path, monkeypatch):  # noqa: F811
    fp32, fp32_changed, fp32_dtype = _weight_change(embedded_run, tmp_path / "fp32")
    # the 7b preset's precision (grpo.bf16=true) on this CPU: bf16 autocast over fp32 weights
    bf16, bf16_changed, bf16_dtype = _weight_change(embedded_run, tmp_path / "bf16", **{"grpo.bf16": "true"})
    assert fp32_dtype == bf16_dtype == "torch.float32"
    assert fp32 > 0 and 0.1 < bf16 / fp32 < 10, (bf16, fp32)
    assert bf16_changed > 0.5 * fp32_changed, (bf16_changed, fp32_changed)

    # what the trainer did before: the model loaded in bf16 and updated there by plain AdamW
    import s3.train.plan as plan

    monkeypatch.setattr(
        plan, "precision_plan", lambda cfg, launch: plan.PrecisionPlan("bfloat16", "bf16", "nobody")
    )
    # measured: fp32 1.7e-6 (99.8% of weights changed), bf16 autocast over fp32 weights 1.7e-6 (99.8%),
    # bf16 weights 8.3e-9 (0.4%)
    old, _, old_dtype = _weight_change(embedded_run, tmp_path / "old", **{"grpo.bf16": "true"})
    assert old_dtype == "torch.bfloat16"
    assert old < 0.1 * fp32, (old, fp32)


def test_a_prompt_longer_than_the_token_budget_trains_without_error(embedded_run, tmp_path):  # noqa: F811
    """TRL reads the last completion token of every sample; a prompt that uses up the budget has none."""
    settings = {"grpo.max_steps": 1, "grpo.questions_per_step": 2, "grpo.num_generations": 2,
                "rollout.max_total_tokens": 16, "logging.report_to": "[]"}  # fmt: skip
    trainer = _scripted_trainer(embedded_run, tmp_path / "out", **settings)  # every prompt is over 16 tokens
    tokenizer = trainer.processing_class
    trainer.train()  # TRL raised IndexError here when a completion was empty
    assert trainer.state.global_step == 1
    out = trainer.s3_rollout([embedded_run_question(embedded_run)] * 2, trainer)
    # one environment-masked EOS: a last token for TRL, no loss
    assert out["completion_ids"] == [[tokenizer.eos_token_id]] * 2 and out["env_mask"] == [[0], [0]]


def embedded_run_question(run: dict) -> str:
    import json

    with open(run["train"], encoding="utf-8") as f:
        return json.loads(f.readline())["question"]


def test_the_warm_start_in_bf16_moves_weights_at_lr_1e6(embedded_run, tmp_path):  # noqa: F811
    """The supervised warm start takes the same precision path (bf16 compute, fp32 weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    from s3.train.warmstart import WarmstartConfig, warmstart

    cfg = WarmstartConfig(model=embedded_run["model"], retriever=embedded_run["index"],
                          train_file=embedded_run["train"], output_dir=str(tmp_path / "ws"), max_steps=2,
                          learning_rate=LR, bf16=True, device="cpu", progress=False)  # fmt: skip
    final = warmstart(cfg)
    before = AutoModelForCausalLM.from_pretrained(embedded_run["model"]).state_dict()
    after = AutoModelForCausalLM.from_pretrained(str(final)).state_dict()
    assert all(v.dtype == torch.float32 for v in after.values())
    diffs = [(after[k] - before[k]).abs() for k in before]
    mean = sum(float(d.sum()) for d in diffs) / sum(d.numel() for d in diffs)
    assert 1e-7 < mean < 1e-5, mean  # two AdamW steps of 1e-6; bf16 weights would keep almost all in place
