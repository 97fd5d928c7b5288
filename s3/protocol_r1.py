"""The Search-R1 protocol: one model reasons, searches, reads what the search returned, and answers itself.

The tag language of the public Search-R1 checkpoints, so they run here unchanged::

    <think>reasoning</think>
    <search> a query </search>            the environment answers <information> ... </information>
    <answer> the final answer </answer>   ends the episode

Unlike s3's searcher, the model here is also the answerer: nothing is selected, every document its
searches returned is its context (:class:`R1Episode`), and the episode records the answer it gave
(``Episode.answer``), which :mod:`s3.reward_r1` scores. The instructions are our own wording; a user
who needs a checkpoint's exact training prompt passes it as ``instructions`` (``{question}`` and
``{max_turns}`` are filled in). Prompts follow the Qwen2.5 chat conventions of those checkpoints: one
user message, rendered by the model's own chat template (which adds Qwen's default system message),
documents laid out as ``Doc 1(Title: ...) text``.

The parser never raises on model output: unclosed or unopened tags, empty queries or answers, JSON
queries, several actions in one turn and stray text are handled, and every repair is counted in
``Action.repairs`` (a turn with no usable action is ``invalid``; the rollout answers it with
feedback and counts it).

Example::

    protocol = get_protocol("search-r1")
    action = protocol.parse_turn("<think>need the founder</think><search> Zorbex founder </search>")
    action.kind, action.query        # ("search", "Zorbex founder")
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from retrievers.doc import Doc, dedupe_docs
from s3.episode import Episode, EpisodeConfig
from s3.protocol import (
    ANSWER,
    INVALID,
    PROTOCOLS,
    SEARCH,
    Action,
    Message,
    Protocol,
    parse_query,
    parse_safely,
)

#: the canonical name, and the aliases :func:`s3.protocol.get_protocol` also accepts
NAME = "search-r1"
ALIASES = ("search-r1", "search_r1", "r1")

INSTRUCTIONS = """\
Answer the question below. Whenever you receive new information, first reason about it inside \
<think> and </think>. If a fact you need is missing, look it up: write a search query as \
<search> your query </search> and the search engine's top results come back between <information> \
and </information>. You may search up to {max_turns} times. Once you know enough, give only the \
final answer, short and without explanation, as <answer> your answer </answer>, for example \
<answer> Lisbon </answer>.

