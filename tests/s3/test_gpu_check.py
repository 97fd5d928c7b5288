"""The GPU check script, run as its own CPU smoke test: the tiny model, full fine-tuning and LoRA, two
GRPO steps each on the bf16 precision plan, and a report that says the weights moved."""

from __future__ import annotations

import json

import pytest

from s3.train import gpu_check


@pytest.mark.slow
def test_check_runs_on_a_cpu_and_reports_moved_weights(tmp_path, capsys):
    out = tmp_path / "check.json"
    argv = ["--device", "cpu", "--models", "tiny", "--workdir", str(tmp_path / "work"), "--output", str(out)]
    assert gpu_check.main(argv) == 0
    result = json.loads(out.read_text())
    assert [(r["model"], r["mode"]) for r in result["runs"]] == [("tiny", "full"), ("tiny", "lora")]
    for run in result["runs"]:
        assert run["steps"] == 2 and run["moved"] and run["mean_abs_dw"] > 0
        assert run["trained_dtype"] == "float32"  # fp32 weights (full) or fp32 adapters (LoRA) under bf16
        assert run["step_s"] > 0 and run["peak_memory_mb"] > 0
    assert result["faiss_gpu"].startswith(("not present", "faiss not installed", "ok"))
    assert "all runs trained and moved their weights" in capsys.readouterr().out


def test_cuda_check_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(SystemExit, match="--device cpu"):
        gpu_check.run_check("cuda", ["tiny"])
