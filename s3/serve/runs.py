"""An evaluation run folder (``s3 evaluate --output DIR``) as the page browses it.

The folder holds ``results.json`` and, per method and dataset, ``contexts.jsonl`` (documents and
trace) and ``answers.jsonl`` (the generator's answer and its metrics); see :mod:`evaluation.run`.
:meth:`EvaluationRun.overview` lists the questions with each method's verdict (right or wrong);
:meth:`EvaluationRun.question` gives every method's context, trace and answer for one question.
Answers are read once; contexts (the bulky part) are read per method and dataset when first asked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evaluation.records import read_records


class EvaluationRun:
    """A run folder written by ``s3 evaluate``.

    Args:
        path: the folder (``results.json`` or method folders with ``method.json`` in it).

    Raises:
        FileNotFoundError: the folder holds no evaluation run.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.name
        self.results: list[dict[str, Any]] = []
        if (self.path / "results.json").is_file():
            self.results = json.loads((self.path / "results.json").read_text(encoding="utf-8"))
        # (method, dataset) -> folder; method labels from method.json (folder names are sanitised)
        self.folders: dict[tuple[str, str], Path] = {}
        for method_dir in sorted(p for p in self.path.glob("*") if (p / "method.json").is_file()):
            label = json.loads((method_dir / "method.json").read_text(encoding="utf-8")).get(
                "name", method_dir.name
            )
            for dataset_dir in sorted(p for p in method_dir.iterdir() if (p / "answers.jsonl").is_file()):
                self.folders[(label, dataset_dir.name)] = dataset_dir
        if not self.folders:
            raise FileNotFoundError(
                f"{self.path}: no evaluation run here (no <method>/<dataset>/answers.jsonl); "
                "give the --output folder of s3 evaluate"
            )
        self.answers = {key: {str(r["id"]): r for r in read_records(folder / "answers.jsonl", repair=False)}
                        for key, folder in self.folders.items()}  # fmt: skip
        self._contexts: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        order = [r["method"] for r in self.results]
        self.methods = sorted(
            {m for m, _ in self.folders}, key=lambda m: (order.index(m) if m in order else 1e9, m)
        )
        self.datasets = sorted({d for _, d in self.folders})

    def contexts(self, method: str, dataset: str) -> dict[str, dict[str, Any]]:
        key = (method, dataset)
        if key not in self._contexts:
            path = self.folders[key] / "contexts.jsonl"
            self._contexts[key] = (
                {str(r["id"]): r for r in read_records(path, repair=False)} if path.is_file() else {}
            )
        return self._contexts[key]

    def overview(self) -> dict[str, Any]:
        """The run's table rows, methods, datasets, and every question with each method's GenAcc."""
        questions: dict[tuple[str, str], dict[str, Any]] = {}
        for (method, dataset), rows in self.answers.items():
            for qid, row in rows.items():
                entry = questions.setdefault(
                    (dataset, qid),
                    {"dataset": dataset, "id": qid, "question": row.get("question", ""),
                     "golden_answers": row.get("golden_answers", []), "genacc": {}},
                )  # fmt: skip
                entry["genacc"][method] = row.get("genacc")
        return {
            "name": self.name,
            "results": self.results,
            "methods": self.methods,
            "datasets": self.datasets,
            "questions": list(questions.values()),
        }

    def question(self, dataset: str, qid: str) -> dict[str, Any]:
        """Every method's answer, metrics, documents and trace for one question (``KeyError`` if unknown)."""
        methods: dict[str, Any] = {}
        question = golden = None
        for method in self.methods:
            row = self.answers.get((method, dataset), {}).get(qid)
            if row is None:
                continue
            question, golden = row.get("question"), row.get("golden_answers")
            context = self.contexts(method, dataset).get(qid, {})
            methods[method] = {
                "prediction": row.get("prediction"),
                "genacc": row.get("genacc"),
                "em": row.get("em"),
                "f1": row.get("f1"),
                "turns": row.get("turns"),
                "searches": row.get("searches"),
                "prompt": context.get("prompt"),
                "docs": context.get("docs", []),
                "trace": context.get("trace", {}),
            }
        if not methods:
            raise KeyError(f"no question {qid!r} in dataset {dataset!r} of {self.name}")
        return {
            "dataset": dataset,
            "id": qid,
            "question": question,
            "golden_answers": golden,
            "methods": methods,
        }
