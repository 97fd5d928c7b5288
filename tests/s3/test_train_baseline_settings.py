"""One source of truth for the generator and the judge: the naive-RAG cache records the GenAcc
settings it was computed with, and training refuses a reward that scores otherwise (before any model
loads), unless told to go on. Also holds the README's scale recipe to the ``7b`` preset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from s3.cli import main
from s3.config import ConfigError
from s3.train.config import PRESETS, load_train_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_precompute(tmp_path_factory):
    """A small embedded task, precomputed with the offline generator and no judge."""
    from s3.precompute import PrecomputeConfig, run_precompute
    from s3.task.build import build_embedded_task

    root = tmp_path_factory.mktemp("baseline_settings")
    task = build_embedded_task(root / "task", seed=0, train=20, val=4, test=4)
    run_precompute(PrecomputeConfig(task_dir=str(task), output_dir=str(root / "pre"), progress=False))
    return root / "pre"


def _dry_run(pre: Path, *overrides: str) -> list[str]:
    return ["train", "--preset", "tiny", "--dry-run", f"model={pre}", f"retriever={pre / 'index'}",
            f"data.train_file={pre / 'train.jsonl'}", f"reward.rag_cache={pre / 'rag_cache.jsonl'}",
            *overrides]  # fmt: skip


def test_every_cache_entry_records_the_generator_and_genacc_settings(small_precompute):
    entries = [json.loads(line) for line in (small_precompute / "rag_cache.jsonl").open()]
    assert entries and all(e["genacc_settings"]["judge"] is None for e in entries)
    assert {e["genacc_settings"]["generator"]["kind"] for e in entries} == {"offline"}


def test_the_reward_of_the_cache_settings_passes(small_precompute, capsys):
    assert main(_dry_run(small_precompute)) == 0
    assert "dry run: the configuration is consistent" in capsys.readouterr().out


def test_a_reward_with_another_generator_model_is_refused(small_precompute, capsys):
    """Item 2: a cache computed with one generator model and a reward that calls another."""
    other = ["generator.kind=openai", "generator.model=Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4"]
    assert main(_dry_run(small_precompute, *other)) == 2
    err = capsys.readouterr().err
    assert "reward.rag_cache" in err and "generator.model" in err and "generator.kind" in err
    assert main(_dry_run(small_precompute, *other, "reward.check_baseline_settings=false")) == 0


def test_a_reward_with_a_judge_over_a_span_only_cache_is_refused(small_precompute, capsys):
    """Item 5: the cache was scored by the span check alone, the reward adds the LLM judge."""
    assert main(_dry_run(small_precompute, "reward.use_judge=true")) == 2
    err = capsys.readouterr().err
    assert "reward.use_judge" in err and "no judge (answer-span check only)" in err


def test_training_refuses_before_loading_the_model(small_precompute, tmp_path):
    from s3.train.trainer import build_trainer

    cfg = load_train_config(
        preset="tiny",
        overrides=[
            f"model={tmp_path / 'no-model-here'}",  # never reached
            f"retriever={small_precompute / 'index'}",
            f"data.train_file={small_precompute / 'train.jsonl'}",
            f"reward.rag_cache={small_precompute / 'rag_cache.jsonl'}",
            "reward.use_judge=true",
        ],
    )
    with pytest.raises(ConfigError, match="reward.use_judge"):
        build_trainer(cfg)


def _recipe() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Scale recipe")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_recipe_serves_precomputes_and_trains_with_the_presets_generator():
    """Item 2: every generator model the recipe names is the 7b preset's (a mismatch is a 404)."""
    recipe = _recipe()
    preset_model = PRESETS["7b"]["generator"]["model"]
    named = set(re.findall(r"Qwen/Qwen2\.5-14B-Instruct[\w.-]*", recipe))
    assert named == {preset_model}, named


def test_the_readme_recipe_precomputes_with_the_judge_the_7b_reward_uses():
    """Item 5: the 7b reward is span check then judge; the recipe's cache must be scored the same."""
    assert PRESETS["7b"]["reward"]["use_judge"] is True
    recipe = _recipe()
    precompute = recipe[recipe.index("scripts/precompute.sh") : recipe.index("scripts/train_s3.sh")]
    assert "judge.kind=openai" in precompute and "judge.model=" in precompute


def _recipe_overrides(recipe: str, start: str, end: str) -> list[str]:
    """The key=value arguments of one recipe command (``$GEN`` expanded as the recipe sets it)."""
    gen = re.search(r"^GEN=(\S+)", recipe, re.MULTILINE).group(1)
    block = recipe[recipe.index(start) : recipe.index(end)]
    words = [
        w.replace("$GEN", gen)
        for line in block.splitlines()
        if not line.startswith("#")
        for w in line.split()
    ]
    return [w for w in words if "=" in w and w.split("=")[0].islower() and "." in w.split("=")[0]]


def test_the_readme_recipes_cache_passes_the_check_of_its_training_command():
    """The recipe's precompute scores GenAcc exactly as its training reward does."""
    from s3.config import load_config
    from s3.genacc_settings import genacc_settings
    from s3.precompute import PrecomputeConfig

    recipe = _recipe()
    pre = load_config(PrecomputeConfig, overrides=_recipe_overrides(recipe, "scripts/precompute.sh", "# 4."))
    train = load_train_config(preset="7b", overrides=_recipe_overrides(recipe, "scripts/train_s3.sh", "# 5."))
    assert pre.judge is not None
    assert genacc_settings(pre.generator, pre.judge) == genacc_settings(train.generator, train.generator)


def test_the_offline_reader_scores_the_same_whatever_model_name_the_config_carries():
    from generators.factory import GeneratorConfig
    from s3.genacc_settings import genacc_settings

    a = genacc_settings(GeneratorConfig(kind="offline"), None)
    b = genacc_settings(GeneratorConfig(kind="offline", model="Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4"), None)
    assert a == b
    c = genacc_settings(GeneratorConfig(kind="openai", model="Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4"), None)
    assert c["generator"]["model"] == "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4"
