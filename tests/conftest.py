"""Shared fixtures. Tests run on 2 CPU cores: pin one thread per process."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Qwen2 model with a locally trained tokenizer (built once per session)."""
    import torch

    torch.set_num_threads(1)
    from s3.tiny_model import build_tiny_model

    texts = [
        '"Paris"\nParis is the capital of France.',
        '"Berlin"\nBerlin is the capital of Germany.',
        "Who wrote the novel? The author was born in a small town.",
    ]
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"), texts=texts, vocab_size=512, seed=0)
