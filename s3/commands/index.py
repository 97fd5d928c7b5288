"""``s3 index``: build a retrieval index (BM25, dense or Lucene) from a JSONL corpus, or compress one.

s3 index --corpus corpus.jsonl --output idx/                  # BM25 (default)
s3 index --corpus corpus.jsonl --output idx/ --kind dense --model intfloat/e5-base-v2
s3 index --corpus corpus.jsonl --output idx/ --kind lucene    # needs the pyserini extra
s3 index convert dense_idx/ --output dense_8gb/ --preset wiki-8gb      # a smaller dense index
s3 index convert e5_Flat.index --corpus wiki-18.jsonl --model intfloat/e5-base-v2 \
    --output wiki18_16gb/ --preset wiki-16gb                  # the public wiki-18 E5 Flat index
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
    p.add_argument("--corpus", help="JSONL corpus: {id, contents} or {id, title, text} rows (required)")
    p.add_argument("--output", help="index directory to write (required)")
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
    sub = p.add_subparsers(dest="index_command", metavar="convert")
    _register_convert(sub)


def _register_convert(sub) -> None:
    from retrievers.dense_compress import describe_presets

    c = sub.add_parser(
        "convert", help="write a compressed copy of a dense (FAISS) index",
        description="Convert a FAISS index (ours, or the public wiki-18 E5 Flat index) into a compressed "
        "one, streaming its vectors in chunks; a killed conversion resumes when rerun.",
        epilog="presets:\n" + describe_presets(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    c.add_argument("source", help="dense index folder, or a FAISS index file (then --corpus and --model)")
    c.add_argument("--output", required=True, help="folder to create for the converted index")
    c.add_argument("--preset", help="wiki-16gb, wiki-8gb or gpu (see below)")
    c.add_argument("--factory", help="instead of --preset: a FAISS index_factory string, e.g. HNSW32,SQ8")
    c.add_argument("--refine", type=int, default=None, help="rerank N x k candidates from float16 vectors on disk")
    c.add_argument("--nprobe", type=int, default=None, help="inverted lists searched (IVF indexes)")
    c.add_argument("--ef-search", type=int, default=None, help="HNSW search breadth")
    c.add_argument("--train-size", type=int, default=None, help="vectors sampled to train the quantiser")
    c.add_argument("--chunk-size", type=int, default=262_144, help="vectors streamed per step")
    c.add_argument("--corpus", help="JSONL corpus for a bare FAISS file (row i is vector i)")
    c.add_argument("--model", help="encoder of the vectors, for a bare FAISS file (e.g. intfloat/e5-base-v2)")
    c.add_argument("--dry-run", action="store_true", help="print the memory estimate and stop")
    c.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from retrievers.dense_compress import conversion_plan, convert_dense

    if args.dry_run:
        plan = conversion_plan(args.source, preset=args.preset, factory=args.factory)
        print(
            f"{plan['factory']} over {plan['num_vectors']:,} x {plan['dim']}: {plan['index_bytes'] / 1e9:.2f} GB "
            f"in memory ({plan['bytes_per_vector']} bytes a vector), training sample "
            f"{plan['train_sample_bytes'] / 1e9:.2f} GB"
        )
        return 0
    options = {"nprobe": args.nprobe, "ef_search": args.ef_search, "refine": args.refine, "train_size": args.train_size}
    params = convert_dense(
        args.source, args.output, preset=args.preset, factory=args.factory, chunk_size=args.chunk_size,
        corpus=args.corpus, model=args.model, **options,
    )  # fmt: skip
    print(f"{params['factory']} index of {params['num_docs']} documents written to {args.output}")
    return 0


def run(args: argparse.Namespace) -> int:
    from retrievers.factory import build_index

    missing = [f"--{name}" for name in ("corpus", "output") if not getattr(args, name)]
    if missing:
        raise ValueError(f"{' and '.join(missing)} required (see s3 index --help)")

    options = dict(args.option)
    for name in ("model", "index_type", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    path = build_index(args.corpus, args.output, kind=args.kind, **options)
    manifest = json.loads((path / "index.json").read_text())
    print(f"{manifest['kind']} index of {manifest['num_docs']} documents written to {path}")
    return 0
