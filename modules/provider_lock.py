"""The committed provider lock file, copied into every synthesized stack.

``.terraform.lock.hcl`` at the repository root records the one provider the
stacks use (``hashicorp/aws``, pinned exactly by the bindings) and its checksums:
``zh:`` hashes of HashiCorp's release zips for every platform, and the ``h1:``
hash of the linux_amd64 package. ``main.py`` copies it next to each
``cdk.tf.json`` (or ``cdk.tf``) after synth, so that:

* ``terraform init`` verifies the provider against those checksums, from the
  registry or from a filesystem mirror alike, and fails on a mismatch;
* ``cdktf deploy`` and ``cdktf diff`` find a lock that matches the stack and do
  not run ``terraform providers lock`` (which needs the registry, NOTES §8), so
  they work offline without ``--skip-provider-lock``.

A stack that requires a provider or version the lock does not record stops the
synth with ``ProviderLockError`` naming both, instead of Terraform quietly
re-locking. README, "Provider lock file", says how to add a platform.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

LOCK_FILE_NAME = ".terraform.lock.hcl"
PROJECT_LOCK = Path(__file__).resolve().parents[1] / LOCK_FILE_NAME
"""The committed lock: ``<repo>/.terraform.lock.hcl``."""

DEFAULT_REGISTRY = "registry.terraform.io"
DEFAULT_NAMESPACE = "hashicorp"

_PROVIDER_BLOCK = re.compile(r'^provider\s+"([^"]+)"\s*\{(.*?)^\}', re.MULTILINE | re.DOTALL)
_VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"', re.MULTILINE)
_HCL_REQUIRED_START = re.compile(r"\brequired_providers\s*\{")
_HCL_PROVIDER_ENTRY = re.compile(r"[\w-]+\s*=\s*\{([^{}]*)\}")
_HCL_SOURCE = re.compile(r'\bsource\s*=\s*"([^"]+)"')


class ProviderLockError(ValueError):
    """The lock file is missing, unreadable, or does not cover a stack's providers."""


def full_source(source: str) -> str:
    """``aws`` or ``hashicorp/aws`` -> ``registry.terraform.io/hashicorp/aws``."""
    parts = source.strip().lower().split("/")
    if len(parts) == 1:
        parts = [DEFAULT_REGISTRY, DEFAULT_NAMESPACE, *parts]
    elif len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    if len(parts) != 3 or not all(parts):
        raise ProviderLockError(f"provider source {source!r} is not [host/]namespace/type")
    return "/".join(parts)


def locked_versions(lock_text: str) -> dict[str, str]:
    """``{full source: version}`` of every ``provider`` block of a lock file."""
    versions = {}
    for source, body in _PROVIDER_BLOCK.findall(lock_text):
        match = _VERSION.search(body)
        if match:
            versions[full_source(source)] = match.group(1)
    return versions


def required_providers(stack_dir: Path) -> dict[str, str]:
    """``{full source: version}`` of a synthesized stack (``cdk.tf.json`` or ``cdk.tf``)."""
    json_file, hcl_file = stack_dir / "cdk.tf.json", stack_dir / "cdk.tf"
    if json_file.is_file():
        document = json.loads(json_file.read_text())
        required = (document.get("terraform") or {}).get("required_providers") or {}
        return {full_source(p["source"]): str(p.get("version", "")) for p in required.values()}
    if hcl_file.is_file():
        return _hcl_required_providers(hcl_file.read_text())
    raise ProviderLockError(f"{stack_dir}: neither cdk.tf.json nor cdk.tf was synthesized")


def _hcl_required_providers(text: str) -> dict[str, str]:
    """``required_providers`` of ``cdk.tf`` (``cdktf synth --hcl``): ``name = { ... }`` entries
    with ``source`` and ``version`` in either order."""
    start = _HCL_REQUIRED_START.search(text)
    body, depth = "", 1
    if start:
        for index in range(start.end(), len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                body = text[start.end() : index]
                break
    found = {}
    for entry in _HCL_PROVIDER_ENTRY.findall(body):
        source, version = _HCL_SOURCE.search(entry), _VERSION.search(entry)
        if source:
            found[full_source(source.group(1))] = version.group(1) if version else ""
    return found


def check_covers(stack_dir: Path, locked: dict[str, str], lock: Path) -> None:
    """Raise ``ProviderLockError`` unless ``locked`` records each provider of the stack
    at exactly the version the stack requires."""
    for source, version in sorted(required_providers(stack_dir).items()):
        have = locked.get(source)
        if have is None:
            raise ProviderLockError(
                f"{lock.name} has no entry for {source} (required by {stack_dir.name}): "
                f"add it with `make providers-lock`"
            )
        if have != version:
            raise ProviderLockError(
                f"{lock.name} locks {source} {have}, but {stack_dir.name} requires {version}: "
                f"re-lock with `make providers-lock` and commit the file"
            )


def install(outdir: Path, lock: Path = PROJECT_LOCK) -> list[Path]:
    """Copy ``lock`` into every stack folder under ``outdir/stacks``; return the copies.

    Raises ``ProviderLockError`` when ``lock`` is missing or does not cover a
    stack (checked for every stack before anything is copied).
    """
    if not lock.is_file():
        raise ProviderLockError(f"{lock} is missing: restore it from git (README, lock file)")
    locked = locked_versions(lock.read_text())
    stacks = sorted(p for p in (outdir / "stacks").glob("*") if p.is_dir())
    for stack_dir in stacks:
        check_covers(stack_dir, locked, lock)
    copies = []
    for stack_dir in stacks:
        shutil.copyfile(lock, stack_dir / LOCK_FILE_NAME)
        copies.append(stack_dir / LOCK_FILE_NAME)
    return copies
