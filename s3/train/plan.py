"""The run plan of ``s3 train``, resolved and checked before any model loads (``s3 train --dry-run``).

A plan says what a training run will do on the machines it is launched on: the world size (from
``WORLD_SIZE``, which ``accelerate launch`` and ``torchrun`` set, or from an accelerate config file),
the per-rank batch split, the precision of the weights, the optimizer state and the compute, the
frozen generator the reward calls and the GenAcc settings of the naive-RAG baseline. :func:`check_plan`
refuses inconsistent settings with a :class:`~s3.config.ConfigError` that names the field to change.
None of it needs a GPU, a model download or a network call.

Precision (``grpo.bf16=true``): the weights the optimizer updates are fp32 on every path, because an
AdamW step at learning rate 1e-6 is below bf16's resolution for most weights and is rounded away.
DeepSpeed keeps fp32 master weights in its optimizer, FSDP2 upcasts trainable parameters to fp32, and
PEFT keeps LoRA adapters in fp32 (under ZeRO-3 DeepSpeed's optimizer holds them); the model is loaded
in bf16 there. On one device and under plain DDP no engine does, so the model is loaded in fp32 and
the forward and backward passes run in bf16 autocast.

Example::

    cfg = load_train_config(preset="7b")
    plan = make_plan(cfg, launch_settings(env={"WORLD_SIZE": "8"}))
    check_plan(cfg, plan)
    print(plan_report(cfg, plan))
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from s3.config import ConfigError

log = logging.getLogger(__name__)

#: where a ``trl vllm-serve`` server listens unless ``vllm.server_base_url`` says otherwise; not 8000,
#: the port every OpenAI-compatible generator server (``vllm serve``) takes by default
DEFAULT_VLLM_SERVER_URL = "http://127.0.0.1:8001"


# ---------------------------------------------------------------- launch settings


@dataclass
class LaunchSettings:
    """How the run is launched: processes and the engine accelerate wraps the model in."""

    world_size: int = 1
    source: str = "default (one process)"
    distributed_type: str = "NO"  # NO | MULTI_GPU | DEEPSPEED | FSDP (accelerate's names)
    zero_stage: int | None = None
    mixed_precision: str = "no"
    config_file: str | None = None

    @property
    def engine(self) -> str:
        if self.distributed_type == "DEEPSPEED":
            return f"DeepSpeed ZeRO-{self.zero_stage if self.zero_stage is not None else '?'}"
        if self.distributed_type == "FSDP":
            return "FSDP"
        if self.world_size > 1:
            return "DDP"
        return "one process"


def _read_accelerate_config(path: str) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--accelerate-config: {path} not found")
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"--accelerate-config: {path} is not a YAML mapping")
    return data


def launch_settings(
    accelerate_config: str | None = None,
    num_processes: int | None = None,
    env: Mapping[str, str] | None = None,
) -> LaunchSettings:
    """The launch this process runs under, or will run under.

    Precedence for the world size: ``num_processes`` (``--num-processes``), then ``WORLD_SIZE`` (set by
    ``accelerate launch`` and ``torchrun`` in every process), then the accelerate config file's
    ``num_processes`` (its total over all machines), then 1. The engine and mixed precision come from
    the file, or from the ``ACCELERATE_*`` variables ``accelerate launch`` exports.
    """
    env = os.environ if env is None else env
    out = LaunchSettings()
    path = accelerate_config
    if path:
        data = _read_accelerate_config(path)
        out.config_file = str(path)
        out.distributed_type = str(data.get("distributed_type", "NO")).upper()
        ds = data.get("deepspeed_config") or {}
        if out.distributed_type == "DEEPSPEED":
            out.zero_stage = int(ds.get("zero_stage", 0))
        out.mixed_precision = str(data.get("mixed_precision", "no"))
        if data.get("num_processes"):
            out.world_size = int(data["num_processes"])
            out.source = f"num_processes of {path}"
    else:
        if str(env.get("ACCELERATE_USE_DEEPSPEED", "")).lower() == "true":
            out.distributed_type = "DEEPSPEED"
            stage = env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
            out.zero_stage = int(stage) if stage else None
        elif str(env.get("ACCELERATE_USE_FSDP", "")).lower() == "true":
            out.distributed_type = "FSDP"
        out.mixed_precision = env.get("ACCELERATE_MIXED_PRECISION", "no")
    if env.get("WORLD_SIZE"):
        out.world_size = int(env["WORLD_SIZE"])
        out.source = "WORLD_SIZE"
    if num_processes:
        out.world_size = int(num_processes)
        out.source = "--num-processes"
    if out.world_size < 1:
        raise ConfigError(f"world size must be >= 1, got {out.world_size} ({out.source})")
    if out.distributed_type == "NO" and out.world_size > 1:
        out.distributed_type = "MULTI_GPU"
    return out


# ---------------------------------------------------------------- batch plan


@dataclass
class BatchPlan:
    """How one optimizer step's trajectories split over ranks and micro batches."""

    world_size: int
    questions_per_step: int  # after rounding to split evenly over the ranks
    requested_questions: int
    num_generations: int
    per_rank: int  # trajectories each rank rolls out and trains on per step
    micro_batch_size: int  # trajectories per forward/backward
    requested_micro_batch: int
    gradient_accumulation_steps: int

    @property
    def trajectories_per_step(self) -> int:
        return self.questions_per_step * self.num_generations


