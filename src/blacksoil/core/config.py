"""Config loading shared by every plane: one file (TOML or YAML) plus environment overrides.

A plane defines its settings as a :class:`StrictModel`; unknown keys are rejected, and every
validation failure is reported as a :class:`ConfigError` naming the dotted key and where it came
from (the file or the environment variable), so a typo never silently falls back to a default.

Environment overrides use ``<PREFIX>__SECTION__KEY=value`` (``BLACKSOIL__SERVER__PORT=9000``);
the value is read as JSON when it parses (numbers, booleans, lists) and as a string otherwise.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from blacksoil.core.errors import ConfigError

ENV_PREFIX = "BLACKSOIL__"

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every settings model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file into a dict."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {path}: use a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of settings at the top level")
    return data


def env_overrides(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """Turn ``PREFIX__A__B=v`` variables into ``{"a": {"b": v}}``."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(prefix):
            continue
        parts = [p.lower() for p in name[len(prefix) :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty key segment (use {prefix}SECTION__KEY)")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
            node = child
        node[parts[-1]] = _parse_env_value(raw)
    return tree


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``; tables merge, other values replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate(model: type[M], data: Mapping[str, Any], source: str) -> M:
    """Validate ``data`` against ``model``; raise a ConfigError that names every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration from {source}:\n" + describe_errors(exc)) from exc


def describe_errors(exc: ValidationError) -> str:
    """One line per problem: ``  - tokens.models.0.name: unknown key``."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against the documented settings)"
        else:
            msg = err["msg"]
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def load(
    model: type[M],
    path: Path | None,
    environ: Mapping[str, str],
    defaults: Mapping[str, Any] | None = None,
) -> M:
    """Build ``model`` from defaults, then the file at ``path`` (if any), then the environment."""
    data: dict[str, Any] = dict(defaults or {})
    sources = ["defaults"]
    if path is not None:
        data = merge(data, read_config_file(path))
        sources.append(str(path))
    overrides = env_overrides(environ)
    if overrides:
        data = merge(data, overrides)
        sources.append(f"{ENV_PREFIX}* environment variables")
    return validate(model, data, " + ".join(sources))


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
