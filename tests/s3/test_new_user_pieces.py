"""The pieces of the new-user path one by one: presets across commands, gold demonstrations, named
splits, the learning-signal guard and parquet ids."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq

from retrievers.bm25 import BM25Retriever
from retrievers.doc import Doc
from s3.cli import main
from s3.data import read_searchr1_parquet
from s3.episode import EpisodeConfig
from s3.precompute import data_split
from s3.presets import searcher_settings
from s3.searcher import SearcherConfig, warn_mismatch
from s3.train.gold import gold_turns
from s3.train.guard import SignalGuard
from s3.train.warmstart import resolve_source, warmstart_preset


def test_a_training_preset_fixes_the_same_rules_for_every_command(capsys):
    tiny = searcher_settings("tiny")
    assert tiny["protocol"] == "s3-brief" and tiny["episode"]["max_turns"] == 1
    assert tiny["rollout"] == {"max_new_tokens_per_turn": 24, "max_obs_tokens": 256, "max_total_tokens": 1024}
    ws = warmstart_preset("tiny")
    assert ws["protocol"] == "s3-brief" and ws["rollout"]["temperature"] == 0.0  # demonstrations stay greedy
    searcher = SearcherConfig().apply_preset("tiny")
    assert (searcher.protocol, searcher.episode.max_turns, searcher.rollout.max_new_tokens_per_turn) == (
        "s3-brief", 1, 24,
    )  # fmt: skip
    assert searcher.rollout.temperature == 0.0
    # --help-config shows the values the preset sets, for warm start and training alike
    for command in ("warmstart", "train"):
        assert main([command, "--preset", "tiny", "--help-config"]) == 0
        out = capsys.readouterr().out
        assert "protocol = 's3-brief'" in out and "episode.max_turns = 1" in out
        assert "rollout.max_new_tokens_per_turn = 24" in out and "preset = 'tiny'" in out


def test_a_mismatched_checkpoint_is_reported(caplog):
    saved = SearcherConfig()  # the default warm start's rules: s3 protocol, 8-3-3
    with caplog.at_level(logging.WARNING):
        warn_mismatch("runs/ws/final", saved, "tiny")
    assert "protocol s3 vs s3-brief" in caplog.text and "episode.max_turns 3 vs 1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        warn_mismatch("runs/ws/final", SearcherConfig().apply_preset("tiny"), "tiny")
    assert caplog.text == ""


def test_gold_demonstrations_select_and_search_for_the_supporting_passages(tmp_path):
    docs = [
        Doc("1", "Zorbex Industries", "Zorbex Industries is a company founded by Talen Morvik."),
        Doc("2", "Talen Morvik", "Talen Morvik was born in Quarnby."),
        Doc("3", "Plinth", "Plinth is a company founded by Mira Quell."),
        Doc("4", "Mira Quell", "Mira Quell was born in Velloria."),
    ]
    retriever = BM25Retriever.build(docs, tmp_path / "idx")
    row = {
        "question": "In which city was the founder of Zorbex Industries born?",
        "golden_answers": ["Quarnby"],
        "initial_docs": [docs[0].to_dict(), docs[2].to_dict()],
        "supporting_facts": [["Zorbex Industries", 0], ["Talen Morvik", 0]],  # HotpotQA style
    }
    assert resolve_source("auto", [row]) == "gold"
    turns = gold_turns(row, retriever, EpisodeConfig(docs_per_search=2, max_turns=1, initial_k=2))
    assert turns[0].startswith("<important_info>[1]</important_info>") and "Talen Morvik" in turns[0]
    assert turns[1] == "<important_info>[1]</important_info><search_complete>True</search_complete>"


def test_splits_are_named_or_the_guess_is_warned(caplog):
    with caplog.at_level(logging.WARNING):
        assert data_split("train=data/questions.jsonl") == ("data/questions.jsonl", "train")
        assert data_split("data/questions.jsonl", default="val") == ("data/questions.jsonl", "val")
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        assert data_split("data/questions.jsonl") == ("data/questions.jsonl", "test")
    assert "guessed 'test'" in caplog.text and "--data test=data/questions.jsonl" in caplog.text


def test_the_guard_warns_once_when_no_group_has_reward_variance(caplog):
    guard = SignalGuard(patience=3)
    with caplog.at_level(logging.WARNING):
        fired = [
            guard.observe(s, {"frac_reward_zero_std": v})
            for s, v in enumerate([1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0], 1)
        ]
    assert fired == [False, False, False, False, False, True, False]  # the streak restarts at step 3
    assert caplog.text.count("no learning signal") == 1
    assert (
        "drop_rag_correct" in caplog.text
        and "rollout.temperature" in caplog.text
        and "generator" in caplog.text
    )


def test_parquet_id_column_is_kept(tmp_path):
    row = {
        "id": "hotpot-17",
        "data_source": "hotpotqa",
        "prompt": [{"role": "user", "content": "<question>q?</question>"}],
        "reward_model": {"ground_truth": {"question": "q?", "target": ["a"]}},
        "extra_info": {"split": "train", "index": 3},
    }
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist([row]), path)
    (ex,) = read_searchr1_parquet(path)
    assert ex.id == "hotpot-17" and "id" not in ex.meta
    assert json.dumps(ex.to_dict())


def test_the_guard_runs_in_training_and_a_mismatched_warm_start_is_reported(tmp_path, caplog):
    from transformers import TrainerState

    from s3.searcher import save_searcher_config
    from s3.train.config import load_train_config
    from s3.train.trainer import _callbacks, warn_if_untaught

    save_searcher_config(SearcherConfig(), tmp_path)  # warm-started under the default rules
    cfg = load_train_config(preset="tiny", overrides=[f"model={tmp_path}", "logging.signal_guard_steps=2"])
    with caplog.at_level(logging.WARNING):
        warn_if_untaught(cfg)
    assert "s3 warmstart --preset tiny" in caplog.text and "protocol s3 vs s3-brief" in caplog.text
    (guard,) = [c for c in _callbacks(cfg) if type(c).__name__ == "SignalGuardCallback"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for step in (1, 2):
            guard.on_log(None, TrainerState(global_step=step), None, logs={"frac_reward_zero_std": 1.0})
    assert "no learning signal" in caplog.text and "at step 2" in caplog.text


def test_evaluate_takes_any_preset_name():
    import pytest

    from baselines.evaluate import eval_preset

    assert eval_preset("tiny") == {"episode_preset": "tiny"}
    assert eval_preset("embedded")["task_dir"]
    with pytest.raises(ValueError, match="unknown preset 'tiniest'; known: ") as err:
        eval_preset("tiniest")
    known = str(err.value).split("known: ")[1].split(", ")
    # evaluation presets, every training preset and every episode preset are offered
    from s3.presets import EPISODE_PRESETS
    from s3.train.config import PRESETS

    assert {"embedded", "8-3-3", "general-qa", "mirage", *PRESETS, *EPISODE_PRESETS} <= set(known)


def test_precompute_without_a_training_split_says_how_to_name_one(tmp_path, caplog):
    from s3.precompute import PrecomputeConfig, run_precompute

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"id": "1", "contents": '"Zorbex"\nZorbex was founded by Talen Morvik.'}) + "\n"
    )
    qa = tmp_path / "questions.jsonl"
    qa.write_text(json.dumps({"question": "Who founded Zorbex?", "golden_answers": ["Talen Morvik"]}) + "\n")
    with caplog.at_level(logging.WARNING):
        summary = run_precompute(
            PrecomputeConfig(
                output_dir=str(tmp_path / "pre"), data=[str(qa)], corpus=str(corpus), progress=False
            )
        )
    assert summary["files"] == {"test.jsonl": 1}
    assert "guessed 'test'" in caplog.text and "train.jsonl is not written" in caplog.text


def test_a_local_model_teacher_writes_scored_episodes(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from generators.offline import ExtractiveReader
    from s3.protocol_registry import protocol_from_config
    from s3.rollout import RolloutConfig
    from s3.train.teacher import TeacherConfig, load_teacher, teacher_script

    docs = [
        Doc("1", "Zorbex", "Zorbex was founded by Talen Morvik."),
        Doc("2", "Plinth", "Plinth was founded by Mira."),
    ]
    retriever = BM25Retriever.build(docs, tmp_path / "idx")
    rows = [
        {"question": "Who founded Zorbex?", "golden_answers": ["Talen Morvik"], "rag_genacc": 0,
         "initial_docs": [docs[1].to_dict()]},
        {"question": "Who founded Plinth?", "golden_answers": ["Mira"], "rag_genacc": 1,
         "initial_docs": [docs[1].to_dict()]},
    ]  # fmt: skip
    cfg = TeacherConfig(
        kind="transformers", model=str(tiny_model_dir), samples=2, max_new_tokens=8, device="cpu"
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = load_teacher(cfg, tokenizer)
    episode = EpisodeConfig(docs_per_search=1, select_cap=1, max_turns=1, initial_k=1)
    script, stats = teacher_script(
        rows, teacher, retriever, tokenizer, protocol_from_config("s3-brief", {}), episode,
        RolloutConfig.greedy(max_new_tokens_per_turn=24), ExtractiveReader(), cfg,
    )  # fmt: skip
    assert stats["episodes"] == 4 and stats["questions"] == 2
    # naive RAG already answers Plinth: no episode can gain beyond it, so it is never kept
    assert "Who founded Plinth?" not in script and stats["kept_questions"] == len(script)


def test_warm_start_source_none_keeps_the_model_and_records_the_preset(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "ws"
    code = main(
        ["warmstart", "--preset", "tiny", "source=none", f"model={tiny_model_dir}", f"output_dir={out}"]
    )
    assert code == 0 and capsys.readouterr().out.strip().endswith(str(out / "final"))
    saved = json.loads((out / "final" / "s3_searcher.json").read_text())
    assert (saved["preset"], saved["protocol"], saved["rollout"]["max_new_tokens_per_turn"]) == (
        "tiny",
        "s3-brief",
        24,
    )
    assert (out / "final" / "config.json").is_file() and (out / "final" / "tokenizer.json").is_file()
