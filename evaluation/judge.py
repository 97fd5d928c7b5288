"""LLM judges for GenAcc: a yes/no correctness judge and a multiple-choice judge for medical sets.

Both take any generator with ``generate(requests, sampling)`` (and ``agenerate`` for async callers)
and answer ``judge_batch(questions, predictions, golds) -> list[bool]`` in one batched call, so a
concurrent generator client judges a whole reward batch at once.

Example::

    judge = LLMJudge(OpenAIGenerator("qwen2.5-14b", "http://127.0.0.1:8000/v1"))
    judge.judge_batch(["Who wrote Hamlet?"], ["Shakespeare wrote it."], [["William Shakespeare"]])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evaluation.metrics import normalize_answer, span_check
from generators.base import ChatRequest, SamplingParams

log = logging.getLogger(__name__)

_JUDGE_PROMPT = (
    "You grade answers to questions.\n"
    "Question: {question}\n"
    "Accepted answers: {golds}\n"
    "Response to grade: {prediction}\n\n"
    "Does the response give one of the accepted answers (an equivalent wording counts)? "
    "Reply with one word, yes or no."
)

_MC_PROMPT = (
    "You check answers to a multiple-choice medical question.\n"
    "Question: {question}\n"
    "Correct option(s):\n{golds}\n"
    "Answer given: {prediction}\n\n"
    "Does the answer given pick the correct option, or state the same key fact with the same meaning? "
    "Reply with exactly one word: yes or no."
)

_YES_NO_WORD = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_GOLD_OPTION = re.compile(r"^\s*\(?([A-Z])\)?\s*[:.)]\s*(.*)$", re.DOTALL)
_LEADING_LETTER = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])(?:[.:)]|\s*$))")
# "answer is B", "Answer: (B)", "option B." - a bare capital after "answer:" counts only when nothing
# but punctuation or the end follows it, so "Answer: A patient should ..." is an article, not option A
_ANSWER_IS_LETTER = re.compile(
    r"(?i:answer|option|choice)\s*(?:(?i:is)\s*)?[:\-]?\s*"
    r"(?:\(([A-Z])\)|([A-Z])(?=\s*(?:$|[.,;:)\]])))"
)


def parse_yes_no(reply: str) -> bool | None:
    """Read a judge reply: the first standalone yes/no word decides; None if there is neither.

    Example::

        >>> parse_yes_no("Yes, it does."), parse_yes_no("no"), parse_yes_no("unsure")
        (True, False, None)
    """
    m = _YES_NO_WORD.search(reply)
    if m is None:
        return None
    return m.group(1).lower() == "yes"


def parse_strict_yes_no(reply: str) -> bool | None:
    """Strict reading: the whole reply, stripped of spaces, quotes and final punctuation, is yes or no."""
    word = reply.strip().strip("\"'`*").rstrip(".!").strip().lower()
    if word in ("yes", "no"):
        return word == "yes"
    return None


@dataclass
class JudgeStats:
    """Counters of a judge: items judged, generator calls, retries, replies that never parsed."""

    items: int = 0
    calls: int = 0
    retried: int = 0
    unparsed: int = 0


class LLMJudge:
    """Yes/no correctness judge: greedy (temperature 0), at most ``max_tokens`` tokens, one retry.

    A reply with a standalone "yes" or "no" word is read as the verdict; replies with neither are
    asked again once, and still-unreadable replies count as wrong.

    Args:
        generator: any :class:`~generators.base.Generator` (an OpenAI-compatible client in practice).
        max_tokens: reply budget (10 is enough for "yes"/"no").
        retries: extra attempts for unreadable replies.
    """

    def __init__(self, generator: Any, max_tokens: int = 10, retries: int = 1) -> None:
        self.generator = generator
        self.sampling = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
        self.retries = retries
        self.stats = JudgeStats()

    def request(self, question: str, prediction: str, golds: Sequence[str] | str) -> ChatRequest:
        """The judge prompt for one item (one user message)."""
        gold_list = [golds] if isinstance(golds, str) else list(golds)
        text = _JUDGE_PROMPT.format(
            question=question or "(not given)", golds=gold_list, prediction=prediction
        )
        return [{"role": "user", "content": text}]

    def parse(self, reply: str) -> bool | None:
        return parse_yes_no(reply)

    def judge_batch(
        self, questions: Sequence[str], predictions: Sequence[str], golds: Sequence[Sequence[str] | str]
    ) -> list[bool]:
        """Judge every item; returns one verdict per item (unreadable after the retry -> False)."""
        rounds = self._rounds(questions, predictions, golds)
        try:
            batch = next(rounds)
            while True:
                batch = rounds.send(self.generator.generate(batch, self.sampling))
        except StopIteration as done:
            return done.value

    async def ajudge_batch(
        self, questions: Sequence[str], predictions: Sequence[str], golds: Sequence[Sequence[str] | str]
    ) -> list[bool]:
        """Async :meth:`judge_batch` (uses the generator's ``agenerate``)."""
        rounds = self._rounds(questions, predictions, golds)
        try:
            batch = next(rounds)
            while True:
                batch = rounds.send(await self.generator.agenerate(batch, self.sampling))
        except StopIteration as done:
            return done.value

    def _rounds(self, questions, predictions, golds) -> Generator[list[ChatRequest], list[str], list[bool]]:
        """The judging rounds, apart from how the generator is called: yields the requests of a round
        (every item, then the unreadable ones again, ``retries`` times), is sent that round's replies,
        and returns the verdicts (``StopIteration.value``)."""
        requests = self._requests(questions, predictions, golds)
        verdicts: list[bool | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        for attempt in range(self.retries + 1):
            if not todo:
                break
            if attempt:
                self.stats.retried += len(todo)
            replies = yield [requests[i] for i in todo]
            todo = self._read(replies, todo, verdicts)
        return self._finish(verdicts, todo)

    def _requests(self, questions, predictions, golds) -> list[ChatRequest]:
        if not (len(questions) == len(predictions) == len(golds)):
            raise ValueError(
                f"lengths differ: {len(questions)} questions, {len(predictions)} predictions, {len(golds)} golds"
            )
        self.stats.items += len(questions)
        return [self.request(q, p, g) for q, p, g in zip(questions, predictions, golds)]

    def _read(self, replies: list[str], todo: list[int], verdicts: list[bool | None]) -> list[int]:
        self.stats.calls += len(todo)
        left = []
        for i, reply in zip(todo, replies):
            verdicts[i] = self.parse(reply)
            if verdicts[i] is None:
                left.append(i)
        return left

    def _finish(self, verdicts: list[bool | None], todo: list[int]) -> list[bool]:
        if todo:
            self.stats.unparsed += len(todo)
            log.warning("judge: %d replies were neither yes nor no after retrying; counted wrong", len(todo))
        return [bool(v) for v in verdicts]


def split_option(gold: str) -> tuple[str | None, str]:
    """Split a multiple-choice gold ``"B: Aspirin"`` into ``("B", "Aspirin")``; no letter -> ``(None, gold)``."""
    m = _GOLD_OPTION.match(gold)
    if m:
        return m.group(1), m.group(2).strip()
    stripped = gold.strip()
    if len(stripped) == 1 and stripped.isupper():
        return stripped, ""
    return None, stripped


def predicted_letter(prediction: str) -> str | None:
    """The option letter a prediction names ("B", "(B) ...", "B. ...", "The answer is B"), or None."""
    m = _LEADING_LETTER.match(prediction)
    if m:
        return m.group(1) or m.group(2)
    m = _ANSWER_IS_LETTER.search(prediction)
    return (m.group(1) or m.group(2)) if m else None


def multiple_choice_verdict(
    prediction: str, golds: Sequence[str] | str, options: Mapping[str, str] | None = None
) -> bool | None:
    """The deterministic verdict on a multiple-choice answer, or None when only an LLM can tell.

    Golds are ``"<letter>: <option text>"`` (MIRAGE) or bare option texts; ``options`` (letter -> text,
    when known) lets the check see every option, not only the right ones. In order:

    1. an option letter the prediction names (``"B"``, ``"(B) ..."``, ``"B. ..."``, ``"The answer is
       B"``; never an article such as ``"A drug ..."``) decides: right iff it is a gold letter;
    2. else the option texts the prediction contains (the span check, so "a"/"an"/"the" are ignored
       inside texts): right when it names gold options only, wrong when it names wrong options only,
       undecided (None) when it names both;
    3. nothing recognisable: None.

    Example::

        >>> opts = {"A": "Heparin", "B": "Aspirin"}
        >>> multiple_choice_verdict("I would give aspirin", ["B: Aspirin"], opts)
        True
        >>> multiple_choice_verdict("Aspirin or heparin", ["B: Aspirin"], opts) is None
        True
    """
    parsed = [split_option(g) for g in ([golds] if isinstance(golds, str) else golds)]
    texts = [t for _, t in parsed if t]
    gold_letters = {lt for lt, _ in parsed if lt is not None}
    if not gold_letters and options:  # golds given as option texts: find their letters
        wanted = {normalize_answer(t) for t in texts}
        gold_letters = {lt for lt, text in options.items() if normalize_answer(text) in wanted}
    letter = predicted_letter(prediction)
    if letter is not None and gold_letters and (not options or letter in options):
        return letter in gold_letters
    if options:
        named = {lt for lt, text in options.items() if text.strip() and span_check(prediction, [text])}
        if named and named <= gold_letters:
            return True
        if named and not named & gold_letters:
            return False
        return None
    if texts and span_check(prediction, texts):
        return True
    return None


class MultipleChoiceJudge(LLMJudge):
    """Judge for multiple-choice sets (MIRAGE-style golds ``"<letter>: <option text>"``).

    Deterministic first (:func:`multiple_choice_verdict`): a named option letter decides, else the
    option texts the answer contains. The rest go to the LLM (if given) with a strict yes/no reading,
    up to ``attempts`` tries, then wrong; without an LLM they are wrong.
    """

    def __init__(self, generator: Any | None = None, max_tokens: int = 10, attempts: int = 3) -> None:
        super().__init__(generator, max_tokens=max_tokens, retries=attempts - 1)

    def request(self, question: str, prediction: str, golds: Sequence[str] | str) -> ChatRequest:
        gold_list = [golds] if isinstance(golds, str) else list(golds)
        bullets = "\n".join(f"- {g}" for g in gold_list)
        text = _MC_PROMPT.format(question=question or "(not given)", golds=bullets, prediction=prediction)
        return [{"role": "user", "content": text}]

    def parse(self, reply: str) -> bool | None:
        return parse_strict_yes_no(reply)

    def rule_verdict(
        self, prediction: str, golds: Sequence[str] | str, options: Mapping[str, str] | None = None
    ) -> bool | None:
        """The deterministic verdict (:func:`multiple_choice_verdict`), or None when only an LLM can tell."""
        return multiple_choice_verdict(prediction, golds, options)

    def _rules(self, predictions, golds, options) -> list[bool | None]:
        options = list(options) if options is not None else [None] * len(predictions)
        if len(options) != len(predictions):
            raise ValueError(f"lengths differ: {len(predictions)} predictions, {len(options)} option sets")
        return [self.rule_verdict(p, g, o) for p, g, o in zip(predictions, golds, options)]

    def judge_batch(self, questions, predictions, golds, options=None) -> list[bool]:
        """Rules first (``options``: per item, letter -> text, or None), then the LLM on the rest."""
        rules = self._rules(predictions, golds, options)
        todo = [i for i, r in enumerate(rules) if r is None]
        if todo and self.generator is not None:
            sub = super().judge_batch(
                [questions[i] for i in todo], [predictions[i] for i in todo], [golds[i] for i in todo]
            )
            for i, v in zip(todo, sub):
                rules[i] = v
        return [bool(r) for r in rules]

    async def ajudge_batch(self, questions, predictions, golds, options=None) -> list[bool]:
        rules = self._rules(predictions, golds, options)
        todo = [i for i, r in enumerate(rules) if r is None]
        if todo and self.generator is not None:
            sub = await super().ajudge_batch(
                [questions[i] for i in todo], [predictions[i] for i in todo], [golds[i] for i in todo]
            )
            for i, v in zip(todo, sub):
                rules[i] = v
        return [bool(r) for r in rules]
