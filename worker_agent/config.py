"""The agent's settings, read from the environment (``/etc/academy/worker.env`` on an instance).

The launch template's user data writes that file from the stack's settings; each
variable below names the setting it comes from. A missing or invalid variable
raises ``ConfigError`` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worker_agent.contract import DEFAULT_RUN_DIR
from worker_agent.imds import DEFAULT_ENDPOINT

SELF_MANAGED = "self-managed"
"""``SCALE_IN_PROTECTION`` of a ``protect_from_scale_in`` fleet: the agent sets and clears it."""


class ConfigError(ValueError):
    """A variable of the agent's environment is missing or invalid (the message names it)."""


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs.

    ``asg_name`` (``ASG_NAME``), ``lifecycle_hook_name`` (``LIFECYCLE_HOOK_NAME``),
    ``region`` (``AWS_REGION``): where the lifecycle actions go.
    ``heartbeat_interval_seconds`` (``DRAIN_HEARTBEAT_SECONDS``): a third of the
    hook's heartbeat timeout (``fleets.<type>.drain.heartbeat_timeout_seconds``).
    ``poll_seconds`` (``DRAIN_POLL_SECONDS``, default 2): how often IMDS and the
    job files are read. ``manage_protection`` (``SCALE_IN_PROTECTION`` =
    ``self-managed``; default off). ``imds_endpoint`` (``IMDS_ENDPOINT``, default
    the link-local address). ``run_dir`` (``WORKER_RUN_DIR``, default
    ``/run/academy-worker``).
    """

    asg_name: str
    lifecycle_hook_name: str
    region: str
    heartbeat_interval_seconds: float
    poll_seconds: float = 2.0
    manage_protection: bool = False
    imds_endpoint: str = DEFAULT_ENDPOINT
    run_dir: Path = DEFAULT_RUN_DIR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentConfig:
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set (the launch template's user data sets it)")
            return value

        def seconds(name: str, default: str | None = None) -> float:
            raw = env.get(name, default) if default is not None else required(name)
            try:
                value = float(raw or "")
            except ValueError:
                raise ConfigError(f"{name} = {raw!r}: must be a number of seconds") from None
            if not value > 0 or value != value or value == float("inf"):
                raise ConfigError(f"{name} = {raw!r}: must be a finite number > 0")
            return value

        protection = env.get("SCALE_IN_PROTECTION", "").strip()
        if protection not in ("", "off", SELF_MANAGED):
            raise ConfigError(
                f"SCALE_IN_PROTECTION = {protection!r}: must be {SELF_MANAGED!r}, 'off' or unset"
            )
        return cls(
            asg_name=required("ASG_NAME"),
            lifecycle_hook_name=required("LIFECYCLE_HOOK_NAME"),
            region=required("AWS_REGION"),
            heartbeat_interval_seconds=seconds("DRAIN_HEARTBEAT_SECONDS"),
            poll_seconds=seconds("DRAIN_POLL_SECONDS", "2"),
            manage_protection=protection == SELF_MANAGED,
            imds_endpoint=env.get("IMDS_ENDPOINT", DEFAULT_ENDPOINT),
            run_dir=Path(env.get("WORKER_RUN_DIR", str(DEFAULT_RUN_DIR))),
        )
