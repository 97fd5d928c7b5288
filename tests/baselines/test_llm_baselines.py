"""IRCoT, Search-o1 and query rewriting, driven by a scripted LLM and by a tiny random model.

The scripted LLM decides what each baseline searches for; the tests check that exactly the documents
those searches return (or, for Search-o1, the condensed notes) are handed to the generator.
"""

from __future__ import annotations

import pytest

from baselines.base import parse_json_query
from baselines.ircot import IRCoT, parse_step
from baselines.query_rewrite import QueryRewrite
from baselines.search_o1 import RESULT_OPEN, SearchO1, parse_query
from evaluation.run import evaluate
from generators.offline import ExtractiveReader


def _user(request) -> str:
    return request[-1]["content"]


def test_parse_step_and_query_helpers():
    assert parse_step("Founded by Talen. <search_complete>No</search_complete>") == (
        "Founded by Talen.",
        False,
    )
    assert parse_step("Done <search_complete> yes") == ("Done", True)
    assert parse_step("no tag at all") == ("no tag at all", False)
    assert parse_query("think <search_query> a  b </search_query> x") == (
        "a b",
        "think <search_query>a b</search_query>",
    )
    assert parse_query("no query")[0] is None
    assert (
        parse_json_query('<think>x</think><answer>{"query": "Zorbex founder"}</answer>') == "Zorbex founder"
    )
    assert parse_json_query("<answer>{broken</answer>") is None


def test_ircot_hands_over_every_document_its_steps_retrieved(examples, bm25, scripted):
    def script(request):
        text = _user(request)
        if "Reasoning so far" not in text:  # first step of each question
            if "Question: In which city" in text:
                return "Talen Morvik founded it; where was Talen Morvik born <search_complete>No</search_complete>"
            return "Mira Dostel founded Kelvar Labs. <search_complete>Yes</search_complete>"
        return "Talen Morvik was born in Quarnby. <search_complete>Yes</search_complete>"

    llm = scripted(script)
    method = IRCoT(llm, bm25, k=3, max_steps=4)
    recs = method.contexts(examples)
    q1 = bm25.search([examples[0].question], 3)[0]
    step = bm25.search(["Talen Morvik founded it; where was Talen Morvik born"], 3)[0]
    expected = []
    for d in q1 + step:
        if d.id not in [e.id for e in expected]:
            expected.append(d)
    assert [d.id for d in recs[0].docs] == [d.id for d in expected]
    assert "per-talen" in [d.id for d in recs[0].docs]
    assert (recs[0].turns, recs[0].searches) == (2, 2)
    assert recs[0].trace["queries"][1] == "Talen Morvik founded it; where was Talen Morvik born"
    # the 1-hop question stops after one step with its initial documents only
    assert [d.id for d in recs[1].docs] == [d.id for d in bm25.search([examples[1].question], 3)[0]]
    assert (recs[1].turns, recs[1].searches) == (1, 1)
    # batched: one LLM call for the first step of both questions, one for the second step of q1
    assert len(llm.samplings) == 2 and len(llm.requests) == 3
    assert llm.samplings[0].temperature == 0.0


def test_ircot_stops_after_max_steps(examples, bm25, scripted):
    llm = scripted(lambda r: "Zorbex Industries founder <search_complete>No</search_complete>")
    recs = IRCoT(llm, bm25, k=2, max_steps=3).contexts(examples[:1])
    assert (recs[0].turns, recs[0].searches) == (3, 4)


