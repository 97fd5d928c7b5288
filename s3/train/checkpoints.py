"""Training checkpoints that a kill cannot break, and resuming from them.

A checkpoint is written into ``output_dir/.checkpoint-staging/checkpoint-N`` and renamed to
``output_dir/checkpoint-N`` only once every file is on disk, so a kill while saving leaves the
previous checkpoints as they were. Resuming picks the newest checkpoint that is complete (trainer
state readable, weight and optimizer files whole), skipping damaged ones with a message naming the
file; ``metrics.jsonl`` is cut back to the resumed step so no step is logged twice.

Example::

    trainer = atomic_checkpoints(GRPOTrainer)(model=..., args=...)
    resume = find_resume_checkpoint("runs/s3")   # None: start from scratch
    trim_metrics("runs/s3/metrics.jsonl", checkpoint_step(resume))
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

from evaluation.records import read_records

log = logging.getLogger(__name__)

STAGING_DIR = ".checkpoint-staging"
STATE_FILE = "trainer_state.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be resumed from; the message names the file."""


def checkpoint_step(path: str | os.PathLike | None) -> int:
    """The step of ``.../checkpoint-N`` (0 for None)."""
    if path is None:
        return 0
    match = _CHECKPOINT_RE.match(Path(path).name)
    if match:
        return int(match.group(1))
    state = json.loads((Path(path) / STATE_FILE).read_text(encoding="utf-8"))
    return int(state["global_step"])


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: truncated ({size} bytes, no safetensors header)")
        (n,) = struct.unpack("<Q", head)
        try:
            header = json.loads(f.read(n)) if n < size else None
        except ValueError:
            header = None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the safetensors header is unreadable (a truncated or corrupt file)")
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if size != 8 + n + end:
        raise CheckpointError(
            f"{path}: {size} bytes, its header describes {8 + n + end} (truncated or corrupt)"
        )


def _check_torch_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: not a complete torch file ({exc})") from None


def check_checkpoint(path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` naming the first missing, truncated or corrupt file of ``path``.

    Checks the trainer state (readable JSON with a step), that model weights exist, and every
    safetensors file (header against size) and torch file (zip directory) in the folder: cheap, no
    tensor is loaded.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint folder")
    state = path / STATE_FILE
    try:
        int(json.loads(state.read_text(encoding="utf-8"))["global_step"])
    except FileNotFoundError:
        raise CheckpointError(f"{state}: missing (an interrupted save)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{state}: unreadable ({exc})") from None
    weights = [
        p for p in path.iterdir() if p.suffix == ".safetensors" or p.name.endswith((".bin", ".pt", ".pth"))
    ]
    sharded = any(p.is_dir() for p in path.iterdir())  # FSDP / DeepSpeed shard folders
    if not sharded and not any(p.suffix == ".safetensors" or p.name == "pytorch_model.bin" for p in weights):
        raise CheckpointError(f"{path}: no model weights (*.safetensors) in the folder")
    for p in sorted(weights):
        if p.suffix == ".safetensors":
            _check_safetensors(p)
        else:
            _check_torch_zip(p)


def find_resume_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest complete ``checkpoint-N`` in ``output_dir`` (None if there is none).

    Damaged checkpoints (an empty folder from a kill, a truncated weight file) are skipped with a
    warning naming the file, falling back to the one before.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT_RE.match(p.name)) and p.is_dir()),
        reverse=True,
    )
    for _, path in found:
        try:
            check_checkpoint(path)
        except CheckpointError as exc:
            log.warning("skipping %s, it cannot be resumed from: %s", path.name, exc)
            continue
        return str(path)
    if found:
        log.warning("%s: no complete checkpoint among %d; starting from scratch", root, len(found))
    return None


def trim_metrics(path: str | os.PathLike, step: int) -> int:
    """Drop the records of ``path`` logged after ``step`` (they will be logged again); returns how many."""
    path = Path(path)
    records = read_records(path)
    kept = [r for r in records if int(r.get("step", 0)) <= step]
    if len(kept) < len(records):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, path)
        log.info(
            "%s: dropped %d records after step %d (resuming there)", path, len(records) - len(kept), step
        )
    return len(records) - len(kept)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def publish_checkpoint(staged: Path, target: Path) -> None:
    """Move a fully written checkpoint folder into place (replacing one of the same step)."""
    _fsync_tree(staged)
    if target.exists():  # the same step saved again (a resumed run): swap, then drop the old one
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_checkpoints(trainer_class: type) -> type:
    """A subclass of a ``transformers.Trainer`` class that writes checkpoints aside and renames them."""
    from transformers.trainer_utils import rotate_checkpoints

    class AtomicCheckpointTrainer(trainer_class):
        _s3_staging: str | None = None

        def _get_output_dir(self, trial: Any) -> str:
            return self._s3_staging or super()._get_output_dir(trial)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            run_dir = Path(super()._get_output_dir(trial))
            name = f"checkpoint-{self.state.global_step}"
            staging = run_dir / STAGING_DIR
            if self.args.should_save:
                shutil.rmtree(staging / name, ignore_errors=True)
            self._s3_staging = str(staging)
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self._s3_staging = None
            self.accelerator.wait_for_everyone()  # every process has written its part
            if self.args.should_save:
                publish_checkpoint(staging / name, run_dir / name)
                rotate_checkpoints(str(run_dir), save_total_limit=self.args.save_total_limit, use_mtime=True)
            self.accelerator.wait_for_everyone()

    AtomicCheckpointTrainer.__name__ = f"AtomicCheckpoint{trainer_class.__name__}"
    return AtomicCheckpointTrainer
