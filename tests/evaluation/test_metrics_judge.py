"""LLM judge, multiple-choice judge and GenAcc with a judge.

The judge's generator here is a scripted :class:`Generator` (a test double): the judge logic under
test is the prompt, the parsing, the retry and the batching, and no real LLM that answers yes/no
meaningfully can run in a CPU test. The HTTP path to real servers is covered in tests/generators.
"""

from __future__ import annotations

import asyncio

import pytest

from evaluation.judge import (
    LLMJudge,
    MultipleChoiceJudge,
    multiple_choice_verdict,
    parse_strict_yes_no,
    parse_yes_no,
    predicted_letter,
    split_option,
)
from evaluation.metrics import agenacc_batch, genacc, genacc_batch, score_answers, span_check
from generators.base import Generator


class ScriptedGenerator(Generator):
    """Replies with ``reply(prompt_text, attempt)``; records every call."""

    def __init__(self, reply):
        self.reply = reply
        self.calls: list[tuple[str, object]] = []
        self.seen: dict[str, int] = {}

    def generate(self, requests, sampling=None):
        out = []
        for req in requests:
            text = req[-1]["content"]
            attempt = self.seen.get(text, 0)
            self.seen[text] = attempt + 1
            self.calls.append((text, sampling))
            out.append(self.reply(text, attempt))
        return out


def test_parsers():
    assert parse_yes_no("Yes.") is True and parse_yes_no("NO, it does not") is False
    assert parse_yes_no("Answer: yes") is True
    assert parse_yes_no("eyes nothing") is None and parse_yes_no("") is None
    assert parse_strict_yes_no(" Yes. ") is True and parse_strict_yes_no('"no"') is False
    assert parse_strict_yes_no("yes, because") is None


def test_judge_prompt_sampling_and_verdicts():
    gen = ScriptedGenerator(
        lambda text, attempt: "Yes" if "Shakespeare" in text.split("grade:")[1] else "No."
    )
    judge = LLMJudge(gen)
    verdicts = judge.judge_batch(
        ["Who wrote Hamlet?", "Who wrote Faust?"],
        ["It was Shakespeare.", "Schiller"],
        [["William Shakespeare", "Shakespeare"], ["Goethe"]],
    )
    assert verdicts == [True, False]
    prompt, sampling = gen.calls[0]
    assert (
        "Who wrote Hamlet?" in prompt
        and "It was Shakespeare." in prompt
        and "'William Shakespeare'" in prompt
    )
    assert sampling.temperature == 0.0 and sampling.max_tokens == 10
    assert judge.stats.calls == 2 and judge.stats.retried == 0


def test_judge_retries_once_then_counts_wrong():
    # item 1 parses on the retry, item 2 never parses
    gen = ScriptedGenerator(lambda text, attempt: "yes" if "first" in text and attempt == 1 else "hmm, maybe")
    judge = LLMJudge(gen)
    assert judge.judge_batch(["q", "q"], ["first", "second"], [["x"], ["y"]]) == [True, False]
    assert len(gen.calls) == 4  # two items, each asked twice
    assert judge.stats.retried == 2 and judge.stats.unparsed == 1


def test_async_judge_asks_and_retries_like_the_sync_one():
    for sync in (True, False):
        gen = ScriptedGenerator(
            lambda text, attempt: "yes" if "first" in text and attempt == 1 else "hmm, maybe"
        )
        judge = LLMJudge(gen)
        args = (["q", "q"], ["first", "second"], [["x"], ["y"]])
        verdicts = judge.judge_batch(*args) if sync else asyncio.run(judge.ajudge_batch(*args))
        assert verdicts == [True, False] and len(gen.calls) == 4, sync
        assert (judge.stats.items, judge.stats.calls, judge.stats.retried, judge.stats.unparsed) == (
            2,
            4,
            2,
            1,
        )
        assert judge.judge_batch([], [], []) == [] == asyncio.run(judge.ajudge_batch([], [], []))
        assert len(gen.calls) == 4  # an empty batch asks nothing


def test_genacc_calls_judge_only_for_span_failures():
    gen = ScriptedGenerator(lambda text, attempt: "yes")
    judge = LLMJudge(gen)
    scores = genacc_batch(
        ["q1", "q2", "q3"],
        ["The answer is Paris", "The French capital", "Berlin"],
        [["Paris"], ["Paris"], ["Berlin"]],
        judge=judge,
    )
    assert scores == [1.0, 1.0, 1.0]
    assert len(gen.calls) == 1 and "The French capital" in gen.calls[0][0]
    assert genacc("Lyon", ["Paris"]) == 0.0  # no judge: span failure is wrong
    assert (
        genacc("Lyon", ["Paris"], judge=LLMJudge(ScriptedGenerator(lambda t, a: "no")), question="q") == 0.0
    )
    items = score_answers(["q"], ["French capital"], [["Paris"]], judge=judge)
    assert items[0]["span"] is False and items[0]["judge"] is True and items[0]["genacc"] == 1.0


