"""``s3 evaluate``: the comparison table: contexts from searchers and baselines, one frozen generator, metrics.

    # the embedded task (built if missing), BM25, the offline generator:
    s3 evaluate --preset embedded --output runs/eval \\
        --methods naive-rag,oracle,direct,cot,s3-untrained:runs/tiny,s3:runs/ckpt,s3-no-select:runs/ckpt

    # baselines that reason with an LLM take it from reasoner.* (a tiny local model here):
    s3 evaluate --preset embedded --methods ircot,search-o1,query-rewrite --reasoner runs/tiny

    # the paper's tables (sampling, 20-document cap, the generator as judge, split fallback):
    s3 evaluate --preset general-qa --retriever http://127.0.0.1:3000/retrieve --methods naive-rag,s3:runs/ckpt \\
        generator.kind=openai generator.model=Qwen/Qwen2.5-14B-Instruct   # flashrag_dir=DIR: offline files
    s3 evaluate --preset mirage --retriever indexes/medcorp --methods naive-rag,s3:runs/ckpt \\
        mirage_file=data/mirage/benchmark.json generator.kind=openai generator.model=...

    # the paper's 8-3-3 setting on real test sets with a served generator:
    s3 evaluate --preset 8-3-3 --retriever http://127.0.0.1:3000/retrieve \\
        --dataset nq=data/nq/test.jsonl --dataset hotpotqa=data/hotpotqa/test.jsonl \\
        --methods naive-rag,s3:runs/ckpt generator.kind=openai generator.model=Qwen/Qwen2.5-14B-Instruct

Method specs are ``[LABEL=]KIND[:CHECKPOINT][@RETRIEVER]`` (:mod:`baselines.registry`). Settings
come from defaults < ``--preset`` < ``--config FILE`` < flags < ``--set key=value`` / trailing
``key=value`` overrides; the
resolved config is saved as ``<output>/config.yaml``. The run resumes from ``<output>`` (see
:mod:`evaluation.run`); ``s3 report`` then writes the table and plots.

The command composes s3's searchers with the baselines, so it lives here, above both: ``s3`` never
imports ``baselines``. The ``s3`` command line finds it through the ``s3.commands`` entry points of the
package (``setup.py``), like any command a package above ``s3`` adds.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.factory import GeneratorConfig, generator_fingerprint
from s3.commands import add_command, print_settings
from s3.config import field

log = logging.getLogger(__name__)

DEFAULT_METHODS = ["naive-rag", "oracle", "direct", "cot"]

#: the paper's Table 1 columns: table label -> FlashRAG_datasets config (Bamboogle is processed by the
#: reference but not reported; add it with --dataset bamboogle=hf:RUC-NLPIR/FlashRAG_datasets/bamboogle)
GENERAL_QA_SETS = {
    "nq": "nq",
    "triviaqa": "triviaqa",
    "popqa": "popqa",
    "hotpotqa": "hotpotqa",
    "2wiki": "2wikimultihopqa",
    "musique": "musique",
}
FLASHRAG_HUB = "RUC-NLPIR/FlashRAG_datasets"
#: the paper's Table 2 columns: table label -> set of MIRAGE's benchmark.json
MEDICAL_QA_SETS = {
    "medqa": "medqa",
    "medmcqa": "medmcqa",
    "pubmedqa": "pubmedqa",
    "bioasq": "bioasq",
    "mmlu-med": "mmlu",
}
#: what both paper tables did: 8-3-3, k=3 baselines, 20 documents at most to the generator, a judge
_PAPER_TABLE = {
    "episode_preset": "8-3-3",
    "k": 3,
    "max_steps": 4,
    "max_context_docs": 20,
    "judge_same_as_generator": True,
}

#: named settings; a preset is a partial config
EVAL_PRESETS: dict[str, dict[str, Any]] = {
    # the embedded default: generated task, BM25 built over its corpus, the offline generator
    "embedded": {"task_dir": "runs/embedded/task", "episode_preset": "8-3-3", "output": "runs/embedded/eval"},
    # the paper's main setting: 8 documents per search, at most 3 selected, 3 searches; k=3 baselines
    "8-3-3": {"episode_preset": "8-3-3", "k": 3, "max_steps": 4},
    # Table 1: six general QA sets, at most 3,000 sampled questions each (seed 42), test else dev split
    "general-qa": {**_PAPER_TABLE, "table": "general", "sample": 3000, "output": "runs/eval-general-qa"},
    # Table 2: MIRAGE's five medical multiple-choice sets, every question
    "mirage": {**_PAPER_TABLE, "table": "medical", "output": "runs/eval-mirage"},
}
TABLES = ("general", "medical")
JUDGE_STYLES = ("auto", "free-text", "multiple-choice")


@dataclass
class EvalConfig:
    """An evaluation run: which methods, which test sets, which retriever and frozen generator."""

    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS), help="method specs")
    task_dir: str | None = field(
        None, help="embedded-task folder (corpus.jsonl, test.jsonl); built if missing"
    )
    task_seed: int = field(0, help="seed of the embedded task when it is built here")
    split: str = field("test", help="split file of task_dir to evaluate on")
    datasets: dict[str, str] = field(
        default_factory=dict, help="dataset name -> QA file or hf:NAME (load_qa)"
    )
    limit: int | None = field(None, help="first N questions per dataset (smoke runs); null = all")
    sample: int | None = field(
        None, help="at most N questions per dataset, drawn as the reference draws them; null = all"
    )
    sample_seed: int = field(42, help="seed of the sample (the reference's random_state)")
    table: str | None = field(
        None,
        help="the paper table this run reproduces: general (Table 1) | medical (Table 2); fills "
        "datasets when none are given and lists this run's differences from the paper",
    )
    flashrag_dir: str | None = field(
        None,
        help="local copy of FlashRAG_datasets for the general table (<config>/test.jsonl, else "
        "dev.jsonl, else train.jsonl); null = the Hugging Face hub",
    )
    mirage_file: str = field(
        "data/mirage/benchmark.json", help="MIRAGE's benchmark.json for the medical table"
    )
    corpus: str | None = field(None, help="corpus JSONL (oracle lookups, default index); default task_dir's")
    retriever: str | None = field(None, help="index folder or /retrieve URL; default: BM25 built over corpus")
    retrievers: dict[str, str] = field(default_factory=dict, help="extra named retrievers for METHOD@NAME")
    generator: GeneratorConfig = field(default_factory=GeneratorConfig, help="the frozen generator")
    judge: GeneratorConfig | None = field(
        None, help="LLM judge for the judge column and GenAcc; null = span only"
    )
    judge_same_as_generator: bool = field(
        False,
        help="when judge is null, judge with the generator itself (the paper's tables always judge; "
        "the offline generator cannot, so GenAcc then stays span only)",
    )
    judge_style: str = field(
        "auto",
        help="auto (the multiple-choice judge for sets with options, the free-text one otherwise) | "
        "free-text | multiple-choice",
    )
    max_context_docs: int | None = field(
        None, help="documents of a context given to the generator, the first N; null = all"
    )
    reasoner: GeneratorConfig | None = field(None, help="the LLM of IRCoT, Search-o1 and query rewriting")
    reasoner_max_tokens: int = field(256, help="tokens per reasoner call")
    episode_preset: str | None = field(
        None,
        help="rules of s3 searchers: a training preset (tiny, 7b: protocol, episode rules, budgets) or an "
        "episode preset (8-3-3, ...); null = those saved in the checkpoint",
    )
    searcher_backend: str = field(
        "transformers", help="policy backend of searchers: transformers | vllm | openai"
    )
    searcher_device: str = field("auto", help="device of transformers searchers")
    searcher_autocast: str | None = field(
        None, help="bf16: transformers searchers generate under bfloat16 autocast (fast on CPUs with AMX)"
    )
    searcher_batch_size: int = field(32, help="episodes per batched rollout")
    searcher_max_new_tokens: int | None = field(
        None, help="tokens per searcher generation; null = the checkpoint's"
    )
    r1_docs_per_search: int = field(3, help="documents per <search> of Search-R1 searchers")
    r1_max_turns: int = field(4, help="searches at most of Search-R1 searchers")
    r1_protocol_options: dict[str, Any] = field(
        default_factory=dict,
        help="prompt of Search-R1 searchers (instructions with {question}, system_prompt), e.g. a public "
        "checkpoint's own training prompt; default: the one saved in the checkpoint, else our wording",
    )
    k: int = field(3, help="documents per retrieval of naive RAG and the multi-turn baselines")
    max_steps: int = field(4, help="IRCoT steps / Search-o1 searches at most")
    batch_size: int = field(16, help="questions per method call and per generator call")
    cot_max_tokens: int = field(512, help="generator budget of chain-of-thought answers")
    token_counter: str | None = field(None, help="tokenizer folder/name for exact input-token counts")
    seed: int = field(0, help="seed for every random number generator (evaluation is greedy)")
    output: str = field("runs/eval", help="run folder (results, contexts, config.yaml)")
    overwrite: bool = field(False, help="discard earlier results in output instead of resuming")
    progress: bool = field(True, help="progress bars")


# ---------------------------------------------------------------- building the pieces


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (when installed)."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def table_datasets(cfg: EvalConfig) -> dict[str, str]:
    """The QA specs of a paper table: FlashRAG sets (hub, or ``flashrag_dir``) or MIRAGE's sets."""
    from s3.data import EVAL_SPLIT_FALLBACK, DataError

    if cfg.table == "medical":
        return {label: f"mirage:{cfg.mirage_file}:{name}" for label, name in MEDICAL_QA_SETS.items()}
    if not cfg.flashrag_dir:
        return {label: f"hf:{FLASHRAG_HUB}/{config}" for label, config in GENERAL_QA_SETS.items()}
    out = {}
    for label, config in GENERAL_QA_SETS.items():
        folder = Path(cfg.flashrag_dir) / config
        files = [folder / f"{split}.jsonl" for split in EVAL_SPLIT_FALLBACK]
        found = [f for f in files if f.is_file()]
        if not found:
            raise DataError(
                f"{folder}: no {', '.join(f.name for f in files)} (flashrag_dir={cfg.flashrag_dir})"
            )
        if found[0].stem != "test":
            log.warning("%s has no test.jsonl; evaluating on %s", folder, found[0].name)
        out[label] = str(found[0])
    return out


