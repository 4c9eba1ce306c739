"""The synthesized stack reader: one ``cdk.tf.json`` with ``${...}`` reference resolution."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REF = re.compile(
    r"\$\{(?P<data>data\.)?(?P<type>[a-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)\.(?P<attr>[a-z_]+)\}"
)


_BARE_REF = re.compile(
    r"(?<![\w.])(?P<data>data\.)?(?P<type>aws_[a-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)\.(?P<attr>[a-z_]+)"
)


class ReportError(RuntimeError):
    """The report cannot be built (no synthesized stack, an unreadable file, ...)."""


@dataclass(frozen=True)
class SynthesizedStack:
    """One stack's ``cdk.tf.json`` with reference resolution."""

    path: Path
    document: Mapping[str, Any]

    @classmethod
    def load(cls, synth_dir: Path, stack: str) -> SynthesizedStack:
        """Read ``<synth_dir>/stacks/<stack>/cdk.tf.json``. Raises ``ReportError``."""
        path = synth_dir / "stacks" / stack / "cdk.tf.json"
        if not path.is_file():
            raise ReportError(f"{path}: not found; run `make synth` (or pass --synth-dir)")
        try:
            return cls(path, json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ReportError(f"{path}: cannot read: {error}") from None

    def blocks(self, resource_type: str, data: bool = False) -> dict[str, Mapping[str, Any]]:
        """``{address: block}`` of one resource (or data source) type."""
        section = self.document.get("data" if data else "resource", {})
        prefix = f"data.{resource_type}" if data else resource_type
        return {f"{prefix}.{name}": block for name, block in section.get(resource_type, {}).items()}

    def block(self, address: str) -> Mapping[str, Any] | None:
        """The block at ``[data.]type.name``, if any."""
        data = address.startswith("data.")
        resource_type, _, name = address.removeprefix("data.").partition(".")
        return self.blocks(resource_type, data).get(
            f"{'data.' if data else ''}{resource_type}.{name}"
        )

    @staticmethod
    def references(value: object) -> list[tuple[str, str]]:
        """``[(address, attribute)]`` of every ``${...}`` reference in ``value``."""
        return [
            (f"{m['data'] or ''}{m['type']}.{m['name']}", m["attr"])
            for m in _REF.finditer(value if isinstance(value, str) else json.dumps(value))
        ]

    @staticmethod
    def expression_references(value: object) -> list[str]:
        """Addresses of every resource named anywhere inside a ``${...}`` expression of
        ``value``, e.g. in ``${jsonencode({"deadLetterTargetArn" = aws_sqs_queue.dlq.arn})}``."""
        text = value if isinstance(value, str) else json.dumps(value)
        if "${" not in text:
            return []
        return [f"{m['data'] or ''}{m['type']}.{m['name']}" for m in _BARE_REF.finditer(text)]

    def refers_to(self, value: object, address: str) -> bool:
        """True if ``value`` references the resource at ``address``."""
        return any(ref == address for ref, _ in self.references(value))

    def readable(self, value: object) -> str:
        """``value`` with each reference replaced by what it will be: a literal
        attribute when the stack has one (an ASG's ``name``), else
        ``<attr of type "name">`` (a queue's URL is known only after apply)."""

        def one(match: re.Match[str]) -> str:
            address = f"{match['data'] or ''}{match['type']}.{match['name']}"
            block = self.block(address) or {}
            literal = block.get(match["attr"])
            if isinstance(literal, str | int | float) and "${" not in str(literal):
                return str(literal)
            name = block.get("name")
            label = f'"{name}"' if isinstance(name, str) and "${" not in name else match["name"]
            return f"<{match['attr']} of {match['type']} {label}>"

        return _REF.sub(one, str(value))

    def text(self, value: object) -> str:
        """``value`` as the report prints it: ``-`` when empty, ``true``/``false``,
        whole floats without ``.0``, references made ``readable``."""
        if value is None or value == "":
            return "-"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return self.readable(value)


def relative(path: Path) -> str:
    """``path`` relative to the working directory when it is under it, else absolute."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(resolved)
