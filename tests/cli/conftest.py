"""Fixtures of the fleetctl tests: a deployed stack in moto, and its outputs file.

``deployed`` builds in moto what ``workers-local`` deploys and the verify checks
read: three queues, three ASGs, target-tracking policies on AI and Messaging, the
function (environment from ``contract.lambda_environment``, as the stack writes
it), its schedule rule and target, and 30 minutes of QueueDepth (one datum a
minute) and BacklogPerInstance (one every 10 s, the default sampling; the
policies read it at that period) in the contract's schema.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType

REGION = "ap-northeast-2"
AMI = "ami-12c6146b"  # an image moto knows
PREFIX = "academy-local"
FUNCTION = f"{PREFIX}-queue-depth"


def asg_name(worker_type: WorkerType) -> str:
    return f"{PREFIX}-{worker_type.name.lower()}-workers"


def policy_name(worker_type: WorkerType) -> str:
    return f"{asg_name(worker_type)}-backlog-per-instance"


def tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "lambda_function.py", "def lambda_handler(event, context):\n    return {}\n"
        )
    return buffer.getvalue()


@dataclass
class Deployed:
    """The moto account, its clients and the stack outputs that describe it."""

    session: boto3.Session
    outputs_file: Path
    now: datetime
    queue_urls: dict[WorkerType, list[str]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def put_series(
        self,
        metric: str,
        worker_type: WorkerType,
        minutes: range,
        value: float = 3.0,
        every_seconds: int = 60,
    ) -> None:
        """Datums every ``every_seconds`` in the minute ``now - m`` for ``m`` in
        ``minutes`` (one a minute by default; high resolution below 60 s)."""
        cloudwatch = self.client("cloudwatch")
        datums = [
            {
                "MetricName": metric,
                "Dimensions": contract.dimensions(worker_type),
                "Value": value,
                "Unit": contract.UNIT,
                "Timestamp": self.now - timedelta(minutes=m) + timedelta(seconds=second),
                **({"StorageResolution": 1} if every_seconds < 60 else {}),
            }
            for m in minutes
            for second in range(0, 60, every_seconds)
        ]
        for start in range(0, len(datums), 20):
            cloudwatch.put_metric_data(
                Namespace=contract.DEFAULT_NAMESPACE, MetricData=datums[start : start + 20]
            )

    def put_target_tracking(
        self, worker_type: WorkerType, metric: str, dimension_value: str, period: int | None = 10
    ) -> None:
        """A target-tracking policy on ``metric`` read every ``period`` s (``None``:
        no ``Period``, the API's 60 s)."""
        spec: dict[str, Any] = {
            "Namespace": contract.DEFAULT_NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": contract.DIMENSION_NAME, "Value": dimension_value}],
            "Statistic": contract.TARGET_TRACKING_STATISTIC,
            "Unit": contract.UNIT,
        }
        if period is not None:
            spec["Period"] = period
        self.client("autoscaling").put_scaling_policy(
            AutoScalingGroupName=asg_name(worker_type),
            PolicyName=policy_name(worker_type),
            PolicyType="TargetTrackingScaling",
            EstimatedInstanceWarmup=60,
            TargetTrackingConfiguration={
                "TargetValue": 20.0,
                "CustomizedMetricSpecification": spec,
            },
        )

    def environment(self) -> dict[str, str]:
        config = self.client("lambda").get_function_configuration(FunctionName=FUNCTION)
        return dict(config["Environment"]["Variables"])

    def set_environment(self, variables: dict[str, str]) -> None:
        self.client("lambda").update_function_configuration(
            FunctionName=FUNCTION, Environment={"Variables": variables}
        )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for moto; no endpoint or profile from the developer's shell."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def deployed(aws_env: None, tmp_path: Path) -> Iterator[Deployed]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        stack = Deployed(session, tmp_path / "outputs.json", now)
        sqs, ec2 = session.client("sqs"), session.client("ec2")
        autoscaling, iam = session.client("autoscaling"), session.client("iam")
        for worker_type in WorkerType:
            name = f"{PREFIX}-{worker_type.name.lower()}"
            stack.queue_urls[worker_type] = [sqs.create_queue(QueueName=name)["QueueUrl"]]
            ec2.create_launch_template(
                LaunchTemplateName=f"{name}-template",
                LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
            )
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=asg_name(worker_type),
                LaunchTemplate={"LaunchTemplateName": f"{name}-template", "Version": "$Latest"},
                MinSize=0,
                MaxSize=4,
                DesiredCapacity=0,
                AvailabilityZones=[f"{REGION}a"],
            )
        for worker_type in TARGET_TRACKED_TYPES:
            stack.put_target_tracking(
                worker_type, contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME, worker_type.value
            )
        role = iam.create_role(
            RoleName=FUNCTION, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
        )
        function = session.client("lambda").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": tiny_zip()},
            Environment={
                "Variables": contract.lambda_environment(
                    queue_urls=stack.queue_urls,
                    asg_names={t: asg_name(t) for t in WorkerType},
                )
            },
        )
        events = session.client("events")
        events.put_rule(Name=FUNCTION, ScheduleExpression="rate(1 minute)", State="ENABLED")
        events.put_targets(
            Rule=FUNCTION, Targets=[{"Id": "queue-depth", "Arn": function["FunctionArn"]}]
        )
        for worker_type in WorkerType:
            stack.put_series(contract.DEFAULT_METRIC_NAME, worker_type, range(0, 30))
            stack.put_series(
                contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
                worker_type,
                range(0, 30),
                every_seconds=10,
            )
        outputs = {
            "region": REGION,
            "metric_namespace": contract.DEFAULT_NAMESPACE,
            "metric_name": contract.DEFAULT_METRIC_NAME,
            "backlog_per_instance_metric_name": contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
            "function_name": FUNCTION,
            "schedule_rule_name": FUNCTION,
            "log_group_name": f"/aws/lambda/{FUNCTION}",
            "fleets": {
                t.value: {
                    "asg_name": asg_name(t),
                    "queue_urls": stack.queue_urls[t],
                    "scaling_policy": policy_name(t) if t in TARGET_TRACKED_TYPES else "",
                }
                for t in WorkerType
            },
        }
        # The shape of `terraform output -json`.
        stack.outputs_file.write_text(
            json.dumps(
                {k: {"sensitive": False, "type": "string", "value": v} for k, v in outputs.items()}
            )
        )
        yield stack
