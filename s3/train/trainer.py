"""The GRPO training of the searcher on TRL's ``GRPOTrainer``: our rollout as ``rollout_func``, our reward.

Only the searcher learns. Per step, TRL hands each rank its slice of the questions (each repeated
``num_generations`` times); :class:`S3Rollout` runs the multi-turn episodes with the trainer's current
model (transformers ``generate``, or vLLM) and returns ``prompt_ids``, ``completion_ids``,
``logprobs``, ``env_mask`` (0 on every token the environment wrote, so only policy tokens carry the
loss, the KL and the entropy) and each trajectory as an extra column. The reward function
(:func:`make_reward_func`) is async: it scores the whole batch with one concurrent generator call
through :class:`~s3.reward.SearchReward` and logs both GBR terms and the episode statistics.

Checkpoints are plain Hugging Face folders (``checkpoint-N/``, LoRA adapters when LoRA is on), written
aside and renamed into place; a run resumes from the newest complete one (:mod:`s3.train.checkpoints`).
Metrics go to ``metrics.jsonl`` (and TensorBoard/wandb on request), never twice for a step.

Example::

    cfg = load_train_config(preset="tiny", overrides=["model=runs/tiny", "retriever=runs/pre/index",
                                                      "data.train_file=runs/pre/train.jsonl",
                                                      "reward.rag_cache=runs/pre/rag_cache.jsonl"])
    summary = train(cfg)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3.config import ConfigError, save_config
from s3.reward import SearchReward, summarize
from s3.rollout import RolloutStats, Trajectory
from s3.train.checkpoints import (
    STAGING_DIR,
    CheckpointError,
    atomic_checkpoints,
    check_checkpoint,
    checkpoint_step,
    find_resume_checkpoint,
    trim_metrics,
)
from s3.train.config import TrainConfig
from s3.train.rows import load_rows, run_rows
from s3.train.rows import row_initial_docs as row_initial_docs  # its former home
from s3.trajectory import log_step_metrics

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "train_config.yaml"


# ---------------------------------------------------------------- rollout_func


class S3Rollout:
    """TRL ``rollout_func``: runs the searcher's episodes for the prompts of one rank.

    The dataset's ``prompt`` column is the question text; its row (gold answers, initial documents)
    is looked up here. The returned dict carries ``trajectory`` (one :class:`~s3.rollout.Trajectory`
    per sample) for the reward function.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        rows: Sequence[dict[str, Any]],
        retriever: Any,
        protocol: Any,
        policy: Any | None = None,
    ) -> None:
        self.cfg = cfg
        self.rows = {r["question"]: r for r in rows}
        self.retriever = retriever
        self.protocol = protocol
        #: a fixed policy backend to roll out with instead of the trainer's model (tests, off-policy data)
        self.policy = policy
        self.last_stats = RolloutStats()
        #: policy calls of every rollout so far (multi-rank runs must agree on these)
        self.generate_calls: list[int] = []
        #: questions this rank has rolled out (for checks that ranks saw different data)
        self.seen_questions: set[str] = set()

    def rollout_config(self, trainer: Any) -> Any:
        import dataclasses

        # every rank must make the same number of generation calls (vLLM gathers across ranks; ZeRO-3
        # forwards are collective), so multi-rank and vLLM runs use a fixed call count
        fixed = (
            self.cfg.rollout.fixed_generate_calls
            or trainer.accelerator.num_processes > 1
            or self.cfg.vllm.enabled
        )
        return dataclasses.replace(self.cfg.rollout, fixed_generate_calls=fixed, progress=False)

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        questions = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        missing = [q for q in questions if q not in self.rows]
        if missing:
            raise KeyError(f"rollout got prompts that are not training questions: {missing[:3]}")
        rows = [self.rows[q] for q in questions]
        self.seen_questions.update(questions)
        rcfg = self.rollout_config(trainer)
        stats = RolloutStats()
        if self.policy is not None:
            policy_ctx: Any = contextlib.nullcontext(self.policy)
        elif self.cfg.vllm.enabled:
            from s3.train.policy import TrainerVLLMPolicy

            policy_ctx = contextlib.nullcontext(
                TrainerVLLMPolicy(
                    trainer, fixed_batch=len(prompts), max_new_tokens=rcfg.max_new_tokens_per_turn
                )
            )
        else:
            from s3.train.policy import trainer_hf_policy

            policy_ctx = trainer_hf_policy(trainer)
        with policy_ctx as policy:
            trajs = run_rows(policy, rows, self.retriever, self.protocol, self.cfg.episode, rcfg, stats)
        self.last_stats = stats
        self.generate_calls.append(stats.generate_calls)
        return trajectories_to_trl(trajs, getattr(trainer.processing_class, "eos_token_id", None))


