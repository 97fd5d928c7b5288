"""Policy backend on transformers ``generate``: batched, left-padded, CPU or GPU.

Returns the sampled ids and, per sampled token, the log-probability of the sampling distribution
(``log_softmax(logits / temperature)``; plain ``log_softmax(logits)`` when greedy), which is what the
GRPO trainer recomputes for the same tokens.

Example::

    policy = HFPolicy.from_pretrained("runs/searcher", device="cpu")
    gens = policy.generate([ids_a, ids_b], max_new_tokens=500, temperature=0.6, top_p=0.95)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from s3.policy.base import Generation, PolicyBackend, shortest_prefix

log = logging.getLogger(__name__)


def resolve_device(device: str | None) -> str:
    """``"auto"``/``None`` -> ``"cuda"`` when available, else ``"cpu"``."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class HFPolicy(PolicyBackend):
    """A transformers causal LM as the searcher.

    Args:
        model: a loaded ``PreTrainedModel`` (put on its device by the caller).
        tokenizer: its tokenizer (needs a pad token or an EOS token to pad with).
        max_batch_size: split larger batches into chunks of this many prompts (``None``: no split).
        use_stop_strings: let ``generate`` stop a row at a stop string (saves compute; the rollout
            enforces stop strings either way).
        autocast: ``"bf16"`` runs generation under bfloat16 autocast (weights stay as loaded): about 3x
            faster on CPUs with native bf16 matrix units (AMX, AVX512-BF16), slower elsewhere;
            ``None`` (default) computes in the weights' dtype.
    """

    name = "transformers"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_batch_size: int | None = None,
        use_stop_strings: bool = True,
        autocast: str | None = None,
    ):
        if autocast not in (None, "bf16"):
            raise ValueError(f"autocast must be None or 'bf16', got {autocast!r}")
        self.autocast = autocast
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.use_stop_strings = use_stop_strings
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token to pad with")
        self.pad_token_id = int(pad)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        device: str | None = "auto",
        dtype: str = "auto",
        max_batch_size: int | None = None,
        autocast: str | None = None,
        **model_kwargs: Any,
    ) -> HFPolicy:
        """Load a model folder or hub id with ``AutoModelForCausalLM``; ``dtype`` e.g. ``"bfloat16"``."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from s3.models import resolve_model

        device = resolve_device(device)
        path = resolve_model(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **model_kwargs)
        model.to(device)
        model.eval()
        return cls(model, tokenizer, max_batch_size=max_batch_size, autocast=autocast)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        if not prompts:
            return []
        if seed is not None:
            import torch

            torch.manual_seed(seed)
        size = self.max_batch_size or len(prompts)
        out: list[Generation] = []
        for start in range(0, len(prompts), size):
            out.extend(
                self._generate_chunk(prompts[start : start + size], max_new_tokens, temperature, top_p, stop)
            )
        return out

    def _generate_chunk(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str],
    ) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        if max_new_tokens <= 0:
            return [Generation([], [], "length") for _ in prompts]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):  # left padding: generation continues from the last column
            if ids:
                input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
                attention[row, width - len(ids) :] = 1
        greedy = temperature <= 0
        eos = self.tokenizer.eos_token_id
        gen_cfg = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else float(temperature),
            top_p=None if greedy else float(top_p),
            top_k=0,  # no top-k: the default of 50 would silently narrow sampling
            eos_token_id=eos,
            pad_token_id=self.pad_token_id,
            stop_strings=list(stop) if (stop and self.use_stop_strings) else None,
            output_logits=True,
            return_dict_in_generate=True,
        )
        device = self.device
        precision = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16)
            if self.autocast == "bf16"
            else contextlib.nullcontext()
        )
        with torch.no_grad(), precision:
            result = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                generation_config=gen_cfg,
                tokenizer=self.tokenizer if gen_cfg.stop_strings else None,
            )
        new = result.sequences[:, width:].cpu()
        scale = 1.0 if greedy else float(temperature)
        steps = new.shape[1]
        logps = torch.zeros(new.shape, dtype=torch.float32)
        for t in range(steps):  # per step, so a [B, T, V] tensor is never materialised
            step_logits = result.logits[t].float().cpu() / scale
            logps[:, t] = torch.log_softmax(step_logits, dim=-1).gather(1, new[:, t : t + 1]).squeeze(1)
        out = []
        for row in range(new.shape[0]):
            ids = new[row].tolist()
            # after a row stops (EOS or a stop string) generate pads it; cut there, keeping sampled pads
            if eos is not None and eos in ids:
                n, finish = ids.index(eos) + 1, "stop"
            else:
                n, finish = len(ids), "length"
                if gen_cfg.stop_strings:
                    cut = shortest_prefix(self.tokenizer, ids, lambda text: any(s in text for s in stop))
                    if cut is not None:
                        n, finish = cut, "stop"
            out.append(Generation(ids[:n], logps[row, :n].tolist(), finish))
        return out
