"""Contract tests of the TRL adapter: the trainer's loss mask is our environment mask, environment
tokens get exactly zero gradient (policy loss, KL and entropy terms all on), and one real training
step through our rollout and reward runs and changes the weights."""

from __future__ import annotations

import json
import random

import pytest
from train_fixtures import embedded_run, tiny_config  # noqa: F401

from s3.policy.scripted import ScriptedPolicy

#: a GRPO step of two questions with two completions each
TWO_BY_TWO = {"grpo.questions_per_step": 2, "grpo.num_generations": 2}


def _scripted_policy(tokenizer, run: dict) -> ScriptedPolicy:
    """Turns that vary from sample to sample (so a GRPO group has distinct trajectories): select some
    ids, then search for a random word of the question or stop; later turns select and stop."""
    rng = random.Random(0)

    def turn(question: str, index: int) -> str:
        ids = sorted(rng.sample([1, 2, 3], rng.randint(0, 2)))
        if index == 0 and rng.random() < 0.8:
            word = rng.choice(question.rstrip("?").split())
            return f'<important_info>{ids}</important_info><search_complete>False</search_complete><query>{{"query": "{word}"}}</query>'
        return f"<important_info>{ids}</important_info><search_complete>True</search_complete>"

    return ScriptedPolicy(tokenizer, turn)


def _varied_reward(prompts, completions, completion_ids, **kwargs):
    """A reward that differs between samples of a group, so every advantage is non-zero."""
    return [float(sum(ids) % 11) + 0.1 * len(ids) for ids in completion_ids]


def _capture(trainer):
    """Wrap the trainer's loss so each micro batch's inputs and final hidden states are kept."""
    captured = []
    model = trainer.model
    norm = model.model.norm

    def keep(module, args, output):
        if output.requires_grad:
            output.retain_grad()
            captured[-1]["hidden"] = output

    norm.register_forward_hook(keep)
    original = trainer._compute_loss

    def compute_loss(model, inputs):
        captured.append({"inputs": {k: v for k, v in inputs.items()}})
        return original(model, inputs)

    trainer._compute_loss = compute_loss
    return captured


@pytest.fixture()
def contract_trainer(embedded_run, tmp_path):  # noqa: F811
    from transformers import AutoTokenizer

    from s3.train.trainer import build_trainer

    cfg = tiny_config(
        embedded_run,
        tmp_path / "out",
        **{
            "grpo.max_steps": 1,
            "grpo.questions_per_step": 2,
            "grpo.num_generations": 4,
            "grpo.micro_batch_size": 4,
            "grpo.beta": 0.1,
            "grpo.entropy_coef": 0.01,
            "grpo.mask_truncated_completions": "false",
            "logging.report_to": "[]",
        },
    )
    tokenizer = AutoTokenizer.from_pretrained(embedded_run["model"])
    trainer = build_trainer(
        cfg, policy=_scripted_policy(tokenizer, embedded_run), reward_funcs=[_varied_reward]
    )
    return trainer