def batch_plan(grpo: Any, world_size: int) -> BatchPlan:
    """Split ``questions_per_step x num_generations`` trajectories over ``world_size`` ranks.

    ``questions_per_step`` is rounded up to the nearest count whose trajectories split evenly over
    the ranks (120 questions x 5 on 7 ranks: 126), and the micro batch is the largest divisor of the
    per-rank count that is at most ``micro_batch_size`` (75 a rank with 2 asked: 1). Either change
    is logged and shown by ``--dry-run``.
    """
    g = grpo
    step = world_size // math.gcd(g.num_generations, world_size)  # questions must be a multiple of this
    questions = -(-g.questions_per_step // step) * step
    per_rank = questions * g.num_generations // world_size
    micro = max(d for d in range(1, min(g.micro_batch_size, per_rank) + 1) if per_rank % d == 0)
    return BatchPlan(
        world_size=world_size,
        questions_per_step=questions,
        requested_questions=g.questions_per_step,
        num_generations=g.num_generations,
        per_rank=per_rank,
        micro_batch_size=micro,
        requested_micro_batch=g.micro_batch_size,
        gradient_accumulation_steps=per_rank // micro,
    )


# ---------------------------------------------------------------- precision plan


@dataclass
class PrecisionPlan:
    """Dtypes of the loaded weights, of what the optimizer updates, and of the compute."""

    load_dtype: str  # "float32" | "bfloat16": what from_pretrained loads
    compute: str  # "fp32" | "bf16 autocast"
    master_weights: str  # who keeps the fp32 copy the optimizer updates


def precision_plan(cfg: Any, launch: LaunchSettings) -> PrecisionPlan:
    """The precision path of a training run (see the module docstring for why each keeps fp32 weights)."""
    return precision_path(cfg.grpo.bf16, cfg.lora.enabled, launch)


def precision_path(bf16: bool, lora: bool, launch: LaunchSettings) -> PrecisionPlan:
    """The precision path of any fine-tuning run (GRPO or the warm start's SFT) under ``launch``."""
    if not bf16:
        return PrecisionPlan("float32", "fp32", "the weights themselves (fp32)")
    if launch.distributed_type == "DEEPSPEED":
        return PrecisionPlan("bfloat16", "bf16", "DeepSpeed's optimizer (fp32 master copy)")
    if launch.distributed_type == "FSDP":
        return PrecisionPlan("bfloat16", "bf16", "FSDP2 (trainable parameters upcast to fp32)")
    if lora:
        return PrecisionPlan("bfloat16", "bf16 autocast", "the LoRA adapters (fp32, PEFT)")
    return PrecisionPlan("float32", "bf16 autocast", "the weights themselves (loaded in fp32)")


# ---------------------------------------------------------------- endpoints


def _host_port(url: str) -> tuple[str, int]:
    p = urlparse(url if "://" in url else f"http://{url}")
    host = (p.hostname or "").lower()
    if host in ("localhost", "0.0.0.0", "::1", "::"):
        host = "127.0.0.1"
    return host, p.port or (443 if p.scheme == "https" else 80)


def vllm_server_url(cfg: Any) -> str:
    """The ``trl vllm-serve`` URL of server mode: ``vllm.server_base_url``, ``$S3_VLLM_SERVER_URL``, or
    :data:`DEFAULT_VLLM_SERVER_URL`."""
    return cfg.vllm.server_base_url or os.environ.get("S3_VLLM_SERVER_URL", "") or DEFAULT_VLLM_SERVER_URL


def generator_urls(cfg: Any) -> list[str]:
    """The frozen generator's endpoints (``openai`` kind; empty for the others)."""
    if cfg.generator.kind != "openai":
        return []
    urls = cfg.generator.base_url
    return [urls] if isinstance(urls, str) else list(urls)


# ---------------------------------------------------------------- the plan and its checks


@dataclass
class RunPlan:
    """Everything ``--dry-run`` prints, resolved from a :class:`~s3.train.config.TrainConfig`."""

    launch: LaunchSettings
    batch: BatchPlan
    precision: PrecisionPlan
    notes: list[str] = field(default_factory=list)


def make_plan(cfg: Any, launch: LaunchSettings | None = None) -> RunPlan:
    """Resolve the plan of ``cfg`` under ``launch`` (default: this process's :func:`launch_settings`)."""
    launch = launch or launch_settings()
    batch = batch_plan(cfg.grpo, launch.world_size)
    plan = RunPlan(launch=launch, batch=batch, precision=precision_plan(cfg, launch))
    if batch.questions_per_step != batch.requested_questions:
        plan.notes.append(
            f"grpo.questions_per_step {batch.requested_questions} -> {batch.questions_per_step}: "
            f"{batch.requested_questions} x {batch.num_generations} trajectories do not split over "
            f"{launch.world_size} ranks"
        )
    if batch.micro_batch_size != min(batch.requested_micro_batch, batch.per_rank):
        plan.notes.append(
            f"grpo.micro_batch_size {batch.requested_micro_batch} -> {batch.micro_batch_size}: the largest "
            f"size that divides the {batch.per_rank} trajectories a rank trains on per step"
        )
    return plan


def check_plan(cfg: Any, plan: RunPlan) -> None:
    """Refuse settings that cannot work together; each error names the field to change.

    Raises:
        ConfigError: the first inconsistency found.
    """
    launch = plan.launch
    if cfg.vllm.enabled:
        if cfg.vllm.importance_sampling_correction and cfg.rollout.top_p < 1.0:
            raise ConfigError(
                f"rollout.top_p: {cfg.rollout.top_p} with vllm.importance_sampling_correction=true; vLLM "
                "reports log-probs renormalised over the top-p nucleus while the trainer scores the whole "
                "vocabulary, so every trajectory's loss is scaled down (by at least top_p per token). Set "
                "rollout.top_p=1.0, or vllm.importance_sampling_correction=false"
            )
        if cfg.rollout.seed is not None:
            raise ConfigError(
                "rollout.seed: vLLM seeds each request, so the samples of one question would all be the "
                "same; leave rollout.seed unset (null) with vllm.enabled=true (grpo.seed seeds the run)"
            )
        if cfg.vllm.mode == "colocate" and launch.world_size % cfg.vllm.tensor_parallel_size:
            raise ConfigError(
                f"vllm.tensor_parallel_size: {cfg.vllm.tensor_parallel_size} does not divide the "
                f"{launch.world_size} ranks"
            )
        if cfg.vllm.mode == "server":
            server = vllm_server_url(cfg)
            for url in generator_urls(cfg):
                if _host_port(url) == _host_port(server):
                    raise ConfigError(
                        f"vllm.server_base_url: the policy's `trl vllm-serve` server ({server}) is the "
                        f"frozen generator's endpoint ({url}); serve them on different ports "
                        "(e.g. `trl vllm-serve --port 8001` and vllm.server_base_url=http://HOST:8001)"
                    )
    if cfg.grpo.bf16 and launch.mixed_precision not in ("no", "bf16"):
        raise ConfigError(
            f"grpo.bf16: true, but the accelerate config asks for mixed_precision={launch.mixed_precision}; "
            "use mixed_precision: bf16 there (configs/accelerate/ does) or grpo.bf16=false"
        )
    check_baseline_settings(cfg)


def check_devices(cfg: Any, plan: RunPlan) -> None:
    """Refuse, before any model loads, a run that needs a GPU on a machine without one.

    Raises:
        ConfigError: naming ``vllm.enabled`` or ``device`` (and pointing at ``--dry-run``).
    """
    import torch

    if torch.cuda.is_available():
        return
    hint = (
        "; `s3 train --dry-run` checks the config without a GPU, and --preset tiny (or device=cpu "
        "vllm.enabled=false grpo.bf16=false) trains on a CPU"
    )
    if cfg.vllm.enabled:
        raise ConfigError(f"vllm.enabled: vLLM rollouts need a CUDA GPU and none is visible here{hint}")
    if cfg.device == "cpu":
        return
    if plan.launch.distributed_type in ("DEEPSPEED", "FSDP"):
        raise ConfigError(f"device: {plan.launch.engine} needs CUDA GPUs and none is visible here{hint}")
    if cfg.grpo.bf16:
        raise ConfigError(
            f"device: grpo.bf16=true with device={cfg.device} asks for a GPU and none is visible here "
            f"(set device=cpu to run bf16 autocast on the CPU){hint}"
        )


def check_generator_served(cfg: Any, timeout: float = 10.0) -> None:
    """Ask each of the generator's endpoints which models it serves (``GET /models``) and refuse a
    ``generator.model`` it does not serve, before any model loads (a wrong name is a 404 at the first
    reward otherwise). An endpoint that does not answer is only logged: it may still be starting.

    Raises:
        ConfigError: naming ``generator.model`` and the models the endpoint serves.
    """
    import httpx

    for url in generator_urls(cfg):
        try:
            resp = httpx.get(url.rstrip("/") + "/models", timeout=timeout)
            resp.raise_for_status()
            served = [m.get("id") for m in resp.json().get("data", [])]
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("generator %s: could not list its models (%s); not checked", url, exc)
            continue
        if served and cfg.generator.model not in served:
            raise ConfigError(
                f"generator.model: {cfg.generator.model!r} is not served at {url} (it serves "
                f"{', '.join(map(repr, served))}); set generator.model to the served name, or serve "
                "that model (and precompute the naive-RAG cache with the same one)"
            )


def recorded_genacc_settings(path: str) -> tuple[list[dict[str, Any]], int]:
    """The distinct GenAcc settings a naive-RAG cache records, and how many entries record none."""
    from s3.precompute import load_rag_cache

    seen: list[dict[str, Any]] = []
    unrecorded = 0
    for entry in load_rag_cache(path).values():
        settings = entry.get("genacc_settings")
        if settings is None:
            unrecorded += 1
        elif settings not in seen:
            seen.append(settings)
    return seen, unrecorded


def check_baseline_settings(cfg: Any) -> list[dict[str, Any]]:
    """Refuse a naive-RAG cache whose GenAcc was computed otherwise than this run's reward.

    Returns the settings the cache records (empty when it records none, or there is no cache).

    Raises:
        ConfigError: the cache records other generator or judge settings, naming the fields, unless
            ``reward.check_baseline_settings=false``.
    """
    from s3.genacc_settings import describe_genacc_settings, genacc_settings

    if cfg.protocol == "search-r1" or cfg.reward.kind == "acc" or cfg.reward.baseline != "rag_cache":
        return []
    if not cfg.reward.rag_cache or not Path(cfg.reward.rag_cache).is_file():
        return []
    recorded, unrecorded = recorded_genacc_settings(cfg.reward.rag_cache)
    if unrecorded:
        log.warning(
            "%s: %d entries record no generator or GenAcc settings (an older cache); the baseline "
            "cannot be checked against this run's reward",
            cfg.reward.rag_cache,
            unrecorded,
        )
    expected = genacc_settings(cfg.generator, cfg.generator if cfg.reward.use_judge else None)
    differ = [s for s in recorded if s != expected]
    if differ and cfg.reward.check_baseline_settings:
        fields: set[str] = set()
        for s in differ:
            gen = s.get("generator") or {}
            fields.update(f"generator.{k}" for k, v in expected["generator"].items() if gen.get(k) != v)
            if s.get("judge") != expected["judge"]:
                fields.add("reward.use_judge")
        raise ConfigError(
            f"reward.rag_cache: {cfg.reward.rag_cache} was computed with "
            f"{describe_genacc_settings(differ[0])}, but this run's reward uses "
            f"{describe_genacc_settings(expected)}; the baseline must be the same GenAcc as the reward "
            f"(differs in: {', '.join(sorted(fields))}). Precompute again with the run's generator and judge "
            "(`s3 precompute generator.model=... judge.kind=openai judge.model=...`), set the run's "
            "fields to the cache's, or reward.check_baseline_settings=false to use it anyway"
        )
    return recorded


def _cache_note(cfg: Any) -> str:
    from s3.genacc_settings import describe_genacc_settings

    path = cfg.reward.rag_cache
    if not path:
        return ""
    if not Path(path).is_file():
        return " (not there yet)"
    recorded, unrecorded = recorded_genacc_settings(path)
    parts = [f"GenAcc = {describe_genacc_settings(r)}" for r in recorded]
    if unrecorded:
        parts.append(f"{unrecorded} entries record no settings")
    return f" ({'; '.join(parts)})"


def plan_report(cfg: Any, plan: RunPlan) -> str:
    """The human-readable plan ``s3 train --dry-run`` prints."""
    from s3.genacc_settings import describe_genacc_settings, genacc_settings

    b, p, launch = plan.batch, plan.precision, plan.launch
    lines = [
        f"model: {cfg.model or '<unset>'}   protocol: {cfg.protocol}   output_dir: {cfg.output_dir}",
        f"launch: {launch.world_size} rank(s) ({launch.source}); engine {launch.engine}"
        + (f"; accelerate config {launch.config_file}" if launch.config_file else "")
        + f"; mixed_precision {launch.mixed_precision}",
        f"batch: {b.questions_per_step} questions x {b.num_generations} samples = "
        f"{b.trajectories_per_step} trajectories a step; {b.per_rank} a rank = micro batch "
        f"{b.micro_batch_size} x {b.gradient_accumulation_steps} accumulation steps; {cfg.grpo.max_steps} steps",
        f"precision: load {p.load_dtype}, compute {p.compute}, fp32 weights kept by {p.master_weights}",
        f"rollout: {'vLLM ' + cfg.vllm.mode if cfg.vllm.enabled else 'transformers generate'}"
        + (f" at {vllm_server_url(cfg)}" if cfg.vllm.enabled and cfg.vllm.mode == "server" else "")
        + f"; temperature {cfg.rollout.temperature}, top_p {cfg.rollout.top_p}"
        + (
            f"; importance sampling {'on' if cfg.vllm.importance_sampling_correction else 'off'}"
            if cfg.vllm.enabled
            else ""
        ),
        f"episode: {cfg.episode.docs_per_search} docs a search, select <= {cfg.episode.select_cap}, "
        f"{cfg.episode.max_turns} searches, {cfg.episode.initial_k} initial docs "
        f"(include_initial={cfg.episode.include_initial}, unselected_block={cfg.episode.unselected_block})",
        f"generator: {cfg.generator.kind}"
        + (f" {cfg.generator.model!r} at {', '.join(generator_urls(cfg))}" if generator_urls(cfg) else "")
        + (f" {cfg.generator.model!r}" if cfg.generator.kind == "transformers" else ""),
    ]
    if cfg.protocol == "search-r1":
        lines.append(f"reward: {cfg.answer_reward.kind} of the policy's own answer")
    else:
        expected = genacc_settings(cfg.generator, cfg.generator if cfg.reward.use_judge else None)
        lines.append(f"reward: {cfg.reward.kind}; GenAcc = {describe_genacc_settings(expected)}")
        if cfg.reward.kind != "acc" and cfg.reward.baseline == "rag_cache":
            lines.append(f"baseline: naive-RAG cache {cfg.reward.rag_cache or '<unset>'}{_cache_note(cfg)}")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