def resolve_task(cfg: EvalConfig) -> None:
    """Fill ``datasets`` and ``corpus`` from ``task_dir`` (building the embedded task there if missing),
    or ``datasets`` from the paper ``table``."""
    if cfg.table is not None and cfg.table not in TABLES:
        raise ValueError(f"table: {cfg.table!r} is not one of {list(TABLES)}")
    if cfg.judge_style not in JUDGE_STYLES:
        raise ValueError(f"judge_style: {cfg.judge_style!r} is not one of {list(JUDGE_STYLES)}")
    if cfg.table and not cfg.datasets:
        cfg.datasets = table_datasets(cfg)
    if cfg.task_dir:
        task = Path(cfg.task_dir)
        if not (task / "corpus.jsonl").exists():
            from s3.task import build_embedded_task

            log.info("building the embedded task (seed %d) in %s", cfg.task_seed, task)
            build_embedded_task(task, seed=cfg.task_seed)
        cfg.corpus = cfg.corpus or str(task / "corpus.jsonl")
        if not cfg.datasets:
            cfg.datasets = {"embedded": str(task / f"{cfg.split}.jsonl")}
    if not cfg.datasets:
        raise ValueError("no test set: give --task-dir, --preset embedded or --dataset NAME=FILE")


def default_index_dir(cfg: EvalConfig) -> Path:
    """Where the default BM25 index over ``corpus`` lives (beside the task, or in the run folder)."""
    base = Path(cfg.task_dir) if cfg.task_dir else Path(cfg.output)
    return base / "index-bm25"


