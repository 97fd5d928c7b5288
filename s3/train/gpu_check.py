"""A first check of the GPU paths, for whoever has a GPU: short GRPO runs that say what works.

For each model (the tiny random model built here, and SmolLM2-135M-Instruct by default) and each of
full fine-tuning and LoRA, it trains two GRPO steps in bf16 (the ``7b`` preset's precision plan:
fp32 weights for the optimizer, bf16 compute) on a small embedded task with BM25 and the offline
generator, with the searcher generating its own rollouts, and reports the step time, the peak
memory, the dtype of the trained weights and whether they moved. Then it checks the FAISS GPU index
if FAISS has GPU support. Nothing here needs a served generator or a retriever server.

    scripts/check_gpu.sh                                  # CUDA: tiny + SmolLM2-135M, full and LoRA, FAISS
    scripts/check_gpu.sh --models tiny,/path/to/SmolLM2-135M-Instruct --steps 3
    scripts/check_gpu.sh --device cpu --models tiny       # the same on a CPU (a smoke test of the script)
    python -m s3.train.gpu_check --help

Exit status 0 when every run trained and moved its weights (and FAISS GPU, where present, agreed with
FAISS on the CPU), 1 otherwise. ``--output FILE`` also writes the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("tiny", "HuggingFaceTB/SmolLM2-135M-Instruct")


def prepare_task(workdir: Path) -> dict[str, str]:
    """A small embedded task and its naive-RAG precompute (BM25, offline generator) under ``workdir``."""
    from s3.precompute import PrecomputeConfig, run_precompute
    from s3.task.build import build_embedded_task

    task = build_embedded_task(workdir / "task", seed=0, train=40, val=4, test=4)
    pre = workdir / "pre"
    run_precompute(PrecomputeConfig(task_dir=str(task), output_dir=str(pre), progress=False))
    return {"task": str(task), "index": str(pre / "index"), "train": str(pre / "train.jsonl"),
            "cache": str(pre / "rag_cache.jsonl")}  # fmt: skip


def resolve_model(spec: str, workdir: Path, task_dir: str) -> str:
    """``tiny``: a tiny random Qwen2 model whose tokenizer knows the task's words; else as given."""
    if spec != "tiny":
        return spec
    from s3.tiny_model import build_tiny_model

    texts = [json.loads(line)["contents"] for line in open(Path(task_dir) / "corpus.jsonl", encoding="utf-8")]
    return str(build_tiny_model(workdir / "tiny", texts=texts, vocab_size=1024))


def _peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    # the process's peak resident memory (kilobytes on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_check(model: str, task: dict[str, str], device: str, lora: bool, steps: int, lr: float,
                out: Path) -> dict[str, Any]:  # fmt: skip
    """Two (``steps``) GRPO steps of ``model``; returns the measurements."""
    import torch

    from s3.train.config import load_train_config
    from s3.train.trainer import build_trainer

    overrides = [
        f"model={model}",
        f"retriever={task['index']}",
        f"data.train_file={task['train']}",
        f"reward.rag_cache={task['cache']}",
        f"output_dir={out}",
        f"device={'cpu' if device == 'cpu' else 'auto'}",
        "grpo.bf16=true",
        f"grpo.max_steps={steps}",
        f"grpo.learning_rate={lr}",
        "grpo.questions_per_step=4",
        "grpo.num_generations=4",
        "grpo.micro_batch_size=8",
        # a gradient even where an untrained model earns the same reward on every sample
        "grpo.entropy_coef=0.01",
        f"lora.enabled={str(lora).lower()}",
        "lora.save_merged=false",
        "logging.report_to=[]",
        "logging.progress=false",
        "save_steps=0",
        "resume=never",
    ]
    cfg = load_train_config(preset="tiny", overrides=overrides)
    trainer = build_trainer(cfg)
    params = {k: p for k, p in trainer.model.named_parameters() if p.requires_grad}
    before = {k: p.detach().float().clone() for k, p in params.items()}
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params.values()})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    diffs = [(p.detach().float() - before[k]).abs() for k, p in params.items()]
    total = sum(d.numel() for d in diffs)
    changed = sum(int((d > 0).sum()) for d in diffs) / total
    return {
        "model": model,
        "mode": "lora" if lora else "full",
        "device": str(next(trainer.model.parameters()).device),
        "steps": trainer.state.global_step,
        "step_s": round(seconds / max(trainer.state.global_step, 1), 3),
        "peak_memory_mb": round(_peak_memory_mb(device), 1),
        "trained_dtype": ",".join(dtypes),
        "trained_params": total,
        "mean_abs_dw": sum(float(d.sum()) for d in diffs) / total,
        "changed_share": round(changed, 4),
        "moved": changed > 0,
    }


