"""``s3 tiny-model``: a small random searcher for a CPU, its tokenizer trained on your corpus and questions.

    s3 tiny-model --corpus corpus.jsonl --data questions.jsonl --output runs/tiny
    s3 tiny-model --corpus corpus.jsonl --output runs/tiny --hidden-size 128 --vocab-size 4096

The model (a Qwen2 architecture, 2 layers of width 64 by default) knows nothing yet: warm-start it
(``s3 warmstart --preset tiny``) and train it (``s3 train --preset tiny``). It runs the whole pipeline
on a CPU in minutes; a searcher that can read is an instruction-tuned model (``s3 warmstart
source=none model=Qwen/Qwen2.5-7B-Instruct``).
"""

from __future__ import annotations

import argparse

from s3.commands import add_command


def register(subparsers) -> None:
    p = add_command(
        subparsers, __name__, help="build a small CPU searcher with a tokenizer trained on your corpus"
    )
    p.add_argument("--corpus", required=True, help="corpus JSONL ({id, contents} or {id, title, text})")
    p.add_argument(
        "--data", action="append", default=[], metavar="[SPLIT=]QA_FILE", help="QA files whose questions the "
        "tokenizer also learns (repeatable; the SPLIT= of s3 precompute is accepted)",
    )  # fmt: skip
    p.add_argument("--output", required=True, help="model folder to write")
    p.add_argument("--vocab-size", type=int, default=2048, help="tokenizer vocabulary (default 2048)")
    p.add_argument("--hidden-size", type=int, default=64, help="model width (default 64)")
    p.add_argument("--layers", type=int, default=2, help="transformer layers (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retrievers.corpus import read_corpus
    from s3.data import load_qa
    from s3.precompute import data_split
    from s3.tiny_model import build_tiny_model

    texts = [f"{d.title}\n{d.text}" for d in read_corpus(args.corpus)]
    for entry in args.data:
        spec, split = data_split(entry, default="train")  # the split does not matter to a tokenizer
        texts.extend(ex.question for ex in load_qa(spec, split=split))
    path = build_tiny_model(
        args.output,
        texts=texts,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        intermediate_size=2 * args.hidden_size,
        seed=args.seed,
    )
    print(f"tiny searcher written to {path}; next: s3 warmstart --preset tiny model={path} ...")
    return 0
