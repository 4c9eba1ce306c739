"""Plain Terraform HCL of one environment's stacks, for a team that leaves cdktf.

    python scripts/export_hcl.py --env prod [--synth-dir .cache/hcl-synth] [--out out/hcl]

1. ``cdktf synth --hcl`` of the environment (``WORKER_ENVS=<env>``) into
   ``--synth-dir``, emptied first: a ``cdk.tf.json`` left there by an earlier synth
   would sit beside the new ``cdk.tf`` and Terraform would load both ("Duplicate"
   errors, NOTES §1).
2. For each stack of the environment (``workers-<env>``, ``tfstate-<env>``):
   ``<out>/<stack>/main.tf`` with
   * the same resource addresses, attributes and backend as the cdktf stack, so
     ``terraform plan`` against the state ``cdktf deploy`` wrote shows no changes;
   * references written as references: ``depends_on``/``ignore_changes`` entries
     unquoted (Terraform warns on quoted ones) and ``"${aws_x.y.id}"`` written
     ``aws_x.y.id``;
   * each checkov suppression of the stack (``modules.checkov.suppress``, kept in
     the Terraform JSON's ``"//"`` blocks, which HCL has no place for) as
     checkov's own inline comment, ``#checkov:skip=<id>:<reason>``;
   * each string whose text holds a quote or a backslash outside its interpolations (the
     dashboard's JSON body) quoted again from the Terraform JSON: cdktf 0.21's HCL
     output writes such a string without escaping it, which is not valid HCL;
   and, beside it, ``assets/`` (the Lambda zip, at the path the state records as
   the function's ``filename``) and the provider lock file ``.terraform.lock.hcl``.

Exit 0 on success, 1 when cdktf or terraform fails (the message quotes it), 2 on
bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fleetctl.terraform import tail
from modules.provider_lock import LOCK_FILE_NAME
from modules.settings import CONFIG_DIR, SettingsError, load_environment

ROOT = Path(__file__).resolve().parent.parent
SYNTH_TIMEOUT_SECONDS = 600

MAIN_FILE = "main.tf"
LOCK_FILE = LOCK_FILE_NAME

_REFERENCE = r"[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])+"
_INTERPOLATION_ONLY = re.compile(rf'"\$\{{({_REFERENCE})\}}"')
_QUOTED_LIST_ITEM = re.compile(rf'^(\s*)"({_REFERENCE}|[A-Za-z_][\w-]*)",$')
_LIST_START = re.compile(r"^\s*(depends_on|ignore_changes)\s*=\s*\[\s*$")
_BLOCK_START = re.compile(r'^(resource|data)\s+"([^"]+)"\s+"([^"]+)"\s*\{\s*$')
_ATTRIBUTE = re.compile(r"^  ([A-Za-z_][\w-]*)\s*=")
_HCL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

BlockKey = tuple[str, str]
"""``("resource" | "data", "type.name")``."""


class ExportError(RuntimeError):
    """A step failed; the message names it and quotes the tool's output."""


def synth_hcl(env: str, synth_dir: Path, cdktf: str = "cdktf") -> None:
    """``cdktf synth --hcl`` of ``env`` into an emptied ``synth_dir``."""
    shutil.rmtree(synth_dir, ignore_errors=True)
    synth_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [cdktf, "synth", "--hcl", "--output", str(synth_dir)],
            cwd=ROOT,
            env={**os.environ, "WORKER_ENVS": env, "CI": "1", "FORCE_COLOR": "0"},
            capture_output=True,
            text=True,
            timeout=SYNTH_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise ExportError(f"{cdktf}: not found (run `make setup`)") from None
    if done.returncode != 0:
        raise ExportError(
            f"`cdktf synth --hcl` failed (exit {done.returncode}):\n"
            f"{tail(done.stderr or done.stdout, 20)}"
        )


