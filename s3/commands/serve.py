"""``s3 serve``: a trained searcher as a service (HTTP, Search-R1 wire format, OpenAI chat, MCP) and a page.

    s3 serve --model runs/searcher --index idx/                       # http://127.0.0.1:3001/
    s3 serve --model runs/searcher --index http://127.0.0.1:3000/retrieve \\
        generator.kind=openai generator.model=Qwen/Qwen2.5-14B-Instruct generator.base_url=http://127.0.0.1:8000/v1
    s3 serve --model runs/searcher --index idx/ --run runs/eval      # the page also browses an evaluation run
    s3 serve --run runs/eval                                          # only the page, no searcher
    s3 serve --model runs/searcher --index idx/ --host 0.0.0.0 --token SECRET   # reachable from elsewhere

Routes: ``POST /search``, ``POST /retrieve`` (Search-R1 wire format, answered by the searcher),
``POST /v1/chat/completions`` (OpenAI), ``/mcp`` (MCP tool ``search``), ``GET /`` (the page),
``GET /health``. The token and the limits are those of ``s3 serve-retriever``. The frozen generator
comes from ``generator.*`` overrides (default: the offline extractive reader).
"""

from __future__ import annotations

import argparse
import logging
import os

from s3.commands import add_command

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    from retrievers.server import DEFAULT_MAX_BODY_BYTES
    from s3.serve import DEFAULT_MAX_QUESTIONS, DEFAULT_PORT

    p = add_command(
        subparsers, __name__, help="serve a trained searcher (HTTP, OpenAI, MCP) and a page to watch it"
    )
    p.add_argument(
        "overrides", nargs="*", help="generator settings, e.g. generator.kind=openai generator.model=M"
    )
    p.add_argument("--model", help="searcher checkpoint folder or hub id")
    p.add_argument("--index", "--retriever", dest="index", help="index folder, /retrieve URL, or a JSON spec")
    p.add_argument("--run", default=None, help="an evaluation run folder (s3 evaluate --output) for the page")
    p.add_argument(
        "--preset", default=None, help="override the checkpoint's saved rules with a preset (as s3 search)"
    )
    p.add_argument("--mode", default=None, choices=["s3", "search-r1"], help="as in s3 search")
    p.add_argument("--device", default="auto", help="transformers backend: auto, cpu, cuda, ...")
    p.add_argument("--batch-size", type=int, default=None, help="most questions per batched search")
    p.add_argument("--max-new-tokens", type=int, default=None, help="most tokens per searcher turn")
    p.add_argument("--no-generator", action="store_true", help="no generator: /search only, no answers")
    p.add_argument("--no-mcp", action="store_true", help="do not offer the MCP tool")
    p.add_argument("--host", default=os.environ.get("S3_SERVE_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("S3_SERVE_PORT", DEFAULT_PORT)))
    p.add_argument(
        "--token", default=os.environ.get("S3_SERVE_TOKEN"), help="bearer token (env S3_SERVE_TOKEN)"
    )
    p.add_argument(
        "--max-questions",
        type=int,
        default=DEFAULT_MAX_QUESTIONS,
        help="most questions per request (more: 413)",
    )
    p.add_argument("--max-topk", type=int, default=1000, help="largest topk of /retrieve")
    p.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="largest request body (more: 413)"
    )
    p.set_defaults(func=run)


def _generator(args: argparse.Namespace):
    from generators.factory import GeneratorConfig, load_generator
    from s3.config import ConfigError, from_dict, parse_overrides

    data = parse_overrides(args.overrides)
    unknown = sorted(set(data) - {"generator"})
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}: s3 serve takes generator.* overrides")
    if args.no_generator:
        return None
    return load_generator(from_dict(GeneratorConfig, data.get("generator", {}), where="generator"))


def run(args: argparse.Namespace) -> int:
    import json

    import uvicorn

    from s3.config import ConfigError
    from s3.serve.app import create_app

    if not args.model and not args.run:
        raise ConfigError(
            "give --model (and --index) to serve a searcher, or --run DIR to browse an evaluation"
        )
    if args.model and not args.index:
        raise ConfigError("--index: required with --model (an index folder or a /retrieve URL)")
    if args.run:
        from s3.serve.runs import EvaluationRun

        EvaluationRun(args.run)  # fails fast, naming the folder
    generator = _generator(args)
    searcher = None
    if args.model:
        from s3.errors import check_model_source
        from s3.searcher import Searcher

        check_model_source(args.model, "--model")
        index = json.loads(args.index) if args.index.lstrip().startswith("{") else args.index
        searcher = Searcher.from_pretrained(
            args.model, retriever=index, preset=args.preset, device=args.device, mode=args.mode
        )
        if args.batch_size:
            searcher.config.batch_size = args.batch_size
        if args.max_new_tokens:
            searcher.config.rollout.max_new_tokens_per_turn = args.max_new_tokens
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.token is None:
        log.warning("serving on %s without a bearer token: anyone who can reach it can query it", args.host)
    app = create_app(
        searcher,
        generator,
        run_dir=args.run,
        token=args.token,
        max_questions=args.max_questions,
        max_topk=args.max_topk,
        max_body_bytes=args.max_body_bytes,
        host=args.host,
        mcp=not args.no_mcp,
        model_name=os.path.basename(os.path.normpath(args.model)) if args.model else "s3",
    )
    log.info(
        "serving on http://%s:%d/ (page), /search, /retrieve, /v1/chat/completions, /mcp",
        args.host,
        args.port,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
