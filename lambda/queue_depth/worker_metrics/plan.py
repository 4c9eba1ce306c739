"""The tick's decisions, pure: from what was read to what to publish and what to set.

``plan_tick`` takes an ``Observation`` (each readable type's summed queue
counters and each readable ASG) and returns a ``TickPlan``: the datums' values
(``QueueDepth``, ``BacklogPerInstance``: ``tracked_metric``) and the capacity
writes (the Video decision; activation of a tracked fleet at zero:
``activation``). It does no I/O and reads no clock, so the Lambda (``tick.run_tick``)
and the workload simulator (``fleetctl.simulation``) run this very code: there
is one copy of each decision.

Fault rules (a failure must never look like "no backlog", which scales in): a
type missing from ``observation.counts`` gets no datum; a type missing from
``observation.fleets`` gets ``QueueDepth`` but no ``BacklogPerInstance``; the
Video fleet is only decided, and a tracked fleet only activated, when both
were read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from worker_metrics.activation import decide_activation
from worker_metrics.config import PublisherConfig
from worker_metrics.contract import (
    COUNTING_RULES,
    TARGET_TRACKED_TYPES,
    VIDEO_SCALE_IN_MARKER_TAG,
    WorkerType,
)
from worker_metrics.fleet_state import FleetState
from worker_metrics.publish import Datum, datum
from worker_metrics.sqs_backlog import QueueCounts, count_backlog
from worker_metrics.tracked_metric import backlog_per_instance as per_instance
from worker_metrics.tracked_metric import tracked_backlog
from worker_metrics.video_capacity import Action, CapacityBounds, Decision, decide_video_capacity


@dataclass(frozen=True)
class Observation:
    """What one tick read.

    ``counts``: the summed queue counters of each type whose queues were all
    readable. ``fleets``: each type whose ASG was found.
    """

    counts: Mapping[WorkerType, QueueCounts] = field(default_factory=dict)
    fleets: Mapping[WorkerType, FleetState] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacityWrite:
    """One SetDesiredCapacity the tick makes.

    ``scale_in_marker``: the ``VIDEO_SCALE_IN_MARKER_TAG`` value to write on the
    ASG first (a scale-in), or ``None``.
    """

    worker_type: WorkerType
    asg_name: str
    decision: Decision
    scale_in_marker: str | None = None


@dataclass(frozen=True)
class VideoPlan:
    """The Video decision, or why there is none (``skipped``)."""

    decision: Decision | None
    skipped: str = ""


@dataclass(frozen=True)
class TickPlan:
    """Everything a tick decided, before any write.

    ``activation``: default empty; the activation decision of each tracked type
    whose queues and ASG were read (most are ``UNCHANGED``; those that change
    are in ``writes``).
    """

    queue_depth: Mapping[WorkerType, int]
    backlog_per_instance: Mapping[WorkerType, float]
    in_service: Mapping[WorkerType, int]
    video: VideoPlan
    writes: tuple[CapacityWrite, ...] = ()
    activation: Mapping[WorkerType, Decision] = field(default_factory=dict)

    def datums(
        self,
        config: PublisherConfig,
        timestamp: datetime,
        *,
        queue_depth_types: Collection[WorkerType] | None = None,
        storage_resolution: int | None = None,
    ) -> list[Datum]:
        """The ``QueueDepth`` and ``BacklogPerInstance`` datums of this plan.

        ``queue_depth_types``: default every type; the types whose ``QueueDepth``
        datum this sample carries (the seed's series has one datum per minute, so
        an invocation publishes it at its first sample that read the type).
        ``storage_resolution``: of the ``BacklogPerInstance`` datums; default
        ``None`` (standard); 1 when sampled below 60 s. ``QueueDepth`` is always
        standard resolution.
        """
        wanted = set(WorkerType) if queue_depth_types is None else set(queue_depth_types)
        datums = [
            datum(config.metric_name, t, depth, timestamp)
            for t, depth in self.queue_depth.items()
            if t in wanted
        ]
        datums += [
            datum(config.backlog_per_instance_metric_name, t, value, timestamp, storage_resolution)
            for t, value in self.backlog_per_instance.items()
        ]
        return datums


def plan_tick(config: PublisherConfig, observation: Observation, tick_key: str) -> TickPlan:
    """Decide one tick from ``observation``.

    ``tick_key``: the tick's identity (the invocation's scheduled minute in ISO
    8601, the same for every sample of it); a scale-in marker on the Video ASG
    written by this same tick makes a later sample, or a repeated run, decide
    from where that tick's scale-in started, so the scale-in step applies once
    per tick however often it samples.
    """
    queue_depth: dict[WorkerType, int] = {}
    for worker_type, counts in observation.counts.items():
        fleet = config.fleets[worker_type]
        queue_depth[worker_type] = count_backlog(
            counts, COUNTING_RULES[worker_type], fleet.include_delayed
        )
    in_service: dict[WorkerType, int] = {}
    backlog_per_instance: dict[WorkerType, float] = {}
    activation: dict[WorkerType, Decision] = {}
    writes: list[CapacityWrite] = []
    for worker_type, depth in queue_depth.items():
        state = observation.fleets.get(worker_type)
        if state is None:
            continue
        tracking = config.fleets[worker_type].tracking
        backlog = tracked_backlog(
            depth, observation.counts[worker_type], COUNTING_RULES[worker_type], tracking
        )
        in_service[worker_type] = state.in_service
        backlog_per_instance[worker_type] = per_instance(backlog, state, tracking.divisor)
        if worker_type in TARGET_TRACKED_TYPES:
            decision = decide_activation(backlog, state, tracking)
            activation[worker_type] = decision
            if decision.changes:
                writes.append(CapacityWrite(worker_type, state.name, decision))

    video, write = _plan_video(config, observation, queue_depth, tick_key)
    if write is not None:
        writes.append(write)
    return TickPlan(queue_depth, backlog_per_instance, in_service, video, tuple(writes), activation)


def _plan_video(
    config: PublisherConfig,
    observation: Observation,
    queue_depth: Mapping[WorkerType, int],
    tick_key: str,
) -> tuple[VideoPlan, CapacityWrite | None]:
    """The Video decision, and the write it needs (``None`` if unchanged)."""
    video = WorkerType.VIDEO
    if video not in queue_depth:
        return VideoPlan(None, "Video queues could not be read; fleet left as is"), None
    fleet = observation.fleets.get(video)
    if fleet is None:
        return VideoPlan(None, "Video ASG could not be read; fleet left as is"), None
    knobs = config.video
    bounds = CapacityBounds(fleet.min_size, fleet.max_size).narrowed(knobs.min_size, knobs.max_size)
    # A later sample, or a repeat, of a tick that already scaled in decides from
    # where that scale-in started, so samples, retries and overlapping runs apply
    # the step once per tick. max(): after a scale-out since that scale-in, the
    # step counts from the larger capacity, never two steps below it at once.
    base = scale_in_marker(fleet.tags.get(VIDEO_SCALE_IN_MARKER_TAG, ""), tick_key)
    start = fleet.desired_capacity if base is None else max(base, fleet.desired_capacity)
    decision = decide_video_capacity(
        backlog=queue_depth[video],
        in_flight=observation.counts[video].in_flight,
        current_desired=start,
        bounds=bounds,
        messages_per_instance=knobs.messages_per_instance,
        jobs_per_instance=knobs.jobs_per_instance,
        scale_in_step=knobs.scale_in_step,
    )
    if start != fleet.desired_capacity:
        decision = _rebased(decision, fleet.desired_capacity, start)
    if not decision.changes:
        return VideoPlan(decision), None
    marker = f"{tick_key} {start}" if decision.action is Action.SCALE_IN else None
    return VideoPlan(decision), CapacityWrite(video, fleet.name, decision, marker)


def scale_in_marker(value: str, tick_key: str) -> int | None:
    """The desired capacity recorded before this tick's scale-in, if this tick made one.

    ``value`` is the ``VIDEO_SCALE_IN_MARKER_TAG`` tag (``<tick> <desired>``);
    a marker of another tick, or an unreadable one, is ignored.
    """
    recorded_tick, _, recorded_desired = value.partition(" ")
    if recorded_tick != tick_key or not recorded_desired.isdigit():
        return None
    return int(recorded_desired)


def _rebased(decision: Decision, actual: int, start: int) -> Decision:
    """``decision`` (made from ``start``) restated against the ASG's ``actual`` desired."""
    if decision.desired > actual:
        action = Action.SCALE_OUT
    elif decision.desired < actual:
        action = Action.SCALE_IN
    else:
        action = Action.UNCHANGED
    reason = f"{decision.reason} [this tick already scaled in from {start}]"
    return Decision(decision.desired, actual, action, reason)