def _template_end(template: str, start: int) -> int:
    """Index just past the ``}`` closing the ``${`` or ``%{`` at ``start``."""
    depth, index = 0, start + 1
    while index < len(template):
        depth += {"{": 1, "}": -1}.get(template[index], 0)
        index += 1
        if depth == 0:
            return index
    raise ExportError(f"unbalanced interpolation in a string: {template[start : start + 60]!r}")


def _template_parts(template: str) -> Iterator[tuple[bool, str]]:
    """``template`` (a Terraform string template) in order, as ``(True, "${...}")``
    for each ``${...}``/``%{...}`` sequence and ``(False, text)`` for the literal text
    between them (an escaped ``$${``/``%%{`` is literal)."""
    index = 0
    while index < len(template):
        if template.startswith(("$${", "%%{"), index):
            yield False, template[index : index + 3]
            index += 3
        elif template.startswith(("${", "%{"), index):
            end = _template_end(template, index)
            yield True, template[index:end]
            index = end
        else:
            yield False, template[index]
            index += 1


def literal_text(template: str) -> str:
    """A Terraform string template without its ``${...}``/``%{...}`` sequences."""
    return "".join(text for sequence, text in _template_parts(template) if not sequence)


def hcl_string(template: str) -> str:
    """``template`` (a Terraform JSON string: a template) as an HCL quoted template with
    the same value: quotes, backslashes and control characters escaped outside the
    interpolations, which are copied as they are."""
    parts = (
        text if sequence else "".join(_HCL_ESCAPES.get(c, c) for c in text)
        for sequence, text in _template_parts(template)
    )
    return '"' + "".join(parts) + '"'


def strings_to_requote(stack_json: Mapping[str, Any]) -> dict[BlockKey, dict[str, str]]:
    """Top-level string attributes whose literal text needs escaping in HCL (see above)."""
    found: dict[BlockKey, dict[str, str]] = {}
    for kind in ("resource", "data"):
        for resource_type, blocks in (stack_json.get(kind) or {}).items():
            for name, block in blocks.items():
                for attribute, value in (block or {}).items():
                    if isinstance(value, str) and set(literal_text(value)) & set(_HCL_ESCAPES):
                        found.setdefault((kind, f"{resource_type}.{name}"), {})[attribute] = value
    return found


def checkov_skips(stack_json: Mapping[str, Any]) -> dict[BlockKey, list[tuple[str, str]]]:
    """``{(block kind, "type.name"): [(check id, reason)]}`` from the ``"//"`` blocks."""
    skips: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind in ("resource", "data"):
        for resource_type, blocks in (stack_json.get(kind) or {}).items():
            for name, block in blocks.items():
                checkov = ((block or {}).get("//") or {}).get("checkov") or {}
                found = [
                    (str(skip["id"]), " ".join(str(skip.get("comment", "")).split()))
                    for skip in checkov.get("skip", [])
                ]
                if found:
                    skips[(kind, f"{resource_type}.{name}")] = found
    return skips


def rewrite(
    hcl: str,
    skips: Mapping[BlockKey, list[tuple[str, str]]],
    strings: Mapping[BlockKey, Mapping[str, str]] | None = None,
) -> str:
    """``cdk.tf`` as a person would write it (see the module docstring); the configuration
    Terraform reads is the same. ``strings``: ``strings_to_requote`` of the stack's JSON.
    Raises ``ExportError`` if a block or attribute to change is not in the HCL."""
    strings = strings or {}
    lines, in_list, placed, requoted = [], False, set(), set()
    block_key: BlockKey | None = None
    for line in hcl.splitlines():
        attribute = _ATTRIBUTE.match(line)
        to_requote = strings.get(block_key, {}) if block_key else {}
        if attribute and attribute.group(1) in to_requote:
            name = attribute.group(1)
            lines.append(f"  {name} = {hcl_string(to_requote[name])}")
            requoted.add((block_key, name))
            continue
        if line == "}":
            block_key = None
        if in_list:
            if line.strip() == "]":
                in_list = False
            else:
                line = _QUOTED_LIST_ITEM.sub(r"\1\2,", line)
        elif _LIST_START.match(line):
            in_list = True
        line = _INTERPOLATION_ONLY.sub(r"\1", line)
        lines.append(line)
        block = _BLOCK_START.match(line)
        if block:
            block_key = (block.group(1), f"{block.group(2)}.{block.group(3)}")
            for check_id, reason in skips.get(block_key, []):
                lines.append(f"  #checkov:skip={check_id}:{reason}")
                placed.add(block_key)
    missing = sorted(address for _, address in set(skips) - placed)
    missing += sorted(
        f"{key[1]}.{name}"
        for key, names in strings.items()
        for name in names
        if (key, name) not in requoted
    )
    if missing:
        raise ExportError(f"not found in the HCL to rewrite: {', '.join(missing)}")
    return "\n".join(lines) + "\n"


