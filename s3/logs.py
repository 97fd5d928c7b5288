"""Logging set up once for the whole library (the CLI calls :func:`setup_logging`)."""

from __future__ import annotations

import logging
import os

_CONFIGURED = False


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once: ``S3_LOG_LEVEL`` or ``level`` (default INFO), one line per record."""
    global _CONFIGURED
    level = level or os.environ.get("S3_LOG_LEVEL", "INFO")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    if _CONFIGURED:
        logging.getLogger().setLevel(level)
        return
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "httpcore", "urllib3", "openai", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _CONFIGURED = True
