"""Our BM25 vs bm25s' numba backend and pyserini (Lucene) on the same synthetic corpus and queries.

    python benchmarks/retrieval/make_corpus.py --docs 500000
    python benchmarks/retrieval/bench_bm25.py --work benchmarks/_work/retrieval
    python benchmarks/retrieval/bench_bm25.py --engines ours,bm25s --skip-build   # kernels only

Each build runs in its own process and reports wall time and peak RSS (ru_maxrss of that process;
pyserini indexes inside its Python process through the JVM). Searches run in separate processes
too: 1000 queries, k=10, batched (1 and 2 threads) and one at a time; agreement is overlap@10 and
top-1 agreement with Lucene, plus recall@10 of each query's source passage. ``bm25s`` searches our
own index directory (its on-disk format) with ``bm25s.BM25.load(dir, mmap=True, backend="numba")``
on the term ids of our analyzer, so the two kernels see the same postings, impacts and queries;
``kernel_*`` figures time the kernels alone on pre-encoded queries. Figures go to stdout as JSON;
RESULTS.md records a run."""

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
import numpy as np
from retrievers.bm25 import BM25Retriever
index, queries_path, out = sys.argv[1:4]
qs = [json.loads(l)["query"] for l in open(queries_path)]
r = BM25Retriever.load(index, threads=2)
t = time.perf_counter(); r.search_ids(qs[:50], 10)  # warm up (numba cache, page cache)
stats = {"warm_up_s": time.perf_counter() - t}
for threads in (1, 2):
    r.threads = threads
    t = time.perf_counter(); rows, scores_ = r.search_ids(qs, 10); stats[f"batched_{threads}t_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs:
    r.search_ids([q], 10)
stats["single_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs[:300]:
    r.search([q], 3)
stats["single_docs_k3_qps"] = 300 / (time.perf_counter() - t)
ptr, terms, weights = r._encode_queries(qs)
docs, scores = np.full((len(qs), 10), -1, dtype=np.int64), np.zeros((len(qs), 10))
t = time.perf_counter(); r._run(ptr, terms, weights, 10, docs, scores); stats["kernel_1t_qps"] = len(qs) / (time.perf_counter() - t)
ids = [[r.docstore.record(int(x))["id"] for x in row if x >= 0] for row in rows]
json.dump({"stats": stats, "ids": ids, "scores": [[float(v) for v, x in zip(s, row) if x >= 0] for s, row in zip(scores_, rows)]}, open(out, "w"))
"""

# bm25s' own numba backend on our index directory (bm25s reads the same CSC files); queries are the
# term ids of our analyzer, so both sides score the same postings. A row with score 0 is no hit.
BM25S_SEARCH = r"""
import json, sys, time
import bm25s, numba, numpy as np
from bm25s.numba.retrieve_utils import _retrieve_numba_functional
from retrievers.analysis import Analyzer
from retrievers.docstore import DocStore
index, queries_path, out = sys.argv[1:4]
qs = [json.loads(l)["query"] for l in open(queries_path)]
analyzer = Analyzer.from_config(json.load(open(index + "/bm25.json"))["analyzer"])
s = bm25s.BM25.load(index, mmap=True, backend="numba")
store = DocStore(index, mmap_mode=True)
def encode(batch):
    return [[s.vocab_dict[t] for t in terms if t in s.vocab_dict] for terms in analyzer.terms_batch(batch)]
def search(batch, k, threads):
    res = s.retrieve(encode(batch), k=k, n_threads=threads, show_progress=False)
    return res.documents, res.scores
assert all(encode(qs)), "a query without indexed terms: bm25s would raise"
t = time.perf_counter(); search(qs[:50], 10, 1); search(qs[:50], 10, 2)  # warm up (numba compile, page cache)
stats = {"warm_up_s": time.perf_counter() - t}
for threads in (1, 2):
    t = time.perf_counter(); rows, scores_ = search(qs, 10, threads); stats[f"batched_{threads}t_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs:
    search([q], 10, 1)
stats["single_qps"] = len(qs) / (time.perf_counter() - t)
t = time.perf_counter()
for q in qs[:300]:
    d, sc = search([q], 3, 1); [store.get(int(x), score=float(v)) for x, v in zip(d[0], sc[0]) if v > 0]
stats["single_docs_k3_qps"] = 300 / (time.perf_counter() - t)
ids_ = encode(qs)
t = time.perf_counter(); _retrieve_numba_functional(ids_, s.scores, k=10, n_threads=1, show_progress=False); stats["kernel_1t_qps"] = len(qs) / (time.perf_counter() - t)
stats["numba_threading_layer"] = numba.threading_layer()
ids = [[store.record(int(x))["id"] for x, v in zip(row, sr) if v > 0] for row, sr in zip(rows, scores_)]
json.dump({"stats": stats, "ids": ids, "scores": [[float(v) for v in sr if v > 0] for sr in scores_]}, open(out, "w"))
"""

# Both kernels in one process on the same arrays, alternating for several rounds, so that a load
# change on a shared machine hits both alike: median q/s of each, 1 thread, pre-encoded queries.
KERNELS_INTERLEAVED = r"""
import json, statistics, sys, time
import numpy as np
from bm25s.numba.retrieve_utils import _retrieve_numba_functional
from retrievers.bm25 import BM25Retriever
index, queries_path, out = sys.argv[1:4]
qs = [json.loads(l)["query"] for l in open(queries_path)]
r = BM25Retriever.load(index, threads=1)
ptr, terms, weights = r._encode_queries(qs)
ids = [[r.vocab[t] for t in terms] for terms in r.analyzer.terms_batch(qs)]
arrays = {"data": r._data, "indices": r._indices, "indptr": r._indptr, "num_docs": r.num_docs}
def ours():
    docs, scores = np.full((len(qs), 10), -1, dtype=np.int64), np.zeros((len(qs), 10))
    r._run(ptr, terms, weights, 10, docs, scores)
def theirs():
    _retrieve_numba_functional(ids, arrays, k=10, n_threads=1, show_progress=False)
ours(); theirs()  # compile
qps = {"ours": [], "bm25s": []}
for _ in range(7):
    for name, run in (("ours", ours), ("bm25s", theirs)):
        t = time.perf_counter(); run(); qps[name].append(len(qs) / (time.perf_counter() - t))
stats = {f"{name}_median_qps": statistics.median(v) for name, v in qps.items()}
stats.update({f"{name}_rounds_qps": [round(x) for x in v] for name, v in qps.items()})
json.dump({"stats": stats}, open(out, "w"))
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


def agreement(ids: list[list[str]], reference: list[list[str]]) -> dict:
    """overlap@10, top-1 agreement and identical lists of ``ids`` against ``reference``."""
    n = len(reference)
    return {
        "overlap_at_10": sum(len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(ids, reference)) / n,
        "top1_agreement": sum(bool(a and b and a[0] == b[0]) for a, b in zip(ids, reference)) / n,
        "exact_top10_lists": sum(a == b for a, b in zip(ids, reference)) / n,
    }


def score_agreement(found: dict, reference: dict, tolerance: float = 1e-5) -> dict:
    """Whether two result lists differ only where scores tie (within ``tolerance``, relative).

    ``max_relative_score_difference``: at each rank, between the two lists' scores. A query's lists
    are "equal up to ties" when their score lists match and every document in one list but not
    the other scores within the tolerance of the last (k-th) score: which of tied documents
    enters the top k is then an arbitrary choice, not a scoring difference.
    """
    worst, equal_up_to_ties = 0.0, 0
    for ids_a, sa, ids_b, sb in zip(found["ids"], found["scores"], reference["ids"], reference["scores"]):
        if len(sa) != len(sb):
            continue
        diffs = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(sa, sb)]
        worst = max([worst, *diffs])
        kth = sb[-1] if sb else 0.0
        moved = [s for i, s in zip(ids_a, sa) if i not in set(ids_b)] + [
            s for i, s in zip(ids_b, sb) if i not in set(ids_a)
        ]
        if max(diffs, default=0.0) <= tolerance and all(abs(s - kth) <= tolerance * kth for s in moved):
            equal_up_to_ties += 1
    return {
        "max_relative_score_difference": worst,
        "equal_up_to_ties": equal_up_to_ties / len(reference["ids"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="benchmarks/_work/retrieval")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument(
        "--engines", default="ours,bm25s,lucene", help="comma-separated: ours, bm25s (on our index), lucene"
    )
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - {"ours", "bm25s", "lucene"})
    if unknown or "ours" not in engines:
        parser.error(f"--engines: 'ours' plus any of bm25s, lucene; got {args.engines!r}")
    work = Path(args.work)
    corpus, queries = work / "corpus" / "corpus.jsonl", work / "queries.jsonl"
    results: dict = {"docs": sum(1 for _ in open(corpus))}
    if not args.skip_build:
        results["build_ours"] = measured([sys.executable, "-m", "s3", "--log-level", "WARNING", "index",
                                          "--corpus", str(corpus), "--output", str(work / "bm25")])  # fmt: skip
        if "lucene" in engines:
            results["build_lucene"] = measured([sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection",
                                                "--input", str(work / "corpus"), "--index", str(work / "lucene"),
                                                "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
                                                "--storePositions", "--storeDocvectors", "--storeRaw"])  # fmt: skip
    code = {"ours": OUR_SEARCH, "bm25s": BM25S_SEARCH, "lucene": LUCENE_SEARCH}
    found = {}
    for name in engines:
        out = work / f"search_{name}.json"
        index = work / ("lucene" if name == "lucene" else "bm25")
        results[f"search_{name}"] = measured(
            [sys.executable, "-c", code[name], str(index), str(queries), str(out)]
        )
        found[name] = json.load(open(out))
        results[f"search_{name}"].update(found[name]["stats"])
    sources = [json.loads(line)["source"] for line in open(queries)]
    if "lucene" in engines:
        results.update(agreement(found["ours"]["ids"], found["lucene"]["ids"]))
    if "bm25s" in engines:
        out = work / "kernels_interleaved.json"
        results["kernels_interleaved"] = measured(
            [sys.executable, "-c", KERNELS_INTERLEAVED, str(work / "bm25"), str(queries), str(out)]
        )
        results["kernels_interleaved"].update(json.load(open(out))["stats"])
        results["bm25s_vs_ours"] = agreement(found["bm25s"]["ids"], found["ours"]["ids"])
        results["bm25s_vs_ours"].update(score_agreement(found["bm25s"], found["ours"]))
    for name in engines:
        results[f"recall_at_10_{name}"] = sum(s in a for s, a in zip(sources, found[name]["ids"])) / len(
            sources
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
