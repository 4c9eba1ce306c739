"""A small wrapper around the ``terraform`` binary for one synthesized stack.

The demo and the e2e tests run init, apply, plan, output and destroy on the
stacks ``cdktf synth`` wrote, in a working copy (``copy_stack``) so that a
concurrent ``make synth`` (which deletes ``cdktf.out``) or ``make validate``
(which re-inits every stack without a backend) cannot pull the directory out
from under a run.

Every command runs non-interactively (``-input=false``, ``TF_IN_AUTOMATION``),
without colour, with a timeout, and with the toolchain environment the Makefile
exports (``TF_CLI_CONFIG_FILE`` with the offline provider mirror, the plugin
cache, ``CHECKPOINT_DISABLE``). A failure raises ``TerraformError`` with the
command and the last lines of its output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.provider_lock import LOCK_FILE_NAME

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CACHE = PROJECT_ROOT / ".cache"

DEFAULT_TIMEOUT_SECONDS = 300.0
"""Bound on one command. Apply of the local stack takes about 35-80 s on moto."""

TOOLCHAIN_ENV: Mapping[str, str] = {
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
    "TF_PLUGIN_CACHE_DIR": str(CACHE / "terraform-plugins"),
    "TF_CLI_CONFIG_FILE": str(CACHE / "terraformrc"),
}
"""The Makefile's Terraform settings (NOTES §1), for callers not started by make."""

PLAN_NO_CHANGES, PLAN_ERROR, PLAN_CHANGES = 0, 1, 2
"""``terraform plan -detailed-exitcode``: 0 no changes, 1 error, 2 changes present."""


class TerraformError(RuntimeError):
    """A terraform command failed or timed out; the message names it and quotes its output."""


@dataclass(frozen=True)
class Run:
    """One finished command: its exit code, output and wall time (seconds)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` non-blank lines of ``text`` (a tool's output, for a message)."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def copy_stack(synthesized_stack: Path, workdir: Path) -> Path:
    """Copy a synthesized stack (``cdk.tf.json``, ``.terraform.lock.hcl``, ``assets/``)
    into ``workdir``.

    An existing ``workdir`` is replaced, except its ``.terraform`` folder (the
    installed providers; the backend is re-configured by ``init``). Returns
    ``workdir``. Raises ``TerraformError`` if the stack was never synthesized.
    """
    if not (synthesized_stack / "cdk.tf.json").is_file():
        raise TerraformError(f"{synthesized_stack}/cdk.tf.json is missing: run `make synth` first")
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():
        if entry.name == ".terraform":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copy2(synthesized_stack / "cdk.tf.json", workdir / "cdk.tf.json")
    # The provider lock synth put there: init verifies the provider's checksums.
    lock = synthesized_stack / LOCK_FILE_NAME
    if lock.is_file():
        shutil.copy2(lock, workdir / LOCK_FILE_NAME)
    assets = synthesized_stack / "assets"
    if assets.is_dir():
        shutil.copytree(assets, workdir / "assets")
    return workdir


@dataclass
class Terraform:
    """``terraform -chdir=<workdir>`` with ``env`` added to the process environment.

    ``env``: extra variables, e.g. ``LocalAws.env()`` (endpoint, dummy
    credentials, region). ``timeout``: seconds per command, default 300.
    ``history``: every command run, for timings.
    """

    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    history: list[Run] = field(default_factory=list)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The synthesized ``resource`` block: ``{type: {name: config}}``."""
        document = json.loads((self.workdir / "cdk.tf.json").read_text())
        resources = document.get("resource", {})
        return resources if isinstance(resources, dict) else {}

    def run(self, *args: str, check: bool = True) -> Run:
        """Run ``terraform <args>``; raise ``TerraformError`` on a timeout, or on a
        non-zero exit when ``check``."""
        command = ["terraform", f"-chdir={self.workdir}", *args]
        environment = {**os.environ, **TOOLCHAIN_ENV, **self.env}
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                env=environment,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout or ""
            text = output.decode(errors="replace") if isinstance(output, bytes) else output
            raise TerraformError(
                f"`terraform {' '.join(args)}` in {self.workdir} took over {self.timeout:.0f} s:\n"
                f"{tail(text)}"
            ) from None
        except FileNotFoundError:
            raise TerraformError("terraform is not on PATH (run `make setup`)") from None
        result = Run(
            tuple(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )
        self.history.append(result)
        if check and done.returncode != 0:
            raise TerraformError(
                f"`terraform {' '.join(args)}` in {self.workdir} failed "
                f"(exit {done.returncode}):\n{tail(done.stderr or done.stdout)}"
            )
        return result

    def init(self, *, backend_config: Mapping[str, str] | None = None) -> Run:
        """``init -reconfigure``: providers from the mirror, backend as configured.

        ``-reconfigure`` because the backend's endpoint (a fresh local AWS on a new
        port) is not part of the configuration Terraform compares.
        """
        extra = [f"-backend-config={key}={value}" for key, value in (backend_config or {}).items()]
        return self.run("init", "-reconfigure", "-input=false", "-no-color", *extra)

    def apply(self, *, targets: Iterable[str] = ()) -> Run:
        """``apply -auto-approve``, limited to ``targets`` (resource addresses) if given."""
        extra = [f"-target={address}" for address in targets]
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", *extra)

    def plan_exit_code(self) -> tuple[int, Run]:
        """``plan -detailed-exitcode``: (``PLAN_NO_CHANGES`` or ``PLAN_CHANGES``, the run).

        Raises ``TerraformError`` when the plan itself fails (exit 1).
        """
        result = self.run("plan", "-detailed-exitcode", "-input=false", "-no-color", check=False)
        if result.returncode not in (PLAN_NO_CHANGES, PLAN_CHANGES):
            raise TerraformError(
                f"`terraform plan` in {self.workdir} failed (exit {result.returncode}):\n"
                f"{tail(result.stderr or result.stdout)}"
            )
        return result.returncode, result

    def destroy(self, *, refresh: bool = True) -> Run:
        """``destroy -auto-approve``; ``refresh=False`` skips reading every resource first."""
        extra = [] if refresh else ["-refresh=false"]
        return self.run("destroy", "-auto-approve", "-input=false", "-no-color", *extra)

    def outputs(self) -> dict[str, Any]:
        """``output -json``, as parsed JSON (``{name: {"value": ...}}``)."""
        result = self.run("output", "-json", "-no-color")
        try:
            parsed = json.loads(result.stdout or "{}")
        except json.JSONDecodeError as error:
            raise TerraformError(f"`terraform output -json` in {self.workdir}: {error}") from None
        return parsed if isinstance(parsed, dict) else {}

    def state_addresses(self) -> list[str]:
        """``state list``: the addresses of every resource in the state."""
        result = self.run("state", "list", "-no-color")
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]
