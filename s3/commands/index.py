"""``s3 index``: build a retrieval index (BM25, dense or Lucene) from a JSONL corpus.

s3 index --corpus corpus.jsonl --output idx/                  # BM25 (default)
s3 index --corpus corpus.jsonl --output idx/ --kind dense --model intfloat/e5-base-v2
s3 index --corpus corpus.jsonl --output idx/ --kind lucene    # needs the pyserini extra
"""

from __future__ import annotations

import argparse
import json


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def register(subparsers) -> None:
    p = subparsers.add_parser("index", help="build a retrieval index from a corpus", description=__doc__)
    p.add_argument("--corpus", required=True, help="JSONL corpus: {id, contents} or {id, title, text} rows")
    p.add_argument("--output", required=True, help="index directory to write")
    p.add_argument("--kind", default="bm25", choices=["bm25", "dense", "lucene"])
    p.add_argument("--model", default=None, help="dense: encoder (HF name or local folder)")
    p.add_argument("--index-type", default=None, help="dense: flat, hnsw, ivfpq or sq-fp16")
    p.add_argument("--batch-size", type=int, default=None, help="dense: encoding batch size")
    p.add_argument("--threads", type=int, default=None, help="lucene: indexing threads")
    p.add_argument(
        "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
        help="extra builder option, e.g. --option k1=1.2 --option stemmer=english",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retrievers.factory import build_index

    options = dict(args.option)
    for name in ("model", "index_type", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    path = build_index(args.corpus, args.output, kind=args.kind, **options)
    manifest = json.loads((path / "index.json").read_text())
    print(f"{manifest['kind']} index of {manifest['num_docs']} documents written to {path}")
    return 0
