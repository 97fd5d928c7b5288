"""The s3 tag protocol: prompt rendering and a corpus of well-formed and malformed turns."""

from __future__ import annotations

import pytest

from retrievers.doc import Doc
from s3.episode import Episode, EpisodeConfig
from s3.protocol import COMPLETE, INVALID, SEARCH, S3Protocol, render_docs
from s3.protocol_registry import get_protocol

P = S3Protocol()


def parse(text: str, window: int = 8, cap: int | None = 3):
    return P.parse_turn(text, window_size=window, select_cap=cap)


# (turn text, kind, query, selected, repairs that must be counted)
CORPUS = [
    # well-formed
    ('<search_complete>False</search_complete><query>{"query": "capital of France"}</query>',
     SEARCH, "capital of France", None, {}),
    ('<think>need more</think><important_info>[1, 4]</important_info>'
     '<search_complete>False</search_complete>\n<query>{"query": "x y"}</query>', SEARCH, "x y", [1, 4], {}),
    ("<important_info>[2]</important_info><search_complete>True</search_complete>", COMPLETE, None, [2], {}),
    ("<search_complete>True</search_complete>", COMPLETE, None, None, {}),
    # truthy spellings; completion wins over a query in the same turn
    ("<search_complete> yes </search_complete>", COMPLETE, None, None, {}),
    ("<search_complete>1</search_complete>", COMPLETE, None, None, {}),
    ("<search_complete>Y</search_complete>", COMPLETE, None, None, {}),
    ("<search_complete>TRUE.</search_complete>", COMPLETE, None, None, {}),
    ('<search_complete>true</search_complete><query>{"query": "q"}</query>', COMPLETE, None, None, {}),
    # unclosed completion tag at the end of a turn
    ("<important_info>[1]</important_info><search_complete>True", COMPLETE, None, [1], {"unclosed_tag": 1}),
    # query repairs
    ('<query>{"query": ["first", "second"]}</query>', SEARCH, "first", None, {"query_list": 1}),
    ('<query>{"query": "broken json</query>', SEARCH, "broken json", None, {"query_json_repaired": 1}),
    ('<query>{"query": "missing brace"</query>', SEARCH, "missing brace", None, {"query_json_repaired": 1}),
    ("<query>plain words query</query>", SEARCH, "plain words query", None, {"query_not_json": 1}),
    ('<query>{"q": "wrong key"}</query>', SEARCH, '{"q": "wrong key"}', None, {"query_key_missing": 1}),
    ('<query>"just a string"</query>', SEARCH, "just a string", None, {}),
    ('<query>{"query": "unclosed query"}', SEARCH, "unclosed query", None, {"unclosed_tag": 1}),
    ('<query>{"query": "a"}</query><query>{"query": "b"}</query>', SEARCH, "a", None, {"text_after_query": 1}),
    ('{"query": "opened by feedback"}</query>', SEARCH, "opened by feedback", None, {"query_open_missing": 1}),
    ('<query>{"query": "first"}</query> and then rambling <query>more', SEARCH, "first", None,
     {"text_after_query": 1}),
    # empty or missing actions
    ("<query></query>", INVALID, None, None, {"empty_query": 1}),
    ('<query>{"query": []}</query>', INVALID, None, None, {"query_list": 1, "empty_query": 1}),
    ("I think the answer is Paris.", INVALID, None, None, {"no_action": 1}),
    ("", INVALID, None, None, {"no_action": 1}),
    ("<search_complete>maybe</search_complete>", INVALID, None, None, {"complete_value_unknown": 1, "no_action": 1}),
    ("<search_complete>False</search_complete>", INVALID, None, None, {"no_action": 1}),
    # selection repairs: out of range, duplicates, over the cap, junk, several tags, unclosed
    ("<important_info>[0, 2, 9, -1]</important_info><search_complete>True</search_complete>",
     COMPLETE, None, [2], {"ids_out_of_range": 3}),
    ("<important_info>[3, 3, 1]</important_info><search_complete>True</search_complete>",
     COMPLETE, None, [3, 1], {"ids_duplicate": 1}),
    ("<important_info>[1, 2, 3, 4, 5]</important_info><search_complete>True</search_complete>",
     COMPLETE, None, [1, 2, 3], {"ids_over_cap": 2}),
    ("<important_info>Doc 2 and Doc 5</important_info><search_complete>True</search_complete>",
     COMPLETE, None, [2, 5], {}),
    ("<important_info>[]</important_info><search_complete>True</search_complete>", COMPLETE, None, [], {}),
    ("<important_info>[1]</important_info><important_info>[2]</important_info><search_complete>True</search_complete>",
     COMPLETE, None, [1, 2], {"extra_selections": 1}),
    ('<important_info>[1, 2<search_complete>False</search_complete><query>{"query": "z"}</query>',
     SEARCH, "z", [1, 2], {"unclosed_tag": 1}),
    ("<important_info>[nonsense]</important_info><search_complete>True</search_complete>", COMPLETE, None, [], {}),
]  # fmt: skip