def trajectories_to_trl(trajs: Sequence[Trajectory], eos_token_id: int | None = None) -> dict[str, list[Any]]:
    """The ``rollout_func`` output of trajectories: ids, log-probs, ``env_mask`` and the trajectories.

    A trajectory whose prompt used up the whole token budget has no completion; TRL reads the last
    completion token of every sample, so it gets one environment-masked ``eos_token_id`` (no loss).
    """
    completions, logprobs, masks = [], [], []
    for t in trajs:
        ids, mask = list(t.completion_ids), list(t.env_mask)
        # a backend without log-probs (transformers generate may) leaves zeros: TRL uses them only for
        # the vLLM importance-sampling correction
        lps = list(t.logprobs) if t.logprobs is not None else [0.0] * len(ids)
        if not ids:
            if eos_token_id is None:
                raise ValueError(f"an empty completion (question {t.question!r}) and no EOS token to pad it")
            ids, mask, lps = [eos_token_id], [0], [0.0]
        completions.append(ids)
        logprobs.append(lps)
        masks.append(mask)
    return {
        "prompt_ids": [list(t.prompt_ids) for t in trajs],
        "completion_ids": completions,
        "logprobs": logprobs,
        "env_mask": masks,
        "trajectory": list(trajs),
    }


# ---------------------------------------------------------------- reward function


def make_reward_func(reward: SearchReward, rollout: S3Rollout | None = None):
    """The async TRL reward function: scores every trajectory of the batch with ``reward``.

    It logs (through TRL's ``log_metric``) the reward's parts, the episode statistics and the time
    split of the step: ``reward/genacc``, ``reward/baseline_genacc``, ``reward/gbr``,
    ``episode/turns``, ``episode/searches``, ``episode/invalid_action_rate``, ``episode/docs_selected``,
    ``time/rollout_s``, ``time/policy_generate_s``, ``time/retrieval_s``, ``time/reward_s``.
    """

    async def s3_reward(prompts, completions, trajectory, golden_answers, log_metric=None, **kwargs):
        t0 = time.perf_counter()
        initial = [[*t.episode.blocks[0].docs] for t in trajectory]
        parts = await reward.ascore(
            [t.question for t in trajectory], golden_answers, [t.context() for t in trajectory], initial
        )
        elapsed = time.perf_counter() - t0
        if log_metric is not None:
            for key, value in summarize(parts).items():
                if value == value:  # skip NaN (e.g. no baseline for kind=acc)
                    log_metric(f"reward/{key}", value)
            log_step_metrics(
                log_metric, trajectory, elapsed, rollout.last_stats if rollout is not None else None
            )
        return [p.reward for p in parts]

    s3_reward.__name__ = f"s3_{reward.config.kind.replace('+', '_')}"
    return s3_reward


# ---------------------------------------------------------------- engine config


