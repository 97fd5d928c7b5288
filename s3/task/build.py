"""Write the embedded task to disk: corpus, train/val/test questions and a manifest.

Files (all JSONL, one record a line, written deterministically so reruns are byte-identical):

- ``corpus.jsonl``: ``{"id", "contents"}`` with contents ``'"Title"\\ntext'`` (the Search-R1/FlashRAG
  corpus shape every retriever reads);
- ``train.jsonl``, ``val.jsonl``, ``test.jsonl``: FlashRAG-shaped questions (``id``, ``question``,
  ``golden_answers``) plus ground truth (``type``, ``hops``, ``bridge``, ``supporting_doc_ids``,
  ``answer_doc_id``, ``ideal_queries``, ``supporting_facts``);
- ``task.json``: the seed and sizes the files were built from.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3.task.questions import make_splits
from s3.task.world import World, WorldConfig, build_world

log = logging.getLogger(__name__)

#: bump when the generated files change for the same seed
TASK_VERSION = 1


@dataclass
class EmbeddedTaskConfig:
    """Sizes of the embedded task; the defaults make a ~2,000-passage corpus and 600/150/150 questions."""

    seed: int = 0
    train: int = 600
    val: int = 150
    test: int = 150
    one_hop_fraction: float = 0.25
    world: WorldConfig = field(default_factory=WorldConfig)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def generate_task(cfg: EmbeddedTaskConfig) -> tuple[World, dict[str, list[dict[str, Any]]]]:
    """Generate the world and the question splits in memory (no files)."""
    rng = random.Random(cfg.seed)
    world = build_world(rng, cfg.world)
    splits = make_splits(
        world, rng, {"train": cfg.train, "val": cfg.val, "test": cfg.test}, cfg.one_hop_fraction
    )
    return world, splits


def build_embedded_task(
    out_dir: str | Path,
    seed: int = 0,
    train: int = 600,
    val: int = 150,
    test: int = 150,
    config: EmbeddedTaskConfig | None = None,
) -> Path:
    """Generate the embedded task and write it to ``out_dir``.

    Args:
        out_dir: folder to write (created if missing; files are overwritten).
        seed: the seed; the same seed and sizes give byte-identical files.
        train, val, test: questions per split (ignored when ``config`` is given).
        config: full control over sizes, including the world's.

    Returns:
        ``out_dir`` as a Path.

    Example::

        task = build_embedded_task("runs/task", seed=0)
        # runs/task/corpus.jsonl, train.jsonl, val.jsonl, test.jsonl, task.json
    """
    cfg = config or EmbeddedTaskConfig(seed=seed, train=train, val=val, test=test)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world, splits = generate_task(cfg)
    _write_jsonl(
        out / "corpus.jsonl", [{"id": e.doc_id, "contents": f'"{e.name}"\n{e.text}'} for e in world.corpus]
    )
    for name, rows in splits.items():
        _write_jsonl(out / f"{name}.jsonl", rows)
    manifest = {
        "task": "s3-embedded",
        "version": TASK_VERSION,
        **asdict(cfg),
        "corpus_size": len(world.corpus),
    }
    (out / "task.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info(
        "embedded task in %s: %d passages, %s questions",
        out,
        len(world.corpus),
        {k: len(v) for k, v in splits.items()},
    )
    return out
