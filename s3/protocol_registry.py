"""Every searcher protocol by name: s3's own (:mod:`s3.protocol`), Search-R1's (:mod:`s3.protocol_r1`)
and any registered in :data:`s3.protocol.PROTOCOLS`, with the lookups configs use.

It sits above both protocol modules, so the protocol interface never imports a protocol built on it.

Example::

    protocol = get_protocol("search-r1", instructions="Answer {question} using <search> ...")
    protocol_from_config("s3", {"boolean_queries": True})
"""

from __future__ import annotations

import inspect
from typing import Any

import s3.protocol_r1  # noqa: F401  (registers the Search-R1 protocol and its aliases)
from s3.config import ConfigError
from s3.protocol import PROTOCOLS, Protocol


def protocol_option_names(name: str) -> list[str]:
    """The keyword options a registered protocol takes (its constructor's arguments)."""
    params = inspect.signature(get_protocol_class(name).__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]


def get_protocol_class(name: str) -> type[Protocol]:
    """The protocol class registered as ``name``."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def get_protocol(name: str, **kwargs: Any) -> Protocol:
    """Instantiate a protocol by name (``"s3"``, or one registered in :data:`PROTOCOLS`) with its options
    (e.g. ``instructions=`` and ``system_prompt=`` of the Search-R1 protocol); an option the protocol
    does not take is refused with the list of those it does."""
    known = protocol_option_names(name)
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ValueError(
            f"protocol {name!r} has no option(s) {unknown}; its options: {', '.join(known) or 'none'}"
        )
    return get_protocol_class(name)(**kwargs)


def protocol_from_config(
    name: str, options: dict[str, Any] | None, where: str = "protocol_options"
) -> Protocol:
    """:func:`get_protocol` for a config: a bad option (unknown, or refused by the protocol) raises a
    :class:`~s3.config.ConfigError` naming the config field ``where``."""
    try:
        get_protocol_class(name)
    except ValueError as exc:
        raise ConfigError(f"protocol: {exc}") from None
    options = dict(options or {})
    try:
        return get_protocol(name, **options)
    except (TypeError, ValueError) as exc:
        hint = ""
        if any(isinstance(v, (dict, list)) for v in options.values()):
            hint = " (a key=value override reads its value as YAML: quote text that contains ': ' or braces)"
        raise ConfigError(f"{where}: {exc}{hint}") from None
