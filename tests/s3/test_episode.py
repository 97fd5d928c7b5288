"""Episode state and every context rule of EpisodeConfig; the named presets."""

from __future__ import annotations

import pytest

from retrievers.doc import Doc, dedupe_docs
from s3.episode import Episode, EpisodeConfig
from s3.presets import EPISODE_PRESETS, episode_preset
from s3.protocol import COMPLETE, SEARCH, Action

INIT = [Doc(f"i{n}", f"Init {n}", f"initial text {n}") for n in range(1, 4)]
S1 = [Doc(f"a{n}", f"A {n}", f"first search text {n}") for n in range(1, 6)]
S2 = [Doc(f"b{n}", f"B {n}", f"second search text {n}") for n in range(1, 6)]


def ids(docs):
    return [d.id for d in docs]


def run_episode(cfg: EpisodeConfig, sel0=None, sel1=None, sel2=None) -> Episode:
    """Initial window (selection sel0), search 1 (sel1), search 2 (sel2), then complete."""
    ep = Episode("q?", INIT, cfg)
    ep.record(Action(SEARCH, query="one", selected=sel0))
    ep.add_results("one", S1)
    ep.record(Action(SEARCH, query="two", selected=sel1))
    ep.add_results("two", S2)
    ep.record(Action(COMPLETE, selected=sel2))
    ep.finish("complete")
    return ep


def test_always_initial_plus_selections():
    ep = run_episode(EpisodeConfig(), sel1=[2, 4], sel2=[1])
    assert ids(ep.context()) == ["i1", "i2", "i3", "a2", "a4", "b1"]
    assert ids(ep.selected_docs()) == ["a2", "a4", "b1"]
    assert ep.searches == 2 and ep.generations == 3 and ep.counters["docs_selected"] == 3


def test_always_initial_even_when_it_was_selected_from():
    ep = run_episode(EpisodeConfig(), sel0=[2], sel1=[], sel2=[])
    assert ids(ep.context()) == ["i1", "i2", "i3"]


def test_if_unselected_initial_follows_block_rules():
    cfg = EpisodeConfig(include_initial="if_unselected")
    assert ids(run_episode(cfg, sel0=[3], sel1=[], sel2=[]).context()) == ["i3"]
    assert ids(run_episode(cfg, sel0=None, sel1=[], sel2=[]).context()) == ["i1", "i2", "i3"]
    cfg_none = EpisodeConfig(include_initial="if_unselected", unselected_block="none")
    assert ids(run_episode(cfg_none, sel0=None, sel1=[1], sel2=[]).context()) == ["a1"]


def test_never_initial():
    ep = run_episode(EpisodeConfig(include_initial="never"), sel0=[1, 2], sel1=[5], sel2=[])
    assert ids(ep.context()) == ["a5"]


def test_unselected_block_all_vs_none():
    assert ids(run_episode(EpisodeConfig(), sel1=[1], sel2=None).context()) == ["i1", "i2", "i3", "a1"] + ids(
        S2
    )
    assert ids(run_episode(EpisodeConfig(unselected_block="none"), sel1=[1], sel2=None).context()) == [
        "i1", "i2", "i3", "a1",
    ]  # fmt: skip


def test_empty_selection_contributes_nothing():
    assert ids(run_episode(EpisodeConfig(), sel1=[], sel2=[]).context()) == ["i1", "i2", "i3"]


def test_no_selection_ablation_passes_everything():
    ep = run_episode(episode_preset("no-select", docs_per_search=5), sel1=[1], sel2=[])
    assert ids(ep.context()) == ids(INIT) + ids(S1) + ids(S2)


def test_selected_first_order():
    ep = run_episode(EpisodeConfig(order="selected_first"), sel1=[3], sel2=[2])
    assert ids(ep.context()) == ["a3", "b2", "i1", "i2", "i3"]


