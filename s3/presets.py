"""Named episode settings: the paper's ``k-s-T`` configurations and its two context ablations.

``k-s-T`` = ``k`` documents per search, at most ``s`` selected per search, ``T`` searches (turns, as
defined in :class:`~s3.episode.EpisodeConfig`). ``no-select`` and ``no-init`` are the 8-3-3 setting
with one component removed from the generator's context (paper Table 6).

Example::

    cfg = episode_preset("5-3-4")                       # EpisodeConfig(docs_per_search=5, ...)
    cfg = episode_preset("8-3-3", unselected_block="none")
"""

from __future__ import annotations

import dataclasses
from typing import Any

from s3.episode import EpisodeConfig

EPISODE_PRESETS: dict[str, dict[str, Any]] = {
    "8-3-3": {"docs_per_search": 8, "select_cap": 3, "max_turns": 3},
    "5-3-3": {"docs_per_search": 5, "select_cap": 3, "max_turns": 3},
    "5-3-4": {"docs_per_search": 5, "select_cap": 3, "max_turns": 4},
    "3-3-3": {"docs_per_search": 3, "select_cap": 3, "max_turns": 3},
    "3-3-4": {"docs_per_search": 3, "select_cap": 3, "max_turns": 4},
    # ablations of 8-3-3 (paper Table 6): every retrieved document / no initial documents in the context
    "no-select": {"docs_per_search": 8, "select_cap": 3, "max_turns": 3, "use_selection": False},
    "no-init": {"docs_per_search": 8, "select_cap": 3, "max_turns": 3, "include_initial": "never"},
}

DEFAULT_PRESET = "8-3-3"


def episode_preset(name: str = DEFAULT_PRESET, **overrides: Any) -> EpisodeConfig:
    """The :class:`EpisodeConfig` of a named preset, with ``overrides`` applied.

    Raises:
        ValueError: unknown preset name or unknown override field.
    """
    if name not in EPISODE_PRESETS:
        raise ValueError(f"unknown episode preset {name!r}; known: {', '.join(EPISODE_PRESETS)}")
    known = {f.name for f in dataclasses.fields(EpisodeConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown EpisodeConfig field(s) {unknown}; known: {sorted(known)}")
    return EpisodeConfig(**{**EPISODE_PRESETS[name], **overrides})
