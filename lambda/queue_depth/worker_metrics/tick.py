"""One tick of the publisher: read, decide, write, publish. No AWS client is built here.

A tick is one sample of an invocation (``sampling.run_invocation`` runs one
every ``sample_seconds``); ``sampling.Sample`` tells it its place there: which
``QueueDepth`` datums it owes, whether it runs the extra sources, how many
slots were skipped before it. Without one, it is its invocation's only sample.

The decisions are ``plan.plan_tick``'s (pure, shared with the workload
simulator); this module does the I/O around them.

``run_tick`` takes its clients as arguments (real boto3, moto or botocore
``Stubber`` clients) and returns a ``TickResult`` (``tick_result``, with the
failures and the log lines); it never raises for an AWS
failure. Instead every failure becomes a ``TickError``, a ``PublisherErrors``
datum and an error log line, and the caller (the handler) raises at the end, so
the Lambda's Errors alarm fires after the tick has done all it could.

Fault rules (a failure must never look like "no backlog", which scales in):

* a type with an unreadable queue publishes neither QueueDepth nor
  BacklogPerInstance (no datum rather than a false 0);
* a failed DescribeAutoScalingGroups suppresses BacklogPerInstance (target
  tracking does not scale in on missing data) but not QueueDepth;
* the Video fleet is only touched, and a tracked fleet only activated from
  zero, when both its queues and its ASG were read.

Extension point: ``MetricSource`` objects passed in ``sources`` add datums to
the same PutMetricData call; a source that raises is isolated, logged and
counted under its own ``Stage``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from worker_metrics.config import PublisherConfig
from worker_metrics.contract import VIDEO_SCALE_IN_MARKER_TAG, ErrorStage, WorkerType
from worker_metrics.fleet_state import FleetState, describe_fleets
from worker_metrics.plan import CapacityWrite, Observation, VideoPlan, plan_tick
from worker_metrics.publish import (
    Datum,
    error_datum,
    put_datums,
    samples_skipped_datum,
    worker_type_of,
)
from worker_metrics.sampling import Sample
from worker_metrics.sqs_backlog import (
    QueueCounts,
    QueueReadError,
    error_code,
    read_queues,
    sum_counts,
)
from worker_metrics.tick_result import (
    TickError,
    TickFailed,
    TickResult,
    VideoOutcome,
    emit_logs,
)

__all__ = [
    "AwsClients",
    "MetricSource",
    "TickError",
    "TickFailed",
    "TickResult",
    "VideoOutcome",
    "emit_logs",
    "publish_skipped",
    "run_tick",
    "tick_time",
]


@dataclass(frozen=True)
class AwsClients:
    """The three boto3 clients a tick uses (or moto / Stubber equivalents)."""

    sqs: Any
    autoscaling: Any
    cloudwatch: Any


@dataclass(frozen=True)
class MetricSource:
    """An extra metric source, published in the tick's PutMetricData call.

    ``collect(timestamp)`` returns PutMetricData datums (in the tick's
    namespace). If it raises, the tick records a ``TickError`` with
    ``worker_type`` and ``stage``, publishes ``PublisherErrors`` for it, and
    carries on with the other sources. Example (in ``lambda_function``)::

        sources = [MetricSource("tenant_backlog", WorkerType.VIDEO, tenant_source.collect)]
    """

    stage: str
    worker_type: WorkerType
    collect: Callable[[datetime], Sequence[Datum]]


def tick_time(event: object, now: datetime | None = None) -> datetime:
    """The tick's timestamp: the scheduled event's ``time`` if valid, else ``now``.

    EventBridge scheduled events carry ``time`` (ISO 8601, UTC, e.g.
    ``2025-02-21T05:00:00Z``): the minute the schedule fired, which is also the
    minute the datum belongs to. A naive value is taken as UTC. Any event
    without a parsable ``time`` (a manual test invoke) uses the clock. The
    local demo relies on this to drive the real handler on a simulated clock.
    """
    if isinstance(event, Mapping):
        raw = event.get("time")
        if isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now if now is not None else datetime.now(UTC)


class _ApiCalls:
    """Thread-safe count of API calls by kind (the read threads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __call__(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def run_tick(
    config: PublisherConfig,
    clients: AwsClients,
    timestamp: datetime,
    sources: Sequence[MetricSource] = (),
    sample: Sample | None = None,
) -> TickResult:
    """Run one tick at ``timestamp`` (timezone-aware). Never raises for AWS failures.

    Order: read all queues (concurrently) and the ASGs; decide (``plan.plan_tick``,
    pure); make the plan's capacity writes (the Video fleet, activations from
    zero; timed as ``video``); collect extra sources; publish every datum,
    including ``PublisherErrors`` for the failures so far, in one PutMetricData
    call.

    ``sample``: default ``Sample.single(timestamp)``, the invocation's only sample.
    """
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    sample = sample or Sample.single(timestamp)
    result = TickResult(timestamp=timestamp, sample=sample.index)
    calls = _ApiCalls()
    started = time.perf_counter()

    @contextmanager
    def timed(stage: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            result.durations_ms[stage] = (time.perf_counter() - begin) * 1000

    with timed("read_queues"):
        counts = _read_backlog(config, clients, calls, result)
    with timed("describe_asg"):
        fleets = _read_fleets(config, clients, calls, result)

    plan = plan_tick(config, Observation(counts, fleets), sample.tick_key)
    result.queue_depth = dict(plan.queue_depth)
    result.backlog_per_instance = dict(plan.backlog_per_instance)
    result.in_service = dict(plan.in_service)

    with timed("video"):
        result.video = _apply_writes(plan.video, plan.writes, clients, calls, result)

    extra: list[Datum] = []
    if sample.skipped_before:
        extra.append(samples_skipped_datum(sample.skipped_before, timestamp))
    with timed("sources"):
        for source in sources if sample.collect_sources else ():
            try:
                extra.extend(source.collect(timestamp))
            # A source is plug-in code (e.g. a database driver) with its own
            # exception types; whatever it raises must not stop the tick's
            # own metrics, so it is recorded as this source's failure.
            except Exception as error:
                result.errors.append(
                    TickError(source.worker_type, source.stage, type(error).__name__, str(error))
                )

    datums = plan.datums(
        config,
        timestamp,
        queue_depth_types=sample.queue_depth_types,
        storage_resolution=sample.storage_resolution,
    )
    with timed("publish"):
        _publish(config, clients, calls, result, [*datums, *extra])

    result.durations_ms["total"] = (time.perf_counter() - started) * 1000
    result.api_calls = calls.snapshot()
    return result


def _read_backlog(
    config: PublisherConfig, clients: AwsClients, calls: _ApiCalls, result: TickResult
) -> dict[WorkerType, QueueCounts]:
    """Each readable type's summed counters; a failed queue is recorded, and its
    type left out (a partial sum would understate the backlog)."""
    urls = [url for fleet in config.fleets.values() for url in fleet.queue_urls]
    reads = read_queues(clients.sqs, urls, calls)
    counts: dict[WorkerType, QueueCounts] = {}
    for worker_type, fleet in config.fleets.items():
        failed = [r for url in fleet.queue_urls if isinstance(r := reads[url], QueueReadError)]
        for failure in failed:
            result.errors.append(
                TickError(
                    worker_type,
                    ErrorStage.READ_QUEUE.value,
                    failure.error_code,
                    failure.message,
                    failure.queue_url,
                )
            )
        if failed:
            continue
        counts[worker_type] = sum_counts(
            r for url in fleet.queue_urls if isinstance(r := reads[url], QueueCounts)
        )
    return counts


def _read_fleets(
    config: PublisherConfig, clients: AwsClients, calls: _ApiCalls, result: TickResult
) -> dict[WorkerType, FleetState]:
    """Each type's ASG state; a failure is recorded for every type it hides."""
    names = {t: fleet.asg_name for t, fleet in config.fleets.items()}
    try:
        found = describe_fleets(clients.autoscaling, names.values(), calls)
    except (ClientError, BotoCoreError) as error:
        for worker_type, name in names.items():
            result.errors.append(
                TickError(
                    worker_type, ErrorStage.DESCRIBE_ASG.value, error_code(error), str(error), name
                )
            )
        return {}
    fleets: dict[WorkerType, FleetState] = {}
    for worker_type, name in names.items():
        if name in found:
            fleets[worker_type] = found[name]
        else:
            result.errors.append(
                TickError(
                    worker_type,
                    ErrorStage.DESCRIBE_ASG.value,
                    "AutoScalingGroupNotFound",
                    f"Auto Scaling group {name!r} does not exist",
                    name,
                )
            )
    return fleets


def _apply_writes(
    video: VideoPlan,
    writes: Sequence[CapacityWrite],
    clients: AwsClients,
    calls: _ApiCalls,
    result: TickResult,
) -> VideoOutcome:
    """Make the plan's capacity writes (Video, and activations into
    ``result.activation``); report what happened to the Video fleet."""
    applied = False
    for write in writes:
        ok = _write_capacity(write, clients, calls, result)
        if write.worker_type is WorkerType.VIDEO:
            applied = ok
        else:
            result.activation[write.worker_type] = VideoOutcome(write.decision, applied=ok)
    if video.decision is None:
        return VideoOutcome(None, skipped=video.skipped)
    return VideoOutcome(video.decision, applied=applied)


def _write_capacity(
    write: CapacityWrite, clients: AwsClients, calls: _ApiCalls, result: TickResult
) -> bool:
    """One SetDesiredCapacity (after the scale-in marker, if any); False if it failed."""
    try:
        if write.scale_in_marker is not None:
            # Marker first: a run that reads the ASG after the SetDesiredCapacity
            # below must also see the marker, or it would step down again.
            calls("autoscaling.CreateOrUpdateTags")
            clients.autoscaling.create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": write.asg_name,
                        "ResourceType": "auto-scaling-group",
                        "Key": VIDEO_SCALE_IN_MARKER_TAG,
                        "Value": write.scale_in_marker,
                        "PropagateAtLaunch": False,
                    }
                ]
            )
        calls("autoscaling.SetDesiredCapacity")
        # HonorCooldown=False: the Lambda is the only controller of this ASG and
        # already limits scale-in per tick; a cooldown would only delay scale-out.
        clients.autoscaling.set_desired_capacity(
            AutoScalingGroupName=write.asg_name,
            DesiredCapacity=write.decision.desired,
            HonorCooldown=False,
        )
    except (ClientError, BotoCoreError) as error:
        result.errors.append(
            TickError(
                write.worker_type,
                ErrorStage.SET_DESIRED_CAPACITY.value,
                error_code(error),
                str(error),
                write.asg_name,
            )
        )
        return False
    return True


