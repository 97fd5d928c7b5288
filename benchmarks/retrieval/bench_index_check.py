"""What the integrity check costs when a BM25 index is opened (checksums, structure and bounds).

    python benchmarks/retrieval/make_corpus.py --docs 500000
    python benchmarks/retrieval/bench_bm25.py            # or any BM25 build of that corpus
    python benchmarks/retrieval/bench_index_check.py --index benchmarks/_work/retrieval/ours_index

Opens the index ``--repeats`` times with each ``verify`` mode (``off``: structure and bounds only;
``quick``: plus sizes and sampled CRC-32; ``full``: CRC-32 of every byte) and reports the median
wall time of opening. The files are read once first, so the figures are for a warm page cache.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from retrievers.bm25 import BM25Retriever
from retrievers.integrity import verify_checksums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default="benchmarks/_work/retrieval/ours_index")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    directory = Path(args.index)
    params = json.loads((directory / "bm25.json").read_text())
    verify_checksums(directory, params["checksums"], "full")  # warm the page cache
    sizes = {name: c["size"] for name, c in params["checksums"].items()}
    print(
        f"index {directory}: {params['num_docs']} documents, {sum(sizes.values()) / 2**20:.0f} MiB in files"
    )
    for mode in ("off", "quick", "full"):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            BM25Retriever.load(directory, verify=mode).close()
            times.append(time.perf_counter() - start)
        print(f"open with verify={mode:5s}: median {statistics.median(times) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
