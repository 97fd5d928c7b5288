"""The trainer's vLLM policy backend on TRL's own server-mode client, against a real HTTP server.

vLLM itself needs CUDA, so the server here is a small OpenAI-compatible ``/v1/completions`` endpoint
on 127.0.0.1 that records each request and answers with fixed tokens; everything between
:class:`~s3.train.policy.TrainerVLLMPolicy` and the socket is TRL 1.16's ``VLLMGeneration`` and
``VLLMClient``. Only the NCCL weight-sync handshake (``init_communicator``) is skipped.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from local_servers import send_json


class _Recorder(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        if self.path.startswith("/health"):
            send_json(self, {"status": "ok"})
        else:  # /v1/models
            send_json(self, {"data": [{"id": "searcher"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        choices = []
        for prompt in body["prompt"]:
            for _ in range(body.get("n", 1)):
                tokens = [5, 6]
                choices.append(
                    {
                        "prompt_token_ids": prompt,
                        "token_ids": tokens,
                        "logprobs": {
                            "tokens": [f"token_id:{t}" for t in tokens],
                            "token_logprobs": [-0.5 for _ in tokens],
                            "top_logprobs": [{f"token_id:{t}": -0.5} for t in tokens],
                        },
                    }
                )
        send_json(self, {"choices": choices})


@pytest.fixture()
def trl_server_engine(monkeypatch, tmp_path):
    """TRL's ``VLLMGeneration`` in server mode, its client talking to a recording server."""
    import trl.generation.vllm_generation as vg
    from accelerate import Accelerator
    from trl.generation.vllm_client import VLLMClient

    from s3.tiny_model import build_tiny_model

    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import trl.generation.vllm_client as vc

    for module in (vg, vc):  # vLLM is not importable without CUDA
        monkeypatch.setattr(module, "is_vllm_available", lambda: True)
    monkeypatch.setattr(VLLMClient, "init_communicator", lambda self, device=None: None)  # NCCL weight sync
    from transformers import AutoTokenizer

    model_dir = build_tiny_model(tmp_path / "tiny", texts=["who founded zorbex"], vocab_size=300)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = vg.VLLMGeneration(
        model=None,
        accelerator=Accelerator(cpu=True),
        processing_class=tokenizer,
        mode="server",
        server_base_url=f"http://127.0.0.1:{server.server_port}",
        server_timeout=5.0,
        temperature=1.0,  # what GRPOConfig hands the engine
        top_p=1.0,
        max_completion_length=16,
    )
    trainer = type("Trainer", (), {"vllm_generation": engine, "processing_class": tokenizer})()
    yield trainer
    server.shutdown()


def test_each_call_samples_with_its_own_temperature_and_top_p(trl_server_engine):
    from s3.train.policy import TrainerVLLMPolicy

    policy = TrainerVLLMPolicy(trl_server_engine, fixed_batch=3, max_new_tokens=8)
    gens = policy.generate([[1, 2], [3]], max_new_tokens=8, temperature=0.6, top_p=0.9, stop=["</query>"])
    [sent] = _Recorder.requests
    assert sent["temperature"] == 0.6 and sent["top_p"] == 0.9
    assert sent["max_tokens"] == 8 and sent["stop"] == ["</query>"]
    assert len(sent["prompt"]) == 3  # padded to the fixed batch, so every rank sends as many prompts
    assert [g.token_ids for g in gens] == [[5, 6], [5, 6]] and gens[0].logprobs == [-0.5, -0.5]
    # a greedy call is greedy, and the engine's own settings come back afterwards
    policy.generate([[1]], max_new_tokens=8, temperature=0.0, top_p=0.9)
    assert _Recorder.requests[-1]["temperature"] == 0.0 and _Recorder.requests[-1]["top_p"] == 1.0
    engine = trl_server_engine.vllm_generation
    assert (engine.temperature, engine.top_p, engine.max_completion_length) == (1.0, 1.0, 16)


def test_a_seeded_call_is_refused_rather_than_ignored(trl_server_engine):
    from s3.train.policy import TrainerVLLMPolicy

    policy = TrainerVLLMPolicy(trl_server_engine, fixed_batch=2, max_new_tokens=8)
    with pytest.raises(ValueError, match="rollout.seed"):
        policy.generate([[1, 2], [1, 2]], max_new_tokens=8, temperature=1.0, seed=3)
    assert _Recorder.requests == []
