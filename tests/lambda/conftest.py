"""Fixtures for the queue-depth Lambda tests: an emulated AWS account (moto).

``aws`` yields a ``LocalAws`` with the three fleets' queues and ASGs created in
moto, and sets the Lambda's environment from ``contract.lambda_environment``
exactly as the stack does, so the handler under test reads a real configuration.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

import lambda_function
from worker_metrics.contract import EnvVar, WorkerType, lambda_environment
from worker_metrics.sampling import SimulatedClock

REGION = "ap-northeast-2"
AMI = "ami-12c6146b"  # an image moto knows
ASG_NAMES = {t: f"test-{t.value.lower()}-workers" for t in WorkerType}


def scheduled_event(when: datetime) -> dict[str, Any]:
    """An EventBridge scheduled event as AWS delivers it (only ``time`` is read)."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": ["arn:aws:events:ap-northeast-2:123456789012:rule/queue-depth"],
        "detail": {},
    }


def this_minute() -> datetime:
    """The current minute, as EventBridge would stamp a scheduled event."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass
class LocalAws:
    """Queues and ASGs of the three fleets in moto, plus clients to inspect them."""

    sqs: Any
    autoscaling: Any
    cloudwatch: Any
    ec2: Any
    queue_urls: dict[WorkerType, list[str]] = field(default_factory=dict)

    def create_queue(self, worker_type: WorkerType, name: str) -> str:
        url = str(self.sqs.create_queue(QueueName=name)["QueueUrl"])
        self.queue_urls.setdefault(worker_type, []).append(url)
        return url

    def create_asg(
        self, worker_type: WorkerType, min_size: int, max_size: int, desired: int
    ) -> None:
        name = ASG_NAMES[worker_type]
        self.ec2.create_launch_template(
            LaunchTemplateName=f"{name}-lt",
            LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{REGION}a"],
        )

    def send(self, worker_type: WorkerType, count: int, queue_index: int = 0) -> None:
        url = self.queue_urls[worker_type][queue_index]
        for start in range(0, count, 10):
            entries = [
                {"Id": str(i), "MessageBody": f"job-{start + i}"}
                for i in range(min(10, count - start))
            ]
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries)

    def receive(self, worker_type: WorkerType, count: int, queue_index: int = 0) -> None:
        """Take ``count`` messages in flight (received, not deleted)."""
        url = self.queue_urls[worker_type][queue_index]
        taken = 0
        for _ in range(count):  # bounded: at most one round per message
            if taken >= count:
                break
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(10, count - taken), VisibilityTimeout=600
            )
            taken += len(batch.get("Messages", []))
        assert taken == count, f"could only take {taken} of {count} messages in flight"

    def desired(self, worker_type: WorkerType) -> int:
        groups = self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[ASG_NAMES[worker_type]]
        )["AutoScalingGroups"]
        return int(groups[0]["DesiredCapacity"])

    def environment(self, **overrides: Any) -> dict[str, str]:
        return lambda_environment(queue_urls=self.queue_urls, asg_names=ASG_NAMES, **overrides)

    def statistic(
        self,
        metric_name: str,
        worker_type: WorkerType,
        when: datetime,
        namespace: str = "Academy/Workers",
        extra_dimensions: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Datapoints of one series in the minute ``when`` (Maximum and Sum)."""
        dims = [{"Name": "WorkerType", "Value": worker_type.value}]
        dims += [{"Name": k, "Value": v} for k, v in (extra_dimensions or {}).items()]
        response = self.cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric_name,
            Dimensions=dims,
            StartTime=when - timedelta(minutes=1),
            EndTime=when + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum", "Sum", "SampleCount"],
        )
        return list(response["Datapoints"])


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region; no real endpoint can be reached."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in {
            v for v in vars(EnvVar).values() if isinstance(v, str)
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # moto loads ~thousands of default AMIs per region on first EC2 use (about a
    # second per test); ASG instances here need none of them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def invoke(clock: SimulatedClock, when: datetime, context: Any = None) -> dict[str, Any]:
    """The handler on the scheduled event of ``when``, started the way EventBridge
    starts it: the simulated clock first moves to ``when`` (never backwards)."""
    if clock.now() < when:
        clock.set(when)
    return dict(lambda_function.lambda_handler(scheduled_event(when), context))


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    """The handler's sampling clock, simulated: it starts at this minute and moves
    only when the loop sleeps, so no test waits and none depends on the second it
    runs in. A test moves it on with ``clock.set`` or hooks ``clock.on_sleep``."""
    simulated = SimulatedClock(this_minute())
    monkeypatch.setattr(lambda_function, "clock", simulated)
    return simulated


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[LocalAws]:
    """One queue per type and three ASGs (0..10, desired 0) inside ``mock_aws``."""
    with mock_aws():
        world = LocalAws(
            sqs=boto3.client("sqs", region_name=REGION),
            autoscaling=boto3.client("autoscaling", region_name=REGION),
            cloudwatch=boto3.client("cloudwatch", region_name=REGION),
            ec2=boto3.client("ec2", region_name=REGION),
        )
        for worker_type in WorkerType:
            world.create_queue(worker_type, f"test-{worker_type.value.lower()}-jobs")
            world.create_asg(worker_type, min_size=0, max_size=10, desired=0)
        yield world


def set_environment(monkeypatch: pytest.MonkeyPatch, environment: Mapping[str, str]) -> None:
    """Apply a Lambda environment to ``os.environ`` for the duration of a test."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
