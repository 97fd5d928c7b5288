"""Our BM25 vs pyserini (Lucene) on the same synthetic corpus and queries.

    python benchmarks/retrieval/make_corpus.py --docs 500000
    python benchmarks/retrieval/bench_bm25.py --work benchmarks/_work/retrieval

Each build runs in its own process and reports wall time and peak RSS (ru_maxrss of that process;
pyserini indexes inside its Python process through the JVM). Searches run in separate processes
too: 1000 queries, k=10, batched (1 and 2 threads) and one at a time; agreement is overlap@10 and
top-1 agreement with Lucene, plus recall@10 of each query's source passage. Figures go to stdout
as JSON; RESULTS.md records a run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RUSAGE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode; "
    "print('__STATS__', rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)

OUR_SEARCH = r"""
import json, sys, time
from retrievers.bm25 import BM25Retriever
index, queries_path, out = sys.argv[1:4]
qs = [json.loads(l)["query"] for l in open(queries_path)]
r = BM25Retriever.load(index, threads=2)
r.search_ids(qs[:50], 10)  # warm up (numba cache, page cache)
stats = {}
for threads in (1, 2):
    r.threads = threads
    t = time.perf_counter(); rows, _ = r.search_ids(qs, 10); stats[f"batched_{threads}t_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs:
    r.search_ids([q], 10)
stats["single_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs[:300]:
    r.search([q], 3)
stats["single_docs_k3_qps"] = 300 / (time.perf_counter() - t)
ids = [[r.docstore.record(int(x))["id"] for x in row if x >= 0] for row in rows]
json.dump({"stats": stats, "ids": ids}, open(out, "w"))
"""

LUCENE_SEARCH = r"""
import json, sys, time
from pyserini.search.lucene import LuceneSearcher
index, queries_path, out = sys.argv[1:4]
qs = [json.loads(l)["query"] for l in open(queries_path)]
s = LuceneSearcher(index); s.set_bm25(0.9, 0.4)
for q in qs[:50]: s.search(q, 10)
stats = {}
qids = [str(i) for i in range(len(qs))]
for threads in (1, 2):
    t = time.perf_counter(); res = s.batch_search(qs, qids, 10, threads); stats[f"batched_{threads}t_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs:
    s.search(q, 10)
stats["single_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs[:300]:
    [json.loads(s.doc(h.docid).raw()) for h in s.search(q, 3)]
stats["single_docs_k3_qps"] = 300 / (time.perf_counter() - t)
ids = [[h.docid for h in res[q]] for q in qids]
json.dump({"stats": stats, "ids": ids}, open(out, "w"))
"""


def measured(cmd: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", RUSAGE, *cmd], capture_output=True, text=True)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("__STATS__")][-1].split()
    if int(line[1]) != 0:
        raise RuntimeError(f"{cmd} failed:\n{done.stderr[-2000:]}")
    return {"seconds": round(float(line[2]), 1), "peak_rss_mb": round(int(line[3]) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="benchmarks/_work/retrieval")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    work = Path(args.work)
    corpus, queries = work / "corpus" / "corpus.jsonl", work / "queries.jsonl"
    results: dict = {"docs": sum(1 for _ in open(corpus))}
    if not args.skip_build:
        results["build_ours"] = measured([sys.executable, "-m", "s3", "--log-level", "WARNING", "index",
                                          "--corpus", str(corpus), "--output", str(work / "bm25")])  # fmt: skip
        results["build_lucene"] = measured([sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection",
                                            "--input", str(work / "corpus"), "--index", str(work / "lucene"),
                                            "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
                                            "--storePositions", "--storeDocvectors", "--storeRaw"])  # fmt: skip
    for name, code, index in (
        ("ours", OUR_SEARCH, work / "bm25"),
        ("lucene", LUCENE_SEARCH, work / "lucene"),
    ):
        out = work / f"search_{name}.json"
        results[f"search_{name}"] = measured([sys.executable, "-c", code, str(index), str(queries), str(out)])
        results[f"search_{name}"].update(json.load(open(out))["stats"])
    ours = json.load(open(work / "search_ours.json"))["ids"]
    lucene = json.load(open(work / "search_lucene.json"))["ids"]
    sources = [json.loads(line)["source"] for line in open(queries)]
    results["overlap_at_10"] = sum(len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(ours, lucene)) / len(
        lucene
    )
    results["top1_agreement"] = sum(bool(a and b and a[0] == b[0]) for a, b in zip(ours, lucene)) / len(
        lucene
    )
    results["exact_top10_lists"] = sum(a == b for a, b in zip(ours, lucene)) / len(lucene)
    results["recall_at_10_ours"] = sum(s in a for s, a in zip(sources, ours)) / len(sources)
    results["recall_at_10_lucene"] = sum(s in b for s, b in zip(sources, lucene)) / len(sources)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
