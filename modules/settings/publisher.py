"""``PublisherSettings`` (``[publisher]``) and its optional ``TenantBacklogSettings``
(``[publisher.tenant_backlog]``): the queue-depth Lambda."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modules.settings.checks import fail, whole
from worker_metrics.contract import DEFAULT_SAMPLE_SECONDS, SAMPLE_SECONDS_RULE, is_sample_seconds
from worker_metrics.sampling import SAMPLE_TIME_BUDGET_SECONDS, minimum_timeout_seconds

_RATE = re.compile(
    r"^rate\((?P<count>1 minute|([2-9]|[1-9]\d+) minutes|1 hour|([2-9]|[1-9]\d+) hours)\)$"
)
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$")

TRACKED_PERIOD_SECONDS = 60
"""The longest interval between two invocations: each invocation samples its
minute every ``sample_seconds`` (the tracked series' period, 10, 30 or 60 s)
and publishes ``QueueDepth`` once (its period, 60 s). A slower schedule leaves
the policies gaps (missing data: no scale-in, and no scale-out until three
datapoints breach)."""

_EVERY_MINUTE_CRON_MINUTES = {"*", "0/1", "*/1"}

LOG_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)
"""The retention values CloudWatch Logs accepts."""


def schedule_interval_seconds(schedule: str) -> int | None:
    """Seconds between two invocations of an EventBridge ``schedule``, or ``None``
    for a cron that does not fire at a fixed interval of at most one minute.

    ``rate(5 minutes)`` -> 300; ``cron(* * * * ? *)`` -> 60; ``cron(0/5 8-18 ...)`` -> None.
    """
    rate = _RATE.match(schedule)
    if rate:
        count, unit = rate.group("count").split()
        return int(count) * (3600 if unit.startswith("hour") else 60)
    if _CRON.match(schedule):
        minute, hour, day, month, weekday, year = schedule[len("cron(") : -1].split()
        every_minute = (
            minute in _EVERY_MINUTE_CRON_MINUTES
            and hour == "*"
            and day in ("*", "?")
            and month == "*"
            and weekday in ("*", "?")
            and year == "*"
        )
        return 60 if every_minute else None
    return None


@dataclass(frozen=True)
class TenantBacklogSettings:
    """Optional per-tenant Video backlog source (PostgreSQL). Off when absent.

    ``secret_arn``: Secrets Manager secret with the database credentials (JSON:
    host, port, dbname, username, password); the Lambda reads it at run time.
    ``subnet_ids`` / ``security_group_ids``: VPC placement of the Lambda, so it
    can reach the database; both or neither.
    ``top_tenants``: default 10; tenants that get their own CloudWatch series
    (about $0.30 per series per month).
    ``statement_timeout_ms``: default 2000.
    """

    secret_arn: str
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    top_tenants: int = 10
    statement_timeout_ms: int = 2000

    def __post_init__(self) -> None:
        if not _SECRET_ARN.match(self.secret_arn):
            fail("secret_arn", self.secret_arn, "is not a Secrets Manager secret ARN")
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            fail(
                "subnet_ids",
                list(self.subnet_ids),
                "give subnet_ids and security_group_ids together",
            )
        for subnet in self.subnet_ids:
            if not _SUBNET.match(subnet):
                fail("subnet_ids", subnet, "is not a subnet id")
        for group in self.security_group_ids:
            if not _SECURITY_GROUP.match(group):
                fail("security_group_ids", group, "is not a security group id")
        whole("top_tenants", self.top_tenants, 0, 100)
        whole("statement_timeout_ms", self.statement_timeout_ms, 100, 10_000)


@dataclass(frozen=True)
class PublisherSettings:
    """The queue-depth Lambda.

    ``memory_mb``: default 256. ``timeout_seconds``: default 55, 5..60: it must
    fit the invocation's samples, at least ``60 - sample_seconds + 5`` (55 at
    10 s, 35 at 30 s, 5 at 60 s; ``worker_metrics.sampling.minimum_timeout_seconds``).
    ``sample_seconds``: default 10; one of 10, 30, 60: each one-minute invocation
    samples the queues every this many seconds, publishes the tracked series at
    that resolution, and the target-tracking policies and the tracked series'
    missing-data alarms use it as their period. ``schedule``: default ``rate(1 minute)``
    (the seed's period). It must fire at least once per tracked period (60 s):
    target tracking evaluates one datapoint per period, and a slower schedule
    would leave it without data most periods; so ``rate(1 minute)`` or an
    every-minute ``cron(* * * * ? *)``.
    ``log_retention_days``: default 30. ``runtime``: default ``python3.12``.
    ``architecture``: default ``arm64``.
    ``video_scale_in_step``: default 1 instance per tick at most.
    ``alarm_topic_arns``: default none; SNS topics notified by the alarms.
    ``tenant_backlog``: default off.

    The Video fleet's concurrency is ``fleets.video.jobs_per_instance`` (it used
    to be ``publisher.video_jobs_per_instance``).
    """

    memory_mb: int = 256
    timeout_seconds: int = 55
    sample_seconds: int = DEFAULT_SAMPLE_SECONDS
    schedule: str = "rate(1 minute)"
    log_retention_days: int = 30
    runtime: str = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    video_scale_in_step: int = 1
    alarm_topic_arns: tuple[str, ...] = ()
    tenant_backlog: TenantBacklogSettings | None = None

    def __post_init__(self) -> None:
        whole("memory_mb", self.memory_mb, 128, 10_240)
        whole("timeout_seconds", self.timeout_seconds, 0)
        if not 5 <= self.timeout_seconds <= 60:
            fail(
                "timeout_seconds",
                self.timeout_seconds,
                "must be 5..60: a tick must finish before the next one starts",
            )
        whole("sample_seconds", self.sample_seconds, 0)
        if not is_sample_seconds(self.sample_seconds):
            fail("sample_seconds", self.sample_seconds, SAMPLE_SECONDS_RULE)
        needed = minimum_timeout_seconds(self.sample_seconds)
        if self.timeout_seconds < needed:
            fail(
                "sample_seconds",
                self.sample_seconds,
                f"needs timeout_seconds >= {needed} (the last sample starts "
                f"{needed - SAMPLE_TIME_BUDGET_SECONDS} s into the minute and gets "
                f"{SAMPLE_TIME_BUDGET_SECONDS} s), but timeout_seconds = {self.timeout_seconds}",
            )
        if not (_RATE.match(self.schedule) or _CRON.match(self.schedule)):
            fail(
                "schedule", self.schedule, "must be 'rate(N minute[s]|hour[s])' or 'cron(6 fields)'"
            )
        interval = schedule_interval_seconds(self.schedule)
        if interval is None or interval > TRACKED_PERIOD_SECONDS:
            every = f"once every {interval} s" if interval else "not every minute"
            fail(
                "schedule",
                self.schedule,
                f"publishes {every}, but target tracking evaluates a datapoint every "
                f"{TRACKED_PERIOD_SECONDS} s and would see no data in most periods "
                "(use 'rate(1 minute)')",
            )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            fail(
                "log_retention_days",
                self.log_retention_days,
                f"must be one of CloudWatch's values {sorted(LOG_RETENTION_DAYS)}",
            )
        if not re.match(r"^python3\.\d+$", self.runtime):
            fail("runtime", self.runtime, "must be a Python Lambda runtime like 'python3.12'")
        if self.architecture not in ("arm64", "x86_64"):
            fail("architecture", self.architecture, "must be 'arm64' or 'x86_64'")
        whole("video_scale_in_step", self.video_scale_in_step, 1, 1000)
        for arn in self.alarm_topic_arns:
            if not _SNS_TOPIC_ARN.match(arn):
                fail("alarm_topic_arns", arn, "is not an SNS topic ARN")