def test_search_o1_hands_over_the_condensed_notes(examples, bm25, scripted, tmp_path):
    def script(request):
        system = request[0]["content"]
        if system.startswith("You read search results"):  # reason-in-documents call
            assert "Passages:" in _user(request)
            found = [
                line.strip()
                for line in _user(request).splitlines()
                if "Talen Morvik" in line and not any(c in line for c in ":<")
            ]
            return " ".join(found) if found else "Nothing useful found."
        if len(request) == 2:  # first reasoning call
            return "I need the founder. <search_query>Talen Morvik born</search_query> ignored tail"
        assert request[-1]["content"].startswith(RESULT_OPEN)
        return "So the answer is <answer>Quarnby</answer>"

    llm = scripted(script)
    recs = SearchO1(llm, bm25, k=3, max_searches=4).contexts(examples[:1])
    rec = recs[0]
    assert (rec.turns, rec.searches) == (2, 1)
    assert len(rec.docs) == 1
    note = rec.docs[0]
    assert note.title == "Search: Talen Morvik born"
    assert "Talen Morvik was born in Quarnby." in note.text
    assert "Zorbex Industries is a company founded by Talen Morvik." in note.text
    assert rec.trace["searches"][0]["doc_ids"] == [d.id for d in bm25.search(["Talen Morvik born"], 3)[0]]
    # the reasoning continued from the note, and the stop string cut the first reply
    continued = llm.requests[2]
    assert continued[2] == {
        "role": "assistant",
        "content": "I need the founder. <search_query>Talen Morvik born</search_query>",
    }
    assert note.text in continued[3]["content"]
    # the frozen generator reads the note and answers from it
    rows = evaluate(
        [SearchO1(scripted(script), bm25)], {"t": examples[:1]}, ExtractiveReader(), tmp_path, progress=False
    )
    assert rows[0]["genacc"] == 100.0 and rows[0]["docs"] == 1


def test_search_o1_caps_searches(examples, bm25, scripted):
    def script(request):
        if request[0]["content"].startswith("You read"):
            return "Nothing useful found."
        return "<search_query>Zorbex</search_query>"

    recs = SearchO1(scripted(script), bm25, max_searches=2).contexts(examples[:1])
    assert recs[0].searches == 2 and recs[0].turns == 3 and len(recs[0].docs) == 2


def test_query_rewrite_retrieves_with_the_rewritten_query(examples, bm25, scripted):
    def script(request):
        q = _user(request)
        if "Zorbex" in q:
            return '<think>need the founder</think><answer>{"query": "Talen Morvik born"}</answer>'
        return "I cannot do it"

    recs = QueryRewrite(scripted(script), bm25, k=3).contexts(examples)
    assert [d.id for d in recs[0].docs] == [d.id for d in bm25.search(["Talen Morvik born"], 3)[0]]
    assert recs[0].trace["query"] == "Talen Morvik born" and not recs[0].trace["fallback_to_question"]
    assert recs[1].trace["fallback_to_question"]
    assert [d.id for d in recs[1].docs] == [d.id for d in bm25.search([examples[1].question], 3)[0]]
    assert (recs[0].turns, recs[0].searches) == (1, 1)


@pytest.mark.slow
def test_llm_baselines_with_a_tiny_model(examples, bm25, tiny_model_dir, tmp_path):
    """A tiny random model drives each baseline; whatever it writes, the context is what its searches found."""
    from generators.base import SamplingParams
    from generators.hf import TransformersGenerator

    llm = TransformersGenerator(str(tiny_model_dir), batch_size=4)
    sampling = SamplingParams(temperature=0.0, max_tokens=12)
    ircot = IRCoT(llm, bm25, k=2, max_steps=2, sampling=sampling)
    o1 = SearchO1(llm, bm25, k=2, max_searches=1, sampling=sampling, reader_sampling=sampling)
    rewrite = QueryRewrite(llm, bm25, k=2, sampling=sampling)
    for rec in ircot.contexts(examples):
        queries = rec.trace["queries"]
        assert rec.searches == len(queries) >= 1
        found = {d.id for q in queries for d in bm25.search([q], 2)[0]}
        assert {d.id for d in rec.docs} == found
    for rec in o1.contexts(examples):
        assert rec.searches == len(rec.docs) == len(rec.trace["searches"]) <= 1
        assert rec.turns >= 1
    for rec in rewrite.contexts(examples):
        assert [d.id for d in rec.docs] == [d.id for d in bm25.search([rec.trace["query"]], 2)[0]]
    # deterministic: the same model gives the same contexts again
    again = IRCoT(llm, bm25, k=2, max_steps=2, sampling=sampling).contexts(examples)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in ircot.contexts(examples)]
    rows = evaluate([ircot, o1, rewrite], {"toy": examples}, ExtractiveReader(), tmp_path, progress=False)
    assert [r["n"] for r in rows] == [2, 2, 2]
