"""Question templates of the embedded task and the seeded train/validation/test split.

Six question types over the world of :mod:`s3.task.world`:

======================  ====  ==========================================================  ============
type                    hops  template                                                    bridge
======================  ====  ==========================================================  ============
founder_birthplace      2     In which city was the founder of {org} born?                founder
headquarters_country    2     In which country is {org} headquartered?                    hq city
birth_country           2     In which country was {person} born?                         birth city
founder                 1     Who founded {org}?                                          -
birthplace              1     In which city was {person} born?                            -
city_country            1     In which country is {city}?                                 -
======================  ====  ==========================================================  ============

Each record carries the ground truth a scripted searcher needs: the entity asked about
(``subject``), the supporting document ids (first hop, then the answer document), the bridge entity,
and the ideal follow-up query (the bridge's name).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from s3.task.world import Entity, World

TWO_HOP = ("founder_birthplace", "headquarters_country", "birth_country")
ONE_HOP = ("founder", "birthplace", "city_country")


@dataclass
class TaskQuestion:
    """One generated question with its ground truth."""

    type: str
    question: str
    answer: str
    supporting: list[Entity]  # first hop first, the answer's passage last
    bridge: str | None

    def record(self, qid: str) -> dict[str, Any]:
        """The FlashRAG-shaped JSONL row (``id``, ``question``, ``golden_answers``) plus ground truth."""
        return {
            "id": qid,
            "question": self.question,
            "golden_answers": [self.answer],
            "type": self.type,
            "hops": 2 if self.bridge else 1,
            "subject": self.supporting[0].name,
            "bridge": self.bridge,
            "supporting_doc_ids": [e.doc_id for e in self.supporting],
            "answer_doc_id": self.supporting[-1].doc_id,
            "ideal_queries": [self.bridge] if self.bridge else [],
            "supporting_facts": [[e.name, _fact_sentence(e, self)] for e in self.supporting],
        }


def _fact_sentence(entity: Entity, q: TaskQuestion) -> int:
    """Index of the sentence of ``entity`` that the reasoning uses (HotpotQA-style supporting fact)."""
    targets = [q.answer] + ([q.bridge] if q.bridge else [])
    for i, sentence in enumerate(entity.sentences):
        if any(t in sentence for t in targets) and (entity.kind != "person" or "born" in sentence):
            return i
    return 0


#: each type's question (``{}`` is the subject's name) and the relations from the subject to the answer;
#: a 2-hop type's first relation leads to the bridge entity
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "founder_birthplace": ("In which city was the founder of {} born?", ("founder", "birthplace")),
    "headquarters_country": ("In which country is {} headquartered?", ("headquarters", "country")),
    "birth_country": ("In which country was {} born?", ("birthplace", "country")),
    "founder": ("Who founded {}?", ("founder",)),
    "birthplace": ("In which city was {} born?", ("birthplace",)),
    "city_country": ("In which country is {}?", ("country",)),
}


def make_question(world: World, qtype: str, subject: Entity) -> TaskQuestion:
    """Instantiate template ``qtype`` for ``subject`` (an organisation, person or city)."""
    if qtype not in TEMPLATES:
        raise ValueError(f"unknown question type {qtype!r}")
    template, relations = TEMPLATES[qtype]
    supporting = [subject]
    for relation in relations[:-1]:  # to the bridge
        supporting.append(world.entities[supporting[-1].relations[relation]])
    bridge = supporting[-1].name if len(supporting) > 1 else None
    answer = supporting[-1].relations[relations[-1]]
    return TaskQuestion(qtype, template.format(subject.name), answer, supporting, bridge)


_SUBJECT_KIND = {
    "founder_birthplace": "organisation",
    "headquarters_country": "organisation",
    "birth_country": "person",
    "founder": "organisation",
    "birthplace": "person",
    "city_country": "city",
}


def make_splits(
    world: World,
    rng: random.Random,
    sizes: dict[str, int],
    one_hop_fraction: float = 0.25,
) -> dict[str, list[dict[str, Any]]]:
    """Draw questions and split them, stratified by type so every split has the same mix.

    Args:
        world: the world to ask about.
        rng: the seeded random stream.
        sizes: questions per split, e.g. ``{"train": 600, "val": 150, "test": 150}``.
        one_hop_fraction: share of 1-hop questions (naive RAG answers those).

    Returns:
        ``{split: [record, ...]}`` with ids ``"{split}-{i}"``.
    """
    total = sum(sizes.values())
    n_one = round(total * one_hop_fraction)
    counts = {t: n_one // len(ONE_HOP) for t in ONE_HOP}
    counts.update({t: (total - n_one) // len(TWO_HOP) for t in TWO_HOP})
    # hand the rounding remainder to the 2-hop types, in a fixed order
    for i in range(total - sum(counts.values())):
        counts[TWO_HOP[i % len(TWO_HOP)]] += 1

    by_type: dict[str, list[TaskQuestion]] = {}
    for qtype in (*TWO_HOP, *ONE_HOP):
        pool = sorted(world.of_kind(_SUBJECT_KIND[qtype]), key=lambda e: e.name)
        if qtype == "birthplace" or qtype == "birth_country":
            # ask about founders and employees alike
            pool = [p for p in pool if "birthplace" in p.relations]
        if counts[qtype] > len(pool):
            raise ValueError(f"{counts[qtype]} {qtype} questions asked for but only {len(pool)} subjects")
        by_type[qtype] = [make_question(world, qtype, s) for s in rng.sample(pool, counts[qtype])]

    # stratified and exact: order every question by its relative position within its type, then cut
    # consecutive runs of the requested sizes, so each split gets each type's share (within one)
    ordered = sorted(
        ((i + 0.5) / len(qs), t, i) for t, (qtype, qs) in enumerate(by_type.items()) for i in range(len(qs))
    )
    types = list(by_type)
    flat = [by_type[types[t]][i] for _, t, i in ordered]
    splits: dict[str, list[TaskQuestion]] = {}
    start = 0
    for name, n in sizes.items():
        splits[name] = flat[start : start + n]
        start += n
    out: dict[str, list[dict[str, Any]]] = {}
    for name, questions in splits.items():
        rng.shuffle(questions)
        out[name] = [q.record(f"{name}-{i}") for i, q in enumerate(questions)]
    return out