@pytest.mark.slow
def test_loss_mask_is_env_mask_and_env_tokens_get_zero_gradient(contract_trainer):
    trainer = contract_trainer
    captured = _capture(trainer)
    trajs_seen = []
    rollout = trainer.s3_rollout
    original_call = rollout.__call__

    class Recording:
        def __call__(self, prompts, tr):
            out = original_call(prompts, tr)
            trajs_seen.extend(out["trajectory"])
            return out

    trainer.rollout_func = Recording()
    trainer.train()

    assert len(captured) == 2  # 8 trajectories in micro batches of 4
    by_ids = {tuple(t.completion_ids): t for t in trajs_seen}
    env_positions = policy_positions = 0
    observations = 0
    for micro in captured:
        inputs, hidden = micro["inputs"], micro["hidden"]
        assert hidden.grad is not None
        loss_mask = inputs["completion_mask"] * inputs["tool_mask"]
        width = inputs["prompt_ids"].shape[1]
        for row in range(loss_mask.shape[0]):
            n = int(inputs["completion_mask"][row].sum())
            traj = by_ids[tuple(inputs["completion_ids"][row, :n].tolist())]
            # the trainer's loss mask is exactly our environment mask (and 0 on padding)
            assert loss_mask[row, :n].tolist() == traj.env_mask
            assert loss_mask[row, n:].sum() == 0
            observations += traj.stats()["searches"]
            grad = hidden.grad[row]
            advantage = float(inputs["advantages"][row])
            assert advantage != 0.0
            for j, keep in enumerate(traj.env_mask):
                g = grad[width + j - 1].abs().sum().item()  # the hidden state that predicts token j
                if keep:
                    policy_positions += 1
                    assert g > 0.0, f"policy token {j} of row {row} got no gradient"
                else:
                    env_positions += 1
                    assert g == 0.0, f"environment token {j} of row {row} got gradient {g}"
    assert observations > 0 and env_positions > 100 and policy_positions > 50
    # the KL and entropy terms were on (so they are covered by the zero-gradient check)
    logged = trainer.state.log_history[0]
    assert "kl" in logged and logged["kl"] >= 0.0 and "entropy" in logged


@pytest.mark.slow
def test_one_step_with_the_trainers_own_model_and_the_s3_reward(embedded_run, tmp_path):  # noqa: F811
    """The real path: transformers generate on the trainer's model, the gbr reward, metrics.jsonl."""
    import torch

    from s3.train.trainer import METRICS_FILE, train

    out = tmp_path / "own"
    # an entropy term: a gradient even where the untrained model earns no reward
    cfg = tiny_config(
        embedded_run, out, **TWO_BY_TWO, **{"grpo.max_steps": 2, "save_steps": 1, "grpo.entropy_coef": 0.01}
    )
    from transformers import AutoModelForCausalLM

    before = {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(cfg.model).state_dict().items()}
    summary = train(cfg)
    assert summary["steps"] == 2
    after = AutoModelForCausalLM.from_pretrained(summary["final_dir"]).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (out / "checkpoint-1" / "config.json").is_file() and (out / "checkpoint-2").is_dir()
    records = [json.loads(line) for line in (out / METRICS_FILE).open()]
    step_logs = [r for r in records if "reward" in r]
    assert len(step_logs) == 2
    for key in (
        "reward/genacc",
        "reward/baseline_genacc",
        "reward/gbr",
        "episode/turns",
        "episode/searches",
        "episode/invalid_action_rate",
        "episode/docs_selected",
        "entropy",
        "time/rollout_s",
    ):
        assert key in step_logs[0], key
    # the training rows are the questions naive RAG gets wrong: the baseline term is 0 there
    assert step_logs[0]["reward/baseline_genacc"] == 0.0
    assert (out / "train_config.yaml").is_file()


@pytest.mark.slow
def test_resume_continues_from_the_latest_checkpoint(embedded_run, tmp_path):  # noqa: F811
    from s3.train.trainer import train

    out = tmp_path / "resume"
    common = {**TWO_BY_TWO, "save_steps": 1}
    first = train(tiny_config(embedded_run, out, **common, **{"grpo.max_steps": 1}))
    assert first["resumed_from"] is None and first["steps"] == 1
    second = train(tiny_config(embedded_run, out, **common, **{"grpo.max_steps": 2}))
    assert second["resumed_from"].endswith("checkpoint-1") and second["steps"] == 2


@pytest.mark.slow
def test_lora_checkpoints_are_adapters_and_a_merged_model(embedded_run, tmp_path):  # noqa: F811
    from s3.train.trainer import train

    out = tmp_path / "lora"
    lora = {"lora.enabled": "true", "lora.r": 4, "grpo.beta": 0.05}
    cfg = tiny_config(embedded_run, out, **TWO_BY_TWO, **{"grpo.max_steps": 1}, **lora)
    train(cfg)
    assert (out / "final" / "adapter_config.json").is_file()
    assert (out / "final-merged" / "config.json").is_file()
    assert not (out / "final-merged" / "adapter_config.json").exists()