def test_async_genacc_with_judge():
    gen = ScriptedGenerator(lambda text, attempt: "no")
    scores = asyncio.run(
        agenacc_batch(["q", "q"], ["Paris", "Lyon"], [["Paris"], ["Paris"]], judge=LLMJudge(gen))
    )
    assert scores == [1.0, 0.0] and len(gen.calls) == 1


def test_multiple_choice_rules():
    assert split_option("B: Aspirin") == ("B", "Aspirin") and split_option("(C) Ibuprofen") == (
        "C",
        "Ibuprofen",
    )
    for text, letter in [("B", "B"), ("(B) aspirin", "B"), ("B. aspirin", "B"), ("The answer is B.", "B")]:
        assert predicted_letter(text) == letter
    assert predicted_letter("A drug such as aspirin") is None

    judge = MultipleChoiceJudge()  # no LLM: rules only
    golds = [["B: Aspirin"], ["B: Aspirin"], ["B: Aspirin"], ["B: Aspirin"], ["A: Low dose of heparin"]]
    preds = ["B", "Answer: C", "I would give aspirin.", "Something else entirely", "a low-dose heparin"]
    assert judge.judge_batch(["q"] * 5, preds, golds) == [True, False, True, False, False]


def test_multiple_choice_falls_back_to_strict_llm():
    replies = {0: "Yes, clearly", 1: "yes"}  # the first reply is not strict, the second is
    gen = ScriptedGenerator(lambda text, attempt: replies.get(attempt, "??"))
    judge = MultipleChoiceJudge(gen)
    assert judge.judge_batch(["Which drug?"], ["acetylsalicylic acid"], [["B: Aspirin"]]) == [True]
    assert len(gen.calls) == 2
    prompt = gen.calls[0][0]
    assert "- B: Aspirin" in prompt and "acetylsalicylic acid" in prompt

    never = ScriptedGenerator(lambda text, attempt: "perhaps")
    judge = MultipleChoiceJudge(never, attempts=3)
    assert judge.judge_batch(["q"], ["something"], [["B: Aspirin"]]) == [False]
    assert len(never.calls) == 3 and judge.stats.unparsed == 1


def test_judge_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="lengths differ"):
        LLMJudge(ScriptedGenerator(lambda t, a: "yes")).judge_batch(["q"], ["a", "b"], [["a"]])


def test_span_check_keeps_the_option_letter_of_a_multiple_choice_gold():
    # the letter "A" of "A: Aspirin" is an option letter, not an article: both letters behave alike
    assert span_check("I would give aspirin", ["A: Aspirin"]) is False
    assert span_check("I would give aspirin", ["B: Aspirin"]) is False
    assert span_check("A: Aspirin", ["A: Aspirin"]) is True
    assert span_check("The Beatles", ["Beatles"]) is True  # free-text golds are unchanged


OPTIONS = {"A": "Heparin", "B": "Aspirin", "C": "Warfarin", "D": "An antibiotic"}


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        # letters
        ("B", True),
        ("(B) aspirin", True),
        ("B. Aspirin", True),
        ("The answer is B.", True),
        ("Answer: (C)", False),
        ("A", False),
        ("E", None),  # not an option: no letter, no option text
        # option texts
        ("I would give aspirin", True),
        ("Aspirin, at a low dose.", True),
        ("heparin", False),
        ("an antibiotic", False),
        # "A" as an article is never read as option A
        ("A daily aspirin", True),
        ("A patient like this needs heparin", False),
        ("Answer: A patient like this needs aspirin", True),
        # several options named
        ("Aspirin or heparin", None),
        ("Heparin and warfarin", False),
        ("Nothing applies", None),
    ],
)
def test_multiple_choice_verdict_on_constructed_answers(prediction, expected):
    assert multiple_choice_verdict(prediction, ["B: Aspirin"], OPTIONS) is expected


def test_multiple_choice_verdict_without_options_and_with_text_golds():
    # without the option list: the gold letter or the gold text
    assert multiple_choice_verdict("I would give aspirin", ["A: Aspirin"]) is True
    assert multiple_choice_verdict("I would give aspirin", ["B: Aspirin"]) is True
    assert multiple_choice_verdict("A drug", ["B: Aspirin"]) is None
    assert multiple_choice_verdict("C", ["B: Aspirin"]) is False
    # golds given as texts: their letters come from the options
    assert multiple_choice_verdict("B", ["Aspirin"], OPTIONS) is True
    assert multiple_choice_verdict("C", ["Aspirin"], OPTIONS) is False


def test_multiple_choice_judge_uses_the_options_and_asks_the_llm_only_when_undecided():
    gen = ScriptedGenerator(lambda text, attempt: "no")
    judge = MultipleChoiceJudge(gen)
    preds = ["Aspirin or heparin", "heparin", "B"]
    verdicts = judge.judge_batch(["q"] * 3, preds, [["B: Aspirin"]] * 3, options=[OPTIONS] * 3)
    assert verdicts == [False, False, True]
    assert len(gen.calls) == 1 and "Aspirin or heparin" in gen.calls[0][0]
