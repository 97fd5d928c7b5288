"""The offline extractive reader: answers only from its context, chains two hops, serves over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from local_servers import reader_server

from generators.base import Generator, SamplingParams
from generators.factory import load_generator
from generators.offline import (
    NO_ANSWER,
    ExtractiveReader,
    answer_type,
    chat_completion,
    hold_slot,
    split_sentences,
)
from generators.prompts import answer_with_context, zero_shot
from retrievers.doc import Doc

ORG = Doc("1", "Zorbex Industries", "Zorbex Industries is a company founded by Talen Morvik. "
          "Zorbex Industries is headquartered in Dravik. Zorbex Industries makes lamps.")  # fmt: skip
FOUNDER = Doc("2", "Talen Morvik", "Talen Morvik was born in Quarnby. Talen Morvik is a painter. "
              "Talen Morvik lives in Selvik.")  # fmt: skip
EMPLOYEE = Doc(
    "3", "Kelda Farn", "Kelda Farn was born in Vellin. Kelda Farn is an engineer at Zorbex Industries."
)
SIBLING = Doc(
    "4", "Zorbex Motors", "Zorbex Motors is a company founded by Brin Tosk. Zorbex Motors makes engines."
)
SIBLING_FOUNDER = Doc("5", "Brin Tosk", "Brin Tosk was born in Moldal.")
QUARNBY = Doc(
    "6", "Quarnby", "Quarnby is a city in the country of Velloria. Quarnby has about 40 thousand inhabitants."
)
DRAVIK = Doc("7", "Dravik", "Dravik is a city in the country of Tessora.")

Q_FOUNDER_BIRTH = "In which city was the founder of Zorbex Industries born?"


@pytest.fixture
def reader():
    return ExtractiveReader()


def test_one_hop_answers(reader):
    assert reader.answer("Who founded Zorbex Industries?", [EMPLOYEE, ORG]) == "Talen Morvik"
    assert reader.answer("In which city was Talen Morvik born?", [FOUNDER, QUARNBY]) == "Quarnby"
    assert reader.answer("In which country is Quarnby?", [QUARNBY]) == "Velloria"


def test_two_hop_needs_the_second_passage_and_ignores_distractors(reader):
    # naive context: the organisation, an employee and a sibling company -- no founder passage
    naive = [ORG, EMPLOYEE, SIBLING, SIBLING_FOUNDER]
    assert reader.answer(Q_FOUNDER_BIRTH, naive) not in ("Quarnby",)
    # with the founder's passage the chain Zorbex Industries -> Talen Morvik -> Quarnby wins, even
    # though the employee's and the sibling founder's chains also reach a birthplace
    assert reader.answer(Q_FOUNDER_BIRTH, naive + [FOUNDER]) == "Quarnby"
    assert reader.answer(Q_FOUNDER_BIRTH, [FOUNDER, QUARNBY, ORG]) == "Quarnby"  # order does not matter
    reading = reader.read(Q_FOUNDER_BIRTH, [ORG.text, FOUNDER.text])
    assert reading.bridge == "Talen Morvik" and len(reading.chain) == 2


def test_answer_type_picks_the_right_hop(reader):
    assert answer_type("In which country is Zorbex Industries headquartered?") == "count"
    assert answer_type("Who founded it?") is None
    q = "In which country is Zorbex Industries headquartered?"
    assert reader.answer(q, [ORG]) == "Dravik"  # only the first hop: wrong, as a real model would be
    assert reader.answer(q, [ORG, DRAVIK, QUARNBY]) == "Tessora"
    # a 1-hop question is not pulled into a second hop when the context also holds the next passage
    assert reader.answer("In which city was Talen Morvik born?", [FOUNDER, QUARNBY, ORG]) == "Quarnby"
    assert reader.answer("In which country was Talen Morvik born?", [FOUNDER, QUARNBY]) == "Velloria"


def test_general_text_not_only_the_task(reader):
    docs = [
        Doc("a", "Jaws", "Jaws is a 1975 film directed by Steven Spielberg. It was a box-office hit."),
        Doc("b", "Steven Spielberg", "Steven Spielberg was born in Cincinnati, Ohio. He directs films."),
        Doc("c", "Paris", "Paris is the capital of France."),
    ]
    assert reader.answer("What is the capital of France?", docs) == "Paris"
    assert reader.answer("Where was the director of Jaws born?", docs) == "Cincinnati"
    assert reader.answer("Who directed Jaws?", docs) == "Steven Spielberg"
    assert split_sentences("A b. C d! 3 e? f") == ["A b.", "C d!", "3 e? f"]


def test_no_evidence_means_no_answer(reader):
    assert reader.answer(Q_FOUNDER_BIRTH, []) == NO_ANSWER
    assert reader.answer("Why?", [ORG]) == NO_ANSWER
    assert reader.answer("Who founded Zorbex Industries?", [QUARNBY]) == NO_ANSWER


def test_generate_reads_chat_requests_like_answer_batch(reader):
    questions = [Q_FOUNDER_BIRTH, "Who founded Zorbex Industries?", "In which country is Quarnby?"]
    contexts = [[ORG, FOUNDER, EMPLOYEE], [SIBLING, ORG], [QUARNBY, DRAVIK]]
    direct = reader.answer_batch(questions, contexts)
    assert direct == ["Quarnby", "Talen Morvik", "Velloria"]
    requests = [answer_with_context(q, c) for q, c in zip(questions, contexts)]
    assert reader.generate(requests) == direct
    # the reference's flattened single user message (context, then "Question: ...")
    flat = [{"role": "user", "content": f"Doc 1(Title: Zorbex Industries) {ORG.text}\n"
             f"Doc 2(Title: Talen Morvik) {FOUNDER.text}\nQuestion: {Q_FOUNDER_BIRTH}\nAnswer directly."}]  # fmt: skip
    assert reader.generate([flat]) == ["Quarnby"]
    assert reader.generate([zero_shot(Q_FOUNDER_BIRTH)]) == [NO_ANSWER]  # no context, no knowledge
    assert reader.generate(requests[:1], SamplingParams(stop=["rnby"])) == ["Qua"]


def test_deterministic_and_fast(reader):
    contexts = [[ORG, EMPLOYEE, SIBLING, FOUNDER, QUARNBY, DRAVIK, SIBLING_FOUNDER]] * 200
    questions = [Q_FOUNDER_BIRTH] * 200
    t = time.perf_counter()
    first = reader.answer_batch(questions, contexts)
    elapsed = time.perf_counter() - t
    assert first == reader.answer_batch(questions, contexts) == ["Quarnby"] * 200
    assert elapsed / 200 < 0.05  # generous: about a millisecond per question


def test_latency_and_request_log(tmp_path):
    log = tmp_path / "requests.jsonl"
    reader = ExtractiveReader(latency_s=0.05, request_log=log)
    t = time.perf_counter()
    reader.answer_batch([Q_FOUNDER_BIRTH, "Who founded Zorbex Industries?"], [[ORG], [ORG]])
    assert time.perf_counter() - t >= 0.05
    lines = [json.loads(x)["question"] for x in log.read_text().splitlines()]
    assert lines == [Q_FOUNDER_BIRTH, "Who founded Zorbex Industries?"]


def test_sync_and_async_answers_agree_and_refuse_unpaired_contexts(tmp_path):
    log = tmp_path / "requests.jsonl"
    reader = ExtractiveReader(request_log=log)
    questions = [Q_FOUNDER_BIRTH, "In which country is Quarnby?"]
    contexts = [[ORG, FOUNDER], [QUARNBY]]
    answers = asyncio.run(reader.aanswer_batch(questions, contexts))
    assert answers == reader.answer_batch(questions, contexts) == ["Quarnby", "Velloria"]
    assert [json.loads(x)["question"] for x in log.read_text().splitlines()] == questions * 2
    for answer_batch in (reader.answer_batch, lambda q, c: asyncio.run(reader.aanswer_batch(q, c))):
        with pytest.raises(ValueError, match="2 questions but 1 contexts"):
            answer_batch(questions, contexts[:1])  # a silent zip would drop the second answer
    with pytest.raises(ValueError, match="1 questions but 2 contexts"):
        asyncio.run(Generator.aanswer_batch(reader, questions[:1], contexts))  # the rendered-prompt path
    assert len(log.read_text().splitlines()) == 4  # nothing was answered from an unpaired call


def test_a_served_request_holds_one_slot_and_gets_an_openai_body():
    state = {"in_flight": 0, "max_in_flight": 0}

    async def five_requests() -> None:
        gate = asyncio.Semaphore(2)
        await asyncio.gather(*(hold_slot(gate, state, 0.01) for _ in range(5)))

    asyncio.run(five_requests())
    assert state == {"in_flight": 0, "max_in_flight": 2}
    body = chat_completion("Talen Morvik", "reader", 3, [{"role": "user", "content": "who founded Zorbex?"}])
    assert body["id"] == "chatcmpl-3" and body["model"] == "reader" and body["object"] == "chat.completion"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Talen Morvik"}, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_factory_offline_kind_is_the_reader():
    gen = load_generator({"kind": "offline"})
    assert isinstance(gen, ExtractiveReader)
    assert gen.answer(Q_FOUNDER_BIRTH, [ORG, FOUNDER]) == "Quarnby"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_served_reader_through_the_openai_client():
    with reader_server(latency=0.05, capacity=4) as server:
        port = server.port
        gen = load_generator(
            {"kind": "openai", "model": "reader", "base_url": f"http://127.0.0.1:{port}/v1", "concurrency": 8}
        )
        questions = [Q_FOUNDER_BIRTH, "Who founded Zorbex Industries?"] * 4
        contexts = [[ORG, FOUNDER, EMPLOYEE], [SIBLING, ORG]] * 4
        t = time.perf_counter()
        answers = gen.answer_batch(questions, contexts)
        elapsed = time.perf_counter() - t
        gen.close()
        assert answers == ExtractiveReader().answer_batch(questions, contexts)
        stats = _get(f"http://127.0.0.1:{port}/stats")
        assert stats["requests"] == 8 and stats["max_in_flight"] == 4  # capacity bounds concurrency
        assert elapsed >= 0.1  # two waves of 4 at 0.05 s
        assert sorted(_get(f"http://127.0.0.1:{port}/requests")["questions"]) == sorted(questions)


def test_numbers_answer_when_questions_only(reader):
    docs = [Doc("a", "Jaws", "Jaws is a 1975 film directed by Steven Spielberg.")]
    assert reader.answer("When was Jaws released as a film?", docs) == "1975"
    assert reader.answer("Who directed Jaws?", docs) == "Steven Spielberg"
