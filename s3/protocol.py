"""The searcher's tag protocol: render the searcher's prompt and parse each of its turns into an action.

A :class:`Protocol` is everything the rollout needs to know about a tag language: the first prompt,
where a turn ends (stop strings), how a turn's text becomes an :class:`Action`, and the text the
environment answers with. :class:`S3Protocol` is s3's language::

    <think>optional reasoning</think>
    <important_info>[1, 3]</important_info>          ids from the latest <information> block
    <search_complete>False</search_complete>          True stops the search
    <query>{"query": "next search"}</query>           the environment answers <information>...</information>

Parsing never raises on model output: unclosed tags, broken JSON, a list of queries, ids out of range
or past the cap, ``True``/``yes``/``1`` and stray text are all handled, and every repair is counted in
``Action.repairs`` so training can log how often the policy breaks the format.

Example::

    protocol = S3Protocol()
    action = protocol.parse_turn('<important_info>[2]</important_info><query>{"query": "x"}</query>',
                                 window_size=8, select_cap=3)
    action.kind, action.query, action.selected   # ("search", "x", [2])
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retrievers.doc import Doc

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from s3.episode import Episode, EpisodeConfig

Message = dict[str, str]

#: action kinds; ``complete`` and ``answer`` end an episode
SEARCH, COMPLETE, ANSWER, INVALID = "search", "complete", "answer", "invalid"
TERMINAL_KINDS = frozenset({COMPLETE, ANSWER})

#: values of ``<search_complete>`` that stop the search (compared lower-cased and stripped)
TRUE_VALUES = frozenset({"true", "yes", "1", "y"})
FALSE_VALUES = frozenset({"false", "no", "0", "n"})


@dataclass
class Action:
    """What one policy turn asked for.

    Attributes:
        kind: ``"search"``, ``"complete"``, ``"answer"`` (other protocols) or ``"invalid"``.
        query: the search query (``kind == "search"``).
        selected: 1-based ids selected from the current information window, after dropping ids that
            are out of range, repeated or past the cap; ``None`` when the turn made no selection.
        answer: a final answer (protocols that answer; ``None`` for s3).
        think: the text of ``<think>`` blocks, if any.
        repairs: what the parser had to repair or drop, as counts (e.g. ``{"query_list": 1}``).
        text: the turn text the action was parsed from.
    """

    kind: str
    query: str | None = None
    selected: list[int] | None = None
    answer: str | None = None
    think: str | None = None
    repairs: dict[str, int] = field(default_factory=dict)
    text: str = ""

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("query", "selected", "answer", "think"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.repairs:
            out["repairs"] = dict(self.repairs)
        out["text"] = self.text
        return out


class Protocol(ABC):
    """The interface the rollout drives; one instance per tag language (s3, Search-R1, ...).

    Subclasses implement :meth:`messages` (usually through :meth:`chat`), :meth:`parse` and
    :meth:`observation`, and set their :attr:`stop_strings` and :attr:`feedback_text`. The rollout
    applies the chat template, enforces budgets, cuts each turn at :meth:`find_stop` in token space and
    keeps the :class:`Episode`.
    """

    #: a short name stored in trajectories and checkpoints
    name: str = "protocol"
    #: strings that end a turn (passed to backends as stop strings; the rollout re-checks them)
    stop_strings: tuple[str, ...] = ()
    #: the closing part of every observation, kept when an observation is truncated to its budget
    observation_close: str = ""
    #: what :meth:`feedback` answers an invalid turn with
    feedback_text: str = ""
    #: an optional system message placed before the user message (:meth:`chat`)
    system_prompt: str | None = None

    @abstractmethod
    def messages(self, question: str, initial_docs: Sequence[Doc], config: EpisodeConfig) -> list[Message]:
        """The chat messages of the searcher's first prompt (the rollout applies the chat template)."""

    @abstractmethod
    def parse(self, text: str, episode: Episode) -> Action:
        """Parse one turn (already cut at its stop string) in the state of ``episode``; never raises."""

    @abstractmethod
    def observation(self, docs: Sequence[Doc], episode: Episode) -> str:
        """The text appended after a search turn, showing ``docs`` (the new information window)."""

    def feedback(self, action: Action, episode: Episode) -> str:
        """The text appended after an invalid turn (:attr:`feedback_text`)."""
        return self.feedback_text

    def chat(self, user: str) -> list[Message]:
        """The messages of a first prompt: the :attr:`system_prompt` if any, then ``user``."""
        system: list[Message] = (
            [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        )
        return [*system, {"role": "user", "content": user}]

    def find_stop(self, text: str) -> int | None:
        """Character offset just past the first stop string in ``text``; ``None`` when there is none."""
        best: int | None = None
        for stop in self.stop_strings:
            i = text.find(stop)
            if i != -1 and (best is None or i + len(stop) < best):
                best = i + len(stop)
        return best

    def new_episode(self, question: str, initial_docs: Sequence[Doc], config: EpisodeConfig) -> Episode:
        """A fresh :class:`Episode` for ``question`` (protocols with other state override this)."""
        from s3.episode import Episode

        return Episode(question, list(initial_docs), config)


def parse_safely(text: str, parse: Callable[[Counter], Action]) -> Action:
    """``parse(repairs)`` for one turn's ``text``; a parser bug must not kill a rollout, so an exception
    is logged, counted (``repairs["parser_error"]``) and the turn is ``invalid``."""
    repairs: Counter = Counter()
    try:
        return parse(repairs)
    except Exception:
        log.exception("parser error (a bug: please report it); the turn counts as invalid: %r", text[:200])
        repairs["parser_error"] += 1
        return Action(INVALID, repairs=dict(repairs), text=text)


def render_docs(docs: Sequence[Doc], start: int = 1) -> str:
    """Number documents for the searcher: ``Doc 1 (Title: ...) text`` per line; a pure function of records."""
    lines = []
    for i, doc in enumerate(docs, start):
        text = " ".join(doc.text.split())
        lines.append(f"Doc {i} (Title: {doc.title}) {text}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# s3's protocol

_INSTRUCTIONS = """\
You are a search assistant working for a separate answering model. You do not answer the question \
yourself: you collect the documents the answering model will read, and only the documents you mark \
as important reach it.

You are given the question and the results of a first search for it. First judge whether these \
results already contain what is needed. Then work in rounds. In each round:
1. You may reason inside <think> ... </think>.
2. Mark the helpful documents of the latest <information> block by their numbers inside \
<important_info> ... </important_info>, for example <important_info>[1, 3]</important_info>. \
Choose {cap_text}, only from the latest block; write [] if none helps.
3. Decide whether the evidence is sufficient: <search_complete>True</search_complete> ends the \
search, <search_complete>False</search_complete> continues it.
4. To continue, write one new search query as JSON inside <query> ... </query>, for example \
<query>{{"query": "birthplace of the author of ..."}}</query>. Its results come back inside \
<information> ... </information> and the next round begins.
{boolean_note}
If the first results are already sufficient, end the search at once."""

_BOOLEAN_NOTE = (
    "The search engine matches keywords (BM25): combine terms with AND, OR and parentheses, for "
    "example (Curie OR Sklodowska) AND Nobel.\n"
)

_FEEDBACK = (
    "\nThat turn had no usable action. Either end the search with "
    "<search_complete>True</search_complete> or write a new search query as JSON between <query> "
    "and </query>.\n"
)

_TAG_RE_CACHE: dict[str, re.Pattern[str]] = {}


def _tag_re(tag: str) -> re.Pattern[str]:
    """``<tag>body</tag>``, tolerating a missing close (the body then runs to the next tag or the end)."""
    if tag not in _TAG_RE_CACHE:
        _TAG_RE_CACHE[tag] = re.compile(
            rf"<{tag}>(.*?)(</{tag}>|(?=<(?!/{tag}>)[a-z_/]+>)|$)", re.DOTALL | re.IGNORECASE
        )
    return _TAG_RE_CACHE[tag]


_QUERY_VALUE_RE = re.compile(r'"query"\s*:\s*(?:\[\s*)?"((?:[^"\\]|\\.)*)"?', re.DOTALL)
_INT_RE = re.compile(r"-?\d+")
_TRUE_COMPLETE_RE = re.compile(
    r"<search_complete>\s*(true|yes|1|y)\s*[.!]?\s*</search_complete>", re.IGNORECASE
)


def _clean_value(value: str) -> str:
    return value.strip().strip("\"'`.!").strip().lower()


def parse_query(body: str, repairs: Counter) -> str | None:
    """Read the query out of a ``<query>`` body: JSON ``{"query": ...}`` first, then lenient fallbacks."""
    body = body.strip()
    if not body:
        return None
    try:
        value: Any = json.loads(body)
    except (json.JSONDecodeError, ValueError):
        match = _QUERY_VALUE_RE.search(body)
        if match:
            repairs["query_json_repaired"] += 1
            try:
                return json.loads(f'"{match.group(1)}"').strip() or None
            except (json.JSONDecodeError, ValueError):
                return match.group(1).strip() or None
        repairs["query_not_json"] += 1
        return body
    if isinstance(value, dict):
        if "query" not in value:
            repairs["query_key_missing"] += 1
            return body
        value = value["query"]
    if isinstance(value, list):
        repairs["query_list"] += 1
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if value is None:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        repairs["query_not_json"] += 1
        return body
    return value.strip() or None


def parse_ids(body: str, window_size: int, select_cap: int | None, repairs: Counter) -> list[int]:
    """Selected 1-based ids: integers in ``body``, de-duplicated, in range, at most ``select_cap``."""
    out: list[int] = []
    for token in _INT_RE.findall(body):
        i = int(token)
        if i < 1 or i > window_size:
            repairs["ids_out_of_range"] += 1
        elif i in out:
            repairs["ids_duplicate"] += 1
        elif select_cap is not None and len(out) >= select_cap:
            repairs["ids_over_cap"] += 1
        else:
            out.append(i)
    return out


class S3Protocol(Protocol):
    """s3's tag language: ``<query>`` JSON, ``<information>``, ``<important_info>``, ``<search_complete>``.

    Args:
        boolean_queries: ask for Boolean keyword queries (the variant used with BM25).
        system_prompt: an optional system message placed before the user message.
    """

    name = "s3"
    stop_strings = (
        "</query>",
        *(
            f"<search_complete>{v}</search_complete>"
            for v in ("True", "true", "TRUE", "Yes", "yes", "1", "y")
        ),
    )
    observation_close = "</information>\n\n"
    feedback_text = _FEEDBACK

    def __init__(self, boolean_queries: bool = False, system_prompt: str | None = None):
        self.boolean_queries = boolean_queries
        self.system_prompt = system_prompt

    # -- rendering ------------------------------------------------------------------------------
    def instructions(self, select_cap: int | None) -> str:
        cap_text = f"at most {select_cap}" if select_cap else "as few as needed"
        return _INSTRUCTIONS.format(
            cap_text=cap_text, boolean_note=_BOOLEAN_NOTE if self.boolean_queries else ""
        )

    def messages(self, question: str, initial_docs: Sequence[Doc], config: EpisodeConfig) -> list[Message]:
        docs = render_docs(initial_docs) if initial_docs else "(no results yet)"
        user = (
            f"{self.instructions(config.select_cap)}\n\n"
            f"The question and the first search results:\n"
            f"<question>{question}</question>\n<information>\n{docs}\n</information>"
        )
        return self.chat(user)

    def observation(self, docs: Sequence[Doc], episode: Episode) -> str:
        body = render_docs(docs) if docs else "(no documents found)"
        return f"\n\n<information>\n{body}\n{self.observation_close}"

    # -- parsing --------------------------------------------------------------------------------
    def find_stop(self, text: str) -> int | None:
        best = super().find_stop(text)
        match = _TRUE_COMPLETE_RE.search(text)  # tolerant form of the completion stop strings
        if match and (best is None or match.end() < best):
            best = match.end()
        return best

    def parse(self, text: str, episode: Episode) -> Action:
        return self.parse_turn(
            text, window_size=len(episode.window.docs), select_cap=episode.config.select_cap
        )

    def parse_turn(self, text: str, window_size: int, select_cap: int | None) -> Action:
        """Parse one turn's text into an :class:`Action`; never raises (see the module docstring)."""
        return parse_safely(text, lambda repairs: self._parse(text, window_size, select_cap, repairs))

    def _parse(self, text: str, window_size: int, select_cap: int | None, repairs: Counter) -> Action:
        if "</query>" in text:
            text_for_tags = text[: text.index("</query>") + len("</query>")]
            if len(text_for_tags.strip()) < len(text.strip()):
                repairs["text_after_query"] += 1
        else:
            text_for_tags = text

        think = [m.group(1).strip() for m in _tag_re("think").finditer(text_for_tags)]

        # completion: any truthy <search_complete> wins over a query in the same turn
        complete = False
        for m in _tag_re("search_complete").finditer(text_for_tags):
            if not m.group(2):
                repairs["unclosed_tag"] += 1
            value = _clean_value(m.group(1))
            if value in TRUE_VALUES:
                complete = True
            elif value not in FALSE_VALUES:
                repairs["complete_value_unknown"] += 1

        # selection: every <important_info> of the turn, merged in order
        selected: list[int] | None = None
        infos = list(_tag_re("important_info").finditer(text_for_tags))
        if infos:
            if len(infos) > 1:
                repairs["extra_selections"] += len(infos) - 1
            body = " ".join(m.group(1) for m in infos)
            if any(not m.group(2) for m in infos):
                repairs["unclosed_tag"] += 1
            selected = parse_ids(body, window_size, select_cap, repairs)

        # query: the first <query>; a close without an open (after feedback that opened it) is accepted
        query: str | None = None
        has_query = False
        queries = list(_tag_re("query").finditer(text_for_tags))
        if queries:
            has_query = True
            if len(queries) > 1:
                repairs["extra_queries"] += len(queries) - 1
            if not queries[0].group(2):
                repairs["unclosed_tag"] += 1
            query = parse_query(queries[0].group(1), repairs)
        elif "</query>" in text_for_tags:
            has_query = True
            repairs["query_open_missing"] += 1
            body = text_for_tags[: text_for_tags.index("</query>")]
            body = re.sub(r"<(\w+)>.*?</\1>", " ", body, flags=re.DOTALL)  # drop complete tags before it
            query = parse_query(body, repairs)

        think_text = "\n".join(think) if think else None
        if complete:
            return Action(COMPLETE, selected=selected, think=think_text, repairs=dict(repairs), text=text)
        if has_query and query:
            return Action(
                SEARCH, query=query, selected=selected, think=think_text, repairs=dict(repairs), text=text
            )
        repairs["empty_query" if has_query else "no_action"] += 1
        return Action(INVALID, selected=selected, think=think_text, repairs=dict(repairs), text=text)


class BriefS3Protocol(S3Protocol):
    """:class:`S3Protocol` with a one-line instruction (tags, parsing and stops unchanged): ``"s3-brief"``.

    A model of a few hundred thousand parameters does not read instructions; it learns the format
    from demonstrations. Cutting the instruction block makes each CPU training step about three times
    cheaper, so the ``tiny`` training preset uses it.
    """

    name = "s3-brief"

    def instructions(self, select_cap: int | None) -> str:
        cap_text = f"at most {select_cap} per block" if select_cap else "as few as needed"
        return (
            "Mark useful documents in <important_info>, then end with <search_complete>True</search_complete> "
            f'or search again with <query>{{"query": "..."}}</query>. Keep {cap_text}.'
        )


#: the help of every config's ``protocol_options`` field
PROTOCOL_OPTIONS_HELP = (
    "keyword options of the protocol, e.g. search-r1's instructions (a prompt template with {question}) "
    "and system_prompt, to match a checkpoint's own training prompt"
)

#: protocols by name (other modules register theirs here, e.g. the Search-R1 protocol; look them up
#: through :mod:`s3.protocol_registry`, which imports every built-in one)
PROTOCOLS: dict[str, type[Protocol]] = {"s3": S3Protocol, "s3-brief": BriefS3Protocol}
