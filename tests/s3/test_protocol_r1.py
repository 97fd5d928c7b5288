"""The Search-R1 protocol: rendering, and parsing constructed and malformed turns (never raises)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrievers.doc import Doc
from s3.episode import EpisodeConfig
from s3.protocol import ANSWER, INVALID, SEARCH
from s3.protocol_r1 import (
    EPISODE_RULES,
    FEEDBACK,
    R1Episode,
    SearchR1Protocol,
    r1_episode_config,
    render_docs_r1,
)
from s3.protocol_registry import get_protocol

P = SearchR1Protocol()


def parse(text):
    return P.parse_turn(text)


def test_registered_under_its_names():
    for name in ("search-r1", "search_r1", "r1"):
        assert isinstance(get_protocol(name), SearchR1Protocol)
    assert get_protocol("search-r1").name == "search-r1"


def test_messages_are_one_user_message_with_the_question_and_turn_count():
    msgs = P.messages("Who founded Zorbex?", [], r1_episode_config(max_turns=4))
    assert [m["role"] for m in msgs] == ["user"]
    text = msgs[0]["content"]
    assert text.endswith("Question: Who founded Zorbex?")
    assert "up to 4 times" in text
    for tag in ("<think>", "<search>", "</search>", "<information>", "<answer>", "</answer>"):
        assert tag in text
    with_system = SearchR1Protocol(system_prompt="Be brief.").messages("q", [], EpisodeConfig())
    assert with_system[0] == {"role": "system", "content": "Be brief."}


def test_custom_instructions_fill_placeholders_and_need_the_question():
    p = SearchR1Protocol(instructions="Q={question} T={max_turns}")
    assert p.messages("why?", [], r1_episode_config(max_turns=2))[0]["content"] == "Q=why? T=2"
    with pytest.raises(ValueError, match="question"):
        SearchR1Protocol(instructions="no placeholder")


def test_initial_documents_are_shown_when_the_episode_has_them():
    docs = [Doc("1", "Paris", "Paris is in  France.")]
    text = P.messages("q", docs, r1_episode_config(initial_k=1))[0]["content"]
    assert "<information>Doc 1(Title: Paris) Paris is in France.\n</information>" in text


def test_observation_layout_and_empty_results():
    docs = [Doc("1", "A", "alpha\ntext"), Doc("2", "B", "beta")]
    assert render_docs_r1(docs) == "Doc 1(Title: A) alpha text\nDoc 2(Title: B) beta\n"
    ep = P.new_episode("q", [], r1_episode_config())
    obs = P.observation(docs, ep)
    assert obs == "\n\n<information>Doc 1(Title: A) alpha text\nDoc 2(Title: B) beta\n</information>\n\n"
    assert obs.endswith(P.observation_close)
    assert "no documents" in P.observation([], ep)
    assert P.feedback(parse("hmm"), ep) == FEEDBACK


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("<think>need it</think>\n<search> Zorbex founder </search>", SEARCH, "Zorbex founder"),
        ("<search>a\n b</search>", SEARCH, "a b"),
        ("<think>ok</think><answer> Quarnby </answer>", ANSWER, "Quarnby"),
        ("<answer>New  York City</answer>", ANSWER, "New York City"),
    ],
)
def test_well_formed_turns(text, kind, value):
    a = parse(text)
    assert a.kind == kind and a.repairs == {}
    assert (a.query if kind == SEARCH else a.answer) == value
    assert a.selected is None


def test_think_is_recorded():
    a = parse("<think> step one </think><think>two</think><search>x</search>")
    assert a.think == "step one\ntwo"
    assert parse("<search>x</search>").think is None


@pytest.mark.parametrize(
    "text, kind, value, repair",
    [
        ("<search> Zorbex founder", SEARCH, "Zorbex founder", "unclosed_tag"),  # ran out of tokens / EOS
        ("<answer> Quarnby", ANSWER, "Quarnby", "unclosed_tag"),
        ("Zorbex founder</search>", SEARCH, "Zorbex founder", "search_open_missing"),
        ("<think>hm</think> Quarnby</answer>", ANSWER, "Quarnby", "answer_open_missing"),
        ("<search>x</search> and more words", SEARCH, "x", "text_after_action"),
        ("<search>x</search><answer>y</answer>", SEARCH, "x", "extra_actions"),
        ("<answer>y</answer><search>x</search>", ANSWER, "y", "extra_actions"),
        ('<search>{"query": "json style"}</search>', SEARCH, "json style", "query_json"),
        ("<think>never closed <search>x</search>", SEARCH, "x", "unclosed_think"),
        ("<search>a</answer>", SEARCH, "a", "unclosed_tag"),
    ],
)
def test_malformed_turns_are_repaired_and_counted(text, kind, value, repair):
    a = parse(text)
    assert a.kind == kind
    assert (a.query if kind == SEARCH else a.answer) == value
    assert a.repairs.get(repair, 0) >= 1, a.repairs


@pytest.mark.parametrize(
    "text, repair",
    [
        ("I think the answer is Paris.", "no_action"),
        ("", "no_action"),
        ("<search>   </search>", "empty_query"),
        ("<answer></answer>", "empty_answer"),
        ("<search><think></think></search>", "empty_query"),
        ("<think>only thinking</think>", "no_action"),
    ],
)
def test_turns_without_a_usable_action_are_invalid(text, repair):
    a = parse(text)
    assert a.kind == INVALID
    assert a.repairs.get(repair) == 1, a.repairs


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<search>", "</search>", "<answer>", "</answer>", "<think>", "</think>", "<information>",
                         "x", " ", "\n", "{", '"query":', "}", "é", "<", ">", "/"]),
        max_size=25,
    ).map("".join)
)  # fmt: skip
def test_parser_never_raises(text):
    a = P.parse(text, P.new_episode("q", [], EpisodeConfig()))
    assert a.kind in (SEARCH, ANSWER, INVALID)
    assert "parser_error" not in a.repairs, a.repairs  # an internal exception, caught as "invalid"
    value = a.query if a.kind == SEARCH else a.answer
    if a.kind != INVALID:  # a non-empty value, stripped, with no tag left inside
        assert value and value == value.strip() and not re.search(r"</?[a-z_]+>", value)
    assert a.text == text


def test_stop_strings_end_a_turn_at_the_first_action():
    text = "<think>t</think><search>q</search> junk <answer>a</answer>"
    assert P.find_stop(text) == text.index("</search>") + len("</search>")
    assert P.find_stop("<answer>a</answer><search>q</search>") == len("<answer>a</answer>")
    assert P.find_stop("<search>q") is None


def test_episode_context_is_every_retrieved_document_and_records_the_answer():
    a, b, c, d = (Doc(i, i.upper(), f"text {i}") for i in "abcd")
    ep = P.new_episode("q", [], r1_episode_config())
    assert isinstance(ep, R1Episode)
    ep.record(parse("<search>one</search>"))
    ep.add_results("one", [a, b])
    ep.record(parse("<search>two</search>"))
    ep.add_results("two", [b, c])
    assert ep.answer is None and not ep.answered
    ep.record(parse("<answer>Quarnby</answer>"))
    assert ep.answer == "Quarnby" and ep.answered
    assert [x.id for x in ep.context()] == ["a", "b", "c"]  # in order found, without repeats
    assert ep.selected_docs() == []
    assert ep.to_dict()["answer"] == "Quarnby"
    # selection rules do not apply: even unselected_block="none" keeps every retrieved document
    ep2 = R1Episode("q", [d], EpisodeConfig(initial_k=1, unselected_block="none", include_initial="always"))
    ep2.add_results("one", [a])
    assert [x.id for x in ep2.context()] == ["d", "a"]
    ep3 = R1Episode("q", [d], EpisodeConfig(initial_k=1, include_initial="never"))
    ep3.add_results("one", [a])
    assert [x.id for x in ep3.context()] == ["a"]


def test_r1_episode_config_defaults_are_the_papers_fairness_setting():
    cfg = r1_episode_config()
    assert (cfg.docs_per_search, cfg.max_turns, cfg.initial_k, cfg.select_cap) == (3, 4, 0, None)
    assert cfg.include_initial == "never" and cfg.use_selection is False
    assert r1_episode_config(initial_k=2).include_initial == "always"


def test_every_search_r1_default_takes_the_one_set_of_rules(tmp_path, capsys):
    import dataclasses

    from baselines.search_r1 import search_r1_config
    from s3.cli import main
    from s3.searcher import SearcherConfig
    from s3.train.config import PRESETS, load_train_config

    rules = r1_episode_config()
    assert {k: getattr(rules, k) for k in EPISODE_RULES} == EPISODE_RULES
    assert SearcherConfig.for_mode("search-r1").episode == rules
    assert search_r1_config().episode == rules and search_r1_config().protocol == "search-r1"
    assert search_r1_config(2, 5).episode == dataclasses.replace(rules, docs_per_search=2, max_turns=5)
    for name in ("search-r1", "search-r1-135m", "search-r1-tiny"):
        episode = load_train_config(preset=name).episode
        assert episode == dataclasses.replace(rules, max_turns=PRESETS[name]["episode"]["max_turns"]), name
    # `s3 train --mode search-r1` without a preset takes the same rules (and a user's key=value wins)
    config = tmp_path / "run.yaml"
    config.write_text("episode:\n  dedupe: false\n")
    argv = ["train", "--mode", "search-r1", "--config", str(config), "--help-config", "episode.max_turns=2"]
    assert main(argv) == 0
    shown = dict(line.split(" = ", 1) for line in capsys.readouterr().out.splitlines() if " = " in line)
    values = {k: shown[f"episode.{k}"].split("  #")[0] for k in EPISODE_RULES}
    expected = {k: repr(v) for k, v in {**EPISODE_RULES, "max_turns": 2}.items()}
    assert values == expected and shown["episode.dedupe"].startswith("False")
    assert shown["protocol"].startswith("'search-r1'")
