"""QA data: the example record, readers for the formats users have, normalisation and the training filter.

Readers validate every row before anything expensive starts and fail with a :class:`DataError` that
names the file, the line (or row) and the field. Formats:

- FlashRAG JSONL: ``{"id", "question", "golden_answers": [...], ...}`` (extra keys kept in ``meta``);
- Search-R1 / s3 training parquet: ``prompt``, ``reward_model.ground_truth`` (``{question, target,
  gt_docs}`` or a plain target), ``data_source``, ``extra_info``;
- Hugging Face datasets by name (e.g. ``RUC-NLPIR/FlashRAG_datasets``, config ``nq``), through
  ``datasets.load_dataset``; without a split, ``test``, else ``dev``, else ``train``;
- MIRAGE's ``benchmark.json`` (medical multiple choice: ``question``, ``options``, ``answer`` letter).

:func:`normalize_question` (trim, end with ``?``) is the one join key of every cache.

Example::

    examples = load_qa("data/nq/test.jsonl")           # FlashRAG JSONL
    examples = load_qa("hf:RUC-NLPIR/FlashRAG_datasets/nq:test")
    kept, stats = filter_training(examples, rag_cache=load_rag_cache("runs/pre/rag_cache.jsonl"))
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrievers.corpus import iter_records

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Malformed QA data; the message names the file, the line or row, and the field."""


