"""The deployed stack's names, read from its Terraform outputs.

``modules/worker_stack.py`` declares the outputs (``region``,
``metric_namespace``, ``metric_name``, ``backlog_per_instance_metric_name``,
``function_name``, ``schedule_rule_name``, ``log_group_name`` and ``fleets``:
``{WorkerType: {asg_name, queue_urls, scaling_policy}}``). ``fleetctl verify``
and the demo read them here, so no deployed name is ever typed twice.

Sources, in order of use:

* ``--outputs FILE``: JSON in any of three shapes: ``terraform output -json``
  (``{"name": {"value": ...}}``), ``cdktf deploy --outputs-file``
  (``{"workers-<env>": {"name": ...}}``) or a flat ``{"name": ...}``;
* ``terraform -chdir=cdktf.out/stacks/workers-<env> output -json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker_metrics.contract import WorkerType

TERRAFORM_TIMEOUT_SECONDS = 120
"""``terraform output`` reads state (possibly from S3); give it time, not forever."""


class StackOutputsError(RuntimeError):
    """The outputs could not be read or lack a name; the message says which and why."""


@dataclass(frozen=True)
class FleetOutputs:
    """One fleet's deployed names. ``scaling_policy`` is ``""`` for a Lambda-driven fleet."""

    asg_name: str
    queue_urls: tuple[str, ...]
    scaling_policy: str


@dataclass(frozen=True)
class StackOutputs:
    """Every output of one ``workers-<env>`` stack."""

    region: str
    metric_namespace: str
    metric_name: str
    backlog_per_instance_metric_name: str
    function_name: str
    schedule_rule_name: str
    log_group_name: str
    fleets: Mapping[WorkerType, FleetOutputs]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], stack: str = "") -> StackOutputs:
        """Parse any of the three shapes (see the module docstring).

        Raises ``StackOutputsError`` naming the first missing or malformed output.
        """
        values = _flatten(raw, stack)
        missing = [name for name in _REQUIRED if name not in values]
        if missing:
            raise StackOutputsError(
                f"stack outputs lack {', '.join(missing)} "
                f"(have: {', '.join(sorted(values)) or 'none'})"
            )
        fleets_raw = values["fleets"]
        if not isinstance(fleets_raw, Mapping):
            raise StackOutputsError(
                f"output fleets = {fleets_raw!r}: expected an object per WorkerType"
            )
        fleets: dict[WorkerType, FleetOutputs] = {}
        for key, fleet in fleets_raw.items():
            try:
                worker_type = WorkerType.parse(str(key))
            except ValueError as error:
                raise StackOutputsError(f"output fleets: {error}") from None
            if not isinstance(fleet, Mapping) or not fleet.get("asg_name"):
                raise StackOutputsError(f"output fleets.{key}.asg_name is missing")
            urls = fleet.get("queue_urls") or []
            fleets[worker_type] = FleetOutputs(
                asg_name=str(fleet["asg_name"]),
                queue_urls=tuple(str(u) for u in urls),
                scaling_policy=str(fleet.get("scaling_policy") or ""),
            )
        absent = [t.value for t in WorkerType if t not in fleets]
        if absent:
            raise StackOutputsError(f"output fleets has no entry for {', '.join(absent)}")
        return cls(
            region=str(values["region"]),
            metric_namespace=str(values["metric_namespace"]),
            metric_name=str(values["metric_name"]),
            backlog_per_instance_metric_name=str(values["backlog_per_instance_metric_name"]),
            function_name=str(values["function_name"]),
            schedule_rule_name=str(values["schedule_rule_name"]),
            log_group_name=str(values["log_group_name"]),
            fleets=fleets,
        )


_REQUIRED = (
    "region",
    "metric_namespace",
    "metric_name",
    "backlog_per_instance_metric_name",
    "function_name",
    "schedule_rule_name",
    "log_group_name",
    "fleets",
)


def _flatten(raw: Mapping[str, Any], stack: str) -> dict[str, Any]:
    """``{"name": value}`` from any of the three shapes."""
    if stack and isinstance(raw.get(stack), Mapping) and "fleets" not in raw:
        raw = raw[stack]  # cdktf --outputs-file: one object per stack
    flat: dict[str, Any] = {}
    for name, entry in raw.items():
        # terraform output -json wraps each value: {"sensitive": ..., "type": ..., "value": ...}
        if (
            isinstance(entry, Mapping)
            and "value" in entry
            and set(entry) <= {"sensitive", "type", "value"}
        ):
            flat[name] = entry["value"]
        else:
            flat[name] = entry
    return flat


def read_outputs_file(path: Path, stack: str = "") -> StackOutputs:
    """Outputs from a JSON file. Raises ``StackOutputsError`` if unreadable."""
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise StackOutputsError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise StackOutputsError(f"{path}: not JSON: {error}") from None
    if not isinstance(raw, Mapping):
        raise StackOutputsError(f"{path}: expected a JSON object")
    return StackOutputs.from_mapping(raw, stack)


def stack_dir(synth_dir: Path, stack: str) -> Path:
    """``<synth_dir>/stacks/<stack>``: where cdktf wrote the stack and Terraform keeps its state."""
    return synth_dir / "stacks" / stack


def read_terraform_outputs(directory: Path, stack: str = "") -> StackOutputs:
    """``terraform -chdir=<directory> output -json``, parsed.

    Raises ``StackOutputsError`` when the directory or ``terraform`` is missing,
    the command fails (its last stderr line is included) or the stack has no
    outputs yet (not deployed).
    """
    if not directory.is_dir():
        raise StackOutputsError(
            f"{directory}: no synthesized stack here; run `make synth` and `make deploy` first"
        )
    terraform = shutil.which("terraform")
    if terraform is None:
        raise StackOutputsError("terraform is not on PATH; pass --outputs FILE instead")
    try:
        result = subprocess.run(
            [terraform, f"-chdir={directory}", "output", "-json", "-no-color"],
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackOutputsError(
            f"terraform output in {directory} took over {TERRAFORM_TIMEOUT_SECONDS} s"
        ) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise StackOutputsError(f"terraform output in {directory} failed: {reason}")
    try:
        raw = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as error:
        raise StackOutputsError(f"terraform output in {directory}: not JSON: {error}") from None
    if not raw:
        raise StackOutputsError(
            f"{directory}: the stack has no outputs; is it deployed (`make deploy ENV=...`)?"
        )
    return StackOutputs.from_mapping(raw, stack)
