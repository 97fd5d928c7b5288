"""Named episode settings: the paper's ``k-s-T`` configurations and its two context ablations.

``k-s-T`` = ``k`` documents per search, at most ``s`` selected per search, ``T`` searches (turns, as
defined in :class:`~s3.episode.EpisodeConfig`). ``no-select`` and ``no-init`` are the 8-3-3 setting
with one component removed from the generator's context (paper Table 6).

A *training* preset (``tiny``, ``7b``, ``search-r1``, ``search-r1-tiny``: :mod:`s3.train.config`)
fixes more: the protocol, the episode rules and the token budgets. One vocabulary serves every
command: :func:`searcher_settings` gives what any preset name fixes for a searcher, and
``s3 warmstart``, ``s3 train``, ``s3 search`` and ``s3 evaluate`` all accept these names; a checkpoint
remembers the preset it was trained under (``s3_searcher.json``).

Example::

    cfg = episode_preset("5-3-4")                       # EpisodeConfig(docs_per_search=5, ...)
    cfg = episode_preset("8-3-3", unselected_block="none")
    searcher_settings("tiny")   # {"preset": "tiny", "protocol": "s3-brief", "episode": {...}, "rollout": {...}}
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

#: rollout fields a training preset fixes for every command (sampling stays each command's own)
BUDGET_FIELDS = ("max_new_tokens_per_turn", "max_obs_tokens", "max_total_tokens")


def training_presets() -> dict[str, dict[str, Any]]:
    """The presets of ``s3 train`` (name -> partial :class:`~s3.train.config.TrainConfig`)."""
    from s3.train.config import PRESETS

    return PRESETS


def preset_names() -> list[str]:
    """Every preset name a command accepts: the training presets, then the episode presets."""
    return [*training_presets(), *EPISODE_PRESETS]


def searcher_settings(name: str) -> dict[str, Any]:
    """What a preset fixes for a searcher: ``preset``, ``protocol``, ``protocol_options``, ``episode``
    (a full :class:`EpisodeConfig` mapping) and, for a training preset, ``rollout`` token budgets.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    presets = training_presets()
    if name in presets:
        p = presets[name]
        episode = {**dataclasses.asdict(EpisodeConfig()), **p.get("episode", {})}
        budgets = {k: v for k, v in p.get("rollout", {}).items() if k in BUDGET_FIELDS}
        return {
            "preset": name,
            "protocol": p.get("protocol", "s3"),
            "protocol_options": dict(p.get("protocol_options", {})),
            "episode": episode,
            "rollout": budgets,
        }
    if name in EPISODE_PRESETS:
        return {"preset": name, "episode": dataclasses.asdict(episode_preset(name))}
    raise ValueError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")


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
