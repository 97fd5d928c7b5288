"""Shared pieces of the training tests: a small embedded task with its naive-RAG precompute, a tiny
searcher whose tokenizer knows the task's names, and a training config over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def build_embedded_run(
    root: Path,
    train: int = 120,
    val: int = 60,
    hidden: int = 64,
    layers: int = 2,
    drop_rag_correct: bool = True,
    seed: int = 0,
) -> dict:
    """Embedded task + precompute (BM25, offline reader) + tiny model under ``root``; returns the paths."""
    import torch

    torch.set_num_threads(1)
    from s3.precompute import PrecomputeConfig, run_precompute
    from s3.task.build import build_embedded_task
    from s3.tiny_model import build_tiny_model

    task = build_embedded_task(root / "task", seed=0, train=train, val=val, test=30)
    run_precompute(
        PrecomputeConfig(
            task_dir=str(task),
            output_dir=str(root / "pre"),
            progress=False,
            drop_rag_correct=drop_rag_correct,
        )
    )
    texts = [json.loads(line)["contents"] for line in (task / "corpus.jsonl").open()]
    texts += [json.loads(line)["question"] for line in (task / "train.jsonl").open()]
    model = build_tiny_model(
        root / "tiny",
        texts=texts,
        vocab_size=1024,
        hidden_size=hidden,
        num_layers=layers,
        intermediate_size=2 * hidden,
        seed=seed,
    )
    pre = root / "pre"
    return {
        "model": str(model),
        "index": str(pre / "index"),
        "train": str(pre / "train.jsonl"),
        "val": str(pre / "val.jsonl"),
        "cache": str(pre / "rag_cache.jsonl"),
        "root": root,
    }


def tiny_overrides(run: dict, out: Path, **extra) -> list[str]:
    """``key=value`` overrides of the ``tiny`` preset for ``run``."""
    base = {
        "model": run["model"],
        "retriever": run["index"],
        "data.train_file": run["train"],
        "reward.rag_cache": run["cache"],
        "output_dir": str(out),
        "logging.progress": "false",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def tiny_config(run: dict, out: Path, **extra):
    """The ``tiny`` preset's training config for ``run``, written to ``out`` (see :func:`tiny_overrides`)."""
    from s3.train.config import load_train_config

    return load_train_config(preset="tiny", overrides=tiny_overrides(run, out, **extra))


@pytest.fixture(scope="session")
def embedded_run(tmp_path_factory):
    return build_embedded_run(tmp_path_factory.mktemp("embedded_run"))