def _publish(
    config: PublisherConfig,
    clients: AwsClients,
    calls: _ApiCalls,
    result: TickResult,
    datums: Sequence[Datum],
) -> None:
    """One PutMetricData (per 1000 datums) with everything, errors included."""
    ts = result.timestamp
    datums = [*datums, *(error_datum(e.worker_type, e.stage, ts) for e in result.errors)]

    put_failures: list[TickError] = []
    for part, error in put_datums(clients.cloudwatch, config.namespace, datums, calls):
        if error is None:
            result.datums_published += len(part)
            result.queue_depth_published.update(
                t
                for item in part
                if item["MetricName"] == config.metric_name
                and (t := worker_type_of(item)) is not None
            )
            continue
        hurt = {t for item in part if (t := worker_type_of(item)) is not None} or set(WorkerType)
        for worker_type in sorted(hurt, key=lambda t: t.value):
            put_failures.append(
                TickError(
                    worker_type,
                    ErrorStage.PUT_METRIC_DATA.value,
                    error_code(error),
                    str(error),
                    config.namespace,
                )
            )
    result.errors.extend(put_failures)
    if put_failures:
        # One more, small call with only the put_metric_data errors: if the
        # failure was about the payload (size, a bad extra datum) this one
        # still lands; if CloudWatch is down, the log lines remain.
        retry = [error_datum(e.worker_type, e.stage, ts) for e in put_failures]
        for part, error in put_datums(clients.cloudwatch, config.namespace, retry, calls):
            if error is None:
                result.datums_published += len(part)


def publish_skipped(
    config: PublisherConfig, clients: AwsClients, count: int, timestamp: datetime
) -> list[TickError]:
    """Publish ``SamplesSkipped = count`` on its own (slots no later sample carried).

    Returns its failure (no ``WorkerType``: one error per type), which the handler
    logs and which fails the invocation (the errors alarm). No ``PublisherErrors``
    datum is sent for it: the call that failed was the PutMetricData that would
    carry it."""
    errors: list[TickError] = []
    datums = [samples_skipped_datum(count, timestamp)]
    for _part, error in put_datums(clients.cloudwatch, config.namespace, datums):
        if error is not None:
            errors += [
                TickError(
                    t,
                    ErrorStage.PUT_METRIC_DATA.value,
                    error_code(error),
                    str(error),
                    config.namespace,
                )
                for t in WorkerType
            ]
    return errors
