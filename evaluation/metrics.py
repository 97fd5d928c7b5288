"""Answer metrics: SQuAD normalisation, exact match, token F1, the answer-span check, GenAcc.

* :func:`normalize_answer`, :func:`exact_match`, :func:`f1_score` follow the SQuAD v1.1 definitions
  (lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace; F1 over
  whitespace tokens with multiplicity; the best score over the gold answers).
* :func:`has_answer` is the answer-span check with the semantics of DPR's ``has_answers``: Unicode
  NFD, the DrQA "simple" tokenisation (a run of letters/digits/combining marks, or any single other
  visible character), lower-cased tokens, and a contiguous token match of any gold answer.
* :func:`span_check` is what s3's GenAcc uses: SQuAD-normalise prediction and golds, then
  :func:`has_answer`.
* :func:`genacc` / :func:`genacc_batch`: the span check, else (optionally) an LLM judge
  (:class:`~evaluation.judge.LLMJudge`); :func:`score_answers` returns every metric per item.
* :func:`is_yes_no_answer`: the detector the training filter uses to drop yes/no questions.

Example::

    >>> exact_match("The Eiffel Tower!", ["eiffel tower"])
    1.0
    >>> genacc("It was built by Gustave Eiffel in 1889.", ["Gustave Eiffel"])
    1.0
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:  # the judges build on these metrics; here they are only argument types
    from evaluation.judge import LLMJudge, MultipleChoiceJudge

__all__ = [
    "exact_match",
    "f1_score",
    "genacc",
    "genacc_batch",
    "has_answer",
    "is_yes_no_answer",
    "normalize_answer",
    "score_answers",
    "simple_tokenize",
    "span_check",
]

Golds = Sequence[str] | str

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# DrQA/DPR "simple" tokens: a run of letters, digits and combining marks, or one character that is
# neither a separator (Z*) nor a control/format/unassigned code point (C*).
_SIMPLE_TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]", flags=regex.IGNORECASE | regex.UNICODE)
_YES_NO = frozenset({"yes", "no", "true", "false"})


def _as_list(golds: Golds) -> list[str]:
    if isinstance(golds, str):
        return [golds]
    return [str(g) for g in golds]


# ---------------------------------------------------------------- SQuAD normalisation, EM and F1


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 answer normalisation: lower-case, drop punctuation and articles, collapse spaces.

    Example::

        >>> normalize_answer("The  Beatles!")
        'beatles'
    """
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, golds: Golds) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _as_list(golds)))


def _f1_single(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Golds) -> float:
    """Token F1 (SQuAD v1.1) between the prediction and the best-matching gold answer.

    Tokens are the whitespace-split normalised strings, counted with multiplicity. When a side has
    no tokens (e.g. the answer "the"), F1 is 1 if both are empty and 0 otherwise (the SQuAD v2.0
    script's rule; it keeps F1 >= EM, where v1.1 scored such an exact match 0).
    """
    pred_tokens = normalize_answer(prediction).split()
    return max((_f1_single(pred_tokens, normalize_answer(g).split()) for g in _as_list(golds)), default=0.0)


# ---------------------------------------------------------------- the DPR answer-span check


def simple_tokenize(text: str) -> list[str]:
    """DrQA/DPR simple tokenisation of NFD-normalised, lower-cased text (what :func:`has_answer` compares)."""
    text = unicodedata.normalize("NFD", text)
    return [m.group().lower() for m in _SIMPLE_TOKEN.finditer(text)]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        if haystack[i] == first and haystack[i : i + n] == needle:
            return True
    return False


def has_answer(text: str, golds: Golds) -> bool:
    """True if any gold answer's token sequence occurs contiguously in ``text`` (DPR ``has_answers``).

    Both sides are NFD-normalised, tokenised with :func:`simple_tokenize` and lower-cased; no other
    normalisation is applied (punctuation tokens must match too).

    One deliberate difference: a gold answer with no tokens (empty or whitespace only) matches
    nothing here, while DPR's version counts it as found in any text.

    Example::

        >>> has_answer("Born in Zürich, Switzerland.", ["zurich", "Zürich"])
        True
    """
    text_tokens = simple_tokenize(text)
    for gold in _as_list(golds):
        gold_tokens = simple_tokenize(gold)
        if gold_tokens and _contains(text_tokens, gold_tokens):
            return True
    return False


_OPTION_PREFIX = re.compile(r"^\s*([A-Z])\s*:\s*(\S.*)$", re.DOTALL)


