"""Validation primitives shared by every settings dataclass.

Each raises ``ValueError("<field> = <value>: <why>")``; the loader prefixes the
file and the dotted path of the table, so the user reads one line such as
``config/prod.toml: fleets.ai.target_messages_per_instance = nan: must be a
finite number greater than 0``.

``check_field_types`` runs before any dataclass is built: a value of the wrong
TOML type (a fraction where a whole number is needed, NaN or infinity, a string
where a list of tables is needed) is named as such instead of surfacing later
as a comparison ``TypeError`` or a jsii traceback at synth.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from typing import Any, NoReturn


def fail(name: str, value: object, why: str) -> NoReturn:
    """Raise the one-line settings error for ``name = value``."""
    raise ValueError(f"{name} = {value!r}: {why}")


def positive(name: str, value: float) -> None:
    """``value`` is a finite number > 0 (NaN and infinity are rejected)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        fail(name, value, "must be a finite number greater than 0")


def whole(name: str, value: int, low: int, high: int | None = None) -> None:
    """``value`` is a whole number in ``[low, high]`` (``high`` None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(name, value, "must be a whole number")
    if value < low or (high is not None and value > high):
        fail(
            name,
            value,
            f"must be a whole number >= {low}" if high is None else f"must be {low}..{high}",
        )


def _describe(hint: Any) -> str:
    """What a TOML value for ``hint`` must look like, for the error message."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return "must be true or false"
    if hint is int:
        return "must be a whole number"
    if hint is float:
        return "must be a finite number"
    if hint is str:
        return "must be a string"
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint)
        if _is_dataclass(item):
            return 'must be a list of tables, like [{ name = "..." }]'
        return f"must be a list of {_plural(item)}"
    if origin in (dict, Mapping) or hint is Mapping:
        return "must be a table"
    if origin is typing.Literal:
        return "must be one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if _is_dataclass(hint):
        return "must be a table"
    return "has the wrong type"


def _plural(item: Any) -> str:
    return {str: "strings", int: "whole numbers", float: "numbers"}.get(item, "values")


def _is_dataclass(hint: Any) -> bool:
    return isinstance(hint, type) and hasattr(hint, "__dataclass_fields__")


def matches(hint: Any, value: Any) -> bool:
    """True if the TOML-parsed ``value`` fits the dataclass field type ``hint``.

    Lists arrive from TOML as ``list`` and are accepted for ``tuple[...]``
    fields. Floats must be finite; a whole-number field takes an ``int`` only
    (``2.5``, ``nan`` and ``true`` are rejected).
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(arm, value) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        item = typing.get_args(hint)[0]
        if _is_dataclass(item):
            return all(isinstance(v, Mapping | item) for v in value)
        return all(matches(item, v) for v in value)
    if origin in (dict, Mapping) or hint is Mapping:
        return isinstance(value, Mapping)
    if _is_dataclass(hint):
        return isinstance(value, Mapping | hint)
    return True


def check_field_types(cls: type, raw: Mapping[str, Any]) -> None:
    """Raise the settings error for the first value in ``raw`` whose type does not
    fit its field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for name, value in raw.items():
        hint = hints.get(name)
        if hint is None or matches(hint, value):
            continue
        origin = typing.get_origin(hint)
        arms = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
        described = _describe(next(a for a in arms if a is not type(None)))
        if isinstance(value, float) and not math.isfinite(value):
            described = "must be a finite number (not NaN or infinity)"
        fail(name, value, described)
