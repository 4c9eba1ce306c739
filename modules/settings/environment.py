"""``EnvironmentSettings``: one deployable environment, the whole of ``config/<env>.toml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from modules.settings.backend import REGION, BackendSettings
from modules.settings.checks import fail
from modules.settings.fleet import FleetSettings
from modules.settings.publisher import PublisherSettings
from worker_metrics.contract import WorkerType

_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_ENDPOINT = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$")


@dataclass(frozen=True)
class EnvironmentSettings:
    """One deployable environment (``local``, ``dev``, ``prod``, ...).

    ``name``: the file's stem. ``region``: default ``ap-northeast-2``.
    ``name_prefix``: every resource name starts with it (e.g. ``academy-prod``).
    ``fleets``: one per worker type, all three required: the published contract
    has a datum per type, and every published type must have a consumer.
    ``emulated``: default ``False``; ``True`` targets a local emulated AWS
    (the ``local`` environment): dummy credentials, no account checks,
    path-style S3. ``local_endpoint``: default none; its loopback URL, else the
    provider and backend honour ``AWS_ENDPOINT_URL`` as usual.
    """

    name: str
    name_prefix: str
    fleets: tuple[FleetSettings, ...]
    region: str = "ap-northeast-2"
    publisher: PublisherSettings = field(default_factory=PublisherSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    tags: Mapping[str, str] = field(default_factory=dict)
    emulated: bool = False
    local_endpoint: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9-]*$", self.name):
            fail("name", self.name, "must be lower-case letters, digits and '-'")
        if not REGION.match(self.region):
            fail("region", self.region, "is not an AWS region like 'ap-northeast-2'")
        if not _NAME_PREFIX.match(self.name_prefix):
            fail("name_prefix", self.name_prefix, "must be 3-32 lower-case letters, digits or '-'")
        types = [fleet.worker_type for fleet in self.fleets]
        missing = [t.value for t in WorkerType if t not in types]
        if missing:
            fail(
                "fleets",
                sorted(t.value for t in types),
                f"missing worker type(s): {', '.join(missing)}",
            )
        seen: dict[str, str] = {}
        for fleet in self.fleets:
            for queue in fleet.queues:
                if queue.name in seen:
                    fail(
                        f"fleets.{fleet.key}.queues",
                        queue.name,
                        f"is already a queue of fleets.{seen[queue.name]}; "
                        "a queue belongs to one fleet",
                    )
                seen[queue.name] = fleet.key
        if self.local_endpoint is not None and not self.emulated:
            fail("local_endpoint", self.local_endpoint, "needs emulated = true")
        if self.local_endpoint is not None and not _ENDPOINT.match(self.local_endpoint):
            fail(
                "local_endpoint",
                self.local_endpoint,
                "must be a loopback URL like 'http://127.0.0.1:4566'",
            )
        for key, value in self.tags.items():
            if not key or len(key) > 128 or len(str(value)) > 256:
                fail(f"tags.{key}", value, "tag keys are 1-128 and values 0-256 characters")

    def fleet(self, worker_type: WorkerType) -> FleetSettings:
        """The fleet that serves ``worker_type``."""
        return next(f for f in self.fleets if f.worker_type is worker_type)

    def asg_name(self, worker_type: WorkerType) -> str:
        """The name the stack gives ``worker_type``'s Auto Scaling group
        (``<name_prefix>-<key>-workers``)."""
        return self.fleet(worker_type).asg_name(self.name_prefix)

    @property
    def stack_name(self) -> str:
        """Name of this environment's worker stack (``workers-<env>``)."""
        return f"workers-{self.name}"

    @property
    def bootstrap_stack_name(self) -> str:
        """Name of this environment's state-bucket bootstrap stack (``tfstate-<env>``)."""
        return f"tfstate-{self.name}"
