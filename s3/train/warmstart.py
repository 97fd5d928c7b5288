"""Supervised warm start: teach a small searcher the protocol from demonstrations (TRL ``SFTTrainer``).

A model too small to follow the tag protocol zero-shot first imitates demonstration trajectories.
Where they come from is ``source``:

* ``scripted``: on the embedded task, a scripted searcher that knows the ground truth
  (:func:`oracle_turns`): it selects the supporting documents it sees, searches for the bridge entity
  when the answer's document is missing, and stops.
* ``gold``: on data that names its supporting passages (HotpotQA-style ``supporting_facts``,
  ``supporting_doc_ids`` or ``gt_docs``): select the gold passages seen, search for a missing one by
  its title, stop (:mod:`s3.train.gold`).
* ``teacher``: a teacher model (a chat endpoint or a local model) plays the searcher; its episodes
  that gain beyond naive RAG are kept (rejection sampling, :mod:`s3.train.teacher`).
* ``none``: no demonstrations: the model is saved as it is, with the preset's rules, to start GRPO
  from an instruction-tuned model as the paper does.
* ``auto`` (default): ``scripted`` when the rows carry the embedded task's ground truth, else
  ``gold`` when they name supporting passages; otherwise an error naming the choices.

``s3 warmstart --preset NAME`` takes the protocol, episode rules and token budgets of a training
preset, so the warm start teaches the rules that ``s3 train --preset NAME`` trains under. The
demonstrations (scripted or gold) are produced by the real
rollout (:class:`~s3.policy.scripted.ScriptedPolicy` through :func:`~s3.rollout.run_rollout`), so
their tokens, observations and environment mask are exactly what GRPO later trains on; the SFT loss
covers only the tokens the searcher writes (``completion_mask`` = the environment mask).

Example::

    cfg = load_config(WarmstartConfig, overrides=["model=runs/tiny", "retriever=runs/pre/index",
                                                  "train_file=runs/pre/train.jsonl"],
                      preset=warmstart_preset("tiny"))
    path = warmstart(cfg)          # runs/warmstart/final
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.factory import GeneratorConfig
from s3.config import ConfigError, field, save_config
from s3.episode import EpisodeConfig
from s3.models import resolve_model
from s3.protocol import PROTOCOL_OPTIONS_HELP
from s3.rollout import RolloutConfig, Trajectory
from s3.train.gold import gold_keys, gold_turns, select_ids, turn_text
from s3.train.rows import load_rows, row_initial_docs, run_rows
from s3.train.teacher import TeacherConfig

SOURCES = ("auto", "scripted", "gold", "teacher", "none")

log = logging.getLogger(__name__)


@dataclass
class WarmstartConfig:
    """Configuration of ``s3 warmstart``."""

    model: str = field("", help="the searcher to warm-start (a model folder or hub id)")
    source: str = field(
        "auto",
        help="demonstrations: scripted (embedded task) | gold (supporting passages) | teacher (rejection "
        "sampling of a teacher's episodes) | none (save the model as is) | auto (scripted, else gold)",
    )
    teacher: TeacherConfig = field(default_factory=TeacherConfig, help="source=teacher: the teacher model")
    generator: GeneratorConfig = field(
        default_factory=GeneratorConfig, help="source=teacher: the frozen generator that scores its episodes"
    )
    preset: str = field(
        "", help="the preset these rules came from (set by --preset; the checkpoint records it)"
    )
    output_dir: str = field("runs/warmstart", help="the warm-started model goes to output_dir/final")
    retriever: str = field("", help="retriever spec (the demonstrations search with it)")
    train_file: str = field("", help="training rows with ground truth (embedded task, from `s3 precompute`)")
    protocol: str = field("s3", help="the searcher's tag language")
    protocol_options: dict[str, Any] = field(default_factory=dict, help=PROTOCOL_OPTIONS_HELP)
    episode: EpisodeConfig = field(
        default_factory=EpisodeConfig, help="docs per search, selection cap, turns"
    )
    rollout: RolloutConfig = field(
        default_factory=lambda: RolloutConfig(temperature=0.0, top_p=1.0),
        help="token budgets of demonstrations",
    )
    max_examples: int = field(0, help="demonstrations to build (0 = every training row)")
    skip_search_rate: float = field(
        0.0, help="share of demonstrations that stop without the search they need (imperfect demonstrations)"
    )
    select_noise_rate: float = field(
        0.0,
        help="share of selections replaced by a wrong one (imperfect demonstrations leave RL room to improve)",
    )
    query_noise_rate: float = field(
        0.0,
        help="share of demonstrated searches that look up the wrong name of the window (another entity its "
        "documents mention: a reader's typical confusion; imperfect demonstrations leave RL room to improve)",
    )
    answer_noise_rate: float = field(
        0.0,
        help="Search-R1 mode: share of demonstrations that answer with a guess (the most common training "
        "answer) instead of what the documents say (imperfect demonstrations leave RL room to improve)",
    )
    epochs: float = field(3.0, help="passes over the demonstrations")
    max_steps: int = field(0, help="optimizer steps (0 = from epochs)")
    learning_rate: float = field(1e-4, help="AdamW learning rate")
    batch_size: int = field(8, help="demonstrations per optimizer step on one device")
    lora: bool = field(False, help="train LoRA adapters (r=16) instead of all weights")
    bf16: bool = field(False, help="bfloat16 compute; the optimizer still updates fp32 weights")
    train_top_layers: int = field(
        0,
        help="train only the top N transformer blocks (embeddings frozen): a cheaper step; 0 = every weight",
    )
    seed: int = field(0, help="seed of data order and the demonstration noise")
    device: str = field("auto", help="auto | cpu")
    progress: bool = field(True, help="show a progress bar")

    def check(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"source: {self.source!r} is not one of {list(SOURCES)}")
        for name in ("model",) if self.source == "none" else ("model", "retriever", "train_file"):
            if not getattr(self, name):
                raise ConfigError(f"{name}: required (see `s3 warmstart --help-config`)")
        if self.source == "teacher":
            self.teacher.check()
        for name in ("skip_search_rate", "select_noise_rate", "query_noise_rate", "answer_noise_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}: must be in [0, 1], got {getattr(self, name)}")
        self.make_protocol()

    def make_protocol(self) -> Any:
        """The protocol instance (``protocol`` with ``protocol_options``); bad options raise ConfigError."""
        from s3.protocol_registry import protocol_from_config

        return protocol_from_config(self.protocol, self.protocol_options)


def oracle_turns(
    row: dict[str, Any],
    retriever: Any,
    episode_cfg: EpisodeConfig,
    skip_search: bool = False,
    select_noise: float = 0.0,
    rng: random.Random | None = None,
    query_noise: float = 0.0,
) -> list[str]:
    """The turn texts of a scripted searcher that uses the row's ground truth.

    Needs ``row["meta"]`` (or the row itself) with ``supporting_doc_ids``, ``answer_doc_id`` and
    ``ideal_queries``, as the embedded task writes them. The searcher selects the supporting documents
    of each window, searches the next ideal query while the answer's document is missing (simulating
    the retriever to know what it will see), and stops. ``skip_search`` stops at once instead;
    ``select_noise`` is the chance that a window's selection is replaced by a wrong one (other ids,
    or none), and ``query_noise`` the chance that a search looks up another name of the window
    (:func:`wrong_query`) instead of the ideal one, both drawn from ``rng``.

    Raises:
        ConfigError: the row has no ground truth.
    """
    truth = row.get("meta", row)
    if "supporting_doc_ids" not in truth or "ideal_queries" not in truth:
        raise ConfigError(
            f"question {row.get('id', row['question'])!r} has no ground truth (supporting_doc_ids, ideal_queries): "
            "scripted demonstrations need the embedded task's files"
        )
    wanted = set(truth["supporting_doc_ids"])
    answer_id = truth.get("answer_doc_id")
    window = (row_initial_docs(row) or [])[: episode_cfg.initial_k]
    queries = list(truth["ideal_queries"])
    turns: list[str] = []
    searches = 0
    rng = rng or random.Random(0)
    while True:
        selected: list[int] | None = select_ids(window, wanted, episode_cfg.select_cap)
        if not _selection_matters(episode_cfg, searches):
            selected = None
        elif select_noise and rng.random() < select_noise:
            others = [i for i in range(1, len(window) + 1) if i not in selected]
            selected = sorted(
                rng.sample(others, rng.randint(0, min(len(others), episode_cfg.select_cap or 3)))
            )
        found = answer_id is None or any(d.id == answer_id for d in window)
        can_search = episode_cfg.search_allowed(searches, len(turns) + 1)
        if found or not queries or not can_search or skip_search:
            turns.append(turn_text(selected, True))
            return turns
        query = queries.pop(0)
        if query_noise and rng.random() < query_noise:
            query = wrong_query(window, row["question"], query, rng) or query
        turns.append(turn_text(selected, False, query))
        window = retriever.search([query], episode_cfg.docs_per_search)[0]
        searches += 1


def _selection_matters(episode_cfg: EpisodeConfig, searches: int) -> bool:
    """Whether a selection from the current window changes the generator's context."""
    if not episode_cfg.use_selection:
        return False
    return not (searches == 0 and episode_cfg.include_initial in ("always", "never"))