def open_retriever(cfg: EvalConfig, name: str | None):
    """The main retriever (``name`` None) or a named one; the default BM25 index is built on first use."""
    from retrievers.factory import build_index, load_retriever

    if name not in (None, "default"):
        if name not in cfg.retrievers:
            raise ValueError(f"retriever {name!r} is not configured; add retrievers.{name}=INDEX_OR_URL")
        return load_retriever(cfg.retrievers[name])
    if cfg.retriever:
        return load_retriever(cfg.retriever)
    if not cfg.corpus:
        raise ValueError("no retriever: set retriever=INDEX_OR_URL, or corpus=FILE to build BM25 over it")
    index = default_index_dir(cfg)
    if not (index / "index.json").exists():
        log.info("building a BM25 index over %s in %s", cfg.corpus, index)
        build_index(cfg.corpus, index, kind="bm25")
    return load_retriever(str(index))


def open_searcher(cfg: EvalConfig, mode: str, checkpoint: str, retriever):
    """A greedy searcher from a checkpoint: s3 mode (episode preset) or Search-R1 mode."""
    from s3.searcher import Searcher, load_searcher_config

    if mode == "search-r1":
        from baselines.search_r1 import search_r1_config
        from s3.protocol_r1 import is_r1
        from s3.protocol_registry import protocol_from_config

        config = search_r1_config(cfg.r1_docs_per_search, cfg.r1_max_turns, cfg.searcher_batch_size)
        # the paper's episode rules for every Search-R1 searcher, but the prompt it was trained with
        saved = load_searcher_config(checkpoint)
        if saved is not None and is_r1(saved.protocol):
            config.protocol_options = dict(saved.protocol_options)
        if cfg.r1_protocol_options:
            config.protocol_options = dict(cfg.r1_protocol_options)
        protocol_from_config(config.protocol, config.protocol_options, where="r1_protocol_options")
    else:
        from s3.presets import DEFAULT_PRESET, episode_preset
        from s3.searcher import SearcherConfig, warn_mismatch

        saved = load_searcher_config(checkpoint)
        config = saved or SearcherConfig(episode=episode_preset(DEFAULT_PRESET))
        if cfg.episode_preset:
            warn_mismatch(checkpoint, saved, cfg.episode_preset)
            config.apply_preset(cfg.episode_preset)
        config.batch_size = cfg.searcher_batch_size
    # evaluation decodes greedily whatever the checkpoint was trained with
    config.rollout = dataclasses.replace(
        config.rollout, temperature=0.0, top_p=1.0, seed=cfg.seed, progress=False
    )
    if cfg.searcher_max_new_tokens:
        config.rollout.max_new_tokens_per_turn = cfg.searcher_max_new_tokens
    kwargs: dict[str, Any] = {}
    if cfg.searcher_backend in ("transformers", "hf"):
        kwargs = {"device": cfg.searcher_device, "autocast": cfg.searcher_autocast}
    return Searcher.from_pretrained(
        checkpoint, retriever=retriever, backend=cfg.searcher_backend, config=config, **kwargs
    )