def terraform_fmt(path: Path) -> None:
    done = subprocess.run(
        ["terraform", "fmt", "-no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ExportError(f"`terraform fmt {path}` failed:\n{tail(done.stderr or done.stdout, 20)}")


def export_stack(hcl_stack: Path, json_stack: Path, out: Path) -> Path:
    """Write ``out`` (emptied first) from one stack of the HCL synth; return ``out/main.tf``.

    ``json_stack``: the same stack synthesized as JSON (``cdktf.out``), for its
    checkov skips and the strings to quote again.
    """
    source = hcl_stack / "cdk.tf"
    if not source.is_file():
        raise ExportError(f"{source} is missing: the HCL synth wrote no such stack")
    if (hcl_stack / "cdk.tf.json").exists():
        raise ExportError(f"{hcl_stack} holds cdk.tf.json beside cdk.tf (stale synth output)")
    stack_json = json.loads((json_stack / "cdk.tf.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    main = out / MAIN_FILE
    main.write_text(
        rewrite(source.read_text(), checkov_skips(stack_json), strings_to_requote(stack_json))
    )
    terraform_fmt(main)
    if (hcl_stack / "assets").is_dir():
        shutil.copytree(hcl_stack / "assets", out / "assets")
    if (hcl_stack / LOCK_FILE).is_file():
        shutil.copyfile(hcl_stack / LOCK_FILE, out / LOCK_FILE)
    return main


def export_environment(
    env: str,
    synth_dir: Path,
    out_dir: Path,
    *,
    json_dir: Path,
    cdktf: str = "cdktf",
    config_dir: Path = CONFIG_DIR,
) -> list[Path]:
    """Synthesize ``env`` as HCL and export its stacks under ``out_dir``; return the main.tf files.

    ``json_dir``: the JSON synth (``cdktf.out``) of the same configuration.
    Raises ``SettingsError`` for an unknown environment, ``ExportError`` otherwise.
    """
    settings = load_environment(env, config_dir)
    stacks = [settings.stack_name]
    if settings.backend.kind == "s3":
        stacks.append(settings.bootstrap_stack_name)
    synth_hcl(env, synth_dir, cdktf)
    written = []
    for stack in stacks:
        json_stack = json_dir / "stacks" / stack
        if not (json_stack / "cdk.tf.json").is_file():
            raise ExportError(f"{json_stack}/cdk.tf.json is missing: run make synth")
        written.append(export_stack(synth_dir / "stacks" / stack, json_stack, out_dir / stack))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--env", required=True, help="an environment: config/<env>.toml")
    parser.add_argument("--synth-dir", type=Path, default=ROOT / ".cache" / "hcl-synth")
    parser.add_argument("--json-dir", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "hcl")
    args = parser.parse_args(argv)
    try:
        written = export_environment(args.env, args.synth_dir, args.out, json_dir=args.json_dir)
    except SettingsError as error:
        print(f"hcl: {error}", file=sys.stderr)
        return 2
    except (ExportError, subprocess.TimeoutExpired) as error:
        print(f"hcl: {error}", file=sys.stderr)
        return 1
    for main_file in written:
        print(f"hcl: wrote {main_file.parent} ({MAIN_FILE}, assets, {LOCK_FILE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
