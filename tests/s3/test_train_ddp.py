"""Two-process data-parallel training on CPU (``torchrun --nproc_per_node 2``, gloo): both ranks train
on different questions, make the same number of policy calls, and end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_servers import free_port
from train_fixtures import embedded_run, tiny_overrides  # noqa: F401


@pytest.mark.slow
def test_two_process_gloo_run_trains_and_agrees(embedded_run, tmp_path):  # noqa: F811
    out = tmp_path / "ddp"
    out.mkdir()
    overrides = tiny_overrides(
        embedded_run,
        out / "run",
        **{
            "grpo.max_steps": 2,
            "grpo.questions_per_step": 4,
            "grpo.num_generations": 2,
            "grpo.micro_batch_size": 4,
            # a random tiny model earns no reward yet: the entropy bonus makes sure there is a gradient
            "grpo.entropy_coef": 0.01,
        },
    )
    script = Path(__file__).with_name("torchrun_train.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(script), str(out), *overrides,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["backend"] == "gloo"
    # gradients were all-reduced: identical weights on both ranks ...
    assert ranks[0]["weights"] == ranks[1]["weights"]
    # ... after training on different questions
    assert set(ranks[0]["questions"]) != set(ranks[1]["questions"])
    # every rank made the same number of policy calls per rollout: max_turns + 1 (fixed call count)
    assert ranks[0]["generate_calls"] == ranks[1]["generate_calls"] == [2, 2]
    # the loss each rank logs is the all-reduced one
    assert ranks[0]["losses"] == pytest.approx(ranks[1]["losses"])
    # and the weights moved away from the initial model
    import hashlib

    from transformers import AutoModelForCausalLM

    digest = hashlib.sha256()
    for name, tensor in sorted(
        AutoModelForCausalLM.from_pretrained(embedded_run["model"]).state_dict().items()
    ):
        digest.update(name.encode())
        digest.update(tensor.float().numpy().tobytes())
    assert digest.hexdigest() != ranks[0]["weights"]