_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def wrong_query(docs: Sequence[Any], question: str, right: str, rng: random.Random) -> str | None:
    """Another name the documents mention (not the right query, not in the question), drawn from
    ``rng``; ``None`` when there is none. A search for it is the plausible mistake of a reader who
    picked the wrong entity: the founder's employer instead of the founder, the home town instead of
    the birthplace."""
    words = set(question.split())
    names = {
        m.group(0)
        for d in docs
        for m in _NAME_RE.finditer(d.text)
        if m.group(0) != right.strip() and not set(m.group(0).split()) & words
    }
    return rng.choice(sorted(names)) if names else None


def warmstart_preset(name: str) -> dict[str, Any]:
    """The partial :class:`WarmstartConfig` a preset fixes: protocol, episode rules, token budgets
    (demonstrations stay greedy) and the preset's name (:func:`s3.presets.searcher_settings`)."""
    from s3.presets import searcher_settings

    settings = searcher_settings(name)
    out: dict[str, Any] = {"preset": name, "episode": settings["episode"]}
    if "protocol" in settings:
        out["protocol"] = settings["protocol"]
        out["protocol_options"] = settings["protocol_options"]
        out["rollout"] = {"temperature": 0.0, "top_p": 1.0, **settings["rollout"]}
    return out


def resolve_source(source: str, rows: Sequence[dict[str, Any]]) -> str:
    """``auto`` -> ``scripted`` (rows with the embedded task's ground truth) or ``gold`` (rows naming
    supporting passages); other sources are returned as given.

    Raises:
        ConfigError: ``auto`` on rows with neither, naming the choices.
    """
    if source != "auto":
        return source
    truth = rows[0].get("meta", rows[0]) if rows else {}
    if "ideal_queries" in truth and "supporting_doc_ids" in truth:
        return "scripted"
    if rows and all(gold_keys(r)[0] for r in rows):
        return "gold"
    raise ConfigError(
        "source: the training rows carry neither the embedded task's ground truth nor supporting passages; "
        "choose source=teacher (teacher.model=..., rejection sampling) or source=none (start from an "
        "instruction-tuned model)"
    )


