"""Command-line overrides of settings (``--set fleets.ai.workload.boot_seconds=300``).

An override is applied to the parsed TOML document **before** validation, so a
bad value or an unknown setting gets the settings' own one-line error, naming
the setting. ``VALUE`` is read as a TOML value (``300``, ``0.5``, ``true``,
``"text"``, ``["a", "b"]``); anything that is not valid TOML is taken as a
string, so ``job_duration=fixed`` works unquoted. A path segment may index a
list of tables: ``fleets.video.queues[0].visibility_timeout_seconds=600``.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_-]*)(\[(?P<index>\d+)\])?$")


class OverrideError(ValueError):
    """A ``--set`` that cannot be applied; the message names it."""


@dataclass(frozen=True)
class Override:
    """One ``KEY=VALUE``: ``path`` the dotted setting, ``value`` as TOML parsed it."""

    path: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        """Parse ``KEY=VALUE``. Raises ``OverrideError`` for a malformed one."""
        path, sep, raw = text.partition("=")
        path = path.strip()
        if not sep or not path:
            raise OverrideError(
                f"--set {text!r}: expected SETTING=VALUE, like fleets.ai.min_size=2"
            )
        for segment in path.split("."):
            if not _SEGMENT.match(segment):
                raise OverrideError(f"--set {text!r}: {segment!r} is not a setting name")
        try:
            value = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        return cls(path, value)


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[Override]) -> dict[str, Any]:
    """A deep copy of the TOML document ``raw`` with each override set.

    Missing tables on the way are created (the settings then reject an unknown
    one by name). Raises ``OverrideError`` when the path crosses a value that is
    not a table, or indexes past the end of a list.
    """
    document: dict[str, Any] = copy.deepcopy(dict(raw))
    for override in overrides:
        _set(document, override)
    return document


def _set(document: dict[str, Any], override: Override) -> None:
    node: MutableMapping[str, Any] = document
    segments = override.path.split(".")
    walked: list[str] = []
    for position, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        assert match is not None  # checked by Override.parse
        key, index = match["key"], match["index"]
        walked.append(segment)
        last = position == len(segments) - 1
        if index is None:
            if last:
                node[key] = override.value
                return
            child = node.setdefault(key, {})
        else:
            items = node.get(key)
            if not isinstance(items, list) or int(index) >= len(items):
                count = len(items) if isinstance(items, list) else 0
                raise OverrideError(
                    f"--set {override.path}: {'.'.join(walked)} does not exist "
                    f"({key} has {count} entr{'y' if count == 1 else 'ies'})"
                )
            if last:
                items[int(index)] = override.value
                return
            child = items[int(index)]
        if not isinstance(child, MutableMapping):
            raise OverrideError(
                f"--set {override.path}: {'.'.join(walked)} = {child!r} is a value, not a table"
            )
        node = child
