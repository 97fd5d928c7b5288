"""Generator prompts: rendering is a pure function of records, the wording asks for a bare answer."""

from __future__ import annotations

from generators.prompts import (
    answer_with_context,
    chain_of_thought,
    extract_cot_answer,
    render_context,
    zero_shot,
)
from retrievers.doc import Doc

DOCS = [
    Doc("d42", "Paris (city)", "Paris is the capital of France.", score=3.2),
    Doc("d7", "Berlin", "Berlin is the capital of Germany."),
    Doc("d9", 'The "Lyon" page', "Lyon is in France.\nIt has a river."),
]


def test_render_context_numbers_by_position_and_keeps_titles_whole():
    text = render_context(DOCS)
    assert text == (
        "Doc 1 (Title: Paris (city))\nParis is the capital of France.\n\n"
        "Doc 2 (Title: Berlin)\nBerlin is the capital of Germany.\n\n"
        'Doc 3 (Title: The "Lyon" page)\nLyon is in France.\nIt has a river.'
    )
    assert render_context([]) == ""
    assert render_context(DOCS[1:2]).startswith("Doc 1 (Title: Berlin)")  # ids never leak in


def test_render_context_scales_past_nine_documents():
    docs = [Doc(str(i), f"T{i}", f"text {i}") for i in range(12)]
    text = render_context(docs)
    assert "Doc 12 (Title: T11)\ntext 11" in text and text.count("Doc ") == 12


def test_answer_with_context_layout():
    req = answer_with_context("What is the capital of France?", DOCS)
    assert [m["role"] for m in req] == ["system", "user"]
    assert req[1]["content"] == "What is the capital of France?"
    system = req[0]["content"]
    assert render_context(DOCS) in system
    assert "answer alone" in system and "no explanation" in system
    # the context depends on the documents given (the search policy matters)
    assert (
        answer_with_context("q", DOCS[:1])[0]["content"] != answer_with_context("q", DOCS[1:2])[0]["content"]
    )


def test_zero_shot_and_cot():
    zs = zero_shot("Who wrote Hamlet?")
    assert zs[-1] == {"role": "user", "content": "Who wrote Hamlet?"} and "Doc 1" not in zs[0]["content"]
    cot = chain_of_thought("Who wrote Hamlet?")
    assert "<answer>" in cot[0]["content"] and "step by step" in cot[0]["content"]


def test_extract_cot_answer():
    assert extract_cot_answer("Think... <answer> William Shakespeare </answer>") == "William Shakespeare"
    assert extract_cot_answer("<answer>x</answer> then <ANSWER>y</ANSWER>") == "y"  # the last one wins
    assert extract_cot_answer("reasoning\n<answer>Paris") == "Paris"  # cut off before the closing tag
    assert extract_cot_answer("Step 1.\nStep 2.\nFinal answer: Rome") == "Rome"
    assert extract_cot_answer("Some steps.\nMadrid") == "Madrid"
    assert extract_cot_answer("   ") == ""