def world_size() -> int:
    """Processes of this run (``WORLD_SIZE`` from torchrun/accelerate; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def grpo_args(cfg: TrainConfig, world: int | None = None) -> Any:
    """The ``trl.GRPOConfig`` of a :class:`TrainConfig`: the fields set from our settings
    (:data:`~s3.train.config.TRL_FROM_OURS`; batch sizes per rank from :func:`s3.train.plan.batch_plan`)
    and the ``grpo`` section's GRPOConfig fields (our defaults and any given by TRL's name)."""
    from trl import GRPOConfig

    from s3.train.config import OMIT, TRL_FROM_OURS
    from s3.train.plan import batch_plan

    batch = batch_plan(cfg.grpo, world or world_size())
    kwargs = {name: value(cfg, batch) for name, (_, value) in TRL_FROM_OURS.items()}
    kwargs = {name: value for name, value in kwargs.items() if value is not OMIT}
    kwargs.update(cfg.grpo.extra)  # our defaults and every grpo.<TRL name> given
    kwargs.setdefault("data_seed", cfg.grpo.seed)
    return GRPOConfig(**kwargs)


def _jsonl_callback(path: Path):
    from transformers import TrainerCallback

    class JsonlMetrics(TrainerCallback):
        """Appends every log record (one JSON object a line, with its step) to ``metrics.jsonl``."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}, default=float) + "\n")

    return JsonlMetrics()


def _callbacks(cfg: TrainConfig) -> list[Any]:
    from s3.train.guard import signal_guard_callback

    out = [_jsonl_callback(Path(cfg.output_dir) / METRICS_FILE)] if "jsonl" in cfg.logging.report_to else []
    if cfg.logging.signal_guard_steps > 0:
        out.append(signal_guard_callback(cfg.logging.signal_guard_steps))
    return out


# ---------------------------------------------------------------- building and running


def build_trainer(
    cfg: TrainConfig,
    generator: Any | None = None,
    retriever: Any | None = None,
    policy: Any | None = None,
    reward_funcs: list[Any] | None = None,
) -> Any:
    """A ``trl.GRPOTrainer`` wired with the s3 rollout and reward.

    Args:
        cfg: the training config.
        generator, retriever: objects to use instead of building them from ``cfg``.
        policy: roll out with this backend instead of the trainer's own model (off-policy data, tests).
        reward_funcs: TRL reward functions to use instead of the s3 reward (the s3 reward object is
            still built and attached as ``trainer.s3_reward``).
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from s3.train.efficiency import score_only_completion_tokens

    score_only_completion_tokens()
    from datasets import Dataset
    from trl import GRPOTrainer

    from generators.factory import load_generator
    from retrievers.factory import load_retriever
    from s3.train.plan import check_devices, check_generator_served, check_plan, make_plan, plan_report

    cfg.check()
    # everything that can be refused is refused here, before any model loads on any rank
    plan = make_plan(cfg)
    check_plan(cfg, plan)
    check_devices(cfg, plan)
    if generator is None:
        check_generator_served(cfg)
    from s3.errors import check_model_source

    check_model_source(cfg.model, "model")
    for line in plan_report(cfg, plan).splitlines():
        (log.warning if line.startswith("note:") else log.info)("plan: %s", line)
    rows = load_rows(cfg.data.train_file, cfg.data.max_examples)
    retriever = retriever if retriever is not None else load_retriever(cfg.retriever)
    generator = generator if generator is not None else load_generator(cfg.generator)
    protocol = cfg.make_protocol()
    rollout = S3Rollout(cfg, rows, retriever, protocol, policy=policy)
    if protocol.name == "search-r1":  # the policy answers itself: reward on its own answer
        from s3.reward_r1 import AnswerReward, make_answer_reward_func

        reward = AnswerReward(cfg.answer_reward, generator=generator)
        reward_func = make_answer_reward_func(reward, rollout)
    else:
        reward = SearchReward(generator, cfg.reward)
        reward_func = make_reward_func(reward, rollout)
    dataset = Dataset.from_dict(
        {
            "prompt": [r["question"] for r in rows],
            "golden_answers": [list(r["golden_answers"]) for r in rows],
        }
    )
    model, tokenizer = _load_model(cfg, plan.precision.load_dtype)
    if cfg.grpo.train_top_layers:
        from s3.train.efficiency import train_top_layers

        train_top_layers(model, cfg.grpo.train_top_layers)
    peft_config = _lora_config(cfg)
    trainer = atomic_checkpoints(GRPOTrainer)(
        model=model,
        reward_funcs=reward_funcs or [reward_func],
        args=grpo_args(cfg, plan.launch.world_size),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        rollout_func=rollout,
        callbacks=_callbacks(cfg),
    )
    trainer.s3_reward = reward
    trainer.s3_rollout = rollout
    return trainer


def _load_model(cfg: TrainConfig, dtype: str = "float32") -> tuple[Any, Any]:
    """The searcher and its tokenizer; ``dtype`` is the precision plan's (fp32 unless an engine or
    PEFT keeps fp32 master weights: :func:`s3.train.plan.precision_plan`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s3.models import resolve_model

    path = resolve_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model, tokenizer


