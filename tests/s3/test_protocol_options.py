"""A protocol's options (Search-R1 mode's own prompt) travel through every config: the Searcher, the
warm start and GRPO configs, the checkpoint's saved ``s3_searcher.json``, ``s3 evaluate``'s Search-R1
method and ``s3 search``; a bad option is refused with the field it came from."""

from __future__ import annotations

import json
import shutil

import pytest
from s3_search_fixtures import QUESTIONS, build_bm25

from s3.config import ConfigError
from s3.policy.scripted import ScriptedPolicy
from s3.protocol_r1 import SearchR1Protocol
from s3.protocol_registry import get_protocol, protocol_from_config, protocol_option_names
from s3.searcher import Searcher, SearcherConfig, load_searcher_config, save_searcher_config

DUNE = QUESTIONS[0]
# a prompt of a user's own (the kind of template a public checkpoint was trained with)
PROMPT = "Answer after searching. Use at most {max_turns} searches. Question: {question}"
SYSTEM = "You are a careful research assistant."
OPTIONS = {"instructions": PROMPT, "system_prompt": SYSTEM}


def _prompt_text(tokenizer, result) -> str:
    return tokenizer.decode(result.trajectory.prompt_ids)


def _r1_checkpoint(tiny_model_dir, tmp_path):
    """A Search-R1-mode checkpoint folder whose saved config carries :data:`OPTIONS`."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, ckpt)
    saved = SearcherConfig.for_mode("search-r1")
    saved.protocol_options = dict(OPTIONS)
    save_searcher_config(saved, ckpt)
    return ckpt


def test_options_are_checked_against_the_protocol():
    assert protocol_option_names("search-r1") == ["instructions", "system_prompt"]
    assert set(protocol_option_names("s3")) == {"boolean_queries", "system_prompt"}
    p = get_protocol("r1", **OPTIONS)  # an alias resolves to the same protocol
    assert isinstance(p, SearchR1Protocol) and p.instructions == PROMPT and p.system_prompt == SYSTEM
    with pytest.raises(
        ValueError, match=r"has no option\(s\) \['instruction'\]; its options: instructions, system_prompt"
    ):
        get_protocol("search-r1", instruction=PROMPT)
    with pytest.raises(
        ConfigError, match=r"^protocol_options: protocol 's3' has no option\(s\) \['instructions'\]"
    ):
        protocol_from_config("s3", {"instructions": PROMPT})
    with pytest.raises(
        ConfigError, match=r"^r1_protocol_options: instructions: the template needs a \{question\}"
    ):
        protocol_from_config("search-r1", {"instructions": "no placeholder"}, where="r1_protocol_options")
    with pytest.raises(ConfigError, match=r"^protocol: unknown protocol 'nope'"):
        protocol_from_config("nope", {})


def test_searcher_prompts_with_the_configured_instructions(tokenizer, bm25):
    script = {DUNE: ["<search>Frank Herbert born</search>", "<answer>Tacoma</answer>"]}
    config = SearcherConfig.for_mode("search-r1")
    config.protocol_options = dict(OPTIONS)
    result = Searcher(ScriptedPolicy(tokenizer, script), bm25, config).search(DUNE)
    prompt = _prompt_text(tokenizer, result)
    assert f"Use at most 4 searches. Question: {DUNE}" in prompt and SYSTEM in prompt
    assert result.answer == "Tacoma" and result.queries == ["Frank Herbert born"]
    default = Searcher(ScriptedPolicy(tokenizer, script), bm25, mode="search-r1").search(DUNE)
    assert "Answer after searching" not in _prompt_text(tokenizer, default) and SYSTEM not in _prompt_text(
        tokenizer, default
    )
    # boolean_queries still reaches the s3 protocols that take it, beside other options
    s3cfg = SearcherConfig(boolean_queries=True, protocol_options={"system_prompt": SYSTEM})
    proto = s3cfg.make_protocol()
    assert proto.boolean_queries and proto.system_prompt == SYSTEM


def test_checkpoint_remembers_the_prompt(tiny_model_dir, bm25, tmp_path):
    ckpt = _r1_checkpoint(tiny_model_dir, tmp_path)
    assert json.loads((ckpt / "s3_searcher.json").read_text())["protocol_options"] == OPTIONS
    assert load_searcher_config(str(ckpt)).protocol_options == OPTIONS
    searcher = Searcher.from_pretrained(str(ckpt), retriever=bm25, device="cpu")
    assert searcher.protocol.instructions == PROMPT and searcher.protocol.system_prompt == SYSTEM


def test_train_and_warmstart_configs_take_and_check_options(tiny_model_dir, tmp_path, monkeypatch):
    from retrievers.bm25 import BM25Retriever
    from retrievers.corpus import read_corpus
    from s3.protocol_r1 import r1_episode_config
    from s3.task import build_embedded_task
    from s3.train.config import load_train_config
    from s3.train.warmstart import WarmstartConfig, warmstart

    base = ["model=m", "retriever=r", "data.train_file=f"]
    yaml_file = tmp_path / "train.yaml"  # a multi-line prompt is at home in the YAML file
    yaml_file.write_text(f"protocol_options:\n  instructions: |\n    First line.\n    {PROMPT}\n")
    cfg = load_train_config(yaml_file, preset="search-r1-tiny", overrides=base)
    cfg.check()
    assert cfg.make_protocol().instructions == f"First line.\n{PROMPT}\n"
    quoted = load_train_config(
        preset="search-r1-tiny", overrides=[*base, f"protocol_options.instructions='{PROMPT}'"]
    )
    assert quoted.make_protocol().instructions == PROMPT
    unquoted = load_train_config(
        preset="search-r1-tiny", overrides=[*base, f"protocol_options.instructions={PROMPT}"]
    )
    with pytest.raises(
        ConfigError, match=r"^protocol_options: instructions: expected text, got dict .* quote text"
    ):
        unquoted.check()
    bad = load_train_config(
        preset="search-r1-tiny", overrides=[*base, "protocol_options.boolean_queries=true"]
    )
    with pytest.raises(ConfigError, match=r"^protocol_options: protocol 'search-r1' has no option"):
        bad.check()

    # a real (one-step) warm start: its demonstrations use the prompt, and its checkpoint saves it
    import s3.train.warmstart as ws

    task = build_embedded_task(tmp_path / "task", seed=0, train=8, val=2, test=2)
    retriever = BM25Retriever.build(read_corpus(task / "corpus.jsonl"), tmp_path / "idx")
    seen, build = [], ws.build_demonstrations

    def spy(rows, retriever, tokenizer, protocol, *args, **kwargs):  # records the protocol, builds as usual
        seen.append(protocol)
        return build(rows, retriever, tokenizer, protocol, *args, **kwargs)

    monkeypatch.setattr(ws, "build_demonstrations", spy)
    wcfg = WarmstartConfig(
        model=str(tiny_model_dir), output_dir=str(tmp_path / "ws"), retriever=str(tmp_path / "idx"),
        train_file=str(task / "train.jsonl"), protocol="search-r1", protocol_options=dict(OPTIONS),
        episode=r1_episode_config(3, 1, 0), max_steps=1, batch_size=4, max_examples=4, device="cpu",
        progress=False,
    )  # fmt: skip
    final = warmstart(wcfg, retriever=retriever)
    assert load_searcher_config(str(final)).protocol_options == OPTIONS
    assert seen[0].instructions == PROMPT and seen[0].system_prompt == SYSTEM
    wcfg.protocol_options = {"instructions": "no placeholder"}
    with pytest.raises(ConfigError, match=r"^protocol_options: instructions: the template needs"):
        wcfg.check()


def test_evaluation_keeps_the_saved_prompt_and_takes_an_override(tiny_model_dir, bm25, tmp_path):
    from baselines.evaluate import EvalConfig, open_searcher

    ckpt = _r1_checkpoint(tiny_model_dir, tmp_path)
    cfg = EvalConfig(searcher_device="cpu")
    searcher = open_searcher(cfg, "search-r1", str(ckpt), bm25)
    assert searcher.protocol.instructions == PROMPT and searcher.config.episode.max_turns == cfg.r1_max_turns
    cfg.r1_protocol_options = {"instructions": "Question: {question}"}
    assert open_searcher(cfg, "search-r1", str(ckpt), bm25).protocol.instructions == "Question: {question}"
    cfg.r1_protocol_options = {"prompt": "x"}
    with pytest.raises(ConfigError, match=r"^r1_protocol_options: protocol 'search-r1' has no option"):
        open_searcher(cfg, "search-r1", str(ckpt), bm25)


def test_search_command_takes_instructions_and_a_system_prompt(tiny_model_dir, tmp_path):
    from s3.cli import main

    index = tmp_path / "idx"
    build_bm25(index)
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT, encoding="utf-8")
    out = tmp_path / "found.jsonl"
    args = ["search", DUNE, "--model", str(tiny_model_dir), "--index", str(index), "--mode", "search-r1",
            "--device", "cpu", "--max-new-tokens", "8", "--output", str(out), "--trace"]  # fmt: skip
    assert main([*args, "--instructions", str(prompt_file), "--system-prompt", SYSTEM]) == 0
    row = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert row["trace"]["prompt"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": PROMPT.replace("{max_turns}", "4").replace("{question}", DUNE)},
    ]
