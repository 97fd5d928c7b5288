"""A toy QA set and a keyword context method for the evaluation-run tests (also runnable as a script).

The method is deterministic and logs every question it is asked about to a file, so tests can check
that a resumed run does not gather finished questions again. Run as a script it evaluates the toy
set into a folder, slowly (a generator latency per call), so a test can kill it midway.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.contexts import ContextMethod, ContextRecord
from retrievers.doc import Doc

FIRST = ["Zor", "Kel", "Mav", "Drun", "Pel", "Tor", "Vash", "Brin", "Sul", "Grem", "Fal", "Nox", "Quil"]
LAST = [
    "Morvik",
    "Dalen",
    "Tesh",
    "Orrin",
    "Balto",
    "Kessa",
    "Vorn",
    "Lumi",
    "Trask",
    "Ebbe",
    "Rusk",
    "Hale",
    "Pim",
]


@dataclass
class ToyExample:
    id: str
    question: str
    golden_answers: list[str]
    supporting_doc_ids: list[str] = field(default_factory=list)


def toy_world(n: int = 13) -> tuple[list[ToyExample], dict[str, Doc]]:
    """``n`` one-hop "who founded X" questions; every third company has no passage (a sure miss)."""
    docs: dict[str, Doc] = {}
    examples = []
    for i in range(n):
        org = f"{FIRST[i]}bex Industries"
        founder = f"{FIRST[(i + 5) % n]}an {LAST[i]}"
        doc_id = f"d{i}"
        if i % 3 != 2:
            docs[doc_id] = Doc(doc_id, org, f"{org} is a company founded by {founder}. It makes lamps.")
        examples.append(ToyExample(f"q{i}", f"Who founded {org}?", [founder], [doc_id]))
    return examples, docs


class KeywordMethod(ContextMethod):
    """Hands over every toy passage whose title appears in the question; logs the questions it sees."""

    name = "keyword"

    def __init__(self, docs: dict[str, Doc], log_path: str | Path | None = None, name: str = "keyword"):
        self.docs = docs
        self.log_path = Path(log_path) if log_path else None
        self.name = name
        self.calls = 0

    def contexts(self, examples):
        self.calls += 1
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write("".join(e.id + "\n" for e in examples))
        out = []
        for e in examples:
            docs = [d for d in self.docs.values() if d.title in e.question]
            out.append(
                ContextRecord(id=e.id, question=e.question, docs=docs, searches=1, trace={"n": len(docs)})
            )
        return out


def main(out_dir: str, latency: float) -> None:
    from evaluation.run import evaluate
    from generators.offline import ExtractiveReader

    examples, docs = toy_world()
    methods = [
        KeywordMethod(docs, Path(out_dir).parent / "calls-keyword.log"),
        KeywordMethod({}, Path(out_dir).parent / "calls-empty.log", name="empty"),
    ]
    evaluate(
        methods,
        {"toy": examples, "toy2": examples[:7]},
        ExtractiveReader(latency_s=latency, request_log=Path(out_dir).parent / "generator.log"),
        out_dir,
        batch_size=3,
        progress=False,
    )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
