"""The AWS metrics the dashboard and the alarms read, named in one place.

Our own series come from the metric contract (``worker_metrics.contract``);
these are the ones AWS publishes: SQS per queue, Auto Scaling group metrics per
ASG (published only for the metrics the ASG enables), Lambda per function.
``fleetctl report`` checks every dashboard widget and alarm against this list
and the contract. Pure Python (no cdktf), so the report imports it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AwsMetricFamily:
    """Metrics of one AWS namespace, each keyed by the one dimension ``dimension``."""

    namespace: str
    dimension: str
    metrics: frozenset[str]


SQS_VISIBLE = "ApproximateNumberOfMessagesVisible"
SQS_IN_FLIGHT = "ApproximateNumberOfMessagesNotVisible"
SQS_OLDEST_AGE = "ApproximateAgeOfOldestMessage"
"""Seconds; standard queues leave out a message received 3+ times and not deleted."""
SQS_SENT = "NumberOfMessagesSent"
SQS_DELETED = "NumberOfMessagesDeleted"

GROUP_DESIRED = "GroupDesiredCapacity"
GROUP_IN_SERVICE = "GroupInServiceInstances"
GROUP_PENDING = "GroupPendingInstances"
GROUP_MAX_SIZE = "GroupMaxSize"

LAMBDA_DURATION = "Duration"
LAMBDA_ERRORS = "Errors"
LAMBDA_THROTTLES = "Throttles"
LAMBDA_INVOCATIONS = "Invocations"

SQS = AwsMetricFamily(
    "AWS/SQS",
    "QueueName",
    frozenset(
        {
            SQS_VISIBLE,
            SQS_IN_FLIGHT,
            "ApproximateNumberOfMessagesDelayed",
            SQS_OLDEST_AGE,
            SQS_SENT,
            SQS_DELETED,
            "NumberOfMessagesReceived",
            "NumberOfEmptyReceives",
        }
    ),
)
AUTOSCALING = AwsMetricFamily(
    "AWS/AutoScaling",
    "AutoScalingGroupName",
    frozenset(
        {
            "GroupMinSize",
            GROUP_MAX_SIZE,
            GROUP_DESIRED,
            GROUP_IN_SERVICE,
            GROUP_PENDING,
            "GroupStandbyInstances",
            "GroupTerminatingInstances",
            "GroupTotalInstances",
        }
    ),
)
"""Published only for the metrics in the ASG's ``enabled_metrics``."""
LAMBDA = AwsMetricFamily(
    "AWS/Lambda",
    "FunctionName",
    frozenset(
        {
            LAMBDA_DURATION,
            LAMBDA_ERRORS,
            LAMBDA_THROTTLES,
            LAMBDA_INVOCATIONS,
            "ConcurrentExecutions",
        }
    ),
)

FAMILIES: dict[str, AwsMetricFamily] = {f.namespace: f for f in (SQS, AUTOSCALING, LAMBDA)}
"""Every AWS namespace the stack reads, by name."""
