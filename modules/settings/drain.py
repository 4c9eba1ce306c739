"""``DrainSettings``: the termination lifecycle hook and drain agent of a fleet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modules.settings.checks import fail, whole

TERMINATING_TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"
"""The lifecycle transition of the termination hook (here, not in the construct, so
that the local AWS and the demo use it without loading cdktf)."""

HEARTBEAT_TIMEOUT_RANGE = (30, 7200)
"""AWS's bounds for a lifecycle hook's ``HeartbeatTimeout`` (seconds)."""

MAX_GLOBAL_TIMEOUT_SECONDS = 172_800
"""AWS: a lifecycle action waits at most min(48 h, 100 x HeartbeatTimeout) in all."""

DRAIN_MARGIN_SECONDS = 60
"""Time the agent needs after the last job ends: its polls and a retried completion."""

HEARTBEATS_PER_TIMEOUT = 3
"""The agent heartbeats three times per heartbeat timeout, so two lost heartbeats are survived."""


@dataclass(frozen=True)
class DrainPlan:
    """A fleet's drain settings with their defaults resolved (what the stack deploys)."""

    max_job_seconds: int
    heartbeat_timeout_seconds: int
    default_result: str
    poll_seconds: int

    @property
    def global_timeout_seconds(self) -> int:
        """How long AWS holds a terminating instance at most, heartbeats included."""
        return min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * self.heartbeat_timeout_seconds)

    @property
    def heartbeat_interval_seconds(self) -> int:
        """How often the agent records a heartbeat while jobs run."""
        return max(1, self.heartbeat_timeout_seconds // HEARTBEATS_PER_TIMEOUT)


@dataclass(frozen=True)
class DrainSettings:
    """Every fleet has an ``autoscaling:EC2_INSTANCE_TERMINATING`` lifecycle hook; the drain
    agent on each instance holds it while jobs run, then completes it with ``CONTINUE``.

    ``max_job_seconds``: default the longest ``visibility_timeout_seconds`` of the
    fleet's queues (each is set longer than its jobs run). The longest job a
    worker of this fleet runs; a terminating instance must be held that long.
    ``heartbeat_timeout_seconds``: default ``max_job_seconds`` within AWS's
    30..7200. The hook's ``HeartbeatTimeout``. The agent records a heartbeat
    every third of it, so the hook holds an instance up to its GlobalTimeout,
    min(48 h, 100 x this); if the agent is dead, the hook ends after this long,
    by default long enough for the longest job.
    ``default_result``: default ``CONTINUE``; what the ASG does when the hook
    times out. Both values terminate the instance (``ABANDON`` also skips any
    other termination hook).
    ``poll_seconds``: default 2; how often the agent reads IMDS and the job files.

    Synth rejects a hook that could expire before the longest job even with
    heartbeats: ``max_job_seconds`` + 60 s must fit in the GlobalTimeout.
    """

    max_job_seconds: int | None = None
    heartbeat_timeout_seconds: int | None = None
    default_result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"
    poll_seconds: int = 2

    def __post_init__(self) -> None:
        if self.max_job_seconds is not None:
            whole("max_job_seconds", self.max_job_seconds, 1, MAX_GLOBAL_TIMEOUT_SECONDS)
        if self.heartbeat_timeout_seconds is not None:
            whole(
                "heartbeat_timeout_seconds",
                self.heartbeat_timeout_seconds,
                *HEARTBEAT_TIMEOUT_RANGE,
            )
        whole("poll_seconds", self.poll_seconds, 1, 60)

    def resolve(self, visibility_timeouts: Sequence[int]) -> DrainPlan:
        """The plan for a fleet whose queues have ``visibility_timeouts``.

        Raises ``ValueError`` naming ``drain.<setting>`` when the hook could
        expire before the longest job, or the agent would poll slower than it
        must heartbeat.
        """
        low, high = HEARTBEAT_TIMEOUT_RANGE
        max_job = self.max_job_seconds or max(visibility_timeouts, default=low)
        heartbeat = self.heartbeat_timeout_seconds or min(max(max_job, low), high)
        plan = DrainPlan(max_job, heartbeat, self.default_result, self.poll_seconds)
        if max_job + DRAIN_MARGIN_SECONDS > plan.global_timeout_seconds:
            needed = -(-(max_job + DRAIN_MARGIN_SECONDS) // 100)
            fix = (
                f"raise drain.heartbeat_timeout_seconds to at least {needed}"
                if needed <= high and max_job + DRAIN_MARGIN_SECONDS <= MAX_GLOBAL_TIMEOUT_SECONDS
                else "no hook can hold a job this long (AWS's limit is 48 h)"
            )
            field_name = "drain.max_job_seconds"
            shown = self.max_job_seconds if self.max_job_seconds else max_job
            fail(
                field_name,
                shown,
                f"the lifecycle hook would expire before the longest job ends, even with "
                f"heartbeats: it holds an instance at most min(48 h, 100 x "
                f"heartbeat_timeout_seconds = {heartbeat}) = {plan.global_timeout_seconds} s, "
                f"and the job needs {max_job} s + {DRAIN_MARGIN_SECONDS} s; {fix}",
            )
        if self.poll_seconds > plan.heartbeat_interval_seconds:
            fail(
                "drain.poll_seconds",
                self.poll_seconds,
                f"must be at most a third of drain.heartbeat_timeout_seconds = {heartbeat}",
            )
        return plan