def build_demonstrations(
    rows: Sequence[dict[str, Any]],
    retriever: Any,
    tokenizer: Any,
    protocol: Any,
    episode_cfg: EpisodeConfig,
    rollout_cfg: RolloutConfig,
    skip_search_rate: float = 0.0,
    seed: int = 0,
    select_noise_rate: float = 0.0,
    answer_noise_rate: float = 0.0,
    source: str = "scripted",
    query_noise_rate: float = 0.0,
    script: dict[str, list[str]] | None = None,
) -> list[Trajectory]:
    """Demonstration trajectories: the scripted searcher's turns run through the real rollout.

    ``source="gold"`` scripts the turns from the rows' supporting passages (:func:`gold_turns`);
    ``script`` (question -> turn texts, e.g. a teacher's kept episodes) replays given turns.

    ``select_noise_rate`` and ``query_noise_rate`` (s3 protocols) and ``answer_noise_rate`` (Search-R1 mode: the answer is the
    most common gold answer of ``rows``, a guess that ignores the documents) make demonstrations imperfect.
    """
    from s3.policy.scripted import ScriptedPolicy

    rng = random.Random(seed)
    r1 = getattr(protocol, "name", "s3") == "search-r1"  # the model answers itself: Search-R1 demonstrations
    if answer_noise_rate and not r1:
        raise ConfigError("answer_noise_rate: only Search-R1 mode demonstrations answer (protocol=search-r1)")
    guess = _most_common_answer(rows) if answer_noise_rate else None
    from s3.task.demonstrations_r1 import r1_oracle_turns

    given = script
    script = {}
    for r in rows:
        if given is not None:
            script[r["question"]] = list(given[r["question"]])
            continue
        skip = rng.random() < skip_search_rate
        if source == "gold":
            turns = gold_turns(r, retriever, episode_cfg)
        elif r1:
            noisy = bool(answer_noise_rate) and rng.random() < answer_noise_rate
            turns = r1_oracle_turns(r, retriever, episode_cfg, skip, answer=guess if noisy else None)
        else:
            turns = oracle_turns(
                r,
                retriever,
                episode_cfg,
                skip,
                select_noise=select_noise_rate,
                rng=rng,
                query_noise=query_noise_rate,
            )
        script[r["question"]] = turns
    policy = ScriptedPolicy(tokenizer, script)
    rcfg = dataclasses.replace(rollout_cfg, fixed_generate_calls=False, progress=False)
    return run_rows(policy, rows, retriever, protocol, episode_cfg, rcfg)


