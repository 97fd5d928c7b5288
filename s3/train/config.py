"""The typed configuration of ``s3 train`` and its presets (``tiny`` for a CPU, ``7b`` for the paper's setting).

:class:`TrainConfig` pairs with :func:`s3.train.trainer.train`. Sections: the searcher episode
(:class:`~s3.episode.EpisodeConfig`: docs per search, selection cap, turns; see its docstring for what
a *turn* is), the rollout's sampling and token budgets (:class:`~s3.rollout.RolloutConfig`), the frozen
generator (:class:`~generators.factory.GeneratorConfig`), the reward (:class:`~s3.reward.RewardConfig`),
and the engine: GRPO, LoRA, vLLM and logging. The rollout's temperature and top-p are also the
trainer's (the log-probabilities the loss uses are computed at the sampling temperature).

The ``grpo`` section holds the settings that are ours (``questions_per_step``, ``micro_batch_size``,
``train_top_layers``) and any field of TRL's ``GRPOConfig`` by TRL's own name (``grpo.adam_beta2=0.99``),
checked against TRL's fields; :data:`GRPO_DEFAULTS` gives our defaults (the method's, passed to TRL
on every run), and :data:`TRL_FROM_OURS` is the one table of GRPOConfig fields set from settings of
ours under other names (``rollout.temperature`` -> ``temperature``, ``vllm.enabled`` -> ``use_vllm``).
``s3 train --help-config`` lists every field with TRL's help.

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

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from generators.factory import GeneratorConfig
from s3.config import ConfigError, close_matches, coerce, field, load_config, merge
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


#: Our defaults for ``trl.GRPOConfig`` fields (TRL's name -> (value, why)). They are passed to TRL on
#: every run, so a change of a TRL default cannot change a run; any other GRPOConfig field is TRL's
#: default unless set as ``grpo.<name>=value``.
GRPO_DEFAULTS: dict[str, tuple[Any, str]] = {
    "learning_rate": (1e-6, "AdamW learning rate, the reference's"),
    "lr_scheduler_type": ("constant", "constant schedule, no warm-up, as the reference"),
    "warmup_steps": (0.0, "no warm-up, as the reference"),
    "num_generations": (5, "trajectories sampled per question (the GRPO group); >= 2"),
    "max_steps": (20, "optimizer steps; >= 1"),
    "num_iterations": (1, "updates per generated batch (> 1 makes the clip active)"),
    "beta": (0.0, "KL coefficient to the initial model (k3 estimator); 0 loads no reference model"),
    "epsilon": (0.2, "lower clip of the probability ratio"),
    "epsilon_high": (0.28, "upper clip of the probability ratio (DAPO clip-higher)"),
    "loss_type": ("dapo", "token aggregation: dapo (token mean) | grpo | dr_grpo | bnpo | ..."),
    "scale_rewards": ("group", "advantage scaling: group | batch | none (Dr. GRPO)"),
    "mask_truncated_completions": (True, "no loss on trajectories cut by the token budget"),
    "entropy_coef": (0.0, "entropy bonus on policy tokens"),
    "max_grad_norm": (1.0, "gradient clipping"),
    "weight_decay": (0.0, "AdamW weight decay"),
    "gradient_checkpointing": (False, "trade compute for memory"),
    "bf16": (
        False,
        "bfloat16 compute; the optimizer still updates fp32 weights (s3 train --dry-run shows how)",
    ),
    "seed": (42, "seed of sampling, data order (data_seed, unless set) and initialisation"),
}


@functools.cache
def trl_grpo_fields() -> dict[str, dataclasses.Field]:
    """The fields of ``trl.GRPOConfig`` by name (imports TRL)."""
    import trl

    return {f.name: f for f in dataclasses.fields(trl.GRPOConfig) if f.init}


@functools.cache
def _trl_types() -> dict[str, Any]:
    import trl

    try:
        return typing.get_type_hints(trl.GRPOConfig)
    except Exception:  # an annotation this Python cannot resolve: take the values as given
        return {}


@dataclass
class GRPOSettings:
    """The GRPO update (TRL ``GRPOTrainer``); one *step* is one optimizer update.

    Besides the settings of ours below, any field of ``trl.GRPOConfig`` is set by its TRL name
    (``grpo.learning_rate=1e-5``, ``grpo.adam_beta2=0.99``) and read back as an attribute
    (``cfg.grpo.beta``); :data:`GRPO_DEFAULTS` holds our defaults, and the fields TRL gets from other
    settings of ours (:data:`TRL_FROM_OURS`) are refused here, naming ours.
    """

    #: keys not declared below are GRPOConfig fields, kept in ``extra`` (see :func:`s3.config.from_dict`)
    config_open_field: ClassVar[str] = "extra"

    questions_per_step: int = field(120, help="questions per optimizer step over all ranks")
    micro_batch_size: int = field(4, help="trajectories per forward/backward on one device")
    train_top_layers: int = field(
        0,
        help="train only the top N transformer blocks (embeddings frozen): a cheaper step; 0 = every weight",
    )
    extra: dict[str, Any] = field(
        default_factory=dict, help="trl.GRPOConfig fields by TRL's name (our defaults filled in)"
    )

    def __post_init__(self) -> None:
        given = self.extra
        self.extra = {name: value for name, (value, _) in GRPO_DEFAULTS.items()}
        for name, value in given.items():
            self.extra[name] = _check_trl_field(name, value)
        if self.num_generations < 2:
            raise ConfigError(
                f"grpo.num_generations: GRPO needs >= 2 samples per question, got {self.num_generations}"
            )
        for name in ("questions_per_step", "micro_batch_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"grpo.{name}: must be >= 1, got {getattr(self, name)}")

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no setting {name!r} (set it as grpo.{name}=...)")

    @classmethod
    def describe_open(cls, prefix: str, value: dict[str, Any] | None) -> list[str]:
        """``--help-config`` lines of the GRPOConfig fields: ours first, then TRL's, each with TRL's help."""
        fields = trl_grpo_fields()
        value = value if value is not None else {n: v for n, (v, _) in GRPO_DEFAULTS.items()}
        lines = []
        for name in [*GRPO_DEFAULTS, *sorted(set(fields) - set(GRPO_DEFAULTS) - set(TRL_FROM_OURS))]:
            f = fields[name]
            if name in value:
                shown = value[name]
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                shown = f.default_factory()  # type: ignore[misc]
            else:
                shown = f.default
            trl_help = " ".join((f.metadata.get("help") or "").split())
            first = trl_help.split(". ")[0].rstrip(".")
            ours = f"ours: {GRPO_DEFAULTS[name][1]}; " if name in GRPO_DEFAULTS else ""
            lines.append(f"{prefix}{name} = {shown!r}  # {ours}TRL: {first[:160]}")
        return lines


def _check_trl_field(name: str, value: Any) -> Any:
    """A GRPOConfig value given by TRL's name, read as TRL's (or our default's) type.

    Raises:
        ConfigError: a setting of ours, a field TRL gets from another setting, or no GRPOConfig field.
    """
    where = f"grpo.{name}"
    if name in {f.name for f in dataclasses.fields(GRPOSettings)}:
        raise ConfigError(f"grpo.extra.{name}: a setting of ours, not TRL's; set it as {where}")
    if name in TRL_FROM_OURS:
        source = TRL_FROM_OURS[name][0]
        raise ConfigError(f"{where}: TRL's {name} is set by s3 from {source}; set that instead")
    if name in GRPO_DEFAULTS:
        return coerce(value, type(GRPO_DEFAULTS[name][0]), where)
    fields = trl_grpo_fields()
    if name not in fields:
        import trl

        raise ConfigError(
            f"{where}: neither a setting of ours nor a field of trl.GRPOConfig (TRL {trl.__version__})"
            f"{close_matches(name, [*fields, 'questions_per_step', 'micro_batch_size', 'train_top_layers'])}"
        )
    return coerce(value, _trl_types().get(name, Any), where)


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


#: a value of :data:`TRL_FROM_OURS` that leaves the GRPOConfig field at TRL's default
OMIT = object()


def _vllm_server_url(cfg: TrainConfig, batch: Any) -> Any:
    from s3.train.plan import vllm_server_url

    return vllm_server_url(cfg) if cfg.vllm.enabled and cfg.vllm.mode == "server" else OMIT


#: The GRPOConfig fields set from settings of ours, the one table of names that differ from TRL's:
#: TRL's name -> (our setting, its value from the config and the batch plan of
#: :func:`s3.train.plan.batch_plan`). ``grpo.<name>`` of one of these is refused, naming ours.
TRL_FROM_OURS: dict[str, tuple[str, Callable[[TrainConfig, Any], Any]]] = {
    "output_dir": ("output_dir", lambda c, b: c.output_dir),
    "per_device_train_batch_size": ("grpo.micro_batch_size (per rank)", lambda c, b: b.micro_batch_size),
    "gradient_accumulation_steps": (
        "grpo.questions_per_step x grpo.num_generations / ranks / micro batch",
        lambda c, b: b.gradient_accumulation_steps,
    ),
    # the loss must score tokens at the temperature they were sampled with
    "temperature": (
        "rollout.temperature",
        lambda c, b: c.rollout.temperature if c.rollout.temperature > 0 else 1.0,
    ),
    "top_p": ("rollout.top_p", lambda c, b: c.rollout.top_p),
    # what dr_grpo divides by: the real budget, documents included
    "max_completion_length": ("rollout.max_total_tokens", lambda c, b: c.rollout.max_total_tokens),
    "use_vllm": ("vllm.enabled", lambda c, b: c.vllm.enabled),
    "vllm_mode": ("vllm.mode", lambda c, b: c.vllm.mode),
    "vllm_gpu_memory_utilization": (
        "vllm.gpu_memory_utilization",
        lambda c, b: c.vllm.gpu_memory_utilization,
    ),
    "vllm_tensor_parallel_size": ("vllm.tensor_parallel_size", lambda c, b: c.vllm.tensor_parallel_size),
    "vllm_enable_sleep_mode": ("vllm.enable_sleep_mode", lambda c, b: c.vllm.enable_sleep_mode),
    "vllm_importance_sampling_correction": (
        "vllm.importance_sampling_correction",
        lambda c, b: c.vllm.importance_sampling_correction,
    ),
    "vllm_server_base_url": ("vllm.server_base_url", _vllm_server_url),
    "report_to": (
        "logging.report_to",
        lambda c, b: [s for s in c.logging.report_to if s not in ("jsonl", "none")] or "none",
    ),
    "logging_steps": ("logging.logging_steps", lambda c, b: c.logging.logging_steps),
    "log_completions": ("logging.log_completions", lambda c, b: c.logging.log_completions),
    "disable_tqdm": ("logging.progress", lambda c, b: not c.logging.progress),
    "run_name": ("logging.run_name", lambda c, b: c.logging.run_name or OMIT),
    "save_strategy": ("save_steps", lambda c, b: "steps" if c.save_steps > 0 else "no"),
    "save_steps": ("save_steps", lambda c, b: max(c.save_steps, 1)),
    "save_total_limit": ("save_total_limit", lambda c, b: c.save_total_limit or None),
    "use_cpu": ("device", lambda c, b: c.device == "cpu"),
    # the reward reads the rollout's own columns (trajectory, golden_answers)
    "remove_unused_columns": ("the rollout (always false)", lambda c, b: False),
    "shuffle_dataset": ("the data order (always true; grpo.seed)", lambda c, b: True),
}


#: a 7B searcher on GPUs (the ``7b`` and ``search-r1`` presets)
_GPU_7B: dict[str, Any] = {
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "grpo": {
        "learning_rate": 1e-6,
        "num_generations": 5,
        "micro_batch_size": 2,
        "beta": 0.001,
        "gradient_checkpointing": True,
        "bf16": True,
    },
    "vllm": {"enabled": True, "mode": "colocate", "gpu_memory_utilization": 0.4},
}

#: a small searcher on a CPU with the offline generator (the tiny and 135m presets)
_CPU: dict[str, Any] = {
    # top-p 1.0 everywhere: see the module docstring (vLLM importance sampling)
    "rollout": {"max_obs_tokens": 256, "max_total_tokens": 1024, "top_p": 1.0},
    "generator": {"kind": "offline"},
    "grpo": {"num_generations": 4},
    "device": "cpu",
    "save_steps": 0,
}

#: s3 on a CPU: the brief protocol, one search of 3 documents after the 3 naive-RAG documents
_S3_CPU: dict[str, Any] = merge(
    _CPU,
    {
        "protocol": "s3-brief",
        "episode": {"docs_per_search": 3, "select_cap": 3, "max_turns": 1, "initial_k": 3},
        "reward": {"kind": "gbr", "baseline": "rag_cache"},
        "grpo": {"questions_per_step": 8},
    },
)

#: Search-R1 mode (protocol=search-r1): one model searches and answers, rewarded on its own answer
_SEARCH_R1: dict[str, Any] = {
    "protocol": "search-r1",
    "episode": {**R1_EPISODE_RULES},  # written once, in s3.protocol_r1
    "answer_reward": {"kind": "em", "format_weight": 0.0},
}

_SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"

#: each preset: a base above plus what is its own (deep-merged, :func:`s3.config.merge`)
PRESETS: dict[str, dict[str, Any]] = {
    "7b": merge(
        _GPU_7B,
        {
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
            "grpo": {"questions_per_step": 120, "max_steps": 20, "entropy_coef": 0.001},
            "save_steps": 10,
        },
    ),
    # only selected documents reach the generator (the paper's rule, initial block included): on the
    # embedded task a tiny searcher learns *selection* within minutes (copying a bridge entity into a
    # query takes it far longer; see tests/s3/test_train_learning.py)
    "tiny": merge(
        _S3_CPU,
        {
            "episode": {"include_initial": "if_unselected", "unselected_block": "none"},
            "rollout": {"max_new_tokens_per_turn": 24, "temperature": 1.0},
            "grpo": {"learning_rate": 1e-3, "micro_batch_size": 16, "max_steps": 15},
        },
    ),
    # a small pretrained instruction-tuned searcher on a CPU (SmolLM2-135M-Instruct, installed from
    # PyPI): every document reaching the generator; what it learns is *which name to look up* (a
    # 2-hop question's bridge)
    "135m": merge(
        _S3_CPU,
        {
            "model": _SMOLLM2,
            "episode": {"include_initial": "always", "unselected_block": "all", "final_turn": False},
            "rollout": {"max_new_tokens_per_turn": 40, "temperature": 0.7},
            "grpo": {"learning_rate": 1e-4, "micro_batch_size": 8, "max_steps": 12, "train_top_layers": 15},
        },
    ),
    "search-r1": merge(
        merge(_GPU_7B, _SEARCH_R1),
        {
            "rollout": {
                "max_new_tokens_per_turn": 500,
                "max_obs_tokens": 500,
                "max_total_tokens": 4096,
                "temperature": 1.0,
                "top_p": 1.0,
            },
            "grpo": {"questions_per_step": 512, "max_steps": 1005},
            "save_steps": 100,
        },
    ),
    # Search-R1 mode with the same small pretrained model on a CPU (the demo's comparison row)
    "search-r1-135m": merge(
        merge(_CPU, _SEARCH_R1),
        {
            "model": _SMOLLM2,
            "episode": {"max_turns": 2},
            "rollout": {"max_new_tokens_per_turn": 40, "temperature": 0.7},
            "grpo": {
                "learning_rate": 1e-4,
                "questions_per_step": 4,
                "micro_batch_size": 8,
                "max_steps": 2,
                "train_top_layers": 15,
            },
        },
    ),
    "search-r1-tiny": merge(
        merge(_CPU, _SEARCH_R1),
        {
            "episode": {"max_turns": 2},
            "rollout": {"max_new_tokens_per_turn": 24, "temperature": 1.0},
            "grpo": {"learning_rate": 5e-4, "questions_per_step": 4, "micro_batch_size": 16, "max_steps": 10},
        },
    ),
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
