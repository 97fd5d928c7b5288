"""Build tiny causal LMs from a config with a locally trained tokenizer (no hub download).

Used by the tests, the embedded default (``s3 demo`` warm-starts one as its searcher) and the
generator-server fixtures. The tokenizer is a byte-level BPE trained on the given texts; the
protocol tags of both searcher protocols are single added tokens so a tiny model learns the format
quickly. The model is a Qwen2 architecture, so the same loading code serves Qwen2.5-7B later.

Example::

    path = build_tiny_model("runs/tiny", texts=corpus_texts, seed=0)
    model = AutoModelForCausalLM.from_pretrained(path)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: tags of the s3 protocol and the Search-R1 protocol, kept as single tokens
TAG_TOKENS = [
    "<question>", "</question>",
    "<query>", "</query>",
    "<information>", "</information>",
    "<important_info>", "</important_info>",
    "<search_complete>", "</search_complete>",
    "<think>", "</think>",
    "<search>", "</search>",
    "<answer>", "</answer>",
]  # fmt: skip
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_BASE_TEXT = (
    "The searcher writes a query in JSON, reads the information, selects the important documents "
    "and decides whether the search is complete. True False yes no Doc Title query question answer "
    '{"query": "who"} [1, 2, 3] 0 1 2 3 4 5 6 7 8 9 . , : ; ( ) [ ] { } " ? !'
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, extra_tokens: list[str] | None = None):
    """Train a byte-level BPE tokenizer (GPT-2 pre-tokenizer) with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [_BASE_TEXT, *texts]
    tok.train_from_iterator(corpus, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    hf.add_tokens(list(extra_tokens if extra_tokens is not None else TAG_TOKENS))
    hf.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    hf.chat_template = CHATML_TEMPLATE
    return hf


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str] = (),
    vocab_size: int = 2048,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 8192,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> Path:
    """Write a tiny random Qwen2 model and its tokenizer to ``out_dir``; returns the path.

    ``initializer_range=0.2`` keeps greedy decoding from collapsing to newlines, and the generation
    config samples by default (servers then honour ``temperature=0`` as greedy).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=64,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("built tiny model (%d params, vocab %d) at %s", n_params, len(tokenizer), out)
    return out
