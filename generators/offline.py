"""The offline default generator: a lexical extractive multi-hop reader.

:class:`ExtractiveReader` needs no model download, answers in about a millisecond, is deterministic,
and answers **only** from the context documents it is given, so which documents a searcher puts in
the context decides whether it is right: exactly the property s3's reward needs from a frozen
generator. It reads like this:

1. The question's content words (stop words and the answer-type word dropped) are reduced to
   5-character prefixes (truncation stemming: *founder* and *founded* both become ``found``). The
   answer type is the noun after a leading *which*/*what* (``In which city ...`` -> ``city``).
2. The context is split into sentences; each sentence's named entities are its runs of capitalised
   words (and its numbers).
3. Reasoning chains are single sentences, or two sentences joined by a **bridge**: an entity of the
   first sentence that is not in the question and reappears in the second (at most two hops, as in
   2-hop QA benchmarks).
4. The answer candidates of a chain are the entities of its last sentence that are neither in the
   question nor the bridge. A (chain, candidate) pair is ranked by: how many question words the
   chain covers; whether the candidate is a number exactly when the question asks for one
   (*when*, *how many*, *what year*); whether it appears next to the answer-type word somewhere in the
   context (``Quarnby is a city``, ``the country of Velloria``); fewer hops; the summed rarity of
   the covered words; earlier position in the context.

It is a reader for factoid questions whose answer is a name or a number stated in the context; it
is not a judge or a chat model. A multiple-choice question (the question, then ``Options:`` and one
``A. text`` line per option) is answered with the option whose words occur in the sentence sharing
the most words with the question (``B. Aspirin``), or not at all. Example::

    reader = ExtractiveReader()
    reader.answer("Who founded Zorbex Industries?",
                  [Doc("1", "Zorbex Industries", "Zorbex Industries is a company founded by Talen Morvik.")])
    # -> 'Talen Morvik'
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from generators.base import ChatRequest, Generator, SamplingParams, pair_contexts
from retrievers.doc import Doc

#: what the reader says when no sentence of the context relates to the question
NO_ANSWER = "unknown"

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being has have had
    do does did which what who whom whose when where why how that this these those it its as into
    there their they he she his her him i you we our your my me not no yes than then so if about
    after before during over under between much many any some one""".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\-][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['\-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")  # words and punctuation
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_NUMBER = re.compile(r"^\d[\d,.]*$")
# "Doc 3 (Title: X)" / "Doc 3(Title: X) text" headers of rendered contexts (ours and the reference's)
_DOC_HEADER = re.compile(r"^\s*Doc\s*\d+\s*\(Title:\s*(.*?)\)\s*", re.MULTILINE)
_TYPE_WORD = re.compile(r"^\s*(?:in|at|from|for|of|to|on|by)?\s*(?:which|what)\s+([A-Za-z]+)", re.IGNORECASE)
_TYPE_WINDOW = 3  # tokens between a candidate and its answer-type word
_NUMERIC_QUESTION = re.compile(r"^\s*(?:when|how (?:many|much|old|long)|(?:in )?what year)\b", re.IGNORECASE)


def stem(word: str) -> str:
    """Truncation stemmer: lower-case, first 5 characters."""
    return word.lower()[:5]


def content_stems(words: list[str]) -> set[str]:
    return {stem(w) for w in words if w.lower() not in _STOPWORDS}


@dataclass
class _Sentence:
    text: str
    position: int
    words: list[str]  # tokens, punctuation included
    stems: set[str]
    entities: list[tuple[str, int]]  # (surface form, token index)


@dataclass
class Reading:
    """The reader's decision: the answer, the sentences it chained and the bridge entity."""

    answer: str
    chain: list[str] = field(default_factory=list)
    bridge: str | None = None
    covered: int = 0


def _is_name_word(token: str) -> bool:
    return token[0].isupper() and token.lower() not in _STOPWORDS


def _entities(tokens: list[str]) -> list[tuple[str, int]]:
    """Runs of capitalised words (a stop word or punctuation ends a run) and standalone numbers,
    with their token index."""
    out: list[tuple[str, int]] = []
    i = 0
    words = tokens
    while i < len(words):
        w = words[i]
        if _is_name_word(w):
            j = i + 1
            while j < len(words) and _is_name_word(words[j]):
                j += 1
            out.append((" ".join(words[i:j]), i))
            i = j
        elif _NUMBER.match(w):
            out.append((w, i))
            i += 1
        else:
            i += 1
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage (split after ``.``, ``!`` or ``?`` before a capital or a digit)."""
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


_OPTION_LINE = re.compile(r"^\s*([A-Z])[.):]\s+(\S.*)$")


def split_options(question: str) -> tuple[str, dict[str, str]] | None:
    """(question, options) of a multiple-choice question written as ``Q\\nOptions:\\nA. x\\nB. y``, else None."""
    head, sep, tail = question.partition("\nOptions:")
    if not sep:
        return None
    options = {}
    for line in tail.splitlines():
        m = _OPTION_LINE.match(line)
        if m:
            options[m.group(1)] = m.group(2).strip()
    return (head.strip(), options) if len(options) >= 2 else None


def answer_type(question: str) -> str | None:
    """The answer-type word of ``In which city ...`` / ``What country ...`` questions, stemmed."""
    m = _TYPE_WORD.match(question)
    if not m or m.group(1).lower() in _STOPWORDS:
        return None
    return stem(m.group(1))


class ExtractiveReader(Generator):
    """The offline frozen generator: a lexical extractive multi-hop reader (see the module docstring).

    Args:
        latency_s: seconds to sleep once per batch call, to stand in for a remote endpoint in
            benchmarks and resumability tests (0 = answer at once).
        request_log: optional JSONL file; every answered question is appended to it (one line per
            question), so a caller can count what reached the generator.
    """

    name = "extractive-reader"

    def __init__(self, latency_s: float = 0.0, request_log: str | Path | None = None) -> None:
        self.latency_s = float(latency_s)
        self.request_log = Path(request_log) if request_log else None
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    def read(self, question: str, passages: list[str]) -> Reading:
        """Answer ``question`` from passage texts and say which sentences the answer rests on."""
        sentences = []
        for text in passages:
            for s in split_sentences(text):
                tokens = _TOKEN.findall(s)
                stems = content_stems([t for t in tokens if t[0].isalnum()])
                sentences.append(_Sentence(s, len(sentences), tokens, stems, _entities(tokens)))
        options = split_options(question)
        if options is not None:
            return self._read_choice(options[0], options[1], sentences)
        return self._read(question, sentences)

    def answer_batch(
        self,
        questions: list[str],
        contexts: list[list[Doc]],
        sampling: SamplingParams | None = None,
    ) -> list[str]:
        """Answer each question from its documents (the records' text; titles are not evidence)."""
        self._simulate_latency()
        return self._read_pairs(pair_contexts(questions, contexts))

    async def aanswer_batch(
        self,
        questions: list[str],
        contexts: list[list[Doc]],
        sampling: SamplingParams | None = None,
    ) -> list[str]:
        """Async :meth:`answer_batch` (the latency, if any, is awaited, not slept)."""
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return self._read_pairs(pair_contexts(questions, contexts))

    def generate(self, requests: list[ChatRequest], sampling: SamplingParams | None = None) -> list[str]:
        """Answer arbitrary chat requests by reading their text.

        The question is the last user message (or, when that message holds the context too, the
        text after its last ``Question:`` label); everything else is the context. When the context
        contains rendered document headers (``Doc 1 (Title: ...)``), only the documents' bodies are
        read, so instructions around them are not mistaken for evidence.
        """
        self._simulate_latency()
        out = []
        questions = []
        for request in requests:
            question, context = _split_request(request)
            questions.append(question)
            out.append(self.read(question, _context_passages(context)).answer)
        self._log(questions)
        if sampling is not None and sampling.stop:
            from generators.base import cut_at_stop

            out = [cut_at_stop(t, sampling.stop) for t in out]
        return out

    # ------------------------------------------------------------------ internals

    def _read_pairs(self, pairs: list[tuple[str, list[Doc]]]) -> list[str]:
        """Answer each question from its documents' text, and log the questions."""
        answers = [self.read(q, [d.text for d in docs]).answer for q, docs in pairs]
        self._log([q for q, _ in pairs])
        return answers

    def _simulate_latency(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)

    def _log(self, questions: list[str]) -> None:
        if not self.request_log:
            return
        with self._log_lock, self.request_log.open("a", encoding="utf-8") as f:
            for q in questions:
                f.write(json.dumps({"question": q}, ensure_ascii=False) + "\n")

    def _read_choice(self, question: str, options: dict[str, str], sentences: list[_Sentence]) -> Reading:
        """A multiple-choice question: the option whose words all occur in the sentence that shares
        the most words with the question (ties: the earlier option); ``"B. text"``, or no answer."""
        q_stems = content_stems(_WORD.findall(question))
        best: tuple[int, int] | None = None
        best_reading = Reading(NO_ANSWER)
        for rank, (letter, text) in enumerate(options.items()):
            o_stems = content_stems(_WORD.findall(text)) or {stem(w) for w in _WORD.findall(text)}
            for s in sentences:
                words = s.stems | {stem(w) for w in s.words if w[0].isalnum()}
                if not o_stems or not o_stems <= words:
                    continue
                key = (len((s.stems - o_stems) & q_stems), -rank)
                if key[0] and (best is None or key > best):
                    best = key
                    best_reading = Reading(f"{letter}. {text}", [s.text], None, key[0])
        return best_reading

    def _read(self, question: str, sentences: list[_Sentence]) -> Reading:
        q_words = _WORD.findall(question)
        q_lower = {w.lower() for w in q_words}
        qtype = answer_type(question)
        q_stems = content_stems(q_words) - ({qtype} if qtype else set())
        wants_number = bool(_NUMERIC_QUESTION.match(question)) or qtype == "year"
        if not q_stems or not sentences:
            return Reading(NO_ANSWER)

        def in_question(entity: str) -> bool:
            return all(part.lower() in q_lower for part in entity.split())

        # rarity of each stem over the context's sentences
        df: dict[str, int] = {}
        for s in sentences:
            for st in s.stems & q_stems:
                df[st] = df.get(st, 0) + 1
        n = len(sentences)

        def rarity(stems: set[str]) -> float:
            return sum(math.log(1 + n / df[st]) for st in stems)

        # the answer-type word next to an entity anywhere in the context
        typed: set[str] = set()
        if qtype:
            for s in sentences:
                type_positions = [i for i, w in enumerate(s.words) if stem(w) == qtype]
                for ent, i in s.entities:
                    last = i + len(ent.split()) - 1
                    if any(i - _TYPE_WINDOW <= p <= last + _TYPE_WINDOW for p in type_positions):
                        typed.add(ent)

        # sentences by the entities they mention (for the second hop)
        mentions: dict[str, list[_Sentence]] = {}
        for s in sentences:
            for ent, _ in s.entities:
                mentions.setdefault(ent, []).append(s)

        best: tuple | None = None
        best_reading = Reading(NO_ANSWER)

        def consider(chain: list[_Sentence], bridge: str | None) -> None:
            nonlocal best, best_reading
            covered = set().union(*(s.stems for s in chain)) & q_stems
            last = chain[-1]
            for ent, _ in last.entities:
                if ent == bridge or in_question(ent):
                    continue
                key = (
                    len(covered),
                    bool(_NUMBER.match(ent)) == wants_number,
                    ent in typed,
                    -len(chain),
                    rarity(covered),
                    -chain[0].position,
                    -last.position,
                )
                if best is None or key > best:
                    best = key
                    best_reading = Reading(ent, [s.text for s in chain], bridge, len(covered))

        for s1 in sentences:
            if not (s1.stems & q_stems):
                continue
            consider([s1], None)
            for bridge, _ in s1.entities:
                if in_question(bridge):
                    continue
                for s2 in mentions.get(bridge, ()):
                    if s2 is not s1:
                        consider([s1, s2], bridge)
        return best_reading


def _split_request(request: ChatRequest) -> tuple[str, str]:
    """(question, context text) of a chat request."""
    users = [i for i, m in enumerate(request) if m.get("role") == "user"]
    if not users:
        return "", "\n\n".join(m.get("content", "") for m in request)
    last = users[-1]
    user_text = request[last].get("content", "")
    others = [m.get("content", "") for i, m in enumerate(request) if i != last]
    label = user_text.rfind("Question:")
    if label != -1:
        rest = user_text[label + len("Question:") :].strip()
        question = rest.splitlines()[0].strip() if rest else ""
        others.append(user_text[:label])
    else:
        question = user_text.strip()
    return question, "\n\n".join(others)


def _context_passages(context: str) -> list[str]:
    """The documents' bodies when the context has ``Doc i (Title: ...)`` headers, else the whole text."""
    headers = list(_DOC_HEADER.finditer(context))
    if not headers:
        return [context]
    passages = []
    for h, nxt in zip(headers, headers[1:] + [None]):
        body = context[h.end() : nxt.start() if nxt else len(context)]
        if nxt is None:
            body = body.split("\n\n", 1)[0]  # instructions after the last document are not evidence
        passages.append(body.strip())
    return passages


# ---------------------------------------------------------------- as an OpenAI-compatible endpoint


async def hold_slot(gate: asyncio.Semaphore, state: dict, seconds: float) -> None:
    """Stand in for a model's time on one request: hold one of ``gate``'s slots for ``seconds``.

    ``state["in_flight"]`` counts the requests holding a slot and ``state["max_in_flight"]`` keeps the
    most at once, so a test or benchmark can see how many requests a client had open.
    """
    async with gate:
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            if seconds > 0:
                await asyncio.sleep(seconds)
        finally:
            state["in_flight"] -= 1


def chat_completion(text: str, model: str, number: int, messages: list[dict]) -> dict:
    """The OpenAI ``chat.completion`` body of the answer ``text`` to ``messages`` (the ``number``-th
    reply; token counts are whitespace words)."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion_tokens = len(text.split())
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def build_app(reader: ExtractiveReader | None = None, latency_s: float = 0.0, capacity: int = 64):
    """A FastAPI app serving the reader at ``POST /v1/chat/completions`` (OpenAI chat format).

    It lets every stage's ``openai`` generator path run, be tested and be benchmarked with no model:
    each request sleeps ``latency_s`` inside a semaphore of ``capacity`` slots (so the server's own
    limit is ``capacity / latency_s`` requests per second), then the reader answers. ``GET /stats``
    reports the requests served and the most in flight at once; ``GET /requests`` lists the questions
    received, in arrival order; ``POST /reset`` clears both.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    reader = reader or ExtractiveReader()
    app = FastAPI(title="s3 extractive reader")
    state: dict = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "questions": []}
    gate: asyncio.Semaphore | None = None

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": reader.name, "object": "model"}]}

    @app.get("/stats")
    async def stats() -> dict:
        return {k: v for k, v in state.items() if k != "questions"}

    @app.get("/requests")
    async def requests_seen() -> dict:
        return {"questions": state["questions"]}

    @app.post("/reset")
    async def reset() -> dict:
        state.update(requests=0, max_in_flight=0, questions=[])
        return {"ok": True}

    async def chat(request):  # a plain Starlette route: it receives the Request itself
        nonlocal gate
        gate = gate or asyncio.Semaphore(capacity)
        try:
            body = await request.json()
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError
        except Exception:
            return JSONResponse({"error": {"message": "body must be JSON with a 'messages' list"}}, 400)
        await hold_slot(gate, state, latency_s)
        question, context = _split_request(messages)
        text = reader.read(question, _context_passages(context)).answer
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        from generators.base import cut_at_stop

        text = cut_at_stop(text, stop)
        state["requests"] += 1
        state["questions"].append(question)
        return JSONResponse(
            chat_completion(text, body.get("model", reader.name), state["requests"], messages)
        )

    app.router.add_route("/v1/chat/completions", chat, methods=["POST"])
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m generators.offline --port 8000 [--latency 0.05] [--capacity 64]``: serve the reader."""
    import argparse

    import uvicorn

    ap = argparse.ArgumentParser(description="Serve the extractive reader as an OpenAI-compatible endpoint.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds each request waits (simulated model)")
    ap.add_argument("--capacity", type=int, default=64, help="requests served at once")
    args = ap.parse_args(argv)
    app = build_app(ExtractiveReader(), args.latency, args.capacity)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
