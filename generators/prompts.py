"""Prompts for the frozen generator: answer with context, zero-shot, chain of thought.

Every prompt is a pure function of records (question text and :class:`~retrievers.doc.Doc` lists)
returning a :data:`~generators.base.ChatRequest` (a list of ``{"role", "content"}`` messages). The
wording is our own. The answer-with-context prompt puts the documents in the system message and the
bare question in the user message, and asks for a short answer with nothing else, so that the
answer-span check and the judge see only the answer.

Example::

    request = answer_with_context("Who wrote Hamlet?", docs)
    text = generator.generate([request])[0]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from retrievers.doc import Doc

if TYPE_CHECKING:  # generators.base renders its answer prompt with this module
    from generators.base import ChatRequest

#: the instruction shared by every direct-answer prompt
DIRECT_ANSWER_RULE = (
    "Reply with the answer alone: a few words, no explanation, no reasoning and no full sentence."
)

_CONTEXT_SYSTEM = (
    "You answer questions. The passages below were retrieved for the question; some of them may be "
    "unrelated, so rely only on the ones that help.\n\n"
    "Passages:\n{context}\n\n" + DIRECT_ANSWER_RULE
)

_ZERO_SHOT_SYSTEM = "You answer questions from your own knowledge. " + DIRECT_ANSWER_RULE

_COT_SYSTEM = (
    "You answer questions from your own knowledge. First work through the question step by step. "
    "Then give the final short answer (a few words) between <answer> and </answer>, "
    "for example <answer>Paris</answer>."
)

_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_FINAL_ANSWER_LINE = re.compile(r"(?:final answer|answer)\s*(?:is)?\s*[:\-]\s*(.+)", re.IGNORECASE)


def render_context(docs: list[Doc]) -> str:
    """Render documents as the generator's context, numbered from 1.

    Each document is ``Doc i (Title: <title>)`` on one line followed by its text; documents are
    separated by a blank line. The numbering is the position in ``docs``, never the document id.

    Args:
        docs: the documents, in the order they should appear.

    Returns:
        The context string ("" for no documents).

    Example::

        >>> render_context([Doc("7", "Paris", "Capital of France.")])
        'Doc 1 (Title: Paris)\\nCapital of France.'
    """
    return "\n\n".join(f"Doc {i} (Title: {d.title})\n{d.text}" for i, d in enumerate(docs, start=1))


def answer_with_context(question: str, docs: list[Doc]) -> ChatRequest:
    """The generator prompt of s3: the context in the system message, the bare question as the user turn.

    Args:
        question: the question text.
        docs: the context documents (rendered with :func:`render_context`).

    Returns:
        A two-message chat request.
    """
    system = _CONTEXT_SYSTEM.format(context=render_context(docs))
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def zero_shot(question: str) -> ChatRequest:
    """A no-retrieval prompt: answer directly from the model's own knowledge."""
    return [{"role": "system", "content": _ZERO_SHOT_SYSTEM}, {"role": "user", "content": question}]


def chain_of_thought(question: str) -> ChatRequest:
    """A no-retrieval prompt asking for step-by-step reasoning, the answer inside ``<answer>`` tags.

    Use :func:`extract_cot_answer` on the reply.
    """
    return [{"role": "system", "content": _COT_SYSTEM}, {"role": "user", "content": question}]


def extract_cot_answer(text: str) -> str:
    """Pull the final answer out of a chain-of-thought reply.

    The last ``<answer>...</answer>`` span wins (an unclosed final tag counts up to the end of the
    text). Without tags, a last line of the form ``Answer: X`` / ``The final answer is: X`` is used;
    failing that, the last non-empty line.

    Example::

        >>> extract_cot_answer("Step 1 ... <answer> Paris </answer>")
        'Paris'
    """
    spans = _ANSWER_TAG.findall(text)
    if spans:
        return spans[-1].strip()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    for line in reversed(lines):
        m = _FINAL_ANSWER_LINE.search(line)
        if m:
            return m.group(1).strip()
    return lines[-1]
