"""Generate the synthetic benchmark corpus and queries (the reference's recipe, our code).

    python benchmarks/retrieval/make_corpus.py --docs 1000000 --out benchmarks/_work/retrieval

Passages: ``{"id", "contents": "\\"title\\"\\ntext"}`` of 30-100 words drawn from a 100k-word
vocabulary with a Zipf(1.07) distribution. Queries: 4-8 words sampled from a known source passage
(``queries.jsonl``: ``{"query", "source"}``).
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

import numpy as np


def make_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list(string.ascii_lowercase))
    words, seen = [], set()
    while len(words) < size:
        length = int(rng.integers(3, 11))
        word = "".join(rng.choice(letters, length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--vocab", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/_work/retrieval")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    vocab = np.array(make_vocabulary(args.vocab, rng))
    probs = 1.0 / np.arange(1, args.vocab + 1) ** 1.07
    probs /= probs.sum()
    sources = set(rng.choice(args.docs, size=args.queries, replace=False).tolist())
    queries = []
    with open(out / "corpus" / "corpus.jsonl", "w") as f:
        for start in range(0, args.docs, 10_000):
            n = min(10_000, args.docs - start)
            lengths = rng.integers(30, 101, size=n)
            words = vocab[rng.choice(args.vocab, size=int(lengths.sum()), p=probs)]
            pos = 0
            for i, length in enumerate(lengths):
                doc_words = words[pos : pos + length]
                pos += length
                row = start + i
                title = " ".join(doc_words[:2])
                text = " ".join(doc_words[2:])
                f.write(json.dumps({"id": str(row), "contents": f'"{title}"\n{text}'}) + "\n")
                if row in sources:
                    k = int(rng.integers(4, 9))
                    picked = rng.choice(doc_words, size=k, replace=False)
                    queries.append({"query": " ".join(picked), "source": str(row)})
    with open(out / "queries.jsonl", "w") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    print(f"wrote {args.docs} passages and {len(queries)} queries to {out}")


if __name__ == "__main__":
    main()
