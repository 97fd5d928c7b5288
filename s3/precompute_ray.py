"""The precompute stage on Ray Data: the same work and the same files, spread over a cluster.

Questions become a Ray dataset; ``map_batches`` runs them through actors that each open the BM25
index and a generator client once (:class:`_NaiveRagWorker`), one chunk per batch, answered and scored
by the local backend's own ``process_chunk``, which :func:`s3.precompute.run_precompute` hands over
(this module never imports the stage it serves). The driver streams
finished batches back and appends them to the cache as they arrive, exactly like the local backend,
so a killed Ray run resumes the same way; :func:`s3.precompute.run_precompute` then rewrites the
files in canonical order. Without ``ray_address`` the stage starts (and stops) a local one-node Ray
limited to ``ray_num_cpus`` CPUs.

On a cluster the index folder must be readable at the same path on every node (shared storage), and
the generator endpoint reachable from every node.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class _NaiveRagWorker:
    """A Ray actor: retrieves, answers and scores one batch of questions per call."""

    def __init__(self, cfg: Any, retriever_spec: str, process_chunk: Callable, timings_type: type) -> None:
        from generators.factory import load_generator
        from retrievers import load_retriever

        self.cfg = cfg
        self.process_chunk = process_chunk
        self.timings_type = timings_type
        self.retriever = load_retriever(retriever_spec)
        self.generator = load_generator(self.cfg.generator)
        self.judge = None
        if self.cfg.judge is not None:
            from evaluation.judge import LLMJudge

            self.judge = LLMJudge(load_generator(self.cfg.judge))

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from s3.data import QAExample
        from s3.genacc_settings import genacc_settings

        examples = [QAExample(**json.loads(row)) for row in batch["example"]]
        timings = self.timings_type()
        t = time.perf_counter()
        docs = self.retriever.search([ex.question for ex in examples], self.cfg.retrieve_k)
        timings.add("retrieval", t)
        entries = self.process_chunk(
            examples,
            docs,
            self.generator,
            self.cfg.k,
            self.judge,
            timings,
            genacc_settings(self.cfg.generator, self.cfg.judge),
        )
        return {
            "entry": [json.dumps(e, ensure_ascii=False) for e in entries],
            # one batch's timings ride on its first row
            "timings": [json.dumps(dict(timings.seconds))] + [""] * (len(entries) - 1),
        }


def run_ray(
    cfg, todo, cache_file: Path, timings, progress, *, retriever_spec: str, process_chunk: Callable
) -> None:
    """Compute ``todo`` on Ray and append the entries to ``cache_file`` as batches finish.

    ``retriever_spec`` names an index the driver has already built, so the actors only open (memory-map)
    it; ``process_chunk`` answers and scores one batch (:func:`s3.precompute.process_chunk`).
    """
    import ray

    started_here = False
    if not ray.is_initialized():
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=cfg.ray_num_cpus, include_dashboard=False, log_to_driver=False)
            started_here = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        rows = [{"example": json.dumps({**ex.to_dict(), "meta": ex.meta}, ensure_ascii=False)} for ex in todo]
        ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // cfg.chunk_size))
        ds = ds.map_batches(
            _NaiveRagWorker,
            fn_constructor_kwargs={
                "cfg": cfg,
                "retriever_spec": retriever_spec,
                "process_chunk": process_chunk,
                "timings_type": type(timings),
            },
            batch_size=cfg.chunk_size,
            concurrency=cfg.ray_workers,
            num_cpus=1,
            batch_format="numpy",
        )
        with cache_file.open("a", encoding="utf-8") as f:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                t = time.perf_counter()
                f.writelines(str(line) + "\n" for line in batch["entry"])
                f.flush()
                timings.add("io", t)
                for raw in batch["timings"]:
                    if not str(raw):
                        continue
                    for part, seconds in json.loads(str(raw)).items():
                        timings.seconds[part] += seconds
                progress.update(len(batch["entry"]))
    finally:
        if started_here:
            ray.shutdown()
