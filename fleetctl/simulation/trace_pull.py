"""Pulling a trace from CloudWatch: each queue's ``AWS/SQS NumberOfMessagesSent``.

One ``GetMetricData`` query per queue (``Sum`` per ``period``), in time chunks
that keep a call under CloudWatch's 100,800 datapoints, following
``NextToken``. A period longer than a minute is spread evenly over its minutes
(the first minutes take the remainder), since a trace row is one minute.
Minutes with no message are left out. CloudWatch keeps one-minute data for
15 days and five-minute data for 63 days: pull older ranges with ``--period 300``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetctl.simulation.trace import TraceRow

MAX_DATAPOINTS_PER_CALL = 100_800
MAX_QUERIES_PER_CALL = 500
NAMESPACE = "AWS/SQS"
METRIC = "NumberOfMessagesSent"


def _queries(queues: Sequence[str], period: int) -> list[dict[str, Any]]:
    return [
        {
            "Id": f"q{index}",
            "Label": queue,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": "QueueName", "Value": queue}],
                },
                "Period": period,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, queue in enumerate(queues)
    ]


def _chunks(start: datetime, end: datetime, step: timedelta) -> Iterator[tuple[datetime, datetime]]:
    cursor = start
    while cursor < end:
        stop = min(cursor + step, end)
        yield cursor, stop
        cursor = stop


def pull_rows(
    cloudwatch: Any, queues: Sequence[str], start: datetime, end: datetime, period: int = 60
) -> list[TraceRow]:
    """Trace rows of ``queues`` from ``start`` to ``end`` (UTC), one per queue and minute
    with messages. ``cloudwatch``: a boto3 CloudWatch client. Raises botocore errors."""
    if period % 60 or period <= 0:
        raise ValueError(f"period = {period}: must be a positive multiple of 60")
    rows: dict[tuple[str, datetime], TraceRow] = {}
    for first in range(0, len(queues), MAX_QUERIES_PER_CALL):
        batch = list(queues[first : first + MAX_QUERIES_PER_CALL])
        queries = _queries(batch, period)
        points_per_query = max(1, MAX_DATAPOINTS_PER_CALL // len(queries))
        step = timedelta(seconds=points_per_query * period)
        for chunk_start, chunk_end in _chunks(start, end, step):
            for row in _pull_chunk(cloudwatch, batch, queries, chunk_start, chunk_end, period):
                rows[(row.queue, row.timestamp)] = row  # a datapoint seen twice counts once
    return list(rows.values())


def _pull_chunk(
    cloudwatch: Any,
    queues: Sequence[str],
    queries: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    period: int,
) -> list[TraceRow]:
    rows: list[TraceRow] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        if token:
            kwargs["NextToken"] = token
        response = cloudwatch.get_metric_data(**kwargs)
        for result in response.get("MetricDataResults", []):
            queue = queues[int(str(result["Id"])[1:])]
            stamps, values = result.get("Timestamps", []), result.get("Values", [])
            for stamp, value in zip(stamps, values, strict=True):
                rows += _minutes(queue, stamp, round(float(value)), period)
        token = response.get("NextToken")
        if not token:
            return rows


def _minutes(queue: str, stamp: datetime, count: int, period: int) -> list[TraceRow]:
    """``count`` messages of one period as per-minute rows (no row for a zero)."""
    minutes = period // 60
    base, extra = divmod(count, minutes)
    moment = stamp.astimezone(UTC)
    return [
        TraceRow(moment + timedelta(minutes=m), queue, base + (1 if m < extra else 0))
        for m in range(minutes)
        if base + (1 if m < extra else 0) > 0
    ]