def _normalize_for_span(s: str) -> str:
    """:func:`normalize_answer`, except that the letter of a ``"<letter>: <text>"`` option survives.

    Multiple-choice golds (MIRAGE's ``"A: Aspirin"``) would otherwise lose the letter "A" as an
    article and match any answer mentioning aspirin, while ``"B: Aspirin"`` would not.
    """
    m = _OPTION_PREFIX.match(s)
    if m is None:
        return normalize_answer(s)
    return f"{m.group(1).lower()} {normalize_answer(m.group(2))}".strip()


def span_check(prediction: str, golds: Golds) -> bool:
    """The span check of GenAcc: :func:`has_answer` on SQuAD-normalised prediction and golds.

    A ``"<letter>: <text>"`` string (a multiple-choice option) keeps its letter, so the check treats
    every option letter alike; multiple-choice answers are scored by
    :func:`evaluation.judge.multiple_choice_verdict`, not by this check.
    """
    return has_answer(_normalize_for_span(prediction), [_normalize_for_span(g) for g in _as_list(golds)])


def is_yes_no_answer(golds: Golds) -> bool:
    """True if any gold answer is exactly yes/no/true/false (case-insensitive, surrounding spaces ignored).

    The training filter drops such questions: a searcher cannot gain beyond RAG on a coin flip.
    """
    return any(g.strip().lower() in _YES_NO for g in _as_list(golds))


# ---------------------------------------------------------------- GenAcc


def genacc(
    prediction: str,
    golds: Golds,
    judge: LLMJudge | MultipleChoiceJudge | None = None,
    question: str | None = None,
) -> float:
    """GenAcc of one answer: 1.0 if the span check passes, else the judge's verdict (0.0 without a judge).

    Args:
        prediction: the generator's answer.
        golds: the gold answers (a string counts as one answer).
        judge: an optional judge with ``judge_batch(questions, predictions, golds)``.
        question: the question, passed to the judge.
    """
    return genacc_batch([question or ""], [prediction], [golds], judge=judge)[0]


def genacc_batch(
    questions: Sequence[str],
    predictions: Sequence[str],
    golds: Sequence[Golds],
    judge: LLMJudge | MultipleChoiceJudge | None = None,
) -> list[float]:
    """GenAcc for many answers; the judge sees, in one batch, only those that fail the span check."""
    return [item["genacc"] for item in score_answers(questions, predictions, golds, judge=judge)]


async def agenacc_batch(
    questions: Sequence[str],
    predictions: Sequence[str],
    golds: Sequence[Golds],
    judge: LLMJudge | MultipleChoiceJudge | None = None,
) -> list[float]:
    """:func:`genacc_batch` for async callers (e.g. async reward functions): the judge runs without blocking."""
    spans, todo = _span_pass(questions, predictions, golds)
    scores = [1.0 if s else 0.0 for s in spans]
    if judge is not None and todo:
        verdicts = await judge.ajudge_batch(
            [questions[i] for i in todo], [predictions[i] for i in todo], [golds[i] for i in todo]
        )
        for i, v in zip(todo, verdicts):
            scores[i] = float(v)
    return scores


def _span_pass(
    questions: Sequence[str], predictions: Sequence[str], golds: Sequence[Golds]
) -> tuple[list[bool], list[int]]:
    if not (len(questions) == len(predictions) == len(golds)):
        raise ValueError(
            f"lengths differ: {len(questions)} questions, {len(predictions)} predictions, {len(golds)} golds"
        )
    spans = [span_check(p, g) for p, g in zip(predictions, golds)]
    return spans, [i for i, s in enumerate(spans) if not s]


def score_answers(
    questions: Sequence[str],
    predictions: Sequence[str],
    golds: Sequence[Golds],
    judge: LLMJudge | MultipleChoiceJudge | None = None,
) -> list[dict[str, Any]]:
    """Every answer metric per item.

    Returns:
        One dict per item: ``em``, ``f1`` (floats), ``span`` (bool), ``judge`` (bool, or None when the
        judge was not asked: span passed or no judge) and ``genacc`` (float).

    Example::

        >>> score_answers(["q"], ["Paris"], [["Paris", "City of Light"]])[0]["genacc"]
        1.0
    """
    spans, todo = _span_pass(questions, predictions, golds)
    verdicts: dict[int, bool] = {}
    if judge is not None and todo:
        out = judge.judge_batch(
            [questions[i] for i in todo], [predictions[i] for i in todo], [golds[i] for i in todo]
        )
        verdicts = dict(zip(todo, out))
    items = []
    for i, (pred, gold) in enumerate(zip(predictions, golds)):
        verdict = verdicts.get(i)
        items.append(
            {
                "em": exact_match(pred, gold),
                "f1": f1_score(pred, gold),
                "span": spans[i],
                "judge": verdict,
                "genacc": 1.0 if spans[i] or verdict else 0.0,
            }
        )
    return items
