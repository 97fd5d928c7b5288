"""An evaluation run: contexts from each method, answers from the frozen generator, metrics per dataset.

Three stages per (method, dataset), each resumable on its own:

1. **contexts** - the method gathers each question's context; one JSON line per question (documents,
   prompt kind, turns, searches, trace) is appended to ``<out>/<method>/<dataset>/contexts.jsonl``.
2. **answers** - the frozen generator answers from those contexts, greedily; the answer and every
   metric (EM, F1, span check, judge, GenAcc, documents and input tokens given to the generator) are
   appended to ``answers.jsonl`` beside it.
3. **summary** - one row per (method, dataset) with the means, written to ``<out>/results.json``.

Every question is counted (no dropped last batch). Work goes in fixed chunks of ``batch_size``
questions aligned to the dataset order; a killed run keeps every finished line, and on restart a
chunk that was cut short is recomputed as the same batch (so batch-sensitive backends give the same
output) and only its missing lines are appended. A truncated last line is repaired. The settings that
determine the output are kept in ``run.json`` and ``<method>/method.json``; resuming with different
settings is refused instead of silently mixing results.

Example::

    rows = evaluate([NaiveRAG(retriever, k=3)], {"test": examples}, generator, "runs/eval")
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from evaluation.contexts import ContextMethod, ContextRecord, Example, example_options
from evaluation.judge import MultipleChoiceJudge
from evaluation.metrics import score_answers
from evaluation.records import append_records, read_records
from generators.base import ChatRequest, Generator, SamplingParams
from generators.prompts import answer_with_context, chain_of_thought, extract_cot_answer, zero_shot

log = logging.getLogger(__name__)

#: the numeric columns of a results row, in table order
METRIC_COLUMNS = ("genacc", "em", "f1", "span", "judge", "docs", "input_tokens", "turns", "searches")

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens_approx(text: str) -> int:
    """A tokenizer-free token count: words and punctuation marks (close to BPE counts for English).

    Use a real tokenizer's length (``lambda s: len(tok(s).input_ids)``) to report exact figures.
    """
    return len(_TOKEN.findall(text))


class ResumeError(ValueError):
    """An output folder holds results made with other settings; the message says what differs."""


@dataclass
class AnswerSettings:
    """How the frozen generator is called during evaluation (greedy: the generator is judged, not explored).

    Attributes:
        max_tokens: answer length budget for the direct and with-context prompts.
        cot_max_tokens: budget for chain-of-thought replies (the answer is extracted afterwards).
        seed: passed to generators that take a sampling seed.
        max_context_docs: at most this many documents of a context reach the generator (the first
            ones; the reference's scorer keeps 20); None = all.
    """

    max_tokens: int = 64
    cot_max_tokens: int = 512
    seed: int | None = 0
    max_context_docs: int | None = None

    def describe(self) -> dict[str, Any]:
        """The settings saved in ``run.json`` (an unset cap is left out, so older runs still resume)."""
        out = dict(vars(self))
        if out["max_context_docs"] is None:
            del out["max_context_docs"]
        return out

    def sampling(self, prompt: str) -> SamplingParams:
        budget = self.cot_max_tokens if prompt == "cot" else self.max_tokens
        return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=budget, seed=self.seed)


def _check_same(path: Path, settings: dict[str, Any], what: str) -> None:
    """Write ``settings`` to ``path``, or check they equal what an earlier run wrote there."""
    settings = json.loads(json.dumps(settings, default=str))
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ResumeError(
                f"{path}: this folder holds {what} made with other settings (differing: {diff}); "
                "use a new output folder or pass overwrite=True / --overwrite"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _check_ids(name: str, examples: Sequence[Example]) -> None:
    seen: set[str] = set()
    for i, ex in enumerate(examples):
        if ex.id in seen:
            raise ValueError(
                f"dataset {name!r}: example {i} repeats id {ex.id!r}; ids must be unique to resume"
            )
        seen.add(ex.id)


# ---------------------------------------------------------------- the stages


def gather_contexts(
    method: ContextMethod,
    examples: Sequence[Example],
    path: str | os.PathLike,
    batch_size: int = 16,
    progress: bool = True,
) -> list[ContextRecord]:
    """Stage 1: the method's context for every example, resumed from and appended to ``path``.

    Returns:
        The records in the order of ``examples``.
    """
    path = Path(path)
    done = {r["id"]: ContextRecord.from_dict(r) for r in read_records(path)}
    chunks = _chunks(len(examples), batch_size)
    todo = [c for c in chunks if any(examples[i].id not in done for i in c)]
    if done and todo:
        log.info("%s: resuming with %d of %d questions done", path, len(done), len(examples))
    for chunk in tqdm(todo, desc=f"contexts {method.name}", disable=not progress or not todo):
        batch = [examples[i] for i in chunk]
        records = method.contexts(batch)
        if len(records) != len(batch):
            raise RuntimeError(f"{method.name}: {len(records)} contexts for {len(batch)} questions")
        fresh = []
        for ex, rec in zip(batch, records):
            if rec.id != ex.id:
                raise RuntimeError(f"{method.name}: context for {rec.id!r} returned in place of {ex.id!r}")
            if ex.id not in done:
                done[ex.id] = rec
                fresh.append(rec.to_dict())
        append_records(path, fresh)
    return [done[ex.id] for ex in examples]


def build_docs(record: ContextRecord, max_docs: int | None = None) -> list:
    """The documents of a record given to the generator: the first ``max_docs`` (all if None)."""
    return list(record.docs[:max_docs] if max_docs else record.docs)


def build_request(record: ContextRecord, max_docs: int | None = None) -> ChatRequest:
    """The generator request for a context record, by its prompt kind (at most ``max_docs`` documents)."""
    if record.prompt == "zero-shot":
        return zero_shot(record.question)
    if record.prompt == "cot":
        return chain_of_thought(record.question)
    return answer_with_context(record.question, build_docs(record, max_docs))


def score_contexts(
    records: Sequence[ContextRecord],
    examples: Sequence[Example],
    generator: Generator,
    path: str | os.PathLike,
    judge: Any | None = None,
    settings: AnswerSettings | None = None,
    batch_size: int = 16,
    count_tokens: Callable[[str], int] = count_tokens_approx,
    progress: bool = True,
    desc: str = "answers",
) -> list[dict[str, Any]]:
    """Stage 2: the frozen generator answers each context; metrics per question, appended to ``path``.

    With a ``judge`` (``judge_batch(questions, predictions, golds) -> list[bool]``) every answer is
    judged: ``judge`` is then the judge-only accuracy and GenAcc is span check or judge, as in the
    paper. Without one, ``judge`` is None and GenAcc is the span check alone. Multiple-choice examples
    (options in ``meta``) are scored as the paper's medical table is: GenAcc is the verdict of a
    :class:`~evaluation.judge.MultipleChoiceJudge` (given as ``judge``, or a rules-only one), which
    sees every option.

    Returns:
        One dict per example, in order: ``id``, ``prediction``, ``raw``, ``em``, ``f1``, ``span``,
        ``judge``, ``genacc``, ``docs``, ``input_tokens``, ``turns``, ``searches``.
    """
    settings = settings or AnswerSettings()
    path = Path(path)
    done = {r["id"]: r for r in read_records(path)}
    chunks = _chunks(len(examples), batch_size)
    todo = [c for c in chunks if any(examples[i].id not in done for i in c)]
    for chunk in tqdm(todo, desc=desc, disable=not progress or not todo):
        recs = [records[i] for i in chunk]
        exs = [examples[i] for i in chunk]
        requests = [build_request(r, settings.max_context_docs) for r in recs]
        raws: list[str] = [""] * len(recs)
        for kind in ("context", "zero-shot", "cot"):
            idx = [j for j, r in enumerate(recs) if r.prompt == kind]
            if idx:
                out = generator.generate([requests[j] for j in idx], settings.sampling(kind))
                for j, text in zip(idx, out):
                    raws[j] = text
        preds = [extract_cot_answer(t) if r.prompt == "cot" else t.strip() for r, t in zip(recs, raws)]
        golds = [list(e.golden_answers) for e in exs]
        questions = [r.question for r in recs]
        metrics = score_answers(questions, preds, golds)
        verdicts: list[bool | None] = [None] * len(recs)
        options = [example_options(e) for e in exs]
        multiple_choice = any(o is not None for o in options)
        if multiple_choice:
            mc_judge = judge if isinstance(judge, MultipleChoiceJudge) else MultipleChoiceJudge()
            verdicts = list(mc_judge.judge_batch(questions, preds, golds, options=options))
        elif judge is not None:
            verdicts = list(judge.judge_batch(questions, preds, golds))
        fresh = []
        for j, (rec, ex) in enumerate(zip(recs, exs)):
            if ex.id in done:
                continue
            m = metrics[j]
            verdict = verdicts[j]
            row = {
                "id": ex.id,
                "question": rec.question,
                "golden_answers": golds[j],
                "prediction": preds[j],
                "raw": raws[j],
                "em": m["em"],
                "f1": m["f1"],
                "span": float(m["span"]),
                "judge": None if verdict is None else float(verdict),
                "genacc": 1.0 if (verdict if multiple_choice else (m["span"] or verdict)) else 0.0,
                "docs": len(build_docs(rec, settings.max_context_docs)),
                "input_tokens": sum(count_tokens(msg["content"]) for msg in requests[j]),
                "turns": rec.turns,
                "searches": rec.searches,
            }
            done[ex.id] = row
            fresh.append(row)
        append_records(path, fresh)
    return [done[ex.id] for ex in examples]


def summarize(method: str, dataset: str, answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One results row: ``method``, ``dataset``, ``n`` and the mean of each metric column.

    Accuracy-type columns (GenAcc, EM, F1, span, judge) are percentages; ``judge`` is None when no
    judge was used.
    """
    row: dict[str, Any] = {"method": method, "dataset": dataset, "n": len(answers)}
    for col in METRIC_COLUMNS:
        values = [a[col] for a in answers if a.get(col) is not None]
        if not values or len(values) < len(answers):
            row[col] = None
            continue
        mean = sum(values) / len(values)
        row[col] = 100.0 * mean if col in ("genacc", "em", "f1", "span", "judge") else mean
    return row


# ---------------------------------------------------------------- the whole run


def evaluate(
    methods: Sequence[ContextMethod],
    datasets: dict[str, Sequence[Example]],
    generator: Generator,
    out_dir: str | os.PathLike,
    judge: Any | None = None,
    settings: AnswerSettings | None = None,
    batch_size: int = 16,
    count_tokens: Callable[[str], int] = count_tokens_approx,
    run_info: dict[str, Any] | None = None,
    judges: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate every method on every dataset with one frozen generator; resumable.

    Args:
        methods: the context methods; their ``name`` is the row label and folder name (unique).
        datasets: dataset name -> examples (unique ids), evaluated in full.
        generator: the frozen generator, called greedily.
        out_dir: the run folder (see the module docstring for its layout).
        judge: an optional LLM judge for the judge column and GenAcc.
        judges: per dataset name, a judge in place of ``judge`` (e.g. a multiple-choice judge for the
            medical sets).
        settings: generator budgets.
        batch_size: questions per method call and per generator call.
        count_tokens: counts the generator's input tokens (default :func:`count_tokens_approx`).
        run_info: settings that determine the answers (generator, judge, ...); checked on resume.
        overwrite: delete earlier results in ``out_dir`` instead of resuming them.

    Returns:
        The results rows (also written to ``<out_dir>/results.json``).
    """
    out = Path(out_dir)
    if overwrite and out.exists():  # only what this module wrote: method folders and run files
        for child in out.iterdir():
            if child.is_dir() and (child / "method.json").exists():
                shutil.rmtree(child)
            elif child.name in ("results.json", "run.json"):
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    settings = settings or AnswerSettings()
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    for name, exs in datasets.items():
        _check_ids(name, exs)
    info = {
        "generator": getattr(generator, "name", type(generator).__name__),
        "judge": None if judge is None else type(judge).__name__,
        "answer_settings": settings.describe(),
        **(run_info or {}),
    }
    if judges:
        info["judges"] = {name: type(j).__name__ for name, j in judges.items()}
    _check_same(out / "run.json", info, "answers")
    rows = []
    for method in methods:
        _check_same(out / _safe(method.name) / "method.json", method.describe(), f"{method.name} contexts")
        for dname, exs in datasets.items():
            reason = method.unavailable(exs)
            if reason:  # a method that cannot run on this data gets a row saying why, not a crash
                log.warning("%s on %s: skipped: %s", method.name, dname, reason)
                rows.append({"method": method.name, "dataset": dname, "n": len(exs), "skipped": reason,
                             **dict.fromkeys(METRIC_COLUMNS)})  # fmt: skip
                continue
            folder = out / _safe(method.name) / _safe(dname)
            records = gather_contexts(method, exs, folder / "contexts.jsonl", batch_size, progress)
            answers = score_contexts(
                records,
                exs,
                generator,
                folder / "answers.jsonl",
                judge=(judges or {}).get(dname, judge),
                settings=settings,
                batch_size=batch_size,
                count_tokens=count_tokens,
                progress=progress,
                desc=f"answers {method.name}/{dname}",
            )
            row = summarize(method.name, dname, answers)
            log.info("%s on %s: GenAcc %.1f over %d questions", method.name, dname, row["genacc"], row["n"])
            rows.append(row)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


def _safe(name: str) -> str:
    """A folder name for a method or dataset label (path separators and colons replaced)."""
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", name)


def load_results(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a finished run (``<out_dir>/results.json``)."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results; run the evaluation first")
    return json.loads(path.read_text(encoding="utf-8"))