def test_dedupe_by_id_and_by_content():
    dup_id = Doc("i1", "other title", "other text")
    dup_content = Doc("zz", "A 1", "first search text 1")
    ep = Episode("q?", INIT, EpisodeConfig())
    ep.record(Action(SEARCH, query="one"))
    ep.add_results("one", [dup_id, dup_content, S1[0]])
    ep.record(Action(COMPLETE, selected=[1, 2, 3]))
    assert ids(ep.context()) == ["i1", "i2", "i3", "zz"]
    assert ids(Episode("q?", INIT, EpisodeConfig(dedupe=False)).context()) == ids(INIT)
    no_dedupe = Episode("q?", INIT, EpisodeConfig(dedupe=False))
    no_dedupe.record(Action(SEARCH, query="one"))
    no_dedupe.add_results("one", [dup_id])
    assert ids(no_dedupe.context()) == ["i1", "i2", "i3", "i1"]
    assert len(dedupe_docs([Doc("", "t", "x"), Doc("", "t", "x")])) == 1
    # the episode compares titles and texts without surrounding whitespace; evaluation compares them as they are
    spaced = [Doc("", "t", "x"), Doc("", " t", "x\n")]
    assert len(dedupe_docs(spaced, strip=True)) == 1 and len(dedupe_docs(spaced)) == 2
    ep = Episode("q?", spaced, EpisodeConfig(initial_k=2))
    assert len(ep.context()) == 1


def test_first_selection_of_a_window_wins():
    ep = Episode("q?", INIT, EpisodeConfig(include_initial="if_unselected"))
    ep.record(Action("invalid", selected=[1]))
    ep.record(Action(COMPLETE, selected=[2]))
    assert ids(ep.context()) == ["i1"]
    assert ep.counters["reselect_ignored"] == 1


def test_initial_k_truncates_and_turn_budget():
    ep = Episode("q?", INIT, EpisodeConfig(initial_k=2, max_turns=2))
    assert ids(ep.window.docs) == ["i1", "i2"]
    assert ep.config.max_generations == 3
    ep.record(Action(SEARCH, query="1"))
    assert ep.can_search()
    ep.add_results("1", S1)
    ep.record(Action(SEARCH, query="2"))
    assert ep.can_search()
    ep.add_results("2", S2)
    ep.record(Action(SEARCH, query="3"))
    assert not ep.can_search()  # two searches used; the third generation can only select
    ep.finish("max_turns")
    ep.finish("complete")
    assert ep.finish_reason == "max_turns" and ep.done


def test_to_dict_is_json_ready():
    import json

    d = run_episode(EpisodeConfig(), sel1=[1], sel2=[1]).to_dict()
    assert json.loads(json.dumps(d))["context"][3]["id"] == "a1"
    assert [b["query"] for b in d["blocks"]] == [None, "one", "two"]


@pytest.mark.parametrize(
    "name,k,s,t",
    [("8-3-3", 8, 3, 3), ("5-3-3", 5, 3, 3), ("5-3-4", 5, 3, 4), ("3-3-3", 3, 3, 3), ("3-3-4", 3, 3, 4)],
)
def test_paper_presets(name, k, s, t):
    cfg = episode_preset(name)
    assert (cfg.docs_per_search, cfg.select_cap, cfg.max_turns, cfg.initial_k) == (k, s, t, 3)
    assert cfg.max_generations == t + 1


def test_ablation_presets_and_errors():
    assert episode_preset("no-select").use_selection is False
    assert episode_preset("no-init").include_initial == "never"
    assert set(EPISODE_PRESETS) >= {"8-3-3", "no-select", "no-init"}
    assert episode_preset("8-3-3", unselected_block="none").unselected_block == "none"
    with pytest.raises(ValueError, match="unknown episode preset"):
        episode_preset("9-9-9")
    with pytest.raises(ValueError, match="unknown EpisodeConfig field"):
        episode_preset("8-3-3", turns=3)
    with pytest.raises(ValueError, match="include_initial"):
        EpisodeConfig(include_initial="sometimes")
    with pytest.raises(ValueError, match="docs_per_search"):
        EpisodeConfig(docs_per_search=0)
