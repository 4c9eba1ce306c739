"""The queue-depth Lambda in simulated time: the real ``plan_tick`` on the real config.

Its ``PublisherConfig`` is built the way the stack builds the function's
environment (``modules.publisher_environment``) and read back with
``PublisherConfig.from_env``, with synthetic but valid names: queue URLs
``https://sqs.<region>.amazonaws.com/000000000000/<queue>`` and ASG names
``<name_prefix>-<fleet>-workers``. So the simulated Lambda follows every
setting and every change of the decision code.

Each invocation (every ``schedule`` interval, from 0) samples every
``publisher.sample_seconds`` (``worker_metrics.sampling``): one tick per sample,
all of an invocation's ticks keyed by its minute, so the Video scale-in marker
acts as in the Lambda (one step per minute, scale-out at every sample). A
simulated sample takes no time, so none is ever late or skipped. Each tick:
the queue counts are read as they were ``count_lag_seconds`` before
(``LaggedCounts``, one snapshot per sample), a throttled read
leaves its type out, and each group is described the way
DescribeAutoScalingGroups lists it and parsed by the Lambda's own
``FleetState.from_group``. ``plan_tick`` decides; the listeners (the policies
that track a published series) get the plan; then **every** write of
``plan.writes`` is applied to its group, with its scale-in marker tag, so new
kinds of writes need nothing here. During an outage the tick does not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetctl.simulation.engine import Priority
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.fleet import AutoScalingGroup
from fleetctl.simulation.sqs import LaggedCounts
from fleetctl.simulation.world import World
from modules.publisher_environment import publisher_environment
from modules.settings import EnvironmentSettings
from modules.settings.publisher import schedule_interval_seconds
from worker_metrics.config import PublisherConfig
from worker_metrics.contract import VIDEO_SCALE_IN_MARKER_TAG
from worker_metrics.fleet_state import FleetState
from worker_metrics.plan import Observation, TickPlan, plan_tick

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
"""Wall-clock time of simulated second 0 (a Monday, midnight UTC): tick keys
and the diurnal scenario's time of day. Never read from the machine's clock."""

SYNTHETIC_ACCOUNT = "000000000000"

Listener = Callable[[float, TickPlan], None]


def queue_url(region: str, queue_name: str) -> str:
    """The synthetic URL of ``queue_name`` (valid for ``worker_metrics.config``)."""
    return f"https://sqs.{region}.amazonaws.com/{SYNTHETIC_ACCOUNT}/{queue_name}"


def publisher_config(environment: EnvironmentSettings) -> PublisherConfig:
    """The ``PublisherConfig`` the deployed Lambda would read, from ``environment``."""
    fleets = {f.worker_type: f for f in environment.fleets}
    env = publisher_environment(
        environment.publisher,
        fleets,
        queue_urls={
            t: [queue_url(environment.region, q.name) for q in f.queues] for t, f in fleets.items()
        },
        asg_names={t: environment.asg_name(t) for t in fleets},
    )
    return PublisherConfig.from_env(env)


def describe(group: AutoScalingGroup) -> dict[str, Any]:
    """``group`` as one item of DescribeAutoScalingGroups' ``AutoScalingGroups``."""
    return {
        "AutoScalingGroupName": group.name,
        "MinSize": group.min_size,
        "MaxSize": group.max_size,
        "DesiredCapacity": group.desired,
        "Instances": [{"LifecycleState": state} for state in group.lifecycle_states()],
        "Tags": [{"Key": key, "Value": value} for key, value in group.tags.items()],
    }


def tick_key(now: float) -> str:
    """The tick's identity, as EventBridge's event ``time`` (ISO 8601, seconds)."""
    return (EPOCH + timedelta(seconds=round(now))).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedPublisher:
    """The Lambda of ``world``, invoked on ``environment.publisher.schedule`` and
    sampling every ``publisher.sample_seconds`` within each invocation.

    ``apply_writes``: default true; false for a policy that replaces the
    Lambda's capacity decisions (``seed``) and only consumes its datums.
    ``sample_seconds``: default the settings'; the seed's Lambda sampled once
    per invocation (60).
    """

    def __init__(
        self,
        world: World,
        environment: EnvironmentSettings,
        faults: Faults,
        *,
        apply_writes: bool = True,
        sample_seconds: int | None = None,
    ) -> None:
        self.world = world
        self.faults = faults
        self.apply_writes = apply_writes
        self.config = publisher_config(environment)
        interval = schedule_interval_seconds(environment.publisher.schedule)
        if interval is None:
            raise ValueError(
                f"publisher.schedule = {environment.publisher.schedule!r}: no interval"
            )
        self.interval = float(interval)
        self.sample_seconds = float(sample_seconds or environment.publisher.sample_seconds)
        self.listeners: list[Listener] = []
        self._groups = {fleet.group.name: fleet.group for fleet in world.fleets.values()}
        self._readers = {
            worker_type: LaggedCounts(
                world.engine,
                self.sample_seconds,
                fleet.settings.workload.count_lag_seconds,
                fleet.queue.counts,
            )
            for worker_type, fleet in world.fleets.items()
        }
        world.engine.call_at(0.0, self._tick, Priority.READ)

    def _tick(self, now: float) -> None:
        self.world.engine.call_at(now + self.sample_seconds, self._tick, Priority.READ)
        # Every reader consumes its snapshot, run or not, so the lag stays aligned.
        read = {t: reader.read(now) for t, reader in self._readers.items()}
        minute = int(now // 60)
        if self.faults.publisher_down(now):
            for fleet in self.world.fleets.values():
                fleet.missing_minutes.add(minute)
            return
        counts = {t: c for t, c in read.items() if not self.faults.read_fails(t, now)}
        fleets = {
            t: FleetState.from_group(describe(fleet.group))
            for t, fleet in self.world.fleets.items()
        }
        # Every sample of an invocation shares its key: the invocation's minute.
        invoked_at = now - now % self.interval
        plan = plan_tick(self.config, Observation(counts, fleets), tick_key(invoked_at))
        for worker_type, fleet in self.world.fleets.items():
            if worker_type not in plan.queue_depth:
                fleet.missing_minutes.add(minute)
        for listener in self.listeners:
            listener(now, plan)
        if self.apply_writes:
            for write in plan.writes:
                group = self._groups[write.asg_name]
                if write.scale_in_marker is not None:
                    group.tags[VIDEO_SCALE_IN_MARKER_TAG] = write.scale_in_marker
                group.set_desired(write.decision.desired)
