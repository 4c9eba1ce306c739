"""``PublisherAlarms``: the queue-depth Lambda's errors alarm and missing-data alarms.

Not a construct of its own: the alarms are created directly in the scope it is
given (the ``QueueDepthPublisher``), so their construct paths stay
``<stack>/queue-depth/errors-alarm`` and their Terraform addresses
``aws_cloudwatch_metric_alarm.queue-depth_errors-alarm_<hash>``, as before the
split. A child construct would add a path segment: every alarm would get a new
address and be destroyed and re-created on the next apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from modules.aws import CloudwatchMetricAlarm, LambdaFunction
from modules.runbook import RunbookSection
from worker_metrics import contract
from worker_metrics.contract import WorkerType

MISSING_DATA_EVALUATION_MINUTES = 5
"""Minutes without a ``QueueDepth`` datum before the missing-data alarm fires."""


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
            CloudwatchMetricAlarm(
                scope,
                f"missing-data-alarm-{worker_type.name.lower()}",
                alarm_name=f"{name_prefix}-missing-{worker_type.name.lower()}",
                alarm_description=RunbookSection.MISSING_QUEUE_DEPTH.describe(
                    f"No {metric_name} datum for WorkerType={worker_type.value}: target tracking "
                    "cannot scale in and the Video fleet is not driven."
                ),
                namespace=namespace,
                metric_name=metric_name,
                dimensions={contract.DIMENSION_NAME: worker_type.value},
                statistic="SampleCount",
                period=60,
                evaluation_periods=MISSING_DATA_EVALUATION_MINUTES,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=list(actions),
                ok_actions=list(actions),
            )
            for worker_type in WorkerType
        ]
