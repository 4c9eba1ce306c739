"""Checks 1 and 2: the published series are listed, and have datapoints without gaps.

Check 2 reads each series at its own resolution: ``QueueDepth`` per minute (one
standard datum a minute, the seed's contract: a minute with several datums would
make the seed's ``--statistics Sum`` read a multiple of the depth), and the
tracked series ``BacklogPerInstance`` at the function's ``SAMPLE_SECONDS`` (10 or
30 s: high resolution, kept at that period for 3 hours only, so at most the last
``HIGH_RESOLUTION_MINUTES`` of the window are read at it).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fleetctl.contract_checks import PublishedSchema, dimension_set
from fleetctl.stack_outputs import StackOutputs
from fleetctl.verify.aws import Aws
from fleetctl.verify.function import DeployedFunction, sample_seconds
from fleetctl.verify.results import Status, Window
from worker_metrics import contract
from worker_metrics.contract import WorkerType

PERIOD_SECONDS = 60
"""``QueueDepth`` has one datum per type per minute; it is read per minute."""

MAX_GAP_PERIODS = 2
"""Longest run of missing datapoints tolerated, in periods of the series (CloudWatch
can lag a minute; two skipped samples in a row at 10 s)."""

HIGH_RESOLUTION_MINUTES = 180
"""CloudWatch keeps datapoints of periods under 60 s for 3 hours."""


def contract_schema() -> PublishedSchema:
    """What the Lambda must publish: the contract's names, for every worker type."""
    return PublishedSchema(
        namespace=contract.DEFAULT_NAMESPACE,
        metric_name=contract.DEFAULT_METRIC_NAME,
        backlog_per_instance_metric_name=contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
        worker_types=tuple(WorkerType),
        tenant_backlog=False,
    )


def _published_metric_names(outputs: StackOutputs) -> tuple[str, str]:
    return outputs.metric_name, outputs.backlog_per_instance_metric_name


def check_list_metrics(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    missing: list[str] = []
    found = 0
    for metric in _published_metric_names(outputs):
        listed = {
            dimension_set((d["Name"], d["Value"]) for d in m.get("Dimensions", []))
            for m in aws.pages(
                "cloudwatch",
                "list_metrics",
                "Metrics",
                Namespace=outputs.metric_namespace,
                MetricName=metric,
            )
        }
        for worker_type in WorkerType:
            if dimension_set([(contract.DIMENSION_NAME, worker_type.value)]) in listed:
                found += 1
            else:
                missing.append(f"{metric} {contract.DIMENSION_NAME}={worker_type.value}")
    if missing:
        return Status.FAIL, (
            f"not listed in {outputs.metric_namespace}: {', '.join(missing)} "
            "(a new series can take up to 15 minutes to appear)"
        )
    return Status.PASS, f"{found} series listed in {outputs.metric_namespace}"


def largest_gap(timestamps: Sequence[datetime], end: datetime, period: int = PERIOD_SECONDS) -> int:
    """Longest run of missing periods between sorted datapoints and after the last one."""
    gaps = [
        int((later - earlier).total_seconds() // period) - 1
        for earlier, later in zip(timestamps, [*timestamps[1:], end], strict=True)
    ]
    return max([0, *gaps])


def check_datapoints(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    tracked_period = sample_seconds(function.configuration) or PERIOD_SECONDS
    tracked_window = window
    if tracked_period < PERIOD_SECONDS:
        tracked_window = Window(window.end, min(window.minutes, HIGH_RESOLUTION_MINUTES))
    problems: list[str] = []
    counts: list[int] = []
    worst = 0
    reads = (
        (outputs.metric_name, PERIOD_SECONDS, window),
        (outputs.backlog_per_instance_metric_name, tracked_period, tracked_window),
    )
    for metric, period, span in reads:
        for worker_type in WorkerType:
            series = f"{metric} {contract.DIMENSION_NAME}={worker_type.value}"
            points = _datapoints(aws, outputs, metric, worker_type, period, span)
            if not points:
                problems.append(f"{series}: no datapoints")
                continue
            stamps = sorted(p["Timestamp"].astimezone(UTC) for p in points)
            gap = largest_gap(stamps, span.end, period)
            worst = max(worst, gap)
            counts.append(len(stamps))
            if gap > MAX_GAP_PERIODS:
                unit = "minutes" if period == PERIOD_SECONDS else f"periods of {period} s"
                problems.append(
                    f"{series}: {gap} missing {unit} in a row (last datum {stamps[-1]:%H:%M:%S}Z)"
                )
            if metric == outputs.metric_name:
                per_minute = statistics.median(p["SampleCount"] for p in points)
                if per_minute > 1:
                    problems.append(
                        f"{series}: {per_minute:g} datums a minute; the seed's contract is one "
                        f"(its --statistics Sum would read {per_minute:g} times the depth)"
                    )
    read = (
        f"last {window.minutes} min: {outputs.metric_name} at {PERIOD_SECONDS} s, "
        f"{outputs.backlog_per_instance_metric_name} at {tracked_period} s"
        + (
            ""
            if tracked_window.minutes == window.minutes
            else f" (its last {tracked_window.minutes} min)"
        )
    )
    if problems:
        return Status.FAIL, f"{read}: " + "; ".join(problems)
    return Status.PASS, (
        f"{read}: {len(counts)} series, {min(counts)}-{max(counts)} datapoints each, "
        f"largest gap {worst} period(s)"
    )


def _datapoints(
    aws: Aws,
    outputs: StackOutputs,
    metric: str,
    worker_type: WorkerType,
    period: int,
    window: Window,
) -> list[dict[str, Any]]:
    """``SampleCount`` of one series per ``period`` over ``window``."""
    return list(
        aws.call(
            "cloudwatch",
            "get_metric_statistics",
            Namespace=outputs.metric_namespace,
            MetricName=metric,
            Dimensions=contract.dimensions(worker_type),
            StartTime=window.start,
            EndTime=window.end,
            Period=period,
            Statistics=["SampleCount"],
        ).get("Datapoints", [])
    )
