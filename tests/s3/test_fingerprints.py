"""Resume checks compare what changes results (models, sampling, retrieval), never how they are reached."""

from __future__ import annotations

import shutil

import pytest

from evaluation.run import ResumeError
from generators.factory import GeneratorConfig, generator_fingerprint
from retrievers.factory import retriever_fingerprint
from s3.cli import main
from s3.config import ConfigError
from s3.precompute import PrecomputeConfig, run_precompute
from s3.task import EmbeddedTaskConfig, build_embedded_task

ELSEWHERE = {"base_url": "http://10.0.0.9:8001/v1/", "timeout": 5.0, "max_retries": 0, "concurrency": 1}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    cfg = EmbeddedTaskConfig(seed=5, train=16, val=8, test=8)
    return build_embedded_task(tmp_path_factory.mktemp("task"), config=cfg)


def test_generator_fingerprint_keeps_the_model_and_sampling_only():
    base = GeneratorConfig(kind="openai", model="qwen", base_url="http://127.0.0.1:8000/v1")
    assert generator_fingerprint(base) == generator_fingerprint(
        GeneratorConfig(kind="openai", model="qwen", **ELSEWHERE)
    )
    for change in ({"model": "llama"}, {"temperature": 0.7}, {"max_tokens": 8}, {"extra_body": {"top_k": 5}}):
        other = GeneratorConfig(kind="openai", **{"model": "qwen", **change})
        assert generator_fingerprint(other) != generator_fingerprint(base), change
    assert generator_fingerprint(None) is None


def test_retriever_fingerprint():
    assert retriever_fingerprint("http://a:3000/retrieve/") == retriever_fingerprint("https://b:4000")
    assert (
        retriever_fingerprint("runs/idx/")
        == retriever_fingerprint("runs/idx")
        != retriever_fingerprint("idx2")
    )
    spec = {"kind": "http", "url": "http://a:1", "timeout": 3, "token": "t"}
    assert retriever_fingerprint(spec) == {"kind": "http"}


def test_precompute_resumes_across_endpoints_but_not_across_generators(task_dir, tmp_path):
    first = tmp_path / "first"
    run_precompute(PrecomputeConfig(task_dir=str(task_dir), output_dir=str(first), progress=False))
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    cfg = PrecomputeConfig(
        task_dir=str(task_dir), output_dir=str(moved), progress=False, generator=GeneratorConfig(**ELSEWHERE)
    )
    assert run_precompute(cfg)["computed_this_run"] == 0
    other = tmp_path / "other"
    shutil.copytree(first, other)
    for generator in (GeneratorConfig(max_tokens=16), GeneratorConfig(seed=7)):
        cfg = PrecomputeConfig(
            task_dir=str(task_dir), output_dir=str(other), progress=False, generator=generator
        )
        with pytest.raises(ConfigError, match="different generator"):
            run_precompute(cfg)


def test_evaluation_resumes_across_endpoints_but_not_across_generators(task_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["evaluate", "--task-dir", str(task_dir), "--output", str(out), "--limit", "4", "--methods", "naive-rag",
            "--set", "progress=false"]  # fmt: skip
    assert main(argv) == 0
    answers = out / "naive-rag" / "embedded" / "answers.jsonl"
    before = answers.read_bytes()
    moved = [f"generator.{k}={v}" for k, v in ELSEWHERE.items()]
    assert main([*argv, *(x for m in moved for x in ("--set", m))]) == 0
    assert answers.read_bytes() == before  # resumed: nothing recomputed
    with pytest.raises(ResumeError, match="generator_config"):
        main(["--debug", *argv, "--set", "generator.max_tokens=16"])
    # without --debug: one line naming the differing settings, exit code 2 (a user's error)
    assert main([*argv, "--set", "generator.max_tokens=16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generator_config" in err[0] and "--overwrite" in err[0]
