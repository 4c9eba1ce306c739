"""Reading ``config/<env>.toml`` into the settings dataclasses.

``build`` turns one TOML table into one dataclass, generically: unknown keys,
values of the wrong type and nested tables (a field typed as a settings
dataclass, an optional one, or a tuple of them) are handled from the field
types, so a new nested table is just a new field. Every error is re-raised
with the dotted path of the setting; ``load_environment`` adds the file name.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from modules.settings.checks import check_field_types, fail
from modules.settings.environment import EnvironmentSettings
from modules.settings.fleet import FleetSettings
from modules.settings.overrides import Override, OverrideError, apply_overrides
from worker_metrics.contract import WorkerType

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
"""Where ``config/<env>.toml`` files live."""

MOVED: Mapping[str, str] = {
    "publisher.video_jobs_per_instance": "fleets.video.jobs_per_instance",
}
"""Settings that moved, old dotted path -> new one (the error says where to)."""


class SettingsError(ValueError):
    """A setting is invalid; the message names the file, the setting and the value."""


def _nested(hint: Any) -> tuple[type | None, bool]:
    """(settings dataclass, is a tuple of them) for a field type, else (None, False)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        return _nested(arms[0]) if len(arms) == 1 else (None, False)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return (item, True) if hasattr(item, "__dataclass_fields__") else (None, False)
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        return hint, False
    return None, False


def build(cls: type, raw: object, path: str, **extra: Any) -> Any:
    """Build dataclass ``cls`` from a TOML table at dotted ``path`` (``"fleets.ai."``).

    ``extra`` supplies fields that do not come from the table. Raises
    ``ValueError`` naming the setting's full path and value.
    """
    if not isinstance(raw, Mapping):
        fail(path.rstrip(".") or "document", raw, "must be a table")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        moved = MOVED.get(f"{path}{unknown[0]}")
        if moved:
            raise ValueError(f"{path}{unknown[0]}: this setting moved to {moved}")
        known = ", ".join(sorted(names - set(extra)))
        raise ValueError(f"{path}{unknown[0]}: unknown setting (known: {known})")
    hints = typing.get_type_hints(cls)
    try:
        check_field_types(cls, raw)
    except ValueError as err:
        raise ValueError(f"{path}{err}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        nested, many = _nested(hints[key])
        if nested is not None and many:
            values[key] = tuple(
                build(nested, item, f"{path}{key}[{i}].") for i, item in enumerate(value)
            )
        elif nested is not None:
            values[key] = build(nested, value, f"{path}{key}.")
        else:
            values[key] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values, **extra)
    except TypeError as err:  # a required setting is missing
        missing = re.findall(r"'(\w+)'", str(err))
        raise ValueError(
            f"{path}{missing[0] if missing else ''}: required setting is missing"
        ) from None
    except ValueError as err:
        raise ValueError(f"{path}{err}") from None


def parse_environment(name: str, raw: Mapping[str, Any]) -> EnvironmentSettings:
    """Build ``EnvironmentSettings`` from a parsed TOML document (no file I/O)."""
    raw = dict(raw)
    fleets_raw = raw.pop("fleets", {})
    if not isinstance(fleets_raw, Mapping):
        fail(
            "fleets", fleets_raw, "must be a table with one table per worker type, like [fleets.ai]"
        )
    fleets = []
    for key, fleet_raw in fleets_raw.items():
        try:
            worker_type = WorkerType.parse(key)
        except ValueError as err:
            raise ValueError(f"fleets.{key}: {err}") from None
        fleets.append(build(FleetSettings, fleet_raw, f"fleets.{key}.", worker_type=worker_type))
    tags = raw.pop("tags", {})
    if not isinstance(tags, Mapping):
        fail("tags", tags, "must be a table of tag keys and values")
    return build(
        EnvironmentSettings,
        raw,
        "",
        name=name,
        fleets=tuple(fleets),
        tags={str(k): str(v) for k, v in tags.items()},
    )


def load_environment(
    name: str, config_dir: Path = CONFIG_DIR, overrides: Sequence[Override] = ()
) -> EnvironmentSettings:
    """Load ``<config_dir>/<name>.toml``, with ``overrides`` (``--set``) applied to
    the parsed document before validation.

    Raises ``SettingsError`` naming the file, the setting and the value.
    """
    path = config_dir / f"{name}.toml"
    shown = path.relative_to(config_dir.parent) if path.is_relative_to(config_dir.parent) else path
    if not path.is_file():
        known = ", ".join(available_environments(config_dir)) or "none"
        raise SettingsError(f"{shown}: no such environment {name!r} (known: {known})")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{shown}: not valid TOML: {err}") from None
    where = str(shown)
    if overrides:
        try:
            raw = apply_overrides(raw, overrides)
        except OverrideError as err:
            raise SettingsError(f"{where}: {err}") from None
        where += " with --set"
    try:
        return parse_environment(name, raw)
    except ValueError as err:
        raise SettingsError(f"{where}: {err}") from None


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the environments that have a settings file, sorted."""
    return sorted(p.stem for p in config_dir.glob("*.toml"))