@pytest.mark.parametrize("text,kind,query,selected,repairs", CORPUS)
def test_malformed_turn_corpus(text, kind, query, selected, repairs):
    action = parse(text)
    assert action.kind == kind
    assert action.query == query
    assert action.selected == selected
    for key, n in repairs.items():
        assert action.repairs.get(key) == n, (key, action.repairs)
    if not repairs:
        assert action.repairs == {}


def test_no_cap_and_small_window():
    assert parse("<important_info>[1,2,3,4,5]</important_info>", window=4, cap=None).selected == [1, 2, 3, 4]
    a = parse("<important_info>[2]</important_info>", window=0)
    assert a.selected == [] and a.repairs == {"ids_out_of_range": 1, "no_action": 1}


@pytest.mark.parametrize(
    "junk",
    ["<<<>>>", "</query></query>", "<query><query>", "<important_info>" * 5, "\x00\ufffd", "{" * 200, "</" * 50,
     "<search_complete></search_complete>", '<query>{"query": null}</query>', '<query>{"query": 5}</query>'],
)  # fmt: skip
def test_parser_never_raises(junk):
    action = parse(junk)
    assert action.kind in (SEARCH, COMPLETE, INVALID)
    # parse_turn turns an internal exception into an invalid turn: that must not be how it got here
    assert "parser_error" not in action.repairs, action.repairs


def test_think_is_kept():
    action = parse("<think>first idea</think><think>second</think><search_complete>True</search_complete>")
    assert action.think == "first idea\nsecond"


def test_find_stop():
    text = '<think>..</think><query>{"query": "a"}</query> tail'
    assert text[: P.find_stop(text)].endswith("</query>")
    text = "<search_complete>False</search_complete> more"
    assert P.find_stop(text) is None
    text = "<important_info>[1]</important_info><search_complete> true </search_complete>tail"
    assert text[: P.find_stop(text)].endswith("</search_complete>")
    assert P.find_stop("no tags at all") is None


def test_prompt_renders_question_and_docs():
    docs = [Doc("a", "Paris (city)", "Paris is the capital of France."), Doc("b", "Lyon", "Lyon is a city.")]
    cfg = EpisodeConfig(select_cap=2)
    messages = P.messages("What is the capital of France?", docs, cfg)
    assert [m["role"] for m in messages] == ["user"]
    content = messages[0]["content"]
    assert "<question>What is the capital of France?</question>" in content
    # titles with parentheses are rendered verbatim: documents are records, never re-parsed
    assert "Doc 1 (Title: Paris (city)) Paris is the capital of France." in content
    assert "Doc 2 (Title: Lyon)" in content
    assert "at most 2" in content
    assert "BM25" not in content
    boolean = S3Protocol(boolean_queries=True, system_prompt="sys").messages("q?", [], cfg)
    assert boolean[0] == {"role": "system", "content": "sys"}
    assert "AND, OR" in boolean[1]["content"] and "(no results yet)" in boolean[1]["content"]


def test_observation_and_parse_use_the_episode_window():
    docs = [Doc(str(i), f"T{i}", f"text {i}") for i in range(5)]
    ep = Episode("q?", docs[:2], EpisodeConfig(select_cap=3))
    assert P.parse("<important_info>[2, 3]</important_info>", ep).selected == [2]  # window of 2
    ep.add_results("x", docs)
    assert P.parse("<important_info>[2, 3]</important_info>", ep).selected == [2, 3]
    obs = P.observation(docs, ep)
    assert obs.startswith("\n\n<information>\n") and obs.endswith(P.observation_close)
    assert render_docs(docs[:1]) in obs
    assert "(no documents found)" in P.observation([], ep)


def test_get_protocol():
    assert isinstance(get_protocol("s3", boolean_queries=True), S3Protocol)
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("nope")


@pytest.mark.parametrize("name", ["s3", "search-r1"])
def test_a_parser_bug_is_logged_and_visible_in_the_repairs(monkeypatch, caplog, name):
    """The safety net keeps a rollout alive, but never hides the bug: it is logged and counted."""

    def broken(*args, **kwargs):
        raise IndexError("planted")

    protocol = get_protocol(name)
    monkeypatch.setattr(protocol, "_parse", broken)
    with caplog.at_level("ERROR", logger="s3.protocol"):
        action = protocol.parse_turn("<query>x</query>", 8, 3) if name == "s3" else protocol.parse_turn("x")
    assert action.kind == INVALID and action.repairs == {"parser_error": 1} and action.text
    assert "parser error" in caplog.text and "IndexError: planted" in caplog.text