def make_token_counter(cfg: EvalConfig, generator):
    """Exact counts with a tokenizer (``token_counter``, or a transformers generator's), else approximate."""
    from evaluation.run import count_tokens_approx

    tokenizer = getattr(generator, "tokenizer", None)
    if cfg.token_counter:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.token_counter)
    if tokenizer is None:
        return count_tokens_approx
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def load_datasets(cfg: EvalConfig) -> dict[str, list]:
    """Every configured test set: in full, or ``sample`` drawn questions, then the first ``limit``."""
    from s3.data import load_qa, sample_examples

    out = {}
    for name, spec in cfg.datasets.items():
        examples = sample_examples(load_qa(spec, source=name), cfg.sample, cfg.sample_seed)
        out[name] = examples[: cfg.limit] if cfg.limit else examples
        log.info("dataset %s: %d questions from %s", name, len(out[name]), spec)
    return out


def build_judges(cfg: EvalConfig, datasets: dict[str, list], generator) -> tuple[Any, dict[str, Any]]:
    """(the free-text judge or None, the judge per dataset) from ``judge``, ``judge_same_as_generator``
    and ``judge_style``; a multiple-choice judge without an LLM decides by its rules alone."""
    from evaluation.contexts import example_options
    from evaluation.judge import LLMJudge, MultipleChoiceJudge
    from generators.factory import load_generator

    llm = None
    if cfg.judge is not None:
        llm = load_generator(cfg.judge)
    elif cfg.judge_same_as_generator and cfg.generator.kind != "offline":
        llm = generator
    free = LLMJudge(llm) if llm is not None else None
    judges: dict[str, Any] = {}
    for name, examples in datasets.items():
        has_options = any(example_options(e) is not None for e in examples)
        style = cfg.judge_style
        if style == "multiple-choice" or (style == "auto" and has_options):
            judges[name] = MultipleChoiceJudge(llm)
        elif free is not None:
            judges[name] = free
    return free, judges


