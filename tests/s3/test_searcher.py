"""The public Searcher API, ``s3 search`` and ``import s3`` staying light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from s3_search_fixtures import QUESTIONS, corpus_docs

from s3 import Searcher
from s3.policy.scripted import ScriptedPolicy
from s3.presets import episode_preset
from s3.searcher import (
    SEARCHER_CONFIG_FILE,
    SearcherConfig,
    SearchResult,
    load_searcher_config,
    save_searcher_config,
)

DUNE, HAMLET, PARIS, DANUBE = QUESTIONS
SCRIPT = {
    DUNE: [
        '<search_complete>False</search_complete><query>{"query": "Frank Herbert born"}</query>',
        "<important_info>[1]</important_info><search_complete>True</search_complete>",
    ],
    PARIS: ["<search_complete>True</search_complete>"],
}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    from retrievers.corpus import write_corpus
    from retrievers.factory import build_index

    root = tmp_path_factory.mktemp("searcher_index")
    write_corpus(corpus_docs(), root / "corpus.jsonl")
    return build_index(root / "corpus.jsonl", root / "idx", kind="bm25")


def test_search_returns_documents_and_trace(tokenizer, index_dir):
    searcher = Searcher(ScriptedPolicy(tokenizer, SCRIPT), str(index_dir))
    result = searcher.search(DUNE)
    assert isinstance(result, SearchResult)
    assert result.queries == ["Frank Herbert born"] and result.finish_reason == "complete"
    initial = searcher.retriever.search([DUNE], 3)[0]
    found = searcher.retriever.search(["Frank Herbert born"], 8)[0]
    expected = [d.id for d in initial] + [d.id for d in found[:1] if d.id not in {x.id for x in initial}]
    assert [d.id for d in result.documents] == expected
    assert [d.id for d in result.selected] == [found[0].id] and result.selected[0].title == "Frank Herbert"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["trace"]["turns"][0]["action"]["query"] == "Frank Herbert born"
    assert data["documents"][0]["id"] == initial[0].id
    assert "trace" not in result.to_dict(with_trace=False)


def test_search_batch_matches_single_searches_and_initial_docs(tokenizer, index_dir):
    config = SearcherConfig(batch_size=1)
    searcher = Searcher(ScriptedPolicy(tokenizer, SCRIPT), str(index_dir), config)
    batch = searcher.search_batch([DUNE, PARIS])
    single = [searcher.search(DUNE), searcher.search(PARIS)]
    assert [[d.id for d in r.documents] for r in batch] == [[d.id for d in r.documents] for r in single]
    given = searcher.retriever.search(["Tacoma"], 2)[0]
    assert [d.id for d in searcher.search(PARIS, initial_docs=given).documents] == [d.id for d in given]
    with pytest.raises(ValueError, match="2 questions but 1"):
        searcher.search_batch([DUNE, PARIS], initial_docs=[given])


def test_from_pretrained_tiny_model_greedy(tiny_model_dir, index_dir):
    searcher = Searcher.from_pretrained(
        tiny_model_dir, retriever=str(index_dir), preset="5-3-3", device="cpu"
    )
    assert searcher.config.episode == episode_preset("5-3-3")
    assert searcher.config.rollout.temperature == 0.0
    searcher.config.rollout.max_new_tokens_per_turn = 16
    a = searcher.search(HAMLET)
    b = searcher.search(HAMLET)
    assert [d.id for d in a.documents] == [d.id for d in b.documents]
    assert a.trajectory.completion_ids == b.trajectory.completion_ids
    # include_initial="always": the initial documents are always there, whatever the random model wrote
    initial = searcher.retriever.search([HAMLET], 3)[0]
    assert [d.id for d in a.documents[:3]] == [d.id for d in initial]
    assert 1 <= a.trajectory.stats()["turns"] <= 4


def test_saved_searcher_config_is_restored(tiny_model_dir, index_dir, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, ckpt)
    saved = SearcherConfig(boolean_queries=True, episode=episode_preset("3-3-4"))
    save_searcher_config(saved, ckpt)
    assert load_searcher_config(str(ckpt)) == saved
    searcher = Searcher.from_pretrained(ckpt, retriever=str(index_dir), device="cpu")
    assert searcher.config.episode.max_turns == 4 and searcher.protocol.boolean_queries
    assert Searcher.from_pretrained(
        ckpt, retriever=str(index_dir), preset="8-3-3", device="cpu"
    ).config.episode == (episode_preset("8-3-3"))
    (ckpt / SEARCHER_CONFIG_FILE).write_text('{"episode": {"max_turns": "many"}}')
    with pytest.raises(ValueError, match="max_turns"):
        load_searcher_config(str(ckpt))


def test_import_s3_stays_light():
    code = (
        "import sys, s3; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_cli_search_single_and_batch_with_resume(tiny_model_dir, index_dir, tmp_path, capsys):
    from s3.cli import main

    base = [
        "search",
        "--model",
        str(tiny_model_dir),
        "--index",
        str(index_dir),
        "--device",
        "cpu",
        "--preset",
        "3-3-3",
    ]
    base += ["--max-new-tokens", "16"]
    assert main([*base, PARIS]) == 0
    out = capsys.readouterr().out
    assert f"question: {PARIS}" in out and "documents for the generator" in out
    searcher = Searcher.from_pretrained(
        tiny_model_dir, retriever=str(index_dir), preset="3-3-3", device="cpu"
    )
    searcher.config.rollout.max_new_tokens_per_turn = 16
    first_doc = searcher.search(PARIS).documents[0]
    assert f"[{first_doc.id}] {first_doc.title}" in out

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(json.dumps({"id": f"q{i}", "question": q}) + "\n" for i, q in enumerate(QUESTIONS[:3]))
    )
    output = tmp_path / "out.jsonl"
    assert main([*base, "--input", str(questions), "--output", str(output), "--batch-size", "2"]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"] and all(r["documents"] for r in rows)
    # resume: the last row torn by a kill (half written, no newline): cut off and redone
    lines = output.read_text().splitlines()
    output.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    assert main([*base, "--input", str(questions), "--output", str(output)]) == 0
    again = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in again] == ["q0", "q1", "q2"] and again[2] == rows[2]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"id": 3}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        main(["--debug", *base, "--input", str(bad)])


# -- the OpenAI-compatible backend against a real local HTTP server ---------------------------------


@pytest.fixture(scope="module")
def completions_server(tiny_model_dir):
    from pathlib import Path

    from local_servers import LocalServer, free_port

    port = free_port()
    script = Path(__file__).with_name("tiny_completions_server.py")
    cmd = [sys.executable, str(script), "--model", str(tiny_model_dir), "--port", str(port)]
    with LocalServer(cmd, port, timeout=120, env={"OMP_NUM_THREADS": "1"}) as server:
        yield f"{server.url}/v1"


@pytest.mark.slow
@pytest.mark.parametrize("text_only", [False, True], ids=["token-ids", "text-only"])
def test_openai_backend_against_a_served_model(completions_server, tiny_model_dir, index_dir, text_only):
    from s3.policy.hf import HFPolicy
    from s3.policy.openai import OpenAIPolicy

    base_url = completions_server
    served = "text-only" if text_only else "tiny"  # the test server answers like a plain server for this name
    remote = OpenAIPolicy.from_pretrained(str(tiny_model_dir), base_url=base_url, model=served, max_retries=0)
    local = HFPolicy.from_pretrained(str(tiny_model_dir), device="cpu")
    prompts = [local.tokenizer("Where was the author of Dune born?")["input_ids"], [5, 6, 7]]
    got = remote.generate(prompts, max_new_tokens=12, temperature=0.0, stop=["</query>"])
    want = local.generate(prompts, max_new_tokens=12, temperature=0.0, stop=["</query>"])
    for g, w in zip(got, want):
        if text_only:  # re-tokenised text, no log-probs
            assert g.logprobs is None
            assert local.tokenizer.decode(g.token_ids) == local.tokenizer.decode(
                w.token_ids, skip_special_tokens=True
            )
        else:  # the sampled ids themselves, with their log-probs
            assert g.token_ids == w.token_ids
            assert g.logprobs == pytest.approx(w.logprobs, abs=1e-4)

    searcher = Searcher.from_pretrained(
        tiny_model_dir,
        retriever=str(index_dir),
        backend="openai",
        base_url=base_url,
        model=served,
        preset="3-3-3",
    )
    searcher.config.rollout.max_new_tokens_per_turn = 12
    result = searcher.search(PARIS)
    initial = searcher.retriever.search([PARIS], 3)[0]
    assert [d.id for d in result.documents[:3]] == [d.id for d in initial]
    assert (result.trajectory.logprobs is None) == text_only
