"""The precompute stage: naive RAG for every question, once, cached; and the files the trainer reads.

For each question: retrieve the top documents for the raw question, ask the frozen generator with
the first ``k`` (3 by default), score the answer (GenAcc and EM), and append the result to the
naive-RAG cache. Then write the trainer's files: ``train.jsonl`` (training questions that pass the
s3 filter: no yes/no answers, naive RAG wrong) and one file per evaluation split (``val.jsonl``,
``test.jsonl``, ...), each row carrying the initial documents and the naive-RAG score.

Properties: input is validated before any retrieval; generator calls go out a chunk at a time through
the generator's batch API, with ``inflight_chunks`` chunks in flight; each finished chunk is appended
and flushed, so a killed run resumes where it stopped (questions already in the cache are never sent
again; a truncated last line is dropped); files are rewritten in a canonical order at the end, so two
runs of one config give byte-identical files. ``backend="ray"`` runs the same stage on Ray Data
(:mod:`s3.precompute_ray`).

Files in ``output_dir``: ``rag_cache.jsonl``, ``train.jsonl``, ``<split>.jsonl``, ``summary.json``,
``run.json`` (this run's timings and counts; the only file that differs between runs),
``precompute.yaml`` (the resolved config), ``index/`` (BM25 built from ``corpus``).

Example::

    summary = run_precompute(PrecomputeConfig(task_dir="runs/task", output_dir="runs/pre"))
    cache = load_rag_cache("runs/pre/rag_cache.jsonl")
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.records import RecordsError, read_records
from generators.factory import GeneratorConfig, generator_fingerprint
from retrievers.doc import Doc
from retrievers.factory import retriever_fingerprint
from s3.config import ConfigError, field, save_config, to_dict
from s3.data import DataError, QAExample, deduplicate, filter_training, load_qa, normalize_question

log = logging.getLogger(__name__)

CACHE_FILE = "rag_cache.jsonl"
SUMMARY_FILE = "summary.json"
RUN_FILE = "run.json"
CONFIG_FILE = "precompute.yaml"
INDEX_DIR = "index"
#: config fields that change cached results: a resumed run must agree on them (the generator's and
#: judge's models and sampling, not how they are reached: see generators.factory.generator_fingerprint)
_FINGERPRINT_FIELDS = ("k", "retrieve_k", "corpus", "index", "generator", "judge")


@dataclass
class PrecomputeConfig:
    """Configuration of ``s3 precompute``."""

    output_dir: str = field("runs/precompute", help="folder for the cache and the trainer's files")
    task_dir: str | None = field(
        None, help="embedded-task folder: reads its corpus.jsonl and {train,val,test}.jsonl"
    )
    data: list[str] = field(
        default_factory=list,
        help="QA sets: [SPLIT=].jsonl (FlashRAG), .parquet (Search-R1/s3) or hf:NAME/CONFIG:SPLIT; "
        "SPLIT= names the split (train, val, test, ...)",
    )
    split: str | None = field(
        None,
        help="split of the data entries that name none (else guessed from the file name, with a warning)",
    )
    corpus: str | None = field(None, help="corpus JSONL; BM25 is built from it into output_dir/index")
    index: str | None = field(
        None, help="a saved index folder (BM25, dense, Lucene) or a /retrieve URL, instead of corpus"
    )
    generator: GeneratorConfig = field(default_factory=GeneratorConfig, help="the frozen generator")
    judge: GeneratorConfig | None = field(
        None, help="LLM judge for GenAcc when the span check fails (None: span only)"
    )
    k: int = field(3, help="documents given to the generator (naive RAG top-k)")
    retrieve_k: int = field(3, help="documents retrieved and stored per question (>= k)")
    chunk_size: int = field(64, help="questions per generator batch (one answer_batch call)")
    inflight_chunks: int = field(2, help="chunks whose generator calls run at the same time")
    train_splits: list[str] = field(default_factory=lambda: ["train"], help="splits that feed training")
    drop_yes_no: bool = field(True, help="training filter: drop questions answered yes/no/true/false")
    drop_rag_correct: bool = field(True, help="training filter: drop questions naive RAG already answers")
    limit: int | None = field(None, help="use only the first N questions of each QA set (smoke runs)")
    backend: str = field("local", help="local | ray")
    ray_address: str | None = field(None, help="Ray cluster address; None starts a local one-node Ray")
    ray_num_cpus: int = field(2, help="CPUs of the local Ray started by the stage")
    ray_workers: int = field(1, help="Ray actors, each with its own retriever and generator client")
    progress: bool = field(True, help="show a progress bar")

    def __post_init__(self) -> None:
        # nested generator settings may come as plain dicts (Python callers, YAML)
        if isinstance(self.generator, dict):
            self.generator = GeneratorConfig(**self.generator)
        if isinstance(self.judge, dict):
            self.judge = GeneratorConfig(**self.judge)
        if self.k < 1:
            raise ConfigError(f"k: must be >= 1, got {self.k}")
        if self.retrieve_k < self.k:
            raise ConfigError(f"retrieve_k: must be >= k ({self.k}), got {self.retrieve_k}")
        if self.chunk_size < 1 or self.inflight_chunks < 1:
            raise ConfigError("chunk_size and inflight_chunks: must be >= 1")
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend: {self.backend!r} is not one of ['local', 'ray']")


# ---------------------------------------------------------------- cache file


def _read_cache(path: Path, repair: bool) -> dict[str, dict[str, Any]]:
    """Entries of a cache file by key (a torn last line dropped, see :mod:`evaluation.records`)."""
    try:
        records = read_records(path, repair=repair)
    except RecordsError as exc:
        raise DataError(str(exc)) from None
    entries: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(records, start=1):
        if "key" not in entry:
            raise DataError(f"{path}: record {i} has no 'key' (not a naive-RAG cache entry)")
        entries[entry["key"]] = entry
    return entries


def load_rag_cache(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a naive-RAG cache: normalised question -> entry.

    An entry holds ``key``, ``id``, ``source``, ``split``, ``question``, ``golden_answers``, ``docs``
    (the retrieved :class:`Doc` records as dicts, best first), ``answer``, ``genacc`` (0/1) and
    ``em`` (0/1). Use :func:`initial_docs` to get ``Doc`` records back.

    Example::

        cache = load_rag_cache("runs/pre/rag_cache.jsonl")
        cache[normalize_question("Who founded Zorbex Industries")]["genacc"]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no naive-RAG cache here (run `s3 precompute` first)")
    return _read_cache(path, repair=False)


def initial_docs(entry: dict[str, Any], k: int | None = None) -> list[Doc]:
    """The cached documents of a cache entry or trainer row, as records (first ``k``)."""
    docs = entry.get("docs", entry.get("initial_docs", []))
    return [Doc.from_dict(d) for d in docs[:k]]


def _doc_record(doc: Doc) -> dict[str, Any]:
    out: dict[str, Any] = {"id": doc.id, "title": doc.title, "text": doc.text}
    if doc.score is not None:
        out["score"] = round(float(doc.score), 6)
    return out


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _write_atomic(path: Path, lines: list[str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    tmp.replace(path)


# ---------------------------------------------------------------- inputs


def load_examples(cfg: PrecomputeConfig) -> tuple[list[QAExample], int]:
    """All questions of the config, validated and de-duplicated within each split: (examples, dropped).

    A question may appear in several splits (a test question equal to a training one stays in the
    test file); the cache, keyed by question, computes it once.
    """
    specs: list[tuple[str, str | None, str | None]] = [
        (spec, None, split) for spec, split in (data_split(s, cfg.split) for s in cfg.data)
    ]
    if cfg.task_dir:
        task = Path(cfg.task_dir)
        for split in ("train", "val", "test"):
            if (task / f"{split}.jsonl").is_file():
                specs.append((str(task / f"{split}.jsonl"), "embedded", split))
    if not specs:
        raise ConfigError("no questions: set task_dir or data")
    examples: list[QAExample] = []
    for spec, source, split in specs:
        batch = load_qa(spec, source=source, split=split)
        examples.extend(batch[: cfg.limit] if cfg.limit else batch)
    by_split: dict[str, list[QAExample]] = defaultdict(list)
    for ex in examples:
        by_split[ex.split].append(ex)
    dropped = 0
    for split, group in by_split.items():
        by_split[split], n = deduplicate(group)
        dropped += n
    kept = {id(ex) for group in by_split.values() for ex in group}
    return [ex for ex in examples if id(ex) in kept], dropped


_NAMED_SPLIT = re.compile(r"^(?P<split>[A-Za-z][\w-]*)=(?P<spec>.+)$")


def data_split(entry: str, default: str | None = None) -> tuple[str, str | None]:
    """``"train=q.jsonl"`` -> ``("q.jsonl", "train")``; an entry naming no split gets ``default``, and a
    JSONL file with neither gets the split its name suggests (``test`` if none), with a warning."""
    m = _NAMED_SPLIT.match(entry)
    if m and not entry.startswith("hf:"):
        return m["spec"], m["split"]
    if default or entry.startswith("hf:") or Path(entry).suffix == ".parquet":
        return entry, default  # hf: specs and parquet rows carry their own split
    from s3.data import _infer_split

    guessed = _infer_split(Path(entry))
    log.warning(
        "%s: no split named; guessed %r from the file name. Name it: --data %s=%s (or --split %s)",
        entry, guessed, guessed, entry, guessed,
    )  # fmt: skip
    return entry, guessed


def corpus_path(cfg: PrecomputeConfig) -> str | None:
    if cfg.corpus:
        return cfg.corpus
    if cfg.task_dir and not cfg.index:
        return str(Path(cfg.task_dir) / "corpus.jsonl")
    return None


def retriever_spec(cfg: PrecomputeConfig) -> str:
    """What :func:`retrievers.load_retriever` opens: ``index``, else the BM25 folder built in output_dir."""
    return cfg.index or str((Path(cfg.output_dir) / INDEX_DIR).resolve())


def open_retriever(cfg: PrecomputeConfig):
    """The retriever of the config: ``index`` (any spec :func:`retrievers.load_retriever` opens), or
    BM25 built from the corpus into ``output_dir/index`` (once; reused on resume)."""
    from retrievers import load_retriever
    from retrievers.bm25 import BM25Retriever

    if cfg.index:
        return load_retriever(cfg.index)
    corpus = corpus_path(cfg)
    if not corpus:
        raise ConfigError("no retriever: set corpus, index or task_dir")
    target = Path(cfg.output_dir) / INDEX_DIR
    if (target / "bm25.json").is_file():
        return BM25Retriever.load(target)
    from retrievers.corpus import read_corpus

    log.info("building BM25 over %s into %s", corpus, target)
    tmp = target.with_name(INDEX_DIR + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a build that was killed
    BM25Retriever.build(read_corpus(corpus), tmp).close()
    tmp.replace(target)
    return BM25Retriever.load(target)


def _fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """What changes cached results: the generator and judge (models, sampling, never their endpoints)."""
    out = {k: config.get(k) for k in _FINGERPRINT_FIELDS}
    out["generator"] = generator_fingerprint(out["generator"])
    out["judge"] = generator_fingerprint(out["judge"])
    out["index"] = retriever_fingerprint(out["index"])
    return out


def _check_resume(cfg: PrecomputeConfig, out: Path) -> None:
    """Refuse to extend a cache made with different settings (its entries would not be comparable)."""
    import yaml

    path = out / CONFIG_FILE
    if not path.is_file() or not (out / CACHE_FILE).is_file():
        return
    old = _fingerprint(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    new = _fingerprint(to_dict(cfg))
    diff = [k for k in _FINGERPRINT_FIELDS if old[k] != new[k]]
    if diff:
        raise ConfigError(
            f"{out}: the cache there was made with different {', '.join(diff)}; "
            "use another output_dir or delete the old one"
        )


# ---------------------------------------------------------------- the work


class Timings:
    """Seconds spent per part of the stage (summed over threads: parts can overlap in wall time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, part: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[part] += now - start
        return now


def process_chunk(
    examples: list[QAExample],
    docs: list[list[Doc]],
    generator: Any,
    k: int,
    judge: Any = None,
    timings: Timings | None = None,
    settings: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Answer and score one chunk whose documents are already retrieved; returns cache entries.

    ``settings`` (:func:`s3.genacc_settings.genacc_settings` of the generator and judge configs) is recorded in
    every entry as ``genacc_settings``, so training can refuse a reward that scores otherwise.
    """
    from evaluation.metrics import score_answers

    timings = timings or Timings()
    questions = [ex.question for ex in examples]
    t = time.perf_counter()
    answers = generator.answer_batch(questions, [d[:k] for d in docs])
    t = timings.add("generator", t)
    scores = score_answers(questions, answers, [ex.golden_answers for ex in examples], judge=judge)
    timings.add("scoring", t)
    return [
        {
            "key": ex.key,
            "id": ex.id,
            "source": ex.source,
            "split": ex.split,
            "question": ex.question,
            "golden_answers": ex.golden_answers,
            "docs": [_doc_record(d) for d in hits],
            "answer": answer,
            "genacc": int(score["genacc"]),
            "em": int(score["em"]),
            **({"genacc_settings": settings} if settings is not None else {}),
        }
        for ex, hits, answer, score in zip(examples, docs, answers, scores)
    ]


def _run_local(cfg, todo, cache_file, timings: Timings, progress) -> None:
    from generators.factory import load_generator

    retriever = open_retriever(cfg)
    generator = load_generator(cfg.generator)
    judge = None
    if cfg.judge is not None:
        from evaluation.judge import LLMJudge

        judge = LLMJudge(load_generator(cfg.judge))
    chunks = [todo[i : i + cfg.chunk_size] for i in range(0, len(todo), cfg.chunk_size)]
    from s3.genacc_settings import genacc_settings

    settings = genacc_settings(cfg.generator, cfg.judge)

    def retrieve(chunk: list[QAExample]) -> list[list[Doc]]:
        t = time.perf_counter()
        hits = retriever.search([ex.question for ex in chunk], cfg.retrieve_k)
        timings.add("retrieval", t)
        return hits

    # retrieval of the next chunks overlaps with the generator calls of the current ones; results
    # are written in chunk order, so the file grows in a deterministic order
    pool = ThreadPoolExecutor(cfg.inflight_chunks)
    try:
        with cache_file.open("a", encoding="utf-8") as f:
            futures = [
                pool.submit(
                    lambda c=chunk: process_chunk(c, retrieve(c), generator, cfg.k, judge, timings, settings)
                )
                for chunk in chunks
            ]
            for fut in futures:
                entries = fut.result()
                t = time.perf_counter()
                f.writelines(_dump(e) + "\n" for e in entries)
                f.flush()
                timings.add("io", t)
                progress.update(len(entries))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error, drop the chunks not started
        retriever.close()
        generator.close()


def _trainer_row(ex: QAExample, entry: dict[str, Any], k: int) -> dict[str, Any]:
    return {
        "id": ex.id,
        "question": ex.question,
        "golden_answers": ex.golden_answers,
        "source": ex.source,
        "split": ex.split,
        "initial_docs": entry["docs"][:k],
        "rag_answer": entry["answer"],
        "rag_genacc": entry["genacc"],
        "rag_em": entry["em"],
        **({"supporting_facts": ex.supporting_facts} if ex.supporting_facts is not None else {}),
        **({"meta": ex.meta} if ex.meta else {}),
    }


def run_precompute(cfg: PrecomputeConfig) -> dict[str, Any]:
    """Run (or resume) the precompute stage; returns the summary (also written to ``summary.json``).

    Raises:
        DataError: malformed QA data (file, line and field named), before anything is computed.
        ConfigError: a missing input, or an output folder made with different settings.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    examples, n_duplicates = load_examples(cfg)  # validation happens here, before any work
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(cfg, out)
    save_config(cfg, out / CONFIG_FILE)
    cache_file = out / CACHE_FILE
    timings = Timings()
    t = time.perf_counter()
    done = _read_cache(cache_file, repair=True)
    timings.add("io", t)
    first: dict[str, QAExample] = {}
    for ex in examples:  # a question in several splits is computed once
        first.setdefault(ex.key, ex)
    unique = list(first.values())
    todo = [ex for ex in unique if ex.key not in done]
    log.info("%d questions: %d cached, %d to compute", len(unique), len(unique) - len(todo), len(todo))
    if todo:
        with tqdm(total=len(unique), initial=len(unique) - len(todo), desc="precompute",
                  unit="q", disable=not cfg.progress) as progress:  # fmt: skip
            if cfg.backend == "ray":
                from s3.precompute_ray import run_ray

                open_retriever(cfg).close()  # build (or find) the index here: the actors only open it
                spec = retriever_spec(cfg)
                run_ray(
                    cfg, todo, cache_file, timings, progress, retriever_spec=spec, process_chunk=process_chunk
                )
            else:
                _run_local(cfg, todo, cache_file, timings, progress)
    t = time.perf_counter()
    entries = _read_cache(cache_file, repair=True)
    missing = [ex.key for ex in examples if ex.key not in entries]
    if missing:
        raise RuntimeError(
            f"{len(missing)} questions missing from {cache_file} after the run, e.g. {missing[0]!r}"
        )
    # canonical order: this run's questions in input order, then any older entries by key
    keys = list(dict.fromkeys(ex.key for ex in examples))  # a question in several splits: once
    known = set(keys)
    keys += sorted(k for k in entries if k not in known)
    _write_atomic(cache_file, [_dump(entries[k]) for k in keys])
    summary = _write_trainer_files(cfg, examples, entries, out)
    summary["duplicates_dropped"] = n_duplicates
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    timings.add("io", t)
    timings.seconds["total_wall"] = time.perf_counter() - started
    run = {"computed_this_run": len(todo), "backend": cfg.backend, "seconds": dict(timings.seconds)}
    (out / RUN_FILE).write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    summary.update(run)
    _log_summary(summary)
    return summary


def _write_trainer_files(
    cfg: PrecomputeConfig, examples: list[QAExample], entries: dict[str, dict[str, Any]], out: Path
) -> dict[str, Any]:
    by_split: dict[str, list[QAExample]] = defaultdict(list)
    for ex in examples:
        by_split["train" if ex.split in cfg.train_splits else ex.split].append(ex)
    files: dict[str, int] = {}
    filter_stats: dict[str, int] = {}
    if not by_split.get("train"):
        log.warning(
            "no training questions (splits %s): train.jsonl is not written; name the training file with "
            "--data train=FILE (or train_splits=...)", ", ".join(sorted(by_split)) or "none",
        )  # fmt: skip
    for split, split_examples in sorted(by_split.items()):
        if split == "train":
            split_examples, filter_stats = filter_training(
                split_examples, entries, drop_yes_no=cfg.drop_yes_no, drop_rag_correct=cfg.drop_rag_correct
            )
        rows = [_dump(_trainer_row(ex, entries[ex.key], cfg.k)) for ex in split_examples]
        _write_atomic(out / f"{split}.jsonl", rows)
        files[f"{split}.jsonl"] = len(rows)
    accuracy: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        groups[f"{ex.source}/{ex.split}"].append(entries[ex.key])
    for name, group in sorted(groups.items()):
        accuracy[name] = {
            "n": len(group),
            "genacc": round(sum(e["genacc"] for e in group) / len(group), 4),
            "em": round(sum(e["em"] for e in group) / len(group), 4),
        }
    return {
        "questions": len(examples),
        "naive_rag": accuracy,
        "train_filter": filter_stats,
        "files": files,
        "k": cfg.k,
        "generator": cfg.generator.kind + (f":{cfg.generator.model}" if cfg.generator.model else ""),
    }


def _log_summary(summary: dict[str, Any]) -> None:
    log.info("precompute: %d questions (%d computed now)", summary["questions"], summary["computed_this_run"])
    for name, acc in summary["naive_rag"].items():
        log.info("  naive RAG %-24s n=%-6d GenAcc %.3f  EM %.3f", name, acc["n"], acc["genacc"], acc["em"])
    f = summary["train_filter"]
    if f:
        log.info(
            "  training filter kept %d of %d (yes/no %d, naive RAG correct %d, not cached %d)",
            f["kept"], f["input"], f["yes_no"], f["rag_correct"], f["not_in_cache"],
        )  # fmt: skip


__all__ = [
    "PrecomputeConfig",
    "run_precompute",
    "load_rag_cache",
    "initial_docs",
    "process_chunk",
    "normalize_question",
]
