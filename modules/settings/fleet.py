"""``FleetSettings``: one worker fleet and its queues (``[fleets.<type>]``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modules.settings.checks import fail, positive, whole
from modules.settings.drain import DrainPlan, DrainSettings
from modules.settings.queue import QueueSettings
from modules.settings.workload import WorkloadSettings
from worker_metrics.contract import (
    DEFAULT_ACTIVATION_BACKLOG,
    DEFAULT_BACKLOG_DIVISOR,
    DEFAULT_TRACK_IN_FLIGHT,
    LAMBDA_CONTROLLED_TYPES,
    TARGET_TRACKED_TYPES,
    BacklogDivisor,
    Tracking,
    WorkerType,
)

_AMI = re.compile(r"^(ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_./-]+)$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")

MAX_QUEUES_PER_FLEET = 4
"""CloudWatch alarms read at most 10 metrics; the capacity-exhausted alarm reads
``GroupDesiredCapacity``, ``GroupMaxSize`` and two SQS metrics per queue."""


@dataclass(frozen=True)
class FleetSettings:
    """One worker fleet (launch template + ASG) and its queues.

    ``worker_type``: which ``WorkerType`` it serves; AI and Messaging get a
    target-tracking policy, Video is driven by the Lambda.
    ``queues``: at least one; a type may have several.
    ``instance_types``: default ``("t3.medium",)``; more than one enables a
    mixed-instances policy.
    ``ami``: default the Amazon Linux 2023 SSM public parameter; an ``ami-...``
    id or ``resolve:ssm:<parameter>``.
    ``subnet_ids`` / ``availability_zones``: where instances run; exactly one
    of the two must be given.
    ``min_size``: default 0; ``max_size``: default 10.
    ``target_messages_per_instance``: default 20 (the seed's
    ``$TargetMessagesPerInstance``): acceptable latency / seconds per message.
    For Video it is the messages one instance takes on when the Lambda scales out.
    ``jobs_per_instance``: default 1; jobs one instance of this fleet runs at
    once (the worker's concurrency). The Video decision never sizes below the
    running jobs divided by it, and the simulator runs this many per instance.
    ``instance_warmup_seconds``: default 300; seconds before a new instance's
    metrics count (ASG ``default_instance_warmup``, policy warmup).
    ``protect_from_scale_in``: default ``False``. Video only: new instances start
    protected and the worker removes its own protection when idle; the ASG then
    never terminates a busy encoder, but an instance that dies with protection
    on must be cleaned up by the worker or an operator.
    ``volume_size_gb``: default 30, root EBS volume, encrypted.
    ``user_data_extra``: default empty; shell lines appended to the rendered user data.
    ``workload``: default ``WorkloadSettings()``; the traffic and workers
    ``fleetctl simulate`` assumes (``[fleets.<type>.workload]``), not deployed.
    ``max_wait_seconds``: default 900 (15 min), 60..1,209,600: the fleet's latency
    goal. An alarm fires when the oldest message of one of its queues
    (``AWS/SQS ApproximateAgeOfOldestMessage``) is older than this for two minutes
    in a row (RUNBOOK.md, "Messages waiting too long"); the dashboard draws it.
    At most ``MAX_QUEUES_PER_FLEET`` (4) queues: the capacity-exhausted alarm
    reads two SQS metrics per queue plus two group metrics, and a CloudWatch
    alarm holds at most 10 metrics.
    The tracked metric and activation, AI and Messaging only (Video has no
    tracked metric and is sized from its first message; a value there is an
    error). README, "Sizing decisions", has the figures behind each default:
    ``backlog_divisor``: default ``"desired"``; what ``BacklogPerInstance``
    divides by: ``"in_service"``, ``"in_service_and_pending"`` or ``"desired"``
    (``worker_metrics.contract.BacklogDivisor``).
    ``track_in_flight``: default ``true``; count in-flight messages in the
    tracked backlog too (AI's QueueDepth already does).
    ``activation_backlog``: default 1; with ``min_size = 0``, the Lambda starts
    the fleet (desired = ``ceil(backlog / target)``) once this many messages
    wait. A fleet with ``min_size >= 1`` never is at zero, so activation is off
    and the Lambda gets no grant on it.
    ``drain``: the termination lifecycle hook and the drain agent
    (``[fleets.<type>.drain]``, ``DrainSettings``); defaults derived from the queues.
    """

    worker_type: WorkerType
    queues: tuple[QueueSettings, ...]
    instance_types: tuple[str, ...] = ("t3.medium",)
    ami: str = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    min_size: int = 0
    max_size: int = 10
    target_messages_per_instance: float = 20
    jobs_per_instance: int = 1
    instance_warmup_seconds: int = 300
    protect_from_scale_in: bool = False
    volume_size_gb: int = 30
    user_data_extra: str = ""
    workload: WorkloadSettings = field(default_factory=WorkloadSettings)
    max_wait_seconds: int = 900
    backlog_divisor: str | None = None
    track_in_flight: bool | None = None
    activation_backlog: int | None = None
    drain: DrainSettings = field(default_factory=DrainSettings)

    def __post_init__(self) -> None:
        if not self.queues:
            fail("queues", [], "needs at least one queue")
        if not self.instance_types:
            fail("instance_types", [], "needs at least one instance type")
        for instance_type in self.instance_types:
            if not _INSTANCE_TYPE.match(instance_type):
                fail(
                    "instance_types", instance_type, "is not an EC2 instance type like 't3.medium'"
                )
        if not _AMI.match(self.ami):
            fail("ami", self.ami, "must be an 'ami-...' id or 'resolve:ssm:/<parameter>'")
        if bool(self.subnet_ids) == bool(self.availability_zones):
            fail(
                "subnet_ids",
                list(self.subnet_ids),
                "give exactly one of subnet_ids or availability_zones",
            )
        for subnet in self.subnet_ids:
            if not _SUBNET.match(subnet):
                fail("subnet_ids", subnet, "is not a subnet id like 'subnet-0abc12345'")
        whole("min_size", self.min_size, 0)
        whole("max_size", self.max_size, 0)
        if self.max_size < self.min_size:
            fail("max_size", self.max_size, f"is less than min_size = {self.min_size}")
        if self.max_size == 0:
            fail("max_size", 0, "must be at least 1, or the fleet can never run")
        positive("target_messages_per_instance", self.target_messages_per_instance)
        whole("jobs_per_instance", self.jobs_per_instance, 1, 1000)
        whole("instance_warmup_seconds", self.instance_warmup_seconds, 0, 3600)
        if self.protect_from_scale_in and self.worker_type not in LAMBDA_CONTROLLED_TYPES:
            fail(
                "protect_from_scale_in",
                True,
                "only a Lambda-controlled fleet (Video) may protect instances from scale-in; "
                "target tracking could then never scale in",
            )
        whole("volume_size_gb", self.volume_size_gb, 8, 16_384)
        whole("max_wait_seconds", self.max_wait_seconds, 60, 1_209_600)
        if len(self.queues) > MAX_QUEUES_PER_FLEET:
            fail(
                "queues",
                [q.name for q in self.queues],
                f"at most {MAX_QUEUES_PER_FLEET} queues per fleet: its capacity-exhausted alarm "
                "reads 2 metrics per queue and an alarm holds at most 10",
            )
        self._check_tracking()
        self.drain_plan  # noqa: B018 - resolving validates the hook against the jobs

    def _check_tracking(self) -> None:
        tracking = {
            "backlog_divisor": self.backlog_divisor,
            "track_in_flight": self.track_in_flight,
            "activation_backlog": self.activation_backlog,
        }
        if self.worker_type not in TARGET_TRACKED_TYPES:
            for name, value in tracking.items():
                if value is not None:
                    fail(
                        name,
                        value,
                        "only a target-tracked fleet (AI, Messaging) has a tracked metric "
                        "and activation; the Lambda sizes Video itself",
                    )
        divisors = [d.value for d in BacklogDivisor]
        if self.backlog_divisor is not None and self.backlog_divisor not in divisors:
            fail("backlog_divisor", self.backlog_divisor, f"must be one of {divisors}")
        if self.activation_backlog is not None:
            whole("activation_backlog", self.activation_backlog, 1, 1_000_000)

    @property
    def activates_from_zero(self) -> bool:
        """True for a target-tracked fleet with ``min_size = 0``: the Lambda starts it."""
        return self.worker_type in TARGET_TRACKED_TYPES and self.min_size == 0

    @property
    def lambda_writes_capacity(self) -> bool:
        """True when the Lambda may set this fleet's desired capacity: Video's decision,
        or a tracked fleet's activation from zero."""
        return self.worker_type in LAMBDA_CONTROLLED_TYPES or self.activates_from_zero

    @property
    def tracking(self) -> Tracking:
        """The Lambda's ``Tracking`` for this fleet (activation 0, off, unless
        ``activates_from_zero``)."""
        activation = self.activation_backlog or DEFAULT_ACTIVATION_BACKLOG
        return Tracking(
            target_backlog_per_instance=float(self.target_messages_per_instance),
            divisor=BacklogDivisor(self.backlog_divisor or DEFAULT_BACKLOG_DIVISOR.value),
            track_in_flight=(
                DEFAULT_TRACK_IN_FLIGHT if self.track_in_flight is None else self.track_in_flight
            ),
            activation_backlog=activation if self.activates_from_zero else 0,
        )

    @property
    def drain_plan(self) -> DrainPlan:
        """The drain settings resolved against this fleet's queues."""
        return self.drain.resolve([q.visibility_timeout_seconds for q in self.queues])

    @property
    def key(self) -> str:
        """Lower-case key of this fleet in the settings file and in resource names."""
        return self.worker_type.name.lower()

    def asg_name(self, name_prefix: str) -> str:
        """The name the stack gives this fleet's Auto Scaling group
        (``<name_prefix>-<key>-workers``); ``EnvironmentSettings.asg_name`` fills in
        the prefix."""
        return f"{name_prefix}-{self.key}-workers"
