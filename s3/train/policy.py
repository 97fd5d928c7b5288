"""Policy backends that generate with the GRPO trainer's current model (used inside ``rollout_func``).

* :func:`trainer_hf_policy`: transformers ``generate`` on the trainer's model, unwrapped from
  DDP/DeepSpeed/FSDP for the duration of one rollout (ZeRO-3 parameters gathered once per rollout, not
  once per turn; without gathering, ``generate`` runs with ``synced_gpus`` so ranks stay in step).
* :class:`TrainerVLLMPolicy`: the trainer's vLLM engine (``trainer.vllm_generation``), colocated or a
  ``trl vllm-serve`` server; the trainer syncs the weights before it calls ``rollout_func``.

Multi-rank contract: every rank must make the same number of generation calls per rollout (the
rollout's ``fixed_generate_calls``) and, for vLLM server mode, pass the same number of prompts per
call with the same sampling settings. :class:`TrainerVLLMPolicy` therefore pads every call to a fixed
prompt count and always samples the per-turn budget; the rollout cuts each turn to its own budget.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from s3.policy.base import Generation, PolicyBackend
from s3.policy.hf import HFPolicy

log = logging.getLogger(__name__)


class _SyncedGenerate:
    """Forwards to a model, adding ``synced_gpus=True`` to ``generate`` (ZeRO-3 without gathering)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("synced_gpus", True)
        return self._model.generate(*args, **kwargs)


@contextlib.contextmanager
def trainer_hf_policy(trainer: Any, max_batch_size: int | None = None) -> Iterator[HFPolicy]:
    """An :class:`~s3.policy.hf.HFPolicy` on the trainer's model for one rollout.

    Args:
        trainer: a ``trl.GRPOTrainer``.
        max_batch_size: prompts per ``generate`` call (``None``: all at once).
    """
    import torch
    from trl.models.utils import unwrap_model_for_generation

    args = trainer.args
    gather = bool(getattr(args, "ds3_gather_for_generation", True))
    summon = getattr(getattr(trainer, "_dist", None), "summon_full_params", None)
    with (
        unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=gather,
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        ) as model,
        torch.no_grad(),
        summon(trainer.model_wrapped, recurse=False) if summon else contextlib.nullcontext(),
    ):
        zero3 = getattr(trainer, "is_deepspeed_enabled", False) and (
            trainer.accelerator.state.deepspeed_plugin.zero_stage == 3
        )
        target = _SyncedGenerate(model) if zero3 and not gather else model
        # rollouts compute in the training step's precision (bf16 mixed precision: autocast over fp32
        # weights, as the loss's forward does)
        autocast = "bf16" if getattr(args, "bf16", False) and _params_fp32(model) else None
        yield HFPolicy(target, trainer.processing_class, max_batch_size=max_batch_size, autocast=autocast)


def _params_fp32(model: Any) -> bool:
    import torch

    param = next(iter(model.parameters()), None)
    return param is not None and param.dtype == torch.float32


class TrainerVLLMPolicy(PolicyBackend):
    """Generates with ``trainer.vllm_generation`` (TRL's vLLM engine, colocated or server).

    Args:
        trainer: a ``trl.GRPOTrainer`` built with ``use_vllm=True``.
        fixed_batch: prompts per call after padding (the rollout's batch size, equal on every rank).
        max_new_tokens: tokens sampled per call, the same on every rank (the per-turn budget).
    """

    name = "trl-vllm"

    def __init__(self, trainer: Any, fixed_batch: int, max_new_tokens: int) -> None:
        self.trainer = trainer
        self.engine = trainer.vllm_generation
        self.tokenizer = trainer.processing_class
        self.fixed_batch = fixed_batch
        self.max_new_tokens = max_new_tokens
        self.calls = 0

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        # the call's temperature and top_p are the engine's for this call (the rollout passes the
        # trainer's, so the loss scores tokens as they were sampled); the per-call budget is fixed so
        # ranks agree
        if seed is not None:
            # vLLM seeds each request: the identical prompts of a GRPO group would get identical samples
            raise ValueError(
                "rollout.seed: the trainer's vLLM engine cannot seed one call without making the samples "
                "of a question identical; leave rollout.seed unset with vllm.enabled=true"
            )
        if len(prompts) > self.fixed_batch:
            raise ValueError(f"{len(prompts)} prompts in one call but fixed_batch={self.fixed_batch}")
        pad = [self.tokenizer.eos_token_id]
        padded = [list(p) for p in prompts] + [pad] * (self.fixed_batch - len(prompts))
        engine = self.engine
        names = ("max_completion_length", "generation_kwargs", "temperature", "top_p")
        saved = {name: getattr(engine, name) for name in names}
        engine.max_completion_length = self.max_new_tokens
        engine.generation_kwargs = {**(engine.generation_kwargs or {}), "stop": list(stop)}
        # vLLM treats temperature 0 as greedy; top_p is then irrelevant
        engine.temperature = max(0.0, temperature)
        engine.top_p = top_p if temperature > 0 else 1.0
        try:
            _, completion_ids, logprobs, _ = engine.generate(prompts=padded, images=None, num_generations=1)
        finally:
            for name, value in saved.items():
                setattr(engine, name, value)
        self.calls += 1
        out = []
        for i in range(len(prompts)):
            ids = list(completion_ids[i])
            # vLLM reports an unscorable token as None; NaN is what the trainer neutralises
            lps = (
                None if logprobs is None else [float("nan") if lp[0] is None else lp[0] for lp in logprobs[i]]
            )
            eos = self.tokenizer.eos_token_id
            finish = "stop" if (ids and ids[-1] == eos) or len(ids) < self.max_new_tokens else "length"
            out.append(Generation(ids, lps, finish))
        return out