def _most_common_answer(rows: Sequence[dict[str, Any]]) -> str:
    """The most frequent first gold answer (ties: the first seen), a document-blind guess."""
    firsts = [a if isinstance(a, str) else a[0] for a in (r.get("golden_answers") for r in rows) if a]
    if not firsts:
        raise ConfigError("answer_noise_rate: the training rows have no golden_answers to guess from")
    return Counter(firsts).most_common(1)[0][0]


def demonstration_dataset(trajs: Sequence[Trajectory]) -> Any:
    """A tokenised SFT dataset: ``input_ids`` and ``completion_mask`` (1 only on policy-written tokens)."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "input_ids": [list(t.prompt_ids) + list(t.completion_ids) for t in trajs],
            "completion_mask": [[0] * len(t.prompt_ids) + list(t.env_mask) for t in trajs],
        }
    )


def warmstart(cfg: WarmstartConfig, retriever: Any | None = None) -> Path:
    """Build the demonstrations and fine-tune ``cfg.model`` on them; returns ``output_dir/final``.

    ``output_dir`` also gets ``warmstart_config.yaml`` and, for ``source=teacher``, ``teacher.json``
    (episodes sampled, episodes that gained beyond RAG, questions with a demonstration). The final
    folder's ``s3_searcher.json`` records the protocol, episode rules, token budgets and preset.

    Raises:
        ConfigError: no source fits the data (``auto``), or the teacher never gained beyond RAG.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from retrievers.factory import load_retriever

    cfg.check()
    out = Path(cfg.output_dir)
    final = out / "final"
    if cfg.source == "none":
        return _save_as_is(cfg, final)
    rows = load_rows(cfg.train_file, cfg.max_examples)
    source = resolve_source(cfg.source, rows)
    protocol = cfg.make_protocol()
    if source == "gold" and getattr(protocol, "name", "s3") == "search-r1":
        raise ConfigError(
            "source=gold writes s3-protocol turns; warm-start Search-R1 mode with source=teacher"
        )
    retriever = retriever if retriever is not None else load_retriever(cfg.retriever)
    model_path = resolve_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    script = None
    if source == "teacher":
        from generators.factory import load_generator
        from s3.train.teacher import load_teacher, teacher_script

        teacher = load_teacher(cfg.teacher, tokenizer)
        generator = load_generator(cfg.generator)
        try:
            script, stats = teacher_script(
                rows,
                teacher,
                retriever,
                tokenizer,
                protocol,
                cfg.episode,
                cfg.rollout,
                generator,
                cfg.teacher,
            )
        finally:
            teacher.close()
            generator.close()
        out.mkdir(parents=True, exist_ok=True)
        (out / "teacher.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        if not script:
            raise ConfigError(
                f"teacher: none of its {stats['episodes']} episodes gained beyond naive RAG, so there is nothing "
                "to imitate; raise teacher.samples, use a stronger teacher.model, or source=none"
            )
        rows = [r for r in rows if r["question"] in script]
    trajs = build_demonstrations(
        rows,
        retriever,
        tokenizer,
        protocol,
        cfg.episode,
        cfg.rollout,
        cfg.skip_search_rate,
        cfg.seed,
        cfg.select_noise_rate,
        cfg.answer_noise_rate,
        source=source,
        script=script,
        query_noise_rate=cfg.query_noise_rate,
    )
    dataset = demonstration_dataset(trajs)
    log.info(
        "warm start (%s) on %d demonstrations (%d policy tokens)",
        source, len(trajs), sum(sum(t.env_mask) for t in trajs),
    )  # fmt: skip
    from s3.train.plan import launch_settings, precision_path

    # bf16 compute over fp32 weights unless an engine or PEFT keeps them (as in GRPO training)
    dtype = precision_path(cfg.bf16, cfg.lora, launch_settings()).load_dtype
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
    from s3.train.efficiency import score_only_completion_tokens, train_top_layers

    score_only_completion_tokens()
    if cfg.train_top_layers:
        train_top_layers(model, cfg.train_top_layers)
    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        lr_scheduler_type="constant",
        completion_only_loss=True,
        max_length=None,
        bf16=cfg.bf16,
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=10,
        disable_tqdm=not cfg.progress,
        use_cpu=cfg.device == "cpu",
        gradient_checkpointing=False,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
    )
    trainer.train()
    if cfg.lora:
        trainer.model = trainer.model.merge_and_unload()
    trainer.model.save_pretrained(str(final))
    tokenizer.save_pretrained(str(final))
    # the checkpoint remembers the protocol and episode rules it was taught (Searcher.from_pretrained)
    from s3.searcher import SearcherConfig, save_searcher_config

    save_searcher_config(SearcherConfig.from_training(cfg), final)
    save_config(cfg, out / "warmstart_config.yaml")
    return final


def _save_as_is(cfg: WarmstartConfig, final: Path) -> Path:
    """``source=none``: the model unchanged in ``final``, with the rules it is to be trained under."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s3.searcher import SearcherConfig, save_searcher_config

    log.info(
        "warm start source=none: saving %s as it is, with the %s rules", cfg.model, cfg.preset or "given"
    )
    path = resolve_model(cfg.model)
    AutoModelForCausalLM.from_pretrained(path).save_pretrained(str(final))
    AutoTokenizer.from_pretrained(path).save_pretrained(str(final))
    save_searcher_config(SearcherConfig.from_training(cfg), final)
    save_config(cfg, final.parent / "warmstart_config.yaml")
    return final
