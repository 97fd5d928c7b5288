"""``s3 serve-retriever``: serve an index on ``POST /retrieve`` (Search-R1/s3 wire format).

s3 serve-retriever --index idx/ --port 3000
s3 serve-retriever --index idx/ --host 0.0.0.0 --token SECRET   # reachable from other machines
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from retrievers.server import add_server_arguments

    p = subparsers.add_parser("serve-retriever", help="serve an index over HTTP", description=__doc__)
    add_server_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retrievers.server import run_from_args

    run_from_args(args)
    return 0
