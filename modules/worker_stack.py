"""``WorkerAutoscalingStack``: one environment's queues, fleets, scaling and publisher.

Composition only; every resource is made by a construct in its own file:

* ``WorkerQueue`` per configured queue;
* ``WorkerFleet`` per worker type, given its queue constructs;
* ``BacklogTargetTracking`` for AI and Messaging (contract
  ``TARGET_TRACKED_TYPES``); none for Video, which the Lambda drives;
* one ``QueueDepthPublisher`` given all fleets;
* ``FleetAlarms`` per fleet (capacity exhausted, messages waiting too long,
  dead-letter queue not empty) and one ``WorkersDashboard`` over all of it.

Outputs carry the deployed names, so ``fleetctl verify`` and the demo read them
from ``terraform output`` instead of guessing.
"""

from __future__ import annotations

from pathlib import Path

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from modules.agent_bundle import build_agent_bundle
from modules.backlog_target_tracking import BacklogTargetTracking, TrackedMetric
from modules.dashboard import WorkersDashboard
from modules.fleet_alarms import FleetAlarms
from modules.provider import aws_provider
from modules.queue_depth_publisher import QueueDepthPublisher
from modules.settings import EnvironmentSettings
from modules.state_backend import configure_backend
from modules.worker_fleet import WorkerFleet
from modules.worker_queue import WorkerQueue
from worker_metrics.contract import TARGET_TRACKED_TYPES


class WorkerAutoscalingStack(TerraformStack):
    """Everything one environment deploys. ``lambda_zip`` comes from ``make lambda``."""

    def __init__(
        self, scope: Construct, *, settings: EnvironmentSettings, lambda_zip: Path
    ) -> None:
        super().__init__(scope, settings.stack_name)
        self.settings = settings
        aws_provider(self, settings)
        configure_backend(self, settings)

        self.fleets: list[WorkerFleet] = []
        agent = build_agent_bundle()  # read and checked once; every fleet ships it
        for fleet_settings in settings.fleets:
            key = fleet_settings.key
            queues = [
                WorkerQueue(self, f"{key}-queue-{index}", settings=queue_settings)
                for index, queue_settings in enumerate(fleet_settings.queues)
            ]
            self.fleets.append(
                WorkerFleet(
                    self,
                    f"{key}-fleet",
                    settings=fleet_settings,
                    queues=queues,
                    name_prefix=settings.name_prefix,
                    region=settings.region,
                    tags=settings.tags,
                    agent=agent,
                )
            )

        self.publisher = QueueDepthPublisher(
            self,
            "queue-depth",
            settings=settings.publisher,
            fleets=self.fleets,
            name_prefix=settings.name_prefix,
            lambda_zip=lambda_zip,
        )
        metric = TrackedMetric(
            namespace=self.publisher.namespace,
            metric_name=self.publisher.backlog_per_instance_metric_name,
            period_seconds=self.publisher.settings.sample_seconds,
        )
        self.scaling_policies = [
            BacklogTargetTracking(
                self, f"{fleet.settings.key}-target-tracking", fleet=fleet, metric=metric
            )
            for fleet in self.fleets
            if fleet.worker_type in TARGET_TRACKED_TYPES
        ]
        self.fleet_alarms = [
            FleetAlarms(
                self,
                f"{fleet.settings.key}-alarms",
                fleet=fleet,
                actions=settings.publisher.alarm_topic_arns,
            )
            for fleet in self.fleets
        ]
        self.dashboard = WorkersDashboard(
            self,
            "dashboard",
            fleets=self.fleets,
            policies=self.scaling_policies,
            publisher=self.publisher,
            name_prefix=settings.name_prefix,
            region=settings.region,
            alarms=[
                self.publisher.errors_alarm,
                *self.publisher.missing_data_alarms,
                *self.publisher.tracked_missing_data_alarms,
                *(alarm for fleet_alarms in self.fleet_alarms for alarm in fleet_alarms.alarms),
            ],
        )
        self._outputs()

    def _outputs(self) -> None:
        publisher = self.publisher
        TerraformOutput(self, "region", value=self.settings.region)
        TerraformOutput(self, "metric_namespace", value=publisher.namespace)
        TerraformOutput(self, "metric_name", value=publisher.metric_name)
        TerraformOutput(
            self,
            "backlog_per_instance_metric_name",
            value=publisher.backlog_per_instance_metric_name,
        )
        TerraformOutput(self, "function_name", value=publisher.function.function_name)
        TerraformOutput(self, "schedule_rule_name", value=publisher.schedule.name)
        TerraformOutput(self, "log_group_name", value=publisher.log_group.name)
        TerraformOutput(self, "dashboard_name", value=self.dashboard.dashboard.dashboard_name)
        TerraformOutput(
            self,
            "fleets",
            value={
                fleet.worker_type.value: {
                    "asg_name": fleet.asg.name,
                    "queue_urls": [q.url for q in fleet.queues],
                    "scaling_policy": next(
                        (p.policy.name for p in self.scaling_policies if p.fleet is fleet), ""
                    ),
                }
                for fleet in self.fleets
            },
        )