def faiss_gpu_check() -> dict[str, Any]:
    """Search a random flat inner-product index on the GPU and on the CPU; the top ids must agree."""
    try:
        import faiss
    except ImportError:
        return {"faiss_gpu": "faiss not installed"}
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return {"faiss_gpu": "not present (no GPU build of FAISS, or no GPU)"}
    import numpy as np

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((20_000, 768), dtype=np.float32)
    xq = rng.standard_normal((64, 768), dtype=np.float32)
    cpu = faiss.IndexFlatIP(768)
    cpu.add(xb)
    gpu = faiss.index_cpu_to_all_gpus(cpu)
    t0 = time.perf_counter()
    _, gpu_ids = gpu.search(xq, 10)
    gpu_s = time.perf_counter() - t0
    _, cpu_ids = cpu.search(xq, 10)
    return {"faiss_gpu": "ok" if (gpu_ids[:, 0] == cpu_ids[:, 0]).all() else "top-1 differs from the CPU",
            "faiss_gpus": faiss.get_num_gpus(), "faiss_gpu_search_s": round(gpu_s, 4)}  # fmt: skip


def run_check(device: str, models: list[str], steps: int = 2, lr: float = 1e-5,
              workdir: Path | None = None, faiss: bool = True) -> dict[str, Any]:  # fmt: skip
    """Every model x (full, LoRA) training check, then FAISS; returns ``{"runs": [...], ...}``."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("check_gpu: no CUDA device is visible (use --device cpu for a smoke test on a CPU)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="s3-check-"))
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "device_name": (
        torch.cuda.get_device_name(0) if device == "cuda" else "cpu")}  # fmt: skip
    log.info("check in %s on %s", workdir, env["device_name"])
    task = prepare_task(workdir)
    runs = []
    for spec in models:
        model = resolve_model(spec, workdir, task["task"])
        for lora in (False, True):
            name = f"{spec} {'lora' if lora else 'full'}"
            try:
                result = train_check(
                    model,
                    task,
                    device,
                    lora,
                    steps,
                    lr,
                    workdir / "runs" / name.replace(" ", "-").replace("/", "_"),
                )
            except Exception as exc:  # report every run, not only the first failure
                log.exception("%s failed", name)
                result = {
                    "model": spec,
                    "mode": "lora" if lora else "full",
                    "error": repr(exc),
                    "moved": False,
                }
            result["model"] = spec
            log.info("%s: %s", name, json.dumps(result))
            runs.append(result)
    out: dict[str, Any] = {"env": env, "runs": runs}
    if faiss:
        out.update(faiss_gpu_check())
    out["ok"] = (
        all(r.get("moved") for r in runs) and out.get("faiss_gpu", "ok") != "top-1 differs from the CPU"
    )
    return out


def format_table(result: dict[str, Any]) -> str:
    lines = ["model | mode | device | step s | peak MB | trained dtype | share moved | mean |dw|", "---"]
    for r in result["runs"]:
        if "error" in r:
            lines.append(f"{r['model']} | {r['mode']} | FAILED: {r['error']}")
            continue
        lines.append(f"{r['model']} | {r['mode']} | {r['device']} | {r['step_s']} | {r['peak_memory_mb']} | "
                     f"{r['trained_dtype']} | {r['changed_share']:.1%} | {r['mean_abs_dw']:.3g}")  # fmt: skip
    if "faiss_gpu" in result:
        lines.append(f"FAISS GPU: {result['faiss_gpu']}")
    lines.append("all runs trained and moved their weights" if result["ok"] else "SOME CHECKS FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="check_gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="comma-separated: tiny, hub ids, folders"
    )
    p.add_argument("--steps", type=int, default=2, help="GRPO steps per run")
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate")
    p.add_argument("--workdir", help="where the task, models and runs go (default: a temporary folder)")
    p.add_argument("--no-faiss", action="store_true", help="skip the FAISS GPU check")
    p.add_argument("--output", help="also write the results as JSON here")
    args = p.parse_args(argv)
    from s3.logs import setup_logging

    setup_logging(None)
    result = run_check(args.device, [m for m in args.models.split(",") if m], args.steps, args.lr,
                       Path(args.workdir) if args.workdir else None, faiss=not args.no_faiss)  # fmt: skip
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