def paper_notes(cfg: EvalConfig, judged: bool) -> list[str]:
    """How this run differs from the paper table it reproduces (``cfg.table``); empty without a table."""
    if cfg.table is None:
        return []
    general = cfg.table == "general"
    paper_sets = GENERAL_QA_SETS if general else MEDICAL_QA_SETS
    if general:
        paper = (
            "The paper's Table 1: GenAcc = span check, else the LLM judge; E5-base-v2 retrieval over "
            "wiki-18; at most 3,000 sampled questions per set (test split, else dev)"
        )
    else:
        paper = (
            "The paper's Table 2: accuracy judged by an LLM; E5-base-v2 retrieval over MedCorp (or "
            "wiki-18); every question"
        )
    notes = [
        paper
        + "; Claude-3-Haiku as generator and judge; 8-3-3 searchers; 20 documents at most to the generator."
    ]
    diff = []
    if cfg.generator.kind == "offline":
        diff.append("the generator is the offline extractive reader, not an LLM")
    if not judged:
        diff.append(
            "no judge LLM, so GenAcc is the span check alone (compare with the paper's span-only "
            "reward row, Table 5)"
            if general
            else "no judge LLM: answers the option rules cannot decide count as wrong"
        )
    elif cfg.judge is None:
        diff.append("the judge is the generator's own model")
    if not general:
        diff.append(
            "answers are scored by rule first (the option letter, else the option texts named), the "
            "judge only decides the rest; the paper judged every answer"
        )
    if not cfg.retriever:
        diff.append("retrieval is BM25 over the corpus")
    if set(cfg.datasets) != set(paper_sets):
        diff.append(
            f"datasets {sorted(cfg.datasets)} instead of {list(paper_sets)}; the average is over these"
        )
    if general and cfg.sample != 3000:
        diff.append("every question" if cfg.sample is None else f"at most {cfg.sample} questions per set")
    if not general and cfg.sample is not None:
        diff.append(f"at most {cfg.sample} questions per set")
    if cfg.limit:
        diff.append(f"only the first {cfg.limit} questions per set (a smoke run)")
    if cfg.max_context_docs != 20:
        diff.append(f"context cap {cfg.max_context_docs or 'none'} instead of 20 documents")
    if cfg.episode_preset not in (None, "8-3-3"):
        diff.append(f"searcher setting {cfg.episode_preset}")
    notes += [f"Differs here: {d}." for d in diff] or ["No known difference in settings."]
    return notes


def run_evaluation(cfg: EvalConfig) -> list[dict[str, Any]]:
    """Run the evaluation a config describes and write the results, config and report into ``cfg.output``.

    Returns:
        The results rows (one per method and dataset).
    """
    from baselines.registry import Resources, build_methods, parse_method_specs
    from evaluation.report import write_report
    from evaluation.run import AnswerSettings, evaluate
    from generators.base import SamplingParams
    from generators.factory import load_generator
    from s3.config import save_config

    seed_everything(cfg.seed)
    specs = parse_method_specs(cfg.methods)  # fail on a bad spec before any expensive work
    resolve_task(cfg)
    datasets = load_datasets(cfg)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")

    reasoner_sampling = SamplingParams(temperature=0.0, max_tokens=cfg.reasoner_max_tokens, seed=cfg.seed)
    res = Resources(
        retriever=lambda name: open_retriever(cfg, name),
        reasoner=(lambda: load_generator(cfg.reasoner)) if cfg.reasoner else None,
        corpus=cfg.corpus,
        searcher=lambda mode, ckpt, retr: open_searcher(cfg, mode, ckpt, retr),
        k=cfg.k,
        max_steps=cfg.max_steps,
        reasoner_sampling=reasoner_sampling,
    )
    methods = build_methods(specs, res)
    generator = load_generator(cfg.generator)
    judge, judges = build_judges(cfg, datasets, generator)
    judged = judge is not None or any(getattr(j, "generator", None) is not None for j in judges.values())
    notes = paper_notes(cfg, judged)
    for line in notes:
        log.info("%s", line)
    from retrievers.factory import retriever_fingerprint

    settings = AnswerSettings(
        max_tokens=cfg.generator.max_tokens,
        cot_max_tokens=cfg.cot_max_tokens,
        seed=cfg.generator.seed,
        max_context_docs=cfg.max_context_docs,
    )
    try:
        rows = evaluate(
            methods,
            datasets,
            generator,
            out,
            judge=judge,
            judges=judges,
            settings=settings,
            batch_size=cfg.batch_size,
            count_tokens=make_token_counter(cfg, generator),
            run_info={  # what changes the results, never how the models and indexes are reached
                "generator_config": generator_fingerprint(cfg.generator),
                "judge_config": generator_fingerprint(cfg.judge),
                **({"judge_same_as_generator": True} if cfg.judge_same_as_generator else {}),
                "reasoner_config": generator_fingerprint(cfg.reasoner),
                "retrieval": {
                    "retriever": retriever_fingerprint(cfg.retriever),
                    "retrievers": {n: retriever_fingerprint(r) for n, r in sorted(cfg.retrievers.items())},
                    "corpus": cfg.corpus,
                },
                "r1_protocol_options": cfg.r1_protocol_options,
            },
            overwrite=cfg.overwrite,
            progress=cfg.progress,
        )
    finally:
        for value in res._cache.values():
            close = getattr(value, "close", None)
            if callable(close):
                close()
        generator.close()
    write_report(out, notes=notes)
    return rows


