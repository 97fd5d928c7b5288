"""Run by ``test_train_ddp.py`` under ``torchrun --nproc_per_node 2`` (gloo, CPU): two GRPO steps, then
each rank writes what the test compares (a digest of its final weights, its policy call counts)."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch


def main() -> None:
    torch.set_num_threads(1)
    out_dir, overrides = sys.argv[1], sys.argv[2:]
    from s3.train.config import load_train_config
    from s3.train.trainer import build_trainer

    cfg = load_train_config(preset="tiny", overrides=overrides)
    trainer = build_trainer(cfg)
    trainer.train()
    rank = int(os.environ.get("RANK", "0"))
    model = trainer.accelerator.unwrap_model(trainer.model)
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().numpy().tobytes())
    record = {
        "rank": rank,
        "world": trainer.accelerator.num_processes,
        "backend": str(torch.distributed.get_backend()) if torch.distributed.is_initialized() else None,
        "weights": digest.hexdigest(),
        "generate_calls": trainer.s3_rollout.generate_calls,
        "questions": sorted({q for q in trainer.s3_rollout.seen_questions}),
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w", encoding="utf-8") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
