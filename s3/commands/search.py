"""``s3 search``: run a trained searcher and print (or write) the documents it gathers.

    s3 search "Where was the author of Dune born?" --model runs/searcher --index idx/
    s3 search "..." --model runs/searcher --index http://127.0.0.1:3000/retrieve --preset 5-3-4
    s3 search --input questions.jsonl --output found.jsonl --model runs/searcher --index idx/
    s3 search "..." --model PeterJinGo/SearchR1-nq_hotpotqa_train-qwen2.5-7b-em-ppo --index idx/ --mode search-r1

Batch mode reads JSONL rows with a ``question`` field (an ``id`` is carried over when present), writes
one row per question as soon as its batch is done, and skips questions already in ``--output``, so
an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from evaluation.records import append_records, read_records
from retrievers.corpus import CorpusError, iter_records
from s3.commands import add_command

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = add_command(subparsers, __name__, help="gather documents for a question with a trained searcher")
    p.add_argument("question", nargs="?", help="the question (or use --input)")
    p.add_argument(
        "--model", required=True, help="searcher checkpoint folder or hub id (tokenizer for --backend openai)"
    )
    p.add_argument(
        "--index", "--retriever", dest="index", required=True, help="index folder or /retrieve URL"
    )
    p.add_argument(
        "--preset",
        default=None,
        help="override the rules saved in the checkpoint (the default) with a preset: a training preset (tiny, "
        "7b, search-r1, search-r1-tiny: protocol, episode rules, budgets) or an episode preset (8-3-3, 5-3-3, "
        "5-3-4, 3-3-3, 3-3-4, no-select, no-init); a checkpoint without saved rules runs 8-3-3",
    )
    p.add_argument("--backend", default="transformers", choices=["transformers", "vllm", "openai"])
    p.add_argument(
        "--mode", default=None, choices=["s3", "search-r1"],
        help="s3 (select documents for a generator) or search-r1 (the model searches and answers itself); "
        "default: what the checkpoint was trained with",
    )  # fmt: skip
    p.add_argument("--device", default="auto", help="transformers backend: auto, cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--base-url", default=None, help="openai backend: the server, e.g. http://127.0.0.1:8001/v1"
    )
    p.add_argument("--served-model", default=None, help="openai backend: the served model name")
    p.add_argument("--boolean-queries", action="store_true", help="ask for Boolean keyword queries (BM25)")
    p.add_argument(
        "--instructions", default=None, metavar="FILE",
        help="Search-R1 mode: a text file with the prompt template ({question}, {max_turns}), e.g. a public "
        "checkpoint's own training prompt; default: the checkpoint's saved one, else our wording",
    )  # fmt: skip
    p.add_argument("--system-prompt", default=None, help="a system message for the searcher's prompt")
    p.add_argument("--input", default=None, help="JSONL file of questions ({'question': ..., 'id': ...})")
    p.add_argument("--output", default=None, help="JSONL file to write (batch mode; resumes)")
    p.add_argument("--batch-size", type=int, default=None, help="episodes per batched rollout")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="most tokens per searcher turn (default: the checkpoint's)",
    )
    p.add_argument("--trace", action="store_true", help="print / write the full trace (turns, windows)")
    p.set_defaults(func=run)


def read_questions(path: str) -> list[dict[str, Any]]:
    """Rows of a JSONL question file; each needs a non-empty ``question`` (errors name the line)."""
    rows = []
    for lineno, row in iter_records(path):
        if not str(row.get("question", "")).strip():
            raise CorpusError(path, lineno, "a row needs a non-empty 'question' field")
        rows.append(row)
    return rows


def _key(row: dict[str, Any]) -> str:
    return str(row["id"]) if row.get("id") is not None else str(row["question"])


def _done_keys(path: Path) -> set[str]:
    return {_key(r) for r in read_records(path)}  # a torn last line is cut off and redone


def run(args: argparse.Namespace) -> int:
    from s3.config import ConfigError
    from s3.errors import check_model_source
    from s3.searcher import Searcher

    if args.question is not None and not args.question.strip():
        raise ConfigError('question: empty; give the question text, e.g. s3 search "Who wrote Dune?" ...')
    if bool(args.question) == bool(args.input):
        raise ConfigError("give either a question or --input FILE (not both)")
    if args.backend != "openai":
        check_model_source(args.model, "--model")
    kwargs: dict[str, Any] = {}
    if args.backend == "openai":
        kwargs.update(base_url=args.base_url, model=args.served_model)
    searcher = Searcher.from_pretrained(
        args.model,
        retriever=args.index,
        backend=args.backend,
        preset=args.preset,
        device=args.device,
        mode=args.mode,
        **kwargs,
    )
    if args.boolean_queries or args.instructions or args.system_prompt:
        options = searcher.config.protocol_options
        if args.instructions:
            options["instructions"] = Path(args.instructions).read_text(encoding="utf-8")
        if args.system_prompt:
            options["system_prompt"] = args.system_prompt
        if args.boolean_queries:
            searcher.config.boolean_queries = True
        searcher.protocol = searcher.config.make_protocol()
    if args.batch_size:
        searcher.config.batch_size = args.batch_size
    if args.max_new_tokens:
        searcher.config.rollout.max_new_tokens_per_turn = args.max_new_tokens

    if args.question:
        result = searcher.search(args.question)
        if args.output:
            with open(args.output, "a", encoding="utf-8") as f:
                f.write(json.dumps(result.to_dict(with_trace=args.trace), ensure_ascii=False) + "\n")
        _print_result(result, args.trace)
        return 0

    rows = read_questions(args.input)
    out_path = Path(args.output) if args.output else None
    done = _done_keys(out_path) if out_path else set()
    todo = [r for r in rows if _key(r) not in done]
    if done:
        log.info("%s: %d of %d questions already done; resuming", out_path, len(rows) - len(todo), len(rows))
    size = searcher.config.batch_size
    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc="searching", unit="q") as bar:
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            results = searcher.search_batch([str(r["question"]).strip() for r in batch])
            for row, result in zip(batch, results):
                record = {
                    **({"id": row["id"]} if "id" in row else {}),
                    **result.to_dict(with_trace=args.trace),
                }
                if out_path:
                    append_records(out_path, [record])
                else:
                    print(json.dumps(record, ensure_ascii=False))
            bar.update(len(batch))
    if out_path:
        print(f"{len(todo)} questions searched, results in {out_path}")
    return 0


def _print_result(result, trace: bool) -> None:
    print(f"question: {result.question}")
    for i, query in enumerate(result.queries, 1):
        print(f"query {i}: {query}")
    if result.answer is not None:
        print(f"answer: {result.answer}")
    print(f"finished: {result.finish_reason}; {len(result.documents)} documents for the generator")
    for i, doc in enumerate(result.documents, 1):
        mark = "*" if any(doc.id == s.id for s in result.selected) else " "
        text = " ".join(doc.text.split())
        print(f"{mark}{i}. [{doc.id}] {doc.title}: {text[:300]}")
    if trace:
        print(json.dumps(result.trace, ensure_ascii=False, indent=2))
