"""Building CloudWatch datums in the contract's schema and publishing them.

All datums of a sample go out in one PutMetricData call, split only at the API's
limit of 1000 datums per call (``chunk``). A datum is standard resolution unless
it is given ``storage_resolution = 1`` (the tracked series sampled below 60 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from worker_metrics.contract import (
    DIMENSION_NAME,
    ERROR_METRIC_NAME,
    SAMPLES_SKIPPED_METRIC_NAME,
    STAGE_DIMENSION_NAME,
    UNIT,
    WorkerType,
    dimensions,
)

MAX_DATUMS_PER_CALL = 1000
"""PutMetricData accepts at most 1000 datums per call (NOTES section 4)."""

Datum = dict[str, Any]
"""One ``MetricData`` item as the PutMetricData API spells it."""

T = TypeVar("T")


def chunk(items: Sequence[T], size: int = MAX_DATUMS_PER_CALL) -> list[Sequence[T]]:
    """``items`` split into consecutive slices of at most ``size`` (none if empty).

    Raises ``ValueError`` if ``size`` is not positive.
    """
    if size <= 0:
        raise ValueError(f"size = {size}: must be > 0")
    return [items[start : start + size] for start in range(0, len(items), size)]


def datum(
    metric_name: str,
    worker_type: WorkerType,
    value: float,
    timestamp: datetime,
    storage_resolution: int | None = None,
) -> Datum:
    """A ``QueueDepth`` or ``BacklogPerInstance`` datum: unit Count, dimension WorkerType.

    ``storage_resolution``: default ``None``, the key left out (standard
    resolution, the seed's datum exactly); 1 stores it at high resolution.
    """
    item: Datum = {
        "MetricName": metric_name,
        "Dimensions": dimensions(worker_type),
        "Value": float(value),
        "Timestamp": timestamp,
        "Unit": UNIT,
    }
    if storage_resolution is not None:
        item["StorageResolution"] = storage_resolution
    return item


def samples_skipped_datum(count: int, timestamp: datetime) -> Datum:
    """One ``SamplesSkipped`` datum: ``count`` samples skipped since the last one published."""
    return {
        "MetricName": SAMPLES_SKIPPED_METRIC_NAME,
        "Dimensions": [],
        "Value": float(count),
        "Timestamp": timestamp,
        "Unit": UNIT,
    }


def error_datum(worker_type: WorkerType, stage: str, timestamp: datetime) -> Datum:
    """One ``PublisherErrors`` datum (value 1) for a failed call of ``stage``."""
    return {
        "MetricName": ERROR_METRIC_NAME,
        "Dimensions": [*dimensions(worker_type), {"Name": STAGE_DIMENSION_NAME, "Value": stage}],
        "Value": 1.0,
        "Timestamp": timestamp,
        "Unit": UNIT,
    }


def worker_type_of(item: Datum) -> WorkerType | None:
    """The ``WorkerType`` dimension of a datum, if it has a valid one."""
    for dimension in item.get("Dimensions", []):
        if dimension.get("Name") == DIMENSION_NAME:
            try:
                return WorkerType(dimension.get("Value"))
            except ValueError:
                return None
    return None


def put_datums(
    cloudwatch: Any,
    namespace: str,
    datums: Sequence[Datum],
    on_call: Callable[[str], None] = lambda _kind: None,
) -> Iterator[tuple[Sequence[Datum], BaseException | None]]:
    """Publish ``datums``, one PutMetricData per 1000; yield each chunk and its error.

    A failed chunk does not stop the next one: each is independent on the AWS
    side. Only botocore errors are caught (see ``tick``); anything else is a bug.
    """
    for part in chunk(datums):
        on_call("cloudwatch.PutMetricData")
        try:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(part))
        except (ClientError, BotoCoreError) as error:
            yield part, error
        else:
            yield part, None
