"""Checkpoints a kill cannot break: written aside and renamed, resumed from the newest complete one
(falling back past a damaged one with its file named), metrics without repeated steps."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from train_fixtures import embedded_run, tiny_overrides  # noqa: F401

from s3.config import ConfigError
from s3.train.checkpoints import (
    STAGING_DIR,
    check_checkpoint,
    find_resume_checkpoint,
    publish_checkpoint,
    trim_metrics,
)
from s3.train.trainer import resume_checkpoint

HERE = Path(__file__).parent


def _checkpoint(root: Path, step: int) -> Path:
    """A checkpoint folder with the files the trainer writes (real safetensors and torch files)."""
    import torch
    from safetensors.torch import save_file

    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": torch.arange(256, dtype=torch.float32)}, folder / "model.safetensors")
    torch.save({"state": torch.ones(256)}, folder / "optimizer.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda c: [p.unlink() for p in c.iterdir()], "checkpoint-3/trainer_state.json: missing"),  # killed
        (lambda c: _truncate(c / "model.safetensors"), "checkpoint-3/model.safetensors:"),
        (lambda c: _truncate(c / "optimizer.pt"), "checkpoint-3/optimizer.pt: not a complete torch file"),
        (lambda c: (c / "trainer_state.json").write_text("{"), "checkpoint-3/trainer_state.json: unreadable"),
        (lambda c: (c / "model.safetensors").unlink(), "checkpoint-3: no model weights"),
    ],
)
def test_resume_falls_back_past_a_damaged_checkpoint(tmp_path, caplog, damage, named):
    for step in (1, 2, 3):
        _checkpoint(tmp_path, step)
    damage(tmp_path / "checkpoint-3")
    with caplog.at_level("WARNING"):
        assert find_resume_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert named in caplog.text and "skipping checkpoint-3" in caplog.text
    cfg = SimpleNamespace(resume="auto", output_dir=str(tmp_path))
    assert resume_checkpoint(cfg) == str(tmp_path / "checkpoint-2")
    cfg.resume = str(tmp_path / "checkpoint-3")  # named explicitly: an error, not a silent fallback
    with pytest.raises(ConfigError, match=named.split(":")[0]):
        resume_checkpoint(cfg)


def test_no_complete_checkpoint_starts_from_scratch(tmp_path, caplog):
    (tmp_path / "checkpoint-5").mkdir()
    with caplog.at_level("WARNING"):
        assert find_resume_checkpoint(tmp_path) is None
    assert "no complete checkpoint" in caplog.text
    assert find_resume_checkpoint(tmp_path / "missing") is None


def test_publish_replaces_a_checkpoint_of_the_same_step(tmp_path):
    old = _checkpoint(tmp_path, 4)
    staged = _checkpoint(tmp_path / STAGING_DIR, 4)
    (staged / "marker").write_text("new")
    publish_checkpoint(staged, old)
    assert (old / "marker").read_text() == "new" and not staged.exists()
    check_checkpoint(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STAGING_DIR, "checkpoint-4"]


def test_trim_metrics_drops_the_steps_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": s / 10}) for s in (1, 2, 3, 3)]
    path.write_text("\n".join(lines) + "\n" + '{"step": 4, "lo')  # a torn last line too
    assert trim_metrics(path, 2) == 2
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    assert trim_metrics(path, 2) == 0 and trim_metrics(tmp_path / "none.jsonl", 0) == 0


KILL_DURING_SAVE = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from transformers import Trainer
from s3.train.config import load_train_config
from s3.train.trainer import train
from train_fixtures import tiny_overrides

original = Trainer._save_rng_state
def save_rng_state(self, output_dir):
    if self.state.global_step == 2:  # the second checkpoint: model and optimizer written, not the rest
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, output_dir)
Trainer._save_rng_state = save_rng_state
run = {run!r}
overrides = tiny_overrides(run, {out!r}, **{{"grpo.questions_per_step": 2, "grpo.num_generations": 2,
                                            "save_steps": 1, "grpo.max_steps": 3}})
train(load_train_config(preset="tiny", overrides=overrides))
"""


@pytest.mark.slow
def test_sigkill_while_saving_then_resume(embedded_run, tmp_path):  # noqa: F811
    """A real SIGKILL in the middle of writing checkpoint-2: the rerun resumes from checkpoint-1."""
    from s3.train.config import load_train_config
    from s3.train.trainer import METRICS_FILE, train

    out = tmp_path / "run"
    run = {k: str(v) for k, v in embedded_run.items()}
    script = textwrap.dedent(KILL_DURING_SAVE).format(tests=str(HERE), run=run, out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert (out / "checkpoint-1").is_dir() and not (out / "checkpoint-2").exists()
    assert (out / STAGING_DIR / "checkpoint-2").is_dir()  # the half-written one, out of the way
    check_checkpoint(out / "checkpoint-1")

    overrides = tiny_overrides(
        embedded_run, out, **{"grpo.questions_per_step": 2, "grpo.num_generations": 2, "save_steps": 1,
                              "grpo.max_steps": 3}
    )  # fmt: skip
    summary = train(load_train_config(preset="tiny", overrides=overrides))
    assert summary["resumed_from"] == str(out / "checkpoint-1") and summary["steps"] == 3
    assert not (out / STAGING_DIR / "checkpoint-2").exists()
    steps = [json.loads(line)["step"] for line in (out / METRICS_FILE).open() if "reward" in line]
    assert steps == [1, 2, 3]  # step 2 was logged before the kill, and again after the resume: once
