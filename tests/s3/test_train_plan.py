"""The run plan of ``s3 train`` and ``--dry-run``: every preset at every world size from 1 to 8, the
``7b`` preset under each shipped accelerate config, and the consistency checks that stop a GPU run
before any model loads (no GPU, no model download)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3.cli import main
from s3.config import ConfigError
from s3.train.config import PRESETS, load_train_config
from s3.train.plan import (
    LaunchSettings,
    batch_plan,
    check_plan,
    launch_settings,
    make_plan,
    plan_report,
    vllm_server_url,
)

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_plans_and_builds_its_trl_config_at_world_sizes_1_to_8(preset, capsys):
    from s3.train.trainer import grpo_args

    # device=cpu only so that transformers accepts bf16 on this machine when building GRPOConfig
    cfg = load_train_config(preset=preset, overrides=["device=cpu"])
    for world in range(1, 9):
        plan = make_plan(cfg, LaunchSettings(world_size=world, source="test"))
        check_plan(cfg, plan)
        b = plan.batch
        assert b.per_rank * world == b.questions_per_step * b.num_generations
        assert b.per_rank % b.micro_batch_size == 0 and b.micro_batch_size <= cfg.grpo.micro_batch_size
        assert 0 <= b.questions_per_step - cfg.grpo.questions_per_step < world
        assert f"{b.per_rank} a rank" in plan_report(cfg, plan)
        assert main(["train", "--preset", preset, "--dry-run", "--num-processes", str(world)]) == 0
    # TRL checks its batch sizes against the processes it runs in (one here), so build it at world 1
    args = grpo_args(cfg, 1)
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == (
        cfg.grpo.questions_per_step * cfg.grpo.num_generations
    )


def test_the_readme_recipe_7b_on_8_ranks_splits_75_trajectories_a_rank():
    """600 trajectories over 8 ranks is 75 a rank, which the preset's micro batch of 2 does not divide."""
    cfg = load_train_config(preset="7b")
    b = batch_plan(cfg.grpo, 8)
    assert (b.questions_per_step, b.per_rank, b.micro_batch_size, b.gradient_accumulation_steps) == (
        120,
        75,
        1,
        75,
    )
    b7 = batch_plan(cfg.grpo, 7)  # 600 does not split over 7: round the questions up to 126
    assert (b7.questions_per_step, b7.per_rank) == (126, 90)


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.stem)
def test_7b_with_each_shipped_accelerate_config_dry_runs(path, capsys):
    launch = launch_settings(str(path), env={})
    cfg = load_train_config(preset="7b")
    plan = make_plan(cfg, launch)
    check_plan(cfg, plan)
    assert launch.world_size == 8 and launch.mixed_precision == "bf16"
    # every path keeps fp32 weights for the optimizer: an engine's master copy, or fp32 loading
    expected = {"ddp": "float32", "zero2": "bfloat16", "zero3": "bfloat16", "fsdp": "bfloat16"}[path.stem]
    assert plan.precision.load_dtype == expected
    assert "fp32" in plan.precision.master_weights
    assert main(["train", "--preset", "7b", "--dry-run", "--accelerate-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "8 rank(s)" in out and "dry run: the configuration is consistent" in out


def test_world_size_8_dry_run_of_the_7b_preset_exits_0_on_a_cpu_machine():
    env = {**os.environ, "WORLD_SIZE": "8", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "s3", "train", "--preset", "7b", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "8 rank(s) (WORLD_SIZE)" in run.stdout
    assert "precision: load float32, compute bf16 autocast" in run.stdout  # plain DDP: fp32 master weights
    assert "Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4" in run.stdout


def test_precision_plan_keeps_fp32_weights_on_every_path():
    cfg = load_train_config(preset="7b")
    one = make_plan(cfg, LaunchSettings()).precision
    assert (one.load_dtype, one.compute) == ("float32", "bf16 autocast")
    lora = make_plan(load_train_config(preset="7b", overrides=["lora.enabled=true"]), LaunchSettings())
    assert lora.precision.load_dtype == "bfloat16" and "LoRA" in lora.precision.master_weights
    fp32 = make_plan(load_train_config(preset="7b", overrides=["grpo.bf16=false"]), LaunchSettings())
    assert (fp32.precision.load_dtype, fp32.precision.compute) == ("float32", "fp32")
    with pytest.raises(ConfigError, match="grpo.bf16"):
        check_plan(cfg, make_plan(cfg, LaunchSettings(mixed_precision="fp16")))


def test_vllm_server_mode_does_not_default_to_the_generators_port():
    """TRL's server default (port 8000) is the port every generator server takes by default."""
    from s3.train.plan import _host_port
    from s3.train.trainer import grpo_args

    cfg = load_train_config(preset="7b", overrides=["vllm.mode=server", "device=cpu"])
    args = grpo_args(cfg, 8)
    server = args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
    assert _host_port(server) != _host_port(cfg.generator.base_url)
    assert server == vllm_server_url(cfg)
    check_plan(cfg, make_plan(cfg, LaunchSettings(world_size=8)))
    clash = load_train_config(
        preset="7b", overrides=["vllm.mode=server", "vllm.server_base_url=http://localhost:8000"]
    )
    with pytest.raises(ConfigError, match="vllm.server_base_url"):
        check_plan(clash, make_plan(clash, LaunchSettings(world_size=8)))


def test_top_p_below_one_with_vllm_importance_sampling_is_refused(capsys):
    assert load_train_config(preset="7b").rollout.top_p == 1.0
    assert main(["train", "--preset", "7b", "--dry-run", "rollout.top_p=0.95"]) == 2
    assert "rollout.top_p" in capsys.readouterr().err
    ok = [
        "train",
        "--preset",
        "7b",
        "--dry-run",
        "rollout.top_p=0.95",
        "vllm.importance_sampling_correction=false",
    ]
    assert main(ok) == 0


def test_help_config_shows_the_presets_values(capsys):
    assert main(["train", "--preset", "7b", "--help-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("grpo.bf16 = True") for line in lines)
    assert any(line.startswith("model = 'Qwen/Qwen2.5-7B-Instruct'") for line in lines)
    assert main(["train", "--help-config"]) == 0
    assert any(line.startswith("grpo.bf16 = False") for line in capsys.readouterr().out.splitlines())


def test_a_gpu_run_on_a_machine_without_one_stops_before_loading_a_model(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    train = tmp_path / "train.jsonl"
    train.write_text('{"question": "q", "golden_answers": ["a"]}\n')
    # the model is a hub id that is not downloaded here: the run must stop before trying
    argv = ["train", "--preset", "7b", f"retriever={tmp_path}", f"data.train_file={train}",
            f"output_dir={tmp_path / 'out'}"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "vllm.enabled" in err and "--dry-run" in err


def test_train_script_dry_runs_anywhere_and_refuses_a_gpu_launch_without_a_gpu():
    import torch

    script = ROOT / "scripts" / "train_s3.sh"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHON": sys.executable, "PRESET": "7b",
           "ACCELERATE_CONFIG": str(ROOT / "configs" / "accelerate" / "zero3.yaml"), "NUM_PROCESSES": "8"}  # fmt: skip
    dry = subprocess.run(["bash", str(script)], env={**env, "DRY_RUN": "1"}, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "8 rank(s) (--num-processes); engine DeepSpeed ZeRO-3" in dry.stdout
    if torch.cuda.is_available():
        return
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert run.returncode == 2 and "DRY_RUN=1" in run.stderr


def test_inside_an_accelerate_launch_the_engine_comes_from_its_environment():
    """What `accelerate launch` exports to every process (no config file is read then)."""
    env = {"WORLD_SIZE": "8", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
           "ACCELERATE_MIXED_PRECISION": "bf16"}  # fmt: skip
    launch = launch_settings(env=env)
    assert (launch.world_size, launch.engine, launch.mixed_precision) == (8, "DeepSpeed ZeRO-3", "bf16")
    assert make_plan(load_train_config(preset="7b"), launch).precision.load_dtype == "bfloat16"
    ddp = launch_settings(env={"WORLD_SIZE": "4", "ACCELERATE_MIXED_PRECISION": "bf16"})
    assert ddp.engine == "DDP"
    assert make_plan(load_train_config(preset="7b"), ddp).precision.load_dtype == "float32"


def test_a_generator_model_the_endpoint_does_not_serve_is_refused_before_the_model_loads(tmp_path):
    """Item 2: the served name and generator.model differ; the first reward would get a 404."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from s3.train.plan import check_generator_served
    from s3.train.trainer import build_trainer

    class Models(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = json.dumps({"data": [{"id": "Qwen/Qwen2.5-14B-Instruct"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        train = tmp_path / "train.jsonl"
        train.write_text('{"question": "q", "golden_answers": ["a"]}\n')
        base = [f"model={tmp_path / 'no-model-here'}", f"retriever={tmp_path}", f"data.train_file={train}",
                "reward.baseline=none", "generator.kind=openai",
                f"generator.base_url=http://127.0.0.1:{server.server_port}/v1"]  # fmt: skip
        wrong = load_train_config(
            preset="tiny", overrides=[*base, "generator.model=Qwen/Qwen2.5-14B-Instruct-GPTQ-Int4"]
        )
        with pytest.raises(ConfigError, match="generator.model.*Qwen/Qwen2.5-14B-Instruct'"):
            build_trainer(wrong)
        check_generator_served(
            load_train_config(preset="tiny", overrides=[*base, "generator.model=Qwen/Qwen2.5-14B-Instruct"])
        )
    finally:
        server.shutdown()
    # an endpoint that does not answer (yet) is not an error
    check_generator_served(
        load_train_config(
            preset="tiny",
            overrides=[*base[:-1], "generator.base_url=http://127.0.0.1:9/v1", "generator.model=m"],
        ),
        timeout=1.0,
    )
