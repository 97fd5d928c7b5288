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
from hypothesis import settings  # noqa: E402

# Property tests: "ci" (the default) draws the same examples on every run, so a CI failure is
# reproducible and a pass means the same thing twice; "thorough" draws fresh examples, THOROUGH_SCALE
# times as many as each test asks for (tests/test_properties_thorough.py runs it, marked slow).
THOROUGH_SCALE = 10
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("thorough", derandomize=False, deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_collection_modifyitems(config, items):
    if HYPOTHESIS_PROFILE != "thorough":
        return
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)  # the test's @settings
        if own is not None and not getattr(test, "_thorough", False):
            test._hypothesis_internal_use_settings = settings(
                own, max_examples=own.max_examples * THOROUGH_SCALE
            )
            test._thorough = True


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


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    """The tiny model's tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)
