"""Measure the embedded task's datasheet: sizes, naive-RAG and oracle GenAcc, recall of the answer passage.

The numbers in ``docs/embedded-task.md`` come from :func:`measure_task` (command: ``s3 datasheet``).
The point of the datasheet is the **headroom**: GenAcc of the offline generator with the gold
supporting passages (the oracle) must sit far above its GenAcc with the top-k passages BM25 finds
for the raw question (naive RAG); that gap is what a searcher can gain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from generators.base import Generator
from retrievers.base import Retriever
from retrievers.doc import Doc

SPLITS = ("train", "val", "test")


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def read_task(task_dir: str | Path) -> tuple[list[Doc], dict[str, list[dict[str, Any]]]]:
    """The corpus (as Docs) and the split rows of a task folder written by :func:`build_embedded_task`."""
    from retrievers.corpus import read_corpus

    task_dir = Path(task_dir)
    corpus = list(read_corpus(task_dir / "corpus.jsonl"))
    splits = {}
    for split in SPLITS:
        path = task_dir / f"{split}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                splits[split] = [json.loads(line) for line in f if line.strip()]
    return corpus, splits


def measure_task(
    task_dir: str | Path,
    retriever: Retriever | None = None,
    generator: Generator | None = None,
    k: int = 3,
    recall_ks: tuple[int, ...] = (1, 3, 8),
) -> dict[str, Any]:
    """Compute the datasheet statistics of a task folder.

    Args:
        task_dir: a folder with ``corpus.jsonl`` and ``{train,val,test}.jsonl``.
        retriever: defaults to BM25 built over the corpus in a temporary folder.
        generator: defaults to the offline :class:`~generators.offline.ExtractiveReader`.
        k: documents given to the generator for naive RAG (3 in s3).
        recall_ks: cut-offs for the recall of the answer passage.

    Returns:
        ``{"sizes", "overall", "by_split", "by_type"}``; each accuracy block holds ``naive_rag``,
        ``oracle``, ``scripted_search`` (GenAcc with the initial documents plus all 8 results of the
        ideal bridge query), ``recall@K``, ``bridge_recall@K`` (2-hop: the answer passage found by searching
        for the bridge entity's name, the ideal second query) and ``n``.
    """
    from evaluation.metrics import genacc_batch

    corpus, splits = read_task(task_dir)
    by_id = {d.id: d for d in corpus}
    if retriever is None:
        from retrievers.bm25 import BM25Retriever

        retriever = BM25Retriever.build(corpus)
    if generator is None:
        from generators.offline import ExtractiveReader

        generator = ExtractiveReader()
    rows = [(split, row) for split, split_rows in splits.items() for row in split_rows]
    questions = [row["question"] for _, row in rows]
    golds = [row["golden_answers"] for _, row in rows]
    depth = max(max(recall_ks), k)
    retrieved = retriever.search(questions, depth)
    naive = genacc_batch(questions, generator.answer_batch(questions, [r[:k] for r in retrieved]), golds)
    oracle_ctx = [[by_id[i] for i in row["supporting_doc_ids"]] for _, row in rows]
    oracle = genacc_batch(questions, generator.answer_batch(questions, oracle_ctx), golds)
    bridges = [row.get("bridge") for _, row in rows]
    two_hop = [i for i, b in enumerate(bridges) if b]
    bridge_hits = retriever.search([bridges[i] for i in two_hop], depth) if two_hop else []
    bridge_rank = {i: [d.id for d in hits] for i, hits in zip(two_hop, bridge_hits)}
    # the scripted searcher's context when nothing is filtered: the initial documents plus every
    # document of the ideal second search (s3's rule for blocks without a selection)
    bridge_docs = dict(zip(two_hop, bridge_hits))
    scripted_ctx = [r[:k] + bridge_docs.get(i, [])[:8] for i, r in enumerate(retrieved)]
    scripted = genacc_batch(questions, generator.answer_batch(questions, scripted_ctx), golds)

    groups: dict[str, dict[str, list[int]]] = {"overall": {"all": list(range(len(rows)))}}
    groups["by_split"] = defaultdict(list)
    groups["by_type"] = defaultdict(list)
    for i, (split, row) in enumerate(rows):
        groups["by_split"][split].append(i)
        groups["by_type"][f"{row.get('type', 'all')} ({row.get('hops', '?')}-hop)"].append(i)

    def block(idx: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": len(idx),
            "naive_rag": _mean([naive[i] for i in idx]),
            "oracle": _mean([oracle[i] for i in idx]),
            "scripted_search": _mean([scripted[i] for i in idx]),
        }
        for cut in recall_ks:
            out[f"recall@{cut}"] = _mean(
                [float(rows[i][1]["answer_doc_id"] in [d.id for d in retrieved[i][:cut]]) for i in idx]
            )
        hop2 = [i for i in idx if i in bridge_rank]
        if hop2:
            for cut in recall_ks:
                out[f"bridge_recall@{cut}"] = _mean(
                    [float(rows[i][1]["answer_doc_id"] in bridge_rank[i][:cut]) for i in hop2]
                )
        return out

    result: dict[str, Any] = {
        "sizes": {"corpus": len(corpus), **{s: len(r) for s, r in splits.items()}},
        "k": k,
        "generator": generator.name,
        "retriever": type(retriever).__name__,
    }
    result["overall"] = block(groups["overall"]["all"])
    result["by_split"] = {s: block(v) for s, v in groups["by_split"].items()}
    result["by_type"] = {t: block(v) for t, v in sorted(groups["by_type"].items())}
    return result


def format_datasheet(stats: dict[str, Any]) -> str:
    """Markdown tables of :func:`measure_task`'s result."""
    ks = [key for key in stats["overall"] if key.startswith("recall@")]
    head = ["", "n", f"naive RAG GenAcc (k={stats['k']})", "oracle GenAcc", "scripted search GenAcc", *ks,
            "bridge-query recall@1"]  # fmt: skip
    lines = [
        f"Corpus: {stats['sizes']['corpus']} passages; questions: "
        + ", ".join(f"{s} {n}" for s, n in stats["sizes"].items() if s != "corpus")
        + f". Generator: {stats['generator']}; retriever: {stats['retriever']}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def row(name: str, b: dict[str, Any]) -> str:
        cells = [
            name,
            str(b["n"]),
            f"{b['naive_rag']:.3f}",
            f"{b['oracle']:.3f}",
            f"{b['scripted_search']:.3f}",
        ]
        cells += [f"{b[key]:.3f}" for key in ks]
        cells.append(f"{b['bridge_recall@1']:.3f}" if "bridge_recall@1" in b else "-")
        return "| " + " | ".join(cells) + " |"

    lines.append(row("**all**", stats["overall"]))
    for split, b in stats["by_split"].items():
        lines.append(row(f"split {split}", b))
    for qtype, b in stats["by_type"].items():
        lines.append(row(qtype, b))
    return "\n".join(lines)
