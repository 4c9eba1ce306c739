"""``BacklogTargetTracking``: EC2 target tracking on backlog per instance.

What the old deploy script got wrong, and what this does instead (README, "Why
not the old policies"):

* It used Application Auto Scaling with ``ec2:autoScalingGroup:DesiredCapacity``,
  a dimension that does not exist. This is an EC2 Auto Scaling
  ``aws_autoscaling_policy`` of type ``TargetTrackingScaling``.
* It set ``ScaleInCooldown``/``ScaleOutCooldown``, which EC2 target tracking
  ignores. This sets the instance warmup and nothing else.
* It tracked the raw ``QueueDepth`` against a per-instance target. A queue depth
  does not fall as instances are added, so the policy runs to max size (AWS
  lists it among metrics that do not work). This tracks ``BacklogPerInstance``
  (the tracked backlog over the capacity the fleet's ``backlog_divisor`` names,
  by default the desired capacity, so it stays right while instances boot),
  published by the queue-depth Lambda for the same ``WorkerType``
  (``worker_metrics.tracked_metric``). A fleet at zero is started by the
  Lambda's activation, not by this policy (``worker_metrics.activation``).

The policy reads the metric at its sampling period (``period``: 10, 30 or 60 s,
``publisher.sample_seconds``); the Lambda publishes one datapoint per period,
at high resolution below 60 s. At 60 s ``period`` is left out: 60 is the API's
default, and the policy stays exactly as it was before sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules.aws import (
    AutoscalingPolicy,
    AutoscalingPolicyTargetTrackingConfiguration,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension,
)
from modules.worker_fleet import WorkerFleet
from worker_metrics.contract import (
    DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    DEFAULT_NAMESPACE,
    DIMENSION_NAME,
    INVOCATION_INTERVAL_SECONDS,
    SAMPLE_SECONDS_RULE,
    TARGET_TRACKED_TYPES,
    TARGET_TRACKING_STATISTIC,
    UNIT,
    is_sample_seconds,
)


@dataclass(frozen=True)
class TrackedMetric:
    """The metric a policy tracks. Defaults are the contract's.

    ``period_seconds``: default 60; the period the policy reads the metric at,
    one of 10, 30, 60 (the publisher's ``sample_seconds``). Raises
    ``ValueError`` naming another value.
    """

    namespace: str = DEFAULT_NAMESPACE
    metric_name: str = DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME
    period_seconds: int = INVOCATION_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        if not is_sample_seconds(self.period_seconds):
            raise ValueError(f"period_seconds = {self.period_seconds!r}: {SAMPLE_SECONDS_RULE}")


class BacklogTargetTracking(Construct):
    """Target-tracking policy that keeps ``fleet``'s backlog per instance at its
    ``target_messages_per_instance`` (default 20, the seed's value).

    Raises ``ValueError`` for a fleet the Lambda controls (Video): two scalers on
    one ASG would fight over its desired capacity.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: WorkerFleet,
        metric: TrackedMetric | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if fleet.worker_type not in TARGET_TRACKED_TYPES:
            raise ValueError(
                f"fleet {fleet.settings.key}: worker type {fleet.worker_type.value!r} is "
                "controlled by the queue-depth Lambda and must not have a target-tracking policy"
            )
        self.metric = metric or TrackedMetric()
        self.fleet = fleet
        self.target_value = float(fleet.settings.target_messages_per_instance)
        # The period of the datapoints the policy evaluates (the dashboard plots at it).
        self.period_seconds = self.metric.period_seconds
        self.policy = AutoscalingPolicy(
            self,
            "policy",
            # Unique across ASGs (policies are keyed by name in some tools, e.g. moto).
            name=f"{fleet.name}-backlog-per-instance",
            autoscaling_group_name=fleet.asg.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=fleet.settings.instance_warmup_seconds,
            target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                target_value=self.target_value,
                disable_scale_in=False,
                customized_metric_specification=AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification(
                    namespace=self.metric.namespace,
                    metric_name=self.metric.metric_name,
                    statistic=TARGET_TRACKING_STATISTIC,
                    unit=UNIT,
                    period=(
                        self.metric.period_seconds
                        if self.metric.period_seconds < INVOCATION_INTERVAL_SECONDS
                        else None
                    ),
                    metric_dimension=[
                        AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension(
                            name=DIMENSION_NAME, value=fleet.worker_type.value
                        )
                    ],
                ),
            ),
        )