def _lora_config(cfg: TrainConfig) -> Any:
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def resume_checkpoint(cfg: TrainConfig) -> str | None:
    """The checkpoint to resume from: ``resume=auto`` finds the newest complete one in ``output_dir``
    (skipping damaged ones, see :mod:`s3.train.checkpoints`); a named one must be complete."""
    if cfg.resume == "never":
        return None
    if cfg.resume != "auto":
        try:
            check_checkpoint(cfg.resume)
        except CheckpointError as exc:
            raise ConfigError(f"resume: {exc}") from None
        return cfg.resume
    return find_resume_checkpoint(cfg.output_dir)


def warn_if_untaught(cfg: TrainConfig) -> None:
    """Warn when the model was warm-started under other rules than this run's (protocol, episode)."""
    from s3.searcher import load_searcher_config

    saved = load_searcher_config(cfg.model)
    diff = saved.mismatch(cfg.protocol, cfg.episode) if saved is not None else []
    if diff:
        log.warning(
            "%s was warm-started with %s, but this run differs (%s): the searcher was taught other rules; "
            "warm-start with the same --preset (s3 warmstart --preset %s)",
            cfg.model, f"preset {saved.preset}" if saved.preset else "other rules", "; ".join(diff),
            cfg.preset or "NAME",
        )  # fmt: skip


def train(cfg: TrainConfig, generator: Any | None = None, retriever: Any | None = None) -> dict[str, Any]:
    """Train the searcher; returns ``{"final_dir", "steps", "resumed_from", "log_history"}``.

    Writes ``output_dir/train_config.yaml``, ``checkpoint-N/`` every ``save_steps``, ``metrics.jsonl``
    and the final model in ``output_dir/final`` (plus ``final-merged`` with LoRA and ``save_merged``).
    """
    warn_if_untaught(cfg)
    trainer = build_trainer(cfg, generator=generator, retriever=retriever)
    out = Path(cfg.output_dir)
    resume = resume_checkpoint(cfg)
    if trainer.accelerator.is_main_process:
        save_config(cfg, out / CONFIG_FILE)
        shutil.rmtree(out / STAGING_DIR, ignore_errors=True)  # a save that was killed midway
        trim_metrics(out / METRICS_FILE, checkpoint_step(resume))  # steps after it are logged again
    trainer.accelerator.wait_for_everyone()
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    final = out / "final"
    trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        from s3.searcher import SearcherConfig, save_searcher_config

        trainer.processing_class.save_pretrained(str(final))
        # the checkpoint remembers its protocol and episode rules (Searcher.from_pretrained reads them)
        searcher_cfg = SearcherConfig.from_training(cfg)
        save_searcher_config(searcher_cfg, final)
        if cfg.lora.enabled and cfg.lora.save_merged:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out / "final-merged"))
            trainer.processing_class.save_pretrained(str(out / "final-merged"))
            save_searcher_config(searcher_cfg, out / "final-merged")
    trainer.accelerator.wait_for_everyone()
    return {
        "final_dir": str(final),
        "steps": trainer.state.global_step,
        "resumed_from": resume,
        "log_history": list(trainer.state.log_history),
    }
