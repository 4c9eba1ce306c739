"""Checks 1 and 2: the published series are listed, and have datapoints without gaps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fleetctl.contract_checks import PublishedSchema, dimension_set
from fleetctl.stack_outputs import StackOutputs
from fleetctl.verify.aws import Aws
from fleetctl.verify.results import Status, Window
from worker_metrics import contract
from worker_metrics.contract import WorkerType

PERIOD_SECONDS = 60
"""The Lambda publishes one datum per type per minute; statistics are read per minute."""

MAX_GAP_PERIODS = 2
"""Longest run of missing one-minute datapoints tolerated (CloudWatch can lag a minute)."""


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


def check_list_metrics(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
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


def check_datapoints(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    problems: list[str] = []
    counts: list[int] = []
    worst = 0
    for metric in _published_metric_names(outputs):
        for worker_type in WorkerType:
            points = aws.call(
                "cloudwatch",
                "get_metric_statistics",
                Namespace=outputs.metric_namespace,
                MetricName=metric,
                Dimensions=contract.dimensions(worker_type),
                StartTime=window.start,
                EndTime=window.end,
                Period=PERIOD_SECONDS,
                Statistics=["SampleCount"],
            ).get("Datapoints", [])
            series = f"{metric} {contract.DIMENSION_NAME}={worker_type.value}"
            if not points:
                problems.append(f"{series}: no datapoints")
                continue
            stamps = sorted(p["Timestamp"].astimezone(UTC) for p in points)
            gap = largest_gap(stamps, window.end)
            worst = max(worst, gap)
            counts.append(len(stamps))
            if gap > MAX_GAP_PERIODS:
                problems.append(
                    f"{series}: {gap} missing minutes in a row (last datum {stamps[-1]:%H:%M}Z)"
                )
    if problems:
        return Status.FAIL, f"last {window.minutes} min at {PERIOD_SECONDS} s: " + "; ".join(
            problems
        )
    return Status.PASS, (
        f"last {window.minutes} min at {PERIOD_SECONDS} s: {len(counts)} series, "
        f"{min(counts)}-{max(counts)} datapoints each, largest gap {worst} period(s)"
    )
