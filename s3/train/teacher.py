"""Warm-start demonstrations from a teacher, kept by rejection sampling on the gain beyond RAG.

A teacher is any model that can play the searcher: a local model folder or hub id (run through
transformers), or a chat LLM behind an OpenAI-compatible endpoint (``vllm serve``, a hosted API,
``transformers serve``). It runs ``samples`` episodes per training question; each episode's turn
texts are replayed through the student's tokenizer and budgets (so what is kept is exactly what the
student is fine-tuned on), the frozen generator answers with the replayed context, and an episode
is kept when its gain beyond RAG (GenAcc with its context minus the cached naive-RAG GenAcc of the
row) exceeds ``min_gain``: rejection sampling. The best kept episode of a question is its
demonstration.

Example::

    teacher = TeacherConfig(kind="openai", model="Qwen/Qwen2.5-14B-Instruct", base_url="http://127.0.0.1:8000/v1")
    script, stats = teacher_script(rows, teacher, retriever, student_tokenizer, protocol, episode, rollout, generator)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s3.config import ConfigError, field
from s3.episode import EpisodeConfig
from s3.policy.base import Generation, PolicyBackend
from s3.rollout import RolloutConfig

log = logging.getLogger(__name__)


@dataclass
class TeacherConfig:
    """The teacher that writes demonstrations (``s3 warmstart source=teacher``)."""

    kind: str = field(
        "openai", help="openai (a chat endpoint) | transformers (a local model folder or hub id)"
    )
    model: str = field("", help="the served model name (openai) or the model folder / hub id (transformers)")
    base_url: str = field("", help="openai kind: the endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = field("OPENAI_API_KEY", help="openai kind: environment variable holding the API key")
    samples: int = field(4, help="episodes per training question")
    temperature: float = field(0.7, help="teacher sampling temperature")
    max_new_tokens: int = field(256, help="tokens per teacher turn")
    min_gain: float = field(
        0.0, help="keep episodes whose gain beyond RAG is above this (rejection sampling)"
    )
    device: str = field("auto", help="transformers kind: auto | cpu | cuda")

    def check(self) -> None:
        if self.kind not in ("openai", "transformers"):
            raise ConfigError(f"teacher.kind: {self.kind!r} is not one of ['openai', 'transformers']")
        if not self.model:
            raise ConfigError("teacher.model: required (a served model name, or a model folder / hub id)")
        if self.kind == "openai" and not self.base_url:
            raise ConfigError(
                "teacher.base_url: required for teacher.kind=openai, e.g. http://127.0.0.1:8000/v1"
            )
        if self.samples < 1:
            raise ConfigError(f"teacher.samples: must be >= 1, got {self.samples}")


class ChatPolicy(PolicyBackend):
    """A chat LLM (a :class:`~generators.base.Generator`) playing the searcher.

    The episode so far (the rendered prompt, the LLM's earlier turns and the observations) is decoded
    to text and sent as one user message; the reply is cut after the protocol's first stop string (kept,
    as the rollout expects) and tokenised with ``tokenizer``. Log-probabilities are ``None``: this
    backend writes demonstrations, it is not trained.
    """

    name = "chat"

    def __init__(self, generator: Any, tokenizer: Any) -> None:
        self.generator = generator
        self.tokenizer = tokenizer

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
        from generators.base import SamplingParams
        from s3.policy.scripted import _first_stop_end

        texts = [self.tokenizer.decode(list(p), skip_special_tokens=True) for p in prompts]
        sampling = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
        replies = self.generator.generate([[{"role": "user", "content": t}] for t in texts], sampling)
        out = []
        for reply in replies:
            cut = _first_stop_end(reply, stop)
            text = reply if cut is None else reply[:cut]
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            finish = "stop" if cut is not None else "length"
            out.append(Generation(ids[:max_new_tokens], None, finish))
        return out

    def close(self) -> None:
        self.generator.close()


def load_teacher(cfg: TeacherConfig, tokenizer: Any) -> PolicyBackend:
    """The teacher's policy backend (``tokenizer``: the student's, used by a chat teacher)."""
    cfg.check()
    if cfg.kind == "transformers":
        from s3.errors import check_model_source
        from s3.policy import load_policy

        check_model_source(cfg.model, "teacher.model")
        return load_policy(cfg.model, backend="transformers", device=cfg.device)
    from generators.factory import GeneratorConfig, load_generator

    gen_cfg = GeneratorConfig(
        kind="openai", model=cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env
    )
    return ChatPolicy(load_generator(gen_cfg), tokenizer)


def teacher_script(
    rows: Sequence[dict[str, Any]],
    teacher: PolicyBackend,
    retriever: Any,
    tokenizer: Any,
    protocol: Any,
    episode_cfg: EpisodeConfig,
    rollout_cfg: RolloutConfig,
    generator: Any,
    cfg: TeacherConfig,
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The kept demonstrations as turn texts per question, and counts of what was sampled and kept.

    Raises:
        ConfigError: a row without ``rag_genacc`` (the training file must come from ``s3 precompute``).
    """
    from evaluation.metrics import score_answers
    from s3.policy.scripted import ScriptedPolicy
    from s3.train.rows import run_rows

    for r in rows:
        if "rag_genacc" not in r:
            raise ConfigError(
                f"question {r['question']!r} has no rag_genacc: teacher demonstrations need the training "
                "file written by `s3 precompute` (its naive-RAG score is the baseline of the gain)"
            )
    sampled = [r for r in rows for _ in range(cfg.samples)]
    questions = [r["question"] for r in sampled]
    teacher_rollout = dataclasses.replace(
        rollout_cfg,
        temperature=cfg.temperature,
        top_p=1.0,
        max_new_tokens_per_turn=cfg.max_new_tokens,
        max_total_tokens=max(rollout_cfg.max_total_tokens, 4 * cfg.max_new_tokens + 2048),
        fixed_generate_calls=False,
        progress=False,
    )
    log.info("teacher: %d episodes (%d questions x %d samples)", len(questions), len(rows), cfg.samples)
    taught = run_rows(teacher, sampled, retriever, protocol, episode_cfg, teacher_rollout)
    turn_texts = [[t.text for t in traj.turns] for traj in taught]

    # replay each episode's turns through the student's tokenizer and budgets, one batch per sample index
    student_rollout = dataclasses.replace(rollout_cfg, fixed_generate_calls=False, progress=False)
    replayed = []
    for s in range(cfg.samples):
        idx = list(range(s, len(questions), cfg.samples))  # sample s of every row, rows in order
        script = {questions[i]: turn_texts[i] for i in idx}
        policy = ScriptedPolicy(tokenizer, script)
        trajs = run_rows(policy, rows, retriever, protocol, episode_cfg, student_rollout)
        replayed.extend(zip(idx, trajs))
    replayed.sort(key=lambda pair: pair[0])
    trajs = [t for _, t in replayed]
    contexts = [t.context() for t in trajs]
    answers = generator.answer_batch(questions, contexts)
    golds = [r["golden_answers"] for r in rows for _ in range(cfg.samples)]
    scores = score_answers(questions, answers, golds)
    script: dict[str, list[str]] = {}
    best: dict[str, float] = {}
    gains = []
    for i, (traj, score) in enumerate(zip(trajs, scores)):
        row = rows[i // cfg.samples]
        gain = float(score["genacc"]) - float(row["rag_genacc"])
        gains.append(gain)
        if traj.truncated or gain <= cfg.min_gain or gain <= best.get(row["question"], float("-inf")):
            continue
        best[row["question"]] = gain
        script[row["question"]] = [t.text for t in traj.turns]
    stats = {
        "episodes": len(trajs),
        "questions": len(rows),
        "kept_questions": len(script),
        "mean_gain": round(sum(gains) / max(1, len(gains)), 4),
        "positive_gain_episodes": sum(g > cfg.min_gain for g in gains),
    }
    log.info(
        "teacher: %d of %d episodes gained beyond RAG; demonstrations for %d of %d questions",
        stats["positive_gain_episodes"], stats["episodes"], stats["kept_questions"], stats["questions"],
    )  # fmt: skip
    return script, stats