Question: {question}"""

_INITIAL_NOTE = "\n\nA first search for the question returned:\n<information>{docs}</information>"

FEEDBACK = (
    "\nThat turn had no action to run. To search, put a query between <search> and </search>; "
    "to finish, put the final answer between <answer> and </answer>.\n"
)

_ACTION_RE = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_RE = re.compile(r"<(search|answer)>", re.IGNORECASE)
_CLOSE_RE = re.compile(r"</(search|answer)>", re.IGNORECASE)
_THINK_RE = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_ANY_TAG_RE = re.compile(r"</?[a-z_]+>", re.IGNORECASE)


def render_docs_r1(docs: Sequence[Doc]) -> str:
    """Documents as the Search-R1 checkpoints saw them: ``Doc 1(Title: T) text``, one a line."""
    lines = []
    for i, doc in enumerate(docs, 1):
        text = " ".join(doc.text.split())
        lines.append(f"Doc {i}(Title: {doc.title}) {text}\n")
    return "".join(lines)


#: Search-R1 mode's episode rules, as :class:`EpisodeConfig` fields: the fairness setting the s3 paper
#: compares Search-R1 under (3 documents a search, at most 4 searches, no initial retrieval, nothing
#: selected). Every Search-R1 default starts from these: :func:`r1_episode_config`, ``SearcherConfig.for_mode``,
#: the ``search-r1`` training presets, ``s3 train --mode search-r1`` and the evaluation baseline.
EPISODE_RULES: dict[str, Any] = {
    "docs_per_search": 3,
    "select_cap": None,
    "max_turns": 4,
    "initial_k": 0,
    "include_initial": "never",
    "use_selection": False,
}


def r1_episode_config(
    docs_per_search: int = EPISODE_RULES["docs_per_search"],
    max_turns: int = EPISODE_RULES["max_turns"],
    initial_k: int = EPISODE_RULES["initial_k"],
) -> EpisodeConfig:
    """Episode rules of Search-R1 mode (:data:`EPISODE_RULES`) with ``docs_per_search`` per search and
    ``max_turns`` searches. With ``initial_k > 0`` the first results for the raw question are shown in the
    prompt and reach the context too.
    """
    return EpisodeConfig(
        **{
            **EPISODE_RULES,
            "docs_per_search": docs_per_search,
            "max_turns": max_turns,
            "initial_k": initial_k,
            "include_initial": "always" if initial_k > 0 else "never",
        }
    )


class R1Episode(Episode):
    """An episode of Search-R1 mode: the context is every retrieved document, and it records the answer.

    Nothing is selected: :meth:`context` is the initial documents (unless ``include_initial="never"``)
    followed by every search's results, in the order found, de-duplicated when ``config.dedupe``.
    ``answer`` is the text of the ``<answer>`` that ended the episode (``None`` if it never answered).
    """

    def context(self) -> list[Doc]:
        docs: list[Doc] = []
        for block in self.blocks:
            if block.is_initial and self.config.include_initial == "never":
                continue
            docs.extend(block.docs)
        return dedupe_docs(docs, strip=True) if self.config.dedupe else docs

    def selected_docs(self) -> list[Doc]:
        return []

    @property
    def answered(self) -> bool:
        return self.answer is not None


class SearchR1Protocol(Protocol):
    """The Search-R1 tag language: ``<think>``, ``<search>``, ``<information>``, ``<answer>``.

    Args:
        instructions: the user message template (``{question}``, ``{max_turns}``); default our own
            wording (:data:`INSTRUCTIONS`). Pass a checkpoint's own training prompt to match it exactly.
        system_prompt: an optional system message (the Qwen2.5 template otherwise adds its default).
    """

    name = NAME
    stop_strings = ("</search>", "</answer>")
    observation_close = "</information>\n\n"
    feedback_text = FEEDBACK

    def __init__(self, instructions: str | None = None, system_prompt: str | None = None):
        for name, value in (("instructions", instructions), ("system_prompt", system_prompt)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}: expected text, got {type(value).__name__} {value!r}")
        self.instructions = instructions or INSTRUCTIONS
        self.system_prompt = system_prompt
        if "{question}" not in self.instructions:
            raise ValueError("instructions: the template needs a {question} placeholder")

    # -- rendering ------------------------------------------------------------------------------
    def messages(self, question: str, initial_docs: Sequence[Doc], config: EpisodeConfig) -> list[Message]:
        user = self.instructions.replace("{max_turns}", str(config.max_turns)).replace("{question}", question)
        if initial_docs:
            user += _INITIAL_NOTE.format(docs=render_docs_r1(initial_docs))
        return self.chat(user)

    def observation(self, docs: Sequence[Doc], episode: Episode) -> str:
        body = render_docs_r1(docs) if docs else "(no documents found)\n"
        return f"\n\n<information>{body}{self.observation_close}"

    def new_episode(self, question: str, initial_docs: Sequence[Doc], config: EpisodeConfig) -> R1Episode:
        return R1Episode(question, list(initial_docs), config)

    # -- parsing --------------------------------------------------------------------------------
    def parse(self, text: str, episode: Episode) -> Action:
        return self.parse_turn(text)

    def parse_turn(self, text: str) -> Action:
        """Parse one turn's text into an :class:`Action`; never raises (see the module docstring)."""
        return parse_safely(text, lambda repairs: self._parse(text, repairs))

    def _parse(self, text: str, repairs: Counter) -> Action:
        thinks = [m.group(1).strip() for m in _THINK_RE.finditer(text)]
        if "<think>" in text.lower() and "</think>" not in text.lower():
            repairs["unclosed_think"] += 1
        think = "\n".join(t for t in thinks if t) or None

        kind, body, end = self._first_action(text, repairs)
        if kind is None:
            repairs["no_action"] += 1
            return Action(INVALID, think=think, repairs=dict(repairs), text=text)
        rest = text[end:]
        if _ACTION_RE.search(rest) or _OPEN_RE.search(rest):
            repairs["extra_actions"] += 1
        elif rest.strip():
            repairs["text_after_action"] += 1

        if kind == SEARCH:
            query = body.strip()
            if query.startswith("{") or query.startswith("["):  # an s3-style JSON query
                repairs["query_json"] += 1
                query = parse_query(query, repairs) or ""
            query = " ".join(_ANY_TAG_RE.sub(" ", query).split())
            if not query:
                repairs["empty_query"] += 1
                return Action(INVALID, think=think, repairs=dict(repairs), text=text)
            return Action(SEARCH, query=query, think=think, repairs=dict(repairs), text=text)
        answer = " ".join(_ANY_TAG_RE.sub(" ", body).split())
        if not answer:
            repairs["empty_answer"] += 1
            return Action(INVALID, think=think, repairs=dict(repairs), text=text)
        return Action(ANSWER, answer=answer, think=think, repairs=dict(repairs), text=text)

    @staticmethod
    def _first_action(text: str, repairs: Counter) -> tuple[str | None, str, int]:
        """(kind, body, end offset) of the first action of the turn, repairing a missing open or close."""
        closed = _ACTION_RE.search(text)
        close = _CLOSE_RE.search(text)
        opened = _OPEN_RE.search(text)
        # a close before any complete pair: its open is missing (e.g. the turn began inside the tag)
        if (
            close is not None
            and (closed is None or close.start() < closed.start())
            and (opened is None or opened.start() > close.start())
        ):
            repairs[f"{close.group(1).lower()}_open_missing"] += 1
            before = text[: close.start()]
            tags = list(_ANY_TAG_RE.finditer(before))
            body = before[tags[-1].end() :] if tags else before
            return close.group(1).lower(), body, close.end()
        if closed is not None:
            return closed.group(1).lower(), closed.group(2), closed.end()
        if opened is not None:  # opened but never closed: the body runs to the next tag or the end
            repairs["unclosed_tag"] += 1
            tail = text[opened.end() :]
            nxt = _ANY_TAG_RE.search(tail)
            body = tail[: nxt.start()] if nxt else tail
            return opened.group(1).lower(), body, opened.end() + len(body)
        return None, "", len(text)


for _alias in ALIASES:
    PROTOCOLS[_alias] = SearchR1Protocol


def is_r1(name: str | None) -> bool:
    """Whether a protocol or mode name means Search-R1 mode."""
    return name is not None and name.lower() in ALIASES