# ---------------------------------------------------------------- command line


def register(subparsers) -> None:
    p = add_command(subparsers, __name__, help="evaluate searchers and baselines with one frozen generator")
    p.add_argument(
        "--preset",
        help="named settings: embedded (the embedded task), 8-3-3 (the paper's setting), general-qa (the paper's "
        "Table 1), mirage (Table 2), or any searcher preset (tiny, 7b, 5-3-4, ...: the rules s3 searchers run "
        "with; default: the checkpoint's own)",
    )
    p.add_argument("--config", help="YAML file of EvalConfig fields")
    p.add_argument("--methods", help="comma-separated method specs, e.g. naive-rag,oracle,s3:runs/ckpt")
    p.add_argument("--task-dir", help="embedded-task folder (built if missing)")
    p.add_argument(
        "--dataset", action="append", default=[], metavar="NAME=QA_FILE", help="a test set (repeatable)"
    )
    p.add_argument(
        "--retriever", "--index", dest="retriever",
        help="index folder or /retrieve URL, as in every command (default: BM25 over the corpus)",
    )  # fmt: skip
    p.add_argument(
        "--reasoner", help="local model folder of the reasoning LLM (IRCoT, Search-o1, query rewriting)"
    )
    p.add_argument("--limit", type=int, help="first N questions per dataset")
    p.add_argument("--output", help="run folder")
    p.add_argument("--seed", type=int)
    p.add_argument("--overwrite", action="store_true", help="discard earlier results instead of resuming")
    p.add_argument("--help-config", action="store_true", help="list every config field and exit")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config override (repeatable)"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. generator.kind=openai"
    )
    p.set_defaults(func=run)


def eval_preset(name: str) -> dict[str, Any]:
    """The partial config of ``--preset NAME``: an evaluation preset, else a searcher preset's rules."""
    if name in EVAL_PRESETS:
        return dict(EVAL_PRESETS[name])
    from s3.presets import preset_names, searcher_settings

    try:
        searcher_settings(name)
    except ValueError:
        raise ValueError(
            f"--preset: unknown preset {name!r}; known: {', '.join(dict.fromkeys([*EVAL_PRESETS, *preset_names()]))}"
        ) from None
    return {"episode_preset": name}


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """Defaults < preset < --config < flags < key=value overrides."""
    from s3.config import load_config

    preset = eval_preset(args.preset) if args.preset else {}
    flags: list[str] = []
    for name in ("task_dir", "retriever", "limit", "output", "seed"):
        value = getattr(args, name)
        if value is not None:
            flags.append(f"{name}={value}")
    for item in args.dataset:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise ValueError(f"--dataset expects NAME=QA_FILE, got {item!r}")
        flags.append(f"datasets.{name}={spec}")
    if args.reasoner:
        flags += ["reasoner.kind=transformers", f"reasoner.model={args.reasoner}"]
    if args.overwrite:
        flags.append("overwrite=true")
    cfg = load_config(
        EvalConfig, args.config, overrides=flags + list(args.set) + list(args.overrides), preset=preset
    )
    if args.methods:  # set directly: specs hold characters YAML would read specially
        cfg.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    return cfg


def run(args: argparse.Namespace) -> int:
    if args.help_config:
        return print_settings(EvalConfig)
    cfg = config_from_args(args)
    rows = run_evaluation(cfg)
    from evaluation.report import markdown_table, read_notes

    print(markdown_table(rows, notes=read_notes(cfg.output)))
    print(f"results, contexts and plots in {cfg.output}")
    return 0
