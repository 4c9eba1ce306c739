"""``FleetAlarms``: the alarms of one worker fleet, each naming its runbook section.

* **Capacity exhausted** (``<fleet>-capacity-exhausted``): over the last
  ``capacity_exhausted_minutes`` (default 10) the ASG's desired capacity never
  left its max size, and more messages were sent to the fleet's queues than
  deleted from them: the backlog grew while no capacity could be added. Metric
  math over ``AWS/AutoScaling`` ``GroupDesiredCapacity`` (Minimum) and
  ``GroupMaxSize`` (Maximum) and, per queue, ``AWS/SQS`` ``NumberOfMessagesSent``
  and ``NumberOfMessagesDeleted`` (Sum): sent - deleted is the growth of
  visible + in-flight messages, which needs no time shift (metric math has none).
  One period of that length, so the whole window counts.
* **Messages waiting too long** (``<fleet>-max-wait-<queue>``), one per queue:
  ``ApproximateAgeOfOldestMessage`` (Maximum) above the fleet's
  ``max_wait_seconds`` for 2 consecutive minutes.
* **Dead-letter queue not empty** (``<fleet>-dead-letters-<queue>``), one per
  queue with a dead-letter queue: its ``ApproximateNumberOfMessagesVisible``
  (Maximum) above 0 in a minute.

All three treat missing data as not breaching: SQS stops publishing for a queue
idle for 6 hours, and an idle queue is neither late nor full.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from modules import aws_metrics
from modules.aws import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from modules.runbook import RunbookSection
from modules.worker_fleet import WorkerFleet

CAPACITY_EXHAUSTED_MINUTES = 10
"""Default window of the capacity-exhausted alarm: at max size this long, backlog growing."""

MAX_WAIT_EVALUATION_MINUTES = 2
"""Consecutive minutes the oldest message must be older than ``max_wait_seconds``."""


class FleetAlarms(Construct):
    """The alarms of ``fleet``; ``actions`` (default none) are SNS topic ARNs
    notified on ALARM and on OK (the publisher's ``alarm_topic_arns``).

    ``capacity_exhausted_minutes``: default 10, 1..1440 (a single period of that length).
    Raises ``ValueError`` naming the fleet for a window out of range.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: WorkerFleet,
        actions: Sequence[str] = (),
        capacity_exhausted_minutes: int = CAPACITY_EXHAUSTED_MINUTES,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= capacity_exhausted_minutes <= 1440:
            raise ValueError(
                f"fleet {fleet.settings.key}: capacity_exhausted_minutes = "
                f"{capacity_exhausted_minutes!r}: must be 1..1440"
            )
        self.fleet = fleet
        self.actions = list(actions)
        self.capacity_exhausted_minutes = capacity_exhausted_minutes
        self.capacity_exhausted = self._capacity_exhausted()
        self.max_wait = [
            self._max_wait(index, queue.name) for index, queue in enumerate(fleet.queues)
        ]
        self.dead_letters = [
            self._dead_letters(index, queue.name, queue.dead_letter_queue_name)
            for index, queue in enumerate(fleet.queues)
            if queue.dead_letter_queue_name
        ]

    @property
    def alarms(self) -> list[CloudwatchMetricAlarm]:
        """Every alarm of the fleet, capacity first."""
        return [self.capacity_exhausted, *self.max_wait, *self.dead_letters]

    def _capacity_exhausted(self) -> CloudwatchMetricAlarm:
        fleet = self.fleet
        period = self.capacity_exhausted_minutes * 60

        def stat(
            query_id: str, family: str, metric: str, value: str, statistic: str
        ) -> CloudwatchMetricAlarmMetricQuery:
            namespace = aws_metrics.FAMILIES[family]
            return CloudwatchMetricAlarmMetricQuery(
                id=query_id,
                metric=CloudwatchMetricAlarmMetricQueryMetric(
                    namespace=namespace.namespace,
                    metric_name=metric,
                    dimensions={namespace.dimension: value},
                    stat=statistic,
                    period=period,
                ),
            )

        queries = [
            stat("desired", "AWS/AutoScaling", aws_metrics.GROUP_DESIRED, fleet.name, "Minimum"),
            stat("maxsize", "AWS/AutoScaling", aws_metrics.GROUP_MAX_SIZE, fleet.name, "Maximum"),
        ]
        for index, queue in enumerate(fleet.queues):
            queries.append(stat(f"sent{index}", "AWS/SQS", aws_metrics.SQS_SENT, queue.name, "Sum"))
            queries.append(
                stat(f"deleted{index}", "AWS/SQS", aws_metrics.SQS_DELETED, queue.name, "Sum")
            )
        sent = " + ".join(f"FILL(sent{i}, 0)" for i in range(len(fleet.queues)))
        deleted = " + ".join(f"FILL(deleted{i}, 0)" for i in range(len(fleet.queues)))
        queries.append(
            CloudwatchMetricAlarmMetricQuery(
                id="exhausted",
                expression=f"IF(desired >= maxsize AND ({sent}) > ({deleted}), 1, 0)",
                label="at max size while the backlog grew",
                return_data=True,
            )
        )
        minutes = self.capacity_exhausted_minutes
        return CloudwatchMetricAlarm(
            self,
            "capacity-exhausted",
            alarm_name=f"{fleet.name}-capacity-exhausted",
            alarm_description=RunbookSection.CAPACITY_EXHAUSTED.describe(
                f"The {fleet.worker_type.value} fleet {fleet.name} stayed at its max size "
                f"({fleet.settings.max_size}) for {minutes} minutes while more messages were "
                "sent to its queues than deleted: the backlog grows and no capacity can be added."
            ),
            metric_query=queries,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=self.actions,
            ok_actions=self.actions,
        )

    def _max_wait(self, index: int, queue_name: str) -> CloudwatchMetricAlarm:
        fleet = self.fleet
        limit = fleet.settings.max_wait_seconds
        return CloudwatchMetricAlarm(
            self,
            f"max-wait-{index}",
            alarm_name=f"{fleet.name}-max-wait-{queue_name}",
            alarm_description=RunbookSection.MESSAGES_WAITING_TOO_LONG.describe(
                f"The oldest message of {queue_name} ({fleet.worker_type.value} fleet) has "
                f"waited more than max_wait_seconds = {limit} s for "
                f"{MAX_WAIT_EVALUATION_MINUTES} minutes."
            ),
            namespace=aws_metrics.SQS.namespace,
            metric_name=aws_metrics.SQS_OLDEST_AGE,
            dimensions={aws_metrics.SQS.dimension: queue_name},
            statistic="Maximum",
            period=60,
            evaluation_periods=MAX_WAIT_EVALUATION_MINUTES,
            datapoints_to_alarm=MAX_WAIT_EVALUATION_MINUTES,
            threshold=limit,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=self.actions,
            ok_actions=self.actions,
        )

    def _dead_letters(self, index: int, queue_name: str, dlq_name: str) -> CloudwatchMetricAlarm:
        fleet = self.fleet
        return CloudwatchMetricAlarm(
            self,
            f"dead-letters-{index}",
            alarm_name=f"{fleet.name}-dead-letters-{queue_name}",
            alarm_description=RunbookSection.DEAD_LETTER_QUEUE.describe(
                f"{dlq_name}, the dead-letter queue of {queue_name} ({fleet.worker_type.value} "
                "fleet), holds messages that failed max_receive_count times."
            ),
            namespace=aws_metrics.SQS.namespace,
            metric_name=aws_metrics.SQS_VISIBLE,
            dimensions={aws_metrics.SQS.dimension: dlq_name},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=self.actions,
            ok_actions=self.actions,
        )
