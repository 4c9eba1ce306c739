"""``PublisherAlarms``: the queue-depth Lambda's errors alarm and missing-data alarms.

Two kinds of missing-data alarm, each at the period of the series it watches:
``QueueDepth`` (the seed's series, one datum a minute: 60 s) for every type, and
the tracked series (``BacklogPerInstance``, one datum per sample: the policies'
``period``, 10, 30 or 60 s) for the target-tracked types. The second catches
what the first cannot: ``QueueDepth`` published while the tracked series is not
(its ASG unreadable), or samples skipped so often that target tracking, which
needs consecutive datapoints, stalls. Below 60 s it is a high-resolution alarm
(it costs more; ``fleetctl report`` prices it).

Not a construct of its own: the alarms are created directly in the scope it is
given (the ``QueueDepthPublisher``), so their construct paths stay
``<stack>/queue-depth/errors-alarm`` and their Terraform addresses
``aws_cloudwatch_metric_alarm.queue-depth_errors-alarm_<hash>``, as before the
split. A child construct would add a path segment: every alarm would get a new
address and be destroyed and re-created on the next apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from constructs import Construct

from modules.aws import CloudwatchMetricAlarm, LambdaFunction
from modules.runbook import RunbookSection
from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType

MISSING_DATA_EVALUATION_MINUTES = 5
"""Minutes without a ``QueueDepth`` datum before the missing-data alarm fires."""

TRACKED_MISSING_FRACTION = 0.5
"""The tracked series' alarm fires when at least this share of its periods in
``MISSING_DATA_EVALUATION_MINUTES`` had no datum (3 of 5 at 60 s, 15 of 30 at 10 s)."""


def tracked_missing_datapoints(period_seconds: int) -> tuple[int, int]:
    """(evaluation periods, datapoints to alarm) of the tracked series' alarm at
    ``period_seconds``: ``MISSING_DATA_EVALUATION_MINUTES`` of periods, at least
    ``TRACKED_MISSING_FRACTION`` of them missing."""
    periods = MISSING_DATA_EVALUATION_MINUTES * 60 // period_seconds
    return periods, math.ceil(periods * TRACKED_MISSING_FRACTION)


class PublisherAlarms:
    """Alarms on the publisher ``function``: its errors, and missing ``metric_name`` data.

    ``scope``: where the alarms are created; pass the publisher itself, so the
    construct IDs stay ``errors-alarm`` and ``missing-data-alarm-<type>``.
    ``function``: the Lambda whose ``AWS/Lambda`` ``Errors`` are alarmed (2 of 3
    one-minute periods with at least one error; no data is not breaching).
    ``name_prefix``: alarm names are ``<name_prefix>-errors`` and
    ``<name_prefix>-missing-<type>`` (the function's name, a plain string).
    ``namespace`` / ``metric_name``: the published ``QueueDepth`` series; one alarm
    per ``WorkerType`` fires after ``MISSING_DATA_EVALUATION_MINUTES`` minutes
    without a datum (missing data is breaching: a silent publisher freezes target
    tracking).
    ``tracked_metric_name`` / ``tracked_period_seconds``: the series target
    tracking consumes and its period; one alarm per target-tracked type when at
    least half of its datapoints of ``MISSING_DATA_EVALUATION_MINUTES`` are
    missing (``tracked_missing_datapoints``); default ``None``: no such alarms.
    ``actions``: SNS topic ARNs notified on ALARM and on OK; default none.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        function: LambdaFunction,
        name_prefix: str,
        namespace: str,
        metric_name: str,
        tracked_metric_name: str | None = None,
        tracked_period_seconds: int = 60,
        actions: Sequence[str] = (),
    ) -> None:
        self.errors_alarm = CloudwatchMetricAlarm(
            scope,
            "errors-alarm",
            alarm_name=f"{name_prefix}-errors",
            alarm_description=RunbookSection.LAMBDA_ERRORS.describe(
                "The queue-depth Lambda failed: some metrics or the Video decision are missing."
            ),
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.function_name},
            statistic="Sum",
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=list(actions),
            ok_actions=list(actions),
        )
        self.missing_data_alarms = [
            _missing_series_alarm(
                scope,
                f"missing-data-alarm-{worker_type.name.lower()}",
                alarm_name=f"{name_prefix}-missing-{worker_type.name.lower()}",
                description=RunbookSection.MISSING_QUEUE_DEPTH.describe(
                    f"No {metric_name} datum for WorkerType={worker_type.value}: target tracking "
                    "cannot scale in and the Video fleet is not driven."
                ),
                namespace=namespace,
                metric_name=metric_name,
                worker_type=worker_type,
                period=60,
                evaluation_periods=MISSING_DATA_EVALUATION_MINUTES,
                actions=actions,
            )
            for worker_type in WorkerType
        ]
        self.tracked_missing_data_alarms: list[CloudwatchMetricAlarm] = []
        if tracked_metric_name is None:
            return
        periods, missing = tracked_missing_datapoints(tracked_period_seconds)
        self.tracked_missing_data_alarms = [
            _missing_series_alarm(
                scope,
                f"tracked-missing-data-alarm-{worker_type.name.lower()}",
                alarm_name=f"{name_prefix}-tracked-missing-{worker_type.name.lower()}",
                description=RunbookSection.MISSING_TRACKED_SERIES.describe(
                    f"{tracked_metric_name} for WorkerType={worker_type.value} missing in "
                    f"{missing} of the last {periods} periods of {tracked_period_seconds} s: "
                    "its target-tracking policy cannot scale out on time, nor scale in."
                ),
                namespace=namespace,
                metric_name=tracked_metric_name,
                worker_type=worker_type,
                period=tracked_period_seconds,
                evaluation_periods=periods,
                datapoints_to_alarm=missing,
                actions=actions,
            )
            for worker_type in TARGET_TRACKED_TYPES
        ]


def _missing_series_alarm(
    scope: Construct,
    construct_id: str,
    *,
    alarm_name: str,
    description: str,
    namespace: str,
    metric_name: str,
    worker_type: WorkerType,
    period: int,
    evaluation_periods: int,
    actions: Sequence[str],
    datapoints_to_alarm: int | None = None,
) -> CloudwatchMetricAlarm:
    """An alarm on a published series of ``worker_type`` that fires when its datapoints
    go missing (fewer than one sample per period; no data counts as missing)."""
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions={contract.DIMENSION_NAME: worker_type.value},
        statistic="SampleCount",
        period=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        threshold=1,
        comparison_operator="LessThanThreshold",
        treat_missing_data="breaching",
        alarm_actions=list(actions),
        ok_actions=list(actions),
    )
