"""Typed configuration: dataclasses with defaults, loaded from YAML and overridden from the command line.

Every configurable component pairs with a ``@dataclass`` config whose fields carry defaults and a
one-line ``help`` in their metadata. :func:`load_config` builds one from (in order of precedence)
command-line overrides ``a.b=value``, a YAML file, a named preset, and the defaults.

Example::

    cfg = load_config(TrainConfig, yaml_path="my.yaml", overrides=["episode.max_turns=4"])
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

# every config declares its fields with this one helper (generators cannot import s3)
from generators.factory import field as field

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names the field."""


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (from YAML or a command-line string) to the annotated type ``tp``.

    Raises:
        ConfigError: the value cannot be read as ``tp``, naming ``where``.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: cannot read {value!r} as {tp}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where=where)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = _parse_scalar(value)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if isinstance(value, str):
            value = _parse_scalar(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _parse_scalar(text: str) -> Any:
    """Read a command-line value with YAML rules (numbers, booleans, lists), else keep the string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def close_matches(name: str, known: Any) -> str:
    """``"; did you mean a, b?"`` for the names of ``known`` close to ``name``, else ``""``."""
    near = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.7)
    return f"; did you mean {', '.join(near)}?" if near else ""


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys raise a :class:`ConfigError` naming them.

    A class with an *open* section (``config_open_field = "name"``, a ``dict`` field) takes the keys it
    does not declare into that field instead; the class validates them itself (``__post_init__``).
    Entries given in the open field by name win over loose keys.
    """
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    open_name = getattr(cls, "config_open_field", None)
    if open_name and unknown:
        loose = {k: data[k] for k in unknown}
        data = {k: v for k, v in data.items() if k in names}
        data[open_name] = {**loose, **(data.get(open_name) or {})}
        unknown = []
    if unknown:
        hint = close_matches(unknown[0], names) if len(unknown) == 1 else ""
        raise ConfigError(
            f"{where or cls.__name__}: unknown field(s) {unknown}{hint}; known: {sorted(names)}"
        )
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = coerce(value, hints[key], f"{where + '.' if where else ''}{key}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a config dataclass (an open section's entries as its own keys)."""
    return _flatten_open(type(cfg), json.loads(json.dumps(dataclasses.asdict(cfg), default=str)))


def _flatten_open(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if _is_dataclass_type(hints[f.name]) and isinstance(data.get(f.name), dict):
            _flatten_open(hints[f.name], data[f.name])
    open_name = getattr(cls, "config_open_field", None)
    if open_name:
        data.update(data.pop(open_name, None) or {})
    return data


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    node[parts[-1]] = value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """``["a.b=3", "c=x"]`` -> ``{"a": {"b": 3}, "c": "x"}``."""
    data: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. episode.max_turns=4)")
        key, raw = item.split("=", 1)
        _set_path(data, key.strip(), _parse_scalar(raw))
    return data


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_config(
    cls: type[T],
    yaml_path: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    preset: dict[str, Any] | None = None,
) -> T:
    """Defaults < preset < YAML file < command-line overrides."""
    data: dict[str, Any] = {}
    if preset:
        data = merge(data, preset)
    if yaml_path:
        try:
            data = merge(data, read_yaml(yaml_path))
        except ConfigError:
            raise
    data = merge(data, parse_overrides(overrides))
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        src = f" (from {yaml_path})" if yaml_path else ""
        raise ConfigError(f"{exc}{src}") from None


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (kept beside results so a run can be reproduced)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def describe(cls: type, prefix: str = "", values: Any = None) -> list[str]:
    """One line per field: ``name = default  # help``, nested sections flattened with dots.

    An open section (see :func:`from_dict`) lists its entries through the class's
    ``describe_open(prefix, value)``.

    ``values``: an instance of ``cls`` (e.g. a preset loaded with its overrides) whose values are
    shown instead of the defaults.
    """
    lines = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.name == getattr(cls, "config_open_field", None) and hasattr(cls, "describe_open"):
            lines.extend(cls.describe_open(prefix, getattr(values, f.name) if values is not None else None))
            continue
        if _is_dataclass_type(tp):
            sub = getattr(values, f.name) if values is not None else None
            lines.extend(describe(tp, f"{prefix}{f.name}.", sub))
            continue
        if values is not None:
            default = getattr(values, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "<required>"
        help_text = f.metadata.get("help", "")
        lines.append(f"{prefix}{f.name} = {default!r}" + (f"  # {help_text}" if help_text else ""))
    return lines