def _data_error(path: Path, line: int | None, message: str) -> DataError:
    return DataError(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


@dataclass
class QAExample:
    """One question with its gold answers.

    Attributes:
        id: the example id (unique within its source and split).
        question: the question text as given (use :attr:`key` to join).
        golden_answers: the accepted answers (at least one, none empty).
        source: the dataset it comes from (``nq``, ``hotpotqa``, ``embedded`` ...).
        split: ``train``, ``dev``, ``val``, ``test`` ...
        supporting_facts: optional gold evidence (HotpotQA-style ``[[title, sentence], ...]``).
        meta: any other fields of the row.
    """

    id: str
    question: str
    golden_answers: list[str]
    source: str
    split: str
    supporting_facts: list[Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The normalised question: the join key of caches."""
        return normalize_question(self.question)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "question": self.question,
            "golden_answers": list(self.golden_answers),
            "source": self.source,
            "split": self.split,
        }
        if self.supporting_facts is not None:
            out["supporting_facts"] = self.supporting_facts
        if self.meta:
            out["meta"] = self.meta
        return out


def normalize_question(question: str) -> str:
    """Trim whitespace and make the question end with ``?``: the join key used everywhere.

    Example::

        >>> normalize_question("  who wrote hamlet ")
        'who wrote hamlet?'
    """
    q = question.strip()
    if not q.endswith("?"):
        q += "?"
    return q


# ---------------------------------------------------------------- validation


def _check_answers(value: Any, where: str, name: str = "golden_answers") -> list[str]:
    if isinstance(value, str):
        value = [value]
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: field '{name}' must be a list of strings, got {type(value).__name__}")
    if not value:
        raise DataError(f"{where}: field '{name}' is empty")
    out = []
    for i, ans in enumerate(value):
        if isinstance(ans, (int, float)) and not isinstance(ans, bool):
            ans = str(ans)  # numeric answers (years, counts) are common in QA sets
        if not isinstance(ans, str):
            raise DataError(f"{where}: field '{name}[{i}]' must be a string, got {type(ans).__name__}")
        if not ans.strip():
            raise DataError(f"{where}: field '{name}[{i}]' is an empty answer")
        out.append(ans)
    return out


def _check_question(value: Any, where: str, name: str = "question") -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field '{name}' is empty")
    return value


def example_from_record(
    record: Mapping[str, Any], where: str, source: str, split: str, default_id: str
) -> QAExample:
    """Validate a FlashRAG-shaped record and build a :class:`QAExample` (``where`` prefixes errors)."""
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "question" not in record:
        raise DataError(f"{where}: missing field 'question'")
    question = _check_question(record["question"], where)
    if "golden_answers" in record:
        answers = _check_answers(record["golden_answers"], where)
    elif "answer" in record:  # some FlashRAG-like dumps use a single 'answer'
        answers = _check_answers(record["answer"], where, "answer")
    else:
        raise DataError(f"{where}: missing field 'golden_answers'")
    rid = record.get("id", default_id)
    if not isinstance(rid, (str, int)):
        raise DataError(f"{where}: field 'id' must be a string or integer, got {type(rid).__name__}")
    facts = record.get("supporting_facts")
    meta = {
        k: v
        for k, v in record.items()
        if k not in ("id", "question", "golden_answers", "answer", "supporting_facts", "source", "split")
    }
    if isinstance(record.get("metadata"), Mapping):
        meta.update(record["metadata"])
        meta.pop("metadata", None)
    return QAExample(
        id=str(rid),
        question=question,
        golden_answers=answers,
        source=str(record.get("source") or source),
        split=str(record.get("split") or split),
        supporting_facts=list(facts) if isinstance(facts, (list, tuple)) else None,
        meta=meta,
    )


# ---------------------------------------------------------------- readers


def _infer_split(path: Path) -> str:
    stem = path.stem.lower()
    for name in ("train", "dev", "val", "test"):
        if re.search(rf"(^|[_\-.]){name}($|[_\-.])", stem):
            return name
    return "test"


def read_flashrag_jsonl(
    path: str | Path, source: str | None = None, split: str | None = None
) -> list[QAExample]:
    """Read a FlashRAG-style JSONL file (one ``{"id", "question", "golden_answers"}`` object a line).

    Args:
        path: the file.
        source: dataset name (default: the parent folder's name, e.g. ``nq`` for ``nq/test.jsonl``).
        split: split name (default: from the file name, else ``test``).

    Raises:
        DataError: a line is not JSON, or a field is missing, of the wrong type or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    source = source or path.parent.name or path.stem
    split = split or _infer_split(path)
    out = []
    for lineno, record in iter_records(path, error=_data_error):
        where = f"{path}:{lineno}"
        out.append(example_from_record(record, where, source, split, default_id=f"{split}-{len(out)}"))
    if not out:
        raise DataError(f"{path}: no questions in file")
    return out


def _question_from_prompt(prompt: Any) -> str | None:
    """The question inside a Search-R1/s3 prompt (``<question>...</question>`` or ``Question: ...``)."""
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    text = ""
    if isinstance(prompt, str):
        text = prompt
    elif isinstance(prompt, (list, tuple)):
        text = "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, Mapping))
    tags = re.findall(r"<question>(.*?)</question>", text, re.DOTALL)
    if tags and tags[-1].strip() and "[" not in tags[-1][:2]:
        return tags[-1].strip()
    m = re.findall(r"Question:\s*(.+)", text)
    return m[-1].strip() if m else None


def searchr1_row_to_example(row: Mapping[str, Any], where: str, index: int) -> QAExample:
    """One Search-R1/s3 parquet row -> :class:`QAExample` (see :func:`read_searchr1_parquet`)."""
    rm = row.get("reward_model")
    if not isinstance(rm, Mapping):
        raise DataError(f"{where}: missing field 'reward_model'")
    gt = rm.get("ground_truth")
    if gt is None:
        raise DataError(f"{where}: missing field 'reward_model.ground_truth'")
    question = None
    facts = None
    if isinstance(gt, Mapping):
        if "target" not in gt:
            raise DataError(f"{where}: missing field 'reward_model.ground_truth.target'")
        answers = _check_answers(gt["target"], where, "reward_model.ground_truth.target")
        question = gt.get("question")
        docs = gt.get("gt_docs")
        if docs is not None and hasattr(docs, "tolist"):
            docs = docs.tolist()
        facts = list(docs) if isinstance(docs, (list, tuple)) and len(docs) else None
    else:
        answers = _check_answers(gt, where, "reward_model.ground_truth")
    if question is None:
        question = row.get("question") or _question_from_prompt(row.get("prompt"))
    if question is None:
        raise DataError(
            f"{where}: no question: neither 'reward_model.ground_truth.question' nor a prompt with one"
        )
    question = _check_question(question, where, "question")
    extra = row.get("extra_info") if isinstance(row.get("extra_info"), Mapping) else {}
    split = str(extra.get("split") or "train")
    rid = row.get("id")  # a parquet's own id column wins over the positional extra_info.index
    if rid is None:
        rid = extra.get("index", index)
    meta = {
        k: v for k, v in row.items() if k not in ("id", "prompt", "reward_model", "data_source", "extra_info")
    }
    return QAExample(
        id=str(rid),
        question=question,
        golden_answers=answers,
        source=str(row.get("data_source") or "unknown"),
        split=split,
        supporting_facts=facts,
        meta=meta,
    )


def read_searchr1_parquet(path: str | Path) -> list[QAExample]:
    """Read the training/test parquet of Search-R1 and s3.

    Rows carry ``prompt`` (chat messages), ``reward_model.ground_truth`` (``{question, target,
    gt_docs}`` in s3, or the target list itself), ``data_source`` and ``extra_info`` (``split``,
    ``index``). The question comes from ``ground_truth.question`` or, failing that, from the prompt.

    Raises:
        DataError: naming the file, the row and the field.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    out = [searchr1_row_to_example(row, f"{path} (row {i})", i) for i, row in enumerate(rows)]
    if not out:
        raise DataError(f"{path}: no rows")
    return out


#: the split an evaluation reads when none is named: the first of these the dataset has (the reference
#: takes FlashRAG's ``test``, else ``dev``, else ``train``; local folders call ``dev`` ``validation``)
EVAL_SPLIT_FALLBACK = ("test", "dev", "validation", "train")


def first_available_split(available: Iterable[str], where: str) -> str:
    """The first split of :data:`EVAL_SPLIT_FALLBACK` in ``available``; logged when it is not ``test``."""
    available = list(available)
    for name in EVAL_SPLIT_FALLBACK:
        if name in available:
            if name != "test":
                log.warning("%s has no test split; evaluating on %r (available: %s)", where, name, available)
            return name
    raise DataError(
        f"{where}: none of the splits {list(EVAL_SPLIT_FALLBACK)} exists (available: {available})"
    )


def load_hf_dataset(name: str, config: str | None = None, split: str | None = None) -> list[QAExample]:
    """Load a QA set through ``datasets.load_dataset`` (hub names or local dataset folders/files).

    Args:
        name: e.g. ``"RUC-NLPIR/FlashRAG_datasets"``, or a local path ``datasets`` understands.
        config: the subset, e.g. ``"nq"``.
        split: ``train``, ``dev`` or ``test``; None = ``test`` if the dataset has one, else ``dev``, else
            ``train`` (:data:`EVAL_SPLIT_FALLBACK`, as the reference builds its test sets).

    Returns:
        Examples with ``source = config or name`` and the split read.
    """
    import datasets

    label = f"hf:{name}{'/' + config if config else ''}"
    if Path(name).suffix in (".json", ".jsonl", ".parquet", ".csv"):
        split = split or "test"
        builder = {".jsonl": "json", ".json": "json"}.get(Path(name).suffix, Path(name).suffix[1:])
        ds = datasets.load_dataset(builder, data_files={split: name}, split=split)
    else:
        if split is None:
            try:
                available = datasets.get_dataset_split_names(name, config)
            except Exception as exc:  # hub or network errors come in many types
                raise DataError(
                    f"{label}: cannot list its splits ({type(exc).__name__}: {exc}); without hub access, "
                    "download the files elsewhere and give the local JSONL files"
                ) from None
            split = first_available_split(available, label)
        ds = datasets.load_dataset(name, config, split=split)
    where_name = f"{label}:{split}"
    source = config or Path(name).name
    out = [
        example_from_record(row, f"{where_name} (row {i})", source, split, default_id=f"{split}-{i}")
        for i, row in enumerate(ds)
    ]
    if not out:
        raise DataError(f"{where_name}: no rows")
    return out


# ---------------------------------------------------------------- MIRAGE (medical multiple choice)

#: the five sets of MIRAGE's ``benchmark.json`` (its keys), in the order of the s3 paper's Table 2
MIRAGE_SETS = ("medqa", "medmcqa", "pubmedqa", "bioasq", "mmlu")


def format_options(question: str, options: Mapping[str, str]) -> str:
    """The question as the searcher and the generator see it: the question, then one line per option.

    Example::

        >>> print(format_options("Which drug?", {"A": "Heparin", "B": "Aspirin"}))
        Which drug?
        Options:
        A. Heparin
        B. Aspirin
    """
    lines = [question.strip(), "Options:"]
    lines += [f"{letter}. {text}" for letter, text in options.items()]
    return "\n".join(lines)


def mirage_example(entry: Any, where: str, set_name: str, key: str) -> QAExample:
    """One ``benchmark.json`` entry (``question``, ``options`` letter -> text, ``answer`` letter) -> example.

    The example's ``question`` carries the options (:func:`format_options`); ``meta`` keeps the bare
    question as ``retrieval_question`` (MIRAGE retrieves with the question only), the ``options`` and
    the ``answer`` letter. The gold answer is ``"<letter>: <option text>"``, as the reference writes it.
    """
    if not isinstance(entry, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    for name in ("question", "options", "answer"):
        if name not in entry:
            raise DataError(f"{where}: missing field '{name}'")
    question = _check_question(entry["question"], where)
    options = entry["options"]
    if not isinstance(options, Mapping) or not options:
        raise DataError(f"{where}: field 'options' must be a non-empty object of letter -> text")
    for letter, text in options.items():
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: field 'options.{letter}' must be a non-empty string")
    answer = entry["answer"]
    if not isinstance(answer, str) or answer.strip() not in options:
        raise DataError(
            f"{where}: field 'answer' must be one of the option letters {list(options)}, got {answer!r}"
        )
    answer = answer.strip()
    meta = {k: v for k, v in entry.items() if k not in ("question", "options", "answer")}
    meta.update({"retrieval_question": question, "options": dict(options), "answer": answer})
    return QAExample(
        id=str(key),
        question=format_options(question, options),
        golden_answers=[f"{answer}: {options[answer]}"],
        source=set_name,
        split="test",
        meta=meta,
    )


def read_mirage_benchmark(path: str | Path, sets: Iterable[str] | None = None) -> dict[str, list[QAExample]]:
    """Read MIRAGE's ``benchmark.json``: ``{set: {id: {"question", "options", "answer"}}}``.

    Args:
        path: the file (from the MIRAGE repository).
        sets: the sets to read (default: every set in the file); see :data:`MIRAGE_SETS`.

    Returns:
        Set name -> examples in sorted id order (as MIRAGE's own loader orders them).

    Raises:
        DataError: naming the file, the set, the entry id and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: no such file (MIRAGE's benchmark.json is in github.com/Teddy-XiongGZ/MIRAGE)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, Mapping):
        raise DataError(f"{path}: expected a JSON object of sets ({', '.join(MIRAGE_SETS)})")
    out = {}
    for name in list(sets) if sets is not None else list(data):
        if name not in data:
            raise DataError(f"{path}: no set {name!r} (the file has {sorted(data)})")
        entries = data[name]
        if not isinstance(entries, Mapping) or not entries:
            raise DataError(f"{path}: set {name!r} must be a non-empty object of id -> question")
        out[name] = [mirage_example(entries[k], f"{path}: {name}/{k}", name, k) for k in sorted(entries)]
    return out


def sample_examples(examples: list[QAExample], n: int | None, seed: int = 42) -> list[QAExample]:
    """At most ``n`` examples drawn without replacement, as the reference samples its test sets.

    The draw is ``numpy.random.RandomState(seed).choice(len, n, replace=False)``: the rows pandas'
    ``DataFrame.sample(n=n, random_state=seed)`` picks, in its order. A set of ``n`` or fewer is
    returned whole, in file order.
    """
    if n is None or len(examples) <= n:
        return list(examples)
    import numpy as np

    picked = np.random.RandomState(seed).choice(len(examples), size=n, replace=False)
    return [examples[int(i)] for i in picked]


def load_qa(spec: str | Path, source: str | None = None, split: str | None = None) -> list[QAExample]:
    """Load QA examples from a spec: a ``.jsonl`` file, a ``.parquet`` file, or ``hf:NAME[/CONFIG][:SPLIT]``.

    Example::

        load_qa("data/nq/test.jsonl")                      # FlashRAG JSONL
        load_qa("data/train_e5_s3.parquet")                # Search-R1/s3 parquet
        load_qa("hf:RUC-NLPIR/FlashRAG_datasets/nq:test")  # Hugging Face
        load_qa("hf:RUC-NLPIR/FlashRAG_datasets/nq")       # its test split, else dev, else train
        load_qa("mirage:data/benchmark.json:medqa")        # one set of MIRAGE's benchmark.json
    """
    text = str(spec)
    if text.startswith("mirage:"):
        path, sep, name = text[len("mirage:") :].rpartition(":")
        if not sep or not path or not name:
            raise DataError(f"{spec}: expected mirage:BENCHMARK_JSON:SET, SET one of {list(MIRAGE_SETS)}")
        examples = read_mirage_benchmark(path, [name])[name]
    elif text.startswith("hf:"):
        body = text[3:]
        body, _, hf_split = body.rpartition(":") if ":" in body else (body, "", "")
        parts = body.split("/")
        if Path(body).exists() or len(parts) <= 2:
            name, config = body, None  # a local dataset folder/file, or a hub name without config
        else:
            name, config = "/".join(parts[:2]), "/".join(parts[2:])
        examples = load_hf_dataset(name, config, hf_split or split)
    else:
        path = Path(text)
        if path.suffix == ".parquet":
            examples = read_searchr1_parquet(path)
        elif path.suffix in (".jsonl", ".json"):
            examples = read_flashrag_jsonl(path, source=source, split=split)
        else:
            raise DataError(f"{spec}: unknown QA format (expected .jsonl, .parquet or hf:NAME)")
    if source or split:
        for ex in examples:
            ex.source = source or ex.source
            ex.split = split or ex.split
    return examples


# ---------------------------------------------------------------- duplicates and filter


def find_duplicates(examples: Iterable[QAExample]) -> dict[str, list[QAExample]]:
    """Examples whose normalised questions collide, by key (only keys seen more than once)."""
    groups: dict[str, list[QAExample]] = {}
    for ex in examples:
        groups.setdefault(ex.key, []).append(ex)
    return {k: v for k, v in groups.items() if len(v) > 1}


def deduplicate(examples: list[QAExample]) -> tuple[list[QAExample], int]:
    """Keep the first example of each normalised question; returns (kept, number dropped).

    Conflicting gold answers among duplicates are logged, since the cache keeps one entry per key.
    """
    dups = find_duplicates(examples)
    for key, group in list(dups.items())[:5]:
        answers = {tuple(g.golden_answers) for g in group}
        if len(answers) > 1:
            log.warning(
                "duplicate question %r with different answers in %s",
                key,
                [(g.source, g.split) for g in group],
            )
    seen: set[str] = set()
    kept = []
    for ex in examples:
        if ex.key not in seen:
            seen.add(ex.key)
            kept.append(ex)
    if len(kept) != len(examples):
        log.warning("dropped %d duplicate questions (same normalised text)", len(examples) - len(kept))
    return kept, len(examples) - len(kept)


def filter_training(
    examples: list[QAExample],
    rag_cache: Mapping[str, Mapping[str, Any]] | None = None,
    drop_yes_no: bool = True,
    drop_rag_correct: bool = True,
) -> tuple[list[QAExample], dict[str, int]]:
    """The s3 training filter: drop yes/no/true/false questions and those naive RAG already answers.

    Args:
        examples: candidate training questions.
        rag_cache: the naive-RAG cache (:func:`s3.precompute.load_rag_cache`), by normalised question;
            required when ``drop_rag_correct``.
        drop_yes_no: drop questions with a gold answer equal to yes/no/true/false.
        drop_rag_correct: drop questions whose cached naive-RAG GenAcc is 1.

    Returns:
        (kept examples, counts ``{"input", "yes_no", "rag_correct", "not_in_cache", "kept"}``).
    """
    from evaluation.metrics import is_yes_no_answer

    if drop_rag_correct and rag_cache is None:
        raise ValueError("drop_rag_correct needs the naive-RAG cache (rag_cache)")
    stats = {"input": len(examples), "yes_no": 0, "rag_correct": 0, "not_in_cache": 0, "kept": 0}
    kept = []
    for ex in examples:
        if drop_yes_no and is_yes_no_answer(ex.golden_answers):
            stats["yes_no"] += 1
            continue
        if drop_rag_correct:
            entry = rag_cache.get(ex.key)  # type: ignore[union-attr]
            if entry is None:
                stats["not_in_cache"] += 1
                continue
            if float(entry.get("genacc", 0)) >= 1:
                stats["rag_correct"] += 1
                continue
        kept.append(ex)
    stats["kept"] = len(kept)
    return kept, stats
