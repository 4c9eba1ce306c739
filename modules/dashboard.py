"""``WorkersDashboard``: one CloudWatch dashboard per environment, for the operator on call.

Built from the metric contract and the constructs it is given, never from
handwritten JSON (``modules/dashboard_widgets.py`` renders the body):

* a row with the state of every alarm;
* per fleet, a header (control, size range, queues, latency goal) and six graphs:
  ``QueueDepth``; the tracked series with the policy's target as a line (Video:
  the Lambda's rule, backlog and jobs in flight against desired capacity);
  desired, in-service and pending instances with the min and max size; jobs in
  flight (``ApproximateNumberOfMessagesNotVisible`` summed over the fleet's
  queues); ``PublisherErrors`` by stage; the age of the oldest message per queue
  with the fleet's ``max_wait_seconds``;
* the publisher: duration against its timeout, errors and invocations,
  throttles, and the dead-letter queues.

Periods follow the series: the tracked series is plotted at the policy's
period, the other contract series at the publisher's, AWS metrics at 60 s.
``fleetctl report`` checks that every series shown is published or an AWS
metric of a resource in the stack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from constructs import Construct

from modules import aws_metrics
from modules.aws import CloudwatchDashboard, CloudwatchMetricAlarm
from modules.backlog_target_tracking import BacklogTargetTracking
from modules.dashboard_widgets import (
    AlarmStatusWidget,
    Annotation,
    GraphWidget,
    MathSeries,
    MetricSeries,
    TextWidget,
    Widget,
    dashboard_body,
)
from modules.queue_depth_publisher import QueueDepthPublisher
from modules.settings.publisher import TRACKED_PERIOD_SECONDS
from modules.worker_fleet import WorkerFleet
from worker_metrics import contract
from worker_metrics.contract import (
    COUNTING_RULES,
    LAMBDA_CONTROLLED_TYPES,
    TENANT_BACKLOG_STAGE,
    ErrorStage,
    WorkerType,
)

AWS_PERIOD_SECONDS = 60
"""Period of the AWS metrics shown (SQS, Auto Scaling group and Lambda metrics are per minute)."""


class WorkersDashboard(Construct):
    """The dashboard ``<name_prefix>-workers`` of ``fleets`` (one per ``WorkerType``).

    ``policies``: the target-tracking constructs; each fleet's tracked series and
    target come from its policy. ``publisher``: the queue-depth Lambda (its
    metric names, function, timeout). ``alarms``: shown in the status row,
    default none. ``region``: where the metrics live.
    ``body`` is the dashboard as a dict; ``widget_titles`` lists its graphs.
    Raises ``ValueError`` when a target-tracked fleet has no policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleets: Sequence[WorkerFleet],
        policies: Sequence[BacklogTargetTracking],
        publisher: QueueDepthPublisher,
        name_prefix: str,
        region: str,
        alarms: Sequence[CloudwatchMetricAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.publisher = publisher
        self.name = f"{name_prefix}-workers"
        policy_of = {policy.fleet.worker_type: policy for policy in policies}
        rows: list[list[Widget]] = []
        if alarms:
            rows.append([AlarmStatusWidget("Alarms (RUNBOOK.md)", tuple(a.arn for a in alarms))])
        for fleet in fleets:
            policy = policy_of.get(fleet.worker_type)
            if policy is None and fleet.worker_type not in LAMBDA_CONTROLLED_TYPES:
                raise ValueError(
                    f"fleet {fleet.settings.key}: target-tracked but no policy was given"
                )
            rows.append([TextWidget(self._header(fleet, policy))])
            rows.append(self._fleet_graphs(fleet, policy))
        rows.append([TextWidget(f"### Publisher `{publisher.function_name}`", height=1)])
        rows.append(self._publisher_graphs(fleets))
        self.body = dashboard_body(rows, region=region)
        self.widget_titles = [
            w["properties"]["title"] for w in self.body["widgets"] if w["type"] == "metric"
        ]
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=self.name, dashboard_body=json.dumps(self.body)
        )

    # ------------------------------------------------------------------ per fleet

    def _header(self, fleet: WorkerFleet, policy: BacklogTargetTracking | None) -> str:
        settings = fleet.settings
        control = (
            f"EC2 target tracking on `{policy.metric.metric_name}`, target "
            f"{policy.target_value:g} per instance"
            if policy is not None
            else "desired capacity set by the queue-depth Lambda every tick"
        )
        queues = ", ".join(f"`{q.name}`" for q in fleet.queues)
        return (
            f"### {fleet.worker_type.value} fleet `{fleet.name}`\n"
            f"{control}; {settings.min_size}..{settings.max_size} instances, "
            f"{settings.jobs_per_instance} job(s) each; queues {queues}; "
            f"max wait {settings.max_wait_seconds} s. Alarms: RUNBOOK.md."
        )

    def _fleet_graphs(
        self, fleet: WorkerFleet, policy: BacklogTargetTracking | None
    ) -> list[Widget]:
        return [
            self._queue_depth(fleet),
            self._tracked(fleet, policy) if policy else self._lambda_rule(fleet),
            self._capacity(fleet),
            self._jobs_in_flight(fleet),
            self._publisher_errors(fleet),
            self._oldest_message(fleet),
        ]

    def _contract_series(
        self,
        metric_name: str,
        worker_type: WorkerType,
        *,
        stat: str,
        label: str = "",
        series_id: str = "",
        visible: bool = True,
    ) -> MetricSeries:
        return MetricSeries(
            self.publisher.namespace,
            metric_name,
            {contract.DIMENSION_NAME: worker_type.value},
            stat=stat,
            label=label,
            id=series_id,
            visible=visible,
        )

    def _queue_depth(self, fleet: WorkerFleet) -> GraphWidget:
        in_flight = COUNTING_RULES[fleet.worker_type].in_flight
        counted = "visible + in flight" if in_flight else "visible"
        name = self.publisher.metric_name
        return GraphWidget(
            f"{fleet.worker_type.value}: {name} ({counted})",
            (self._contract_series(name, fleet.worker_type, stat="Maximum", label=name),),
            period=TRACKED_PERIOD_SECONDS,
            y_label="messages",
        )

    def _tracked(self, fleet: WorkerFleet, policy: BacklogTargetTracking) -> GraphWidget:
        metric = policy.metric
        return GraphWidget(
            f"{fleet.worker_type.value}: {metric.metric_name} (tracked)",
            (
                MetricSeries(
                    metric.namespace,
                    metric.metric_name,
                    {contract.DIMENSION_NAME: fleet.worker_type.value},
                    stat=contract.TARGET_TRACKING_STATISTIC,
                    label=metric.metric_name,
                ),
            ),
            period=policy.period_seconds,
            annotations=(Annotation(f"target {policy.target_value:g}", policy.target_value),),
            y_label="messages per instance",
        )

    def _lambda_rule(self, fleet: WorkerFleet) -> GraphWidget:
        """The Video rule's inputs against the desired capacity it sets."""
        settings = fleet.settings
        per_instance = float(settings.target_messages_per_instance)
        in_flight, in_flight_total = self._queue_series(fleet, aws_metrics.SQS_IN_FLIGHT, "q")
        return GraphWidget(
            f"{fleet.worker_type.value}: the Lambda's rule (instances)",
            (
                self._contract_series(
                    self.publisher.metric_name,
                    fleet.worker_type,
                    stat="Maximum",
                    series_id="backlog",
                    visible=False,
                ),
                *in_flight,
                # worker_metrics.video_capacity: the jobs running plus the jobs waiting.
                MathSeries(
                    f"CEIL(({in_flight_total}) / {settings.jobs_per_instance}"
                    f" + backlog / {per_instance:g})",
                    f"running / {settings.jobs_per_instance} + waiting / {per_instance:g}"
                    " per instance",
                    "wanted",
                ),
                MathSeries(
                    f"CEIL(({in_flight_total}) / {settings.jobs_per_instance})",
                    f"floor: jobs in flight / {settings.jobs_per_instance}",
                    "floor",
                ),
                self._group_series(fleet, aws_metrics.GROUP_DESIRED, "desired (set by the Lambda)"),
            ),
            period=TRACKED_PERIOD_SECONDS,
            annotations=(Annotation("max size", settings.max_size),),
            y_label="instances",
        )

    def _group_series(self, fleet: WorkerFleet, metric: str, label: str) -> MetricSeries:
        family = aws_metrics.AUTOSCALING
        return MetricSeries(
            family.namespace, metric, {family.dimension: fleet.name}, stat="Maximum", label=label
        )

    def _capacity(self, fleet: WorkerFleet) -> GraphWidget:
        settings = fleet.settings
        return GraphWidget(
            f"{fleet.worker_type.value}: capacity (instances)",
            (
                self._group_series(fleet, aws_metrics.GROUP_DESIRED, "desired"),
                self._group_series(fleet, aws_metrics.GROUP_IN_SERVICE, "in service"),
                self._group_series(fleet, aws_metrics.GROUP_PENDING, "pending"),
            ),
            period=AWS_PERIOD_SECONDS,
            annotations=(
                Annotation("max size", settings.max_size),
                Annotation("min size", settings.min_size),
            ),
            y_label="instances",
        )

    @staticmethod
    def _queue_series(
        fleet: WorkerFleet, metric: str, prefix: str
    ) -> tuple[list[MetricSeries], str]:
        """Hidden ``metric`` series of each queue (ids ``<prefix><index>``) and the
        expression summing them (a queue without data counts 0)."""
        family = aws_metrics.SQS
        hidden = [
            MetricSeries(
                family.namespace,
                metric,
                {family.dimension: queue.name},
                stat="Maximum",
                id=f"{prefix}{index}",
                visible=False,
            )
            for index, queue in enumerate(fleet.queues)
        ]
        return hidden, " + ".join(f"FILL({prefix}{i}, 0)" for i in range(len(fleet.queues)))

    def _jobs_in_flight(self, fleet: WorkerFleet) -> GraphWidget:
        settings = fleet.settings
        at_max = settings.max_size * settings.jobs_per_instance
        hidden, total = self._queue_series(fleet, aws_metrics.SQS_IN_FLIGHT, "q")
        return GraphWidget(
            f"{fleet.worker_type.value}: jobs in flight",
            (*hidden, MathSeries(total, "jobs in flight", "inflight")),
            period=AWS_PERIOD_SECONDS,
            annotations=(Annotation(f"max size x {settings.jobs_per_instance} job(s)", at_max),),
            y_label="messages received, not deleted",
        )

    def _publisher_errors(self, fleet: WorkerFleet) -> GraphWidget:
        stages = [
            stage.value
            for stage in ErrorStage
            if stage is not ErrorStage.SET_DESIRED_CAPACITY or fleet.settings.lambda_writes_capacity
        ]
        if fleet.worker_type is WorkerType.VIDEO and self.publisher.settings.tenant_backlog:
            stages.append(TENANT_BACKLOG_STAGE)
        return GraphWidget(
            f"{fleet.worker_type.value}: {contract.ERROR_METRIC_NAME} by stage",
            tuple(
                MetricSeries(
                    self.publisher.namespace,
                    contract.ERROR_METRIC_NAME,
                    {
                        contract.DIMENSION_NAME: fleet.worker_type.value,
                        contract.STAGE_DIMENSION_NAME: stage,
                    },
                    stat="Sum",
                    label=stage,
                )
                for stage in stages
            ),
            period=TRACKED_PERIOD_SECONDS,
            y_label="failed calls",
        )

    def _oldest_message(self, fleet: WorkerFleet) -> GraphWidget:
        family = aws_metrics.SQS
        limit = fleet.settings.max_wait_seconds
        return GraphWidget(
            f"{fleet.worker_type.value}: age of the oldest message",
            tuple(
                MetricSeries(
                    family.namespace,
                    aws_metrics.SQS_OLDEST_AGE,
                    {family.dimension: queue.name},
                    stat="Maximum",
                    label=queue.name,
                )
                for queue in fleet.queues
            ),
            period=AWS_PERIOD_SECONDS,
            annotations=(Annotation(f"max_wait_seconds {limit}", limit),),
            y_label="seconds",
        )

    # ------------------------------------------------------------------ publisher

    def _publisher_graphs(self, fleets: Sequence[WorkerFleet]) -> list[Widget]:
        family = aws_metrics.LAMBDA
        function = {family.dimension: self.publisher.function_name}
        timeout_ms = self.publisher.settings.timeout_seconds * 1000

        def lambda_series(metric: str, stat: str, label: str) -> MetricSeries:
            return MetricSeries(family.namespace, metric, function, stat=stat, label=label)

        graphs: list[Widget] = [
            GraphWidget(
                "Publisher: duration (ms)",
                (
                    lambda_series(aws_metrics.LAMBDA_DURATION, "Average", "average"),
                    lambda_series(aws_metrics.LAMBDA_DURATION, "Maximum", "maximum"),
                ),
                period=AWS_PERIOD_SECONDS,
                annotations=(Annotation("timeout", timeout_ms),),
                y_label="ms",
                width=6,
            ),
            GraphWidget(
                "Publisher: errors and invocations",
                (
                    lambda_series(aws_metrics.LAMBDA_ERRORS, "Sum", "errors"),
                    lambda_series(aws_metrics.LAMBDA_INVOCATIONS, "Sum", "invocations"),
                ),
                period=AWS_PERIOD_SECONDS,
                y_label="per minute",
                width=6,
            ),
            GraphWidget(
                "Publisher: throttles",
                (lambda_series(aws_metrics.LAMBDA_THROTTLES, "Sum", "throttles"),),
                period=AWS_PERIOD_SECONDS,
                y_label="per minute",
                width=6,
            ),
        ]
        dead_letters = self._dead_letter_graph(fleets)
        return [*graphs, dead_letters] if dead_letters else graphs

    @staticmethod
    def _dead_letter_graph(fleets: Sequence[WorkerFleet]) -> GraphWidget | None:
        """Visible messages of every dead-letter queue, or ``None`` when there is none."""
        names = [
            name for f in fleets for q in f.queues if (name := q.dead_letter_queue_name) is not None
        ]
        if not names:
            return None
        sqs = aws_metrics.SQS
        return GraphWidget(
            "Dead-letter queues: messages",
            tuple(
                MetricSeries(
                    sqs.namespace, aws_metrics.SQS_VISIBLE, {sqs.dimension: name}, "Maximum", name
                )
                for name in names
            ),
            period=AWS_PERIOD_SECONDS,
            y_label="messages",
            width=6,
        )
