"""A local AWS (``fleetctl.local_aws``) per test module, and boto3 clients for it.

A test module imports the fixture (named ``aws``) and the helper:
``from tests.local_aws_support import client, local_aws_per_module  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fleetctl.local_aws import LocalAws


@pytest.fixture(scope="module", name="aws")
def local_aws_per_module() -> Iterator[LocalAws]:
    """One local AWS server for the module's tests, stopped after the last one."""
    with LocalAws.start() as local_aws:
        yield local_aws


def client(aws: LocalAws, service: str) -> Any:
    """A boto3 client of ``service`` on ``aws``, with its dummy credentials."""
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=aws.region
    ).client(service, endpoint_url=aws.endpoint)


def group(
    aws: LocalAws,
    name: str,
    *,
    desired: int = 1,
    max_size: int = 2,
    protect: bool = False,
    hook_heartbeat: int | None = None,
) -> Any:
    """An ASG ``name`` (min 0) of t3.small instances from its own launch template, with
    ``desired`` instances in one zone, new ones protected from scale-in if ``protect``;
    with ``hook_heartbeat`` (seconds) also its termination lifecycle hook
    ``<name>-drain`` (default result CONTINUE), as the stack deploys it. Returns the
    autoscaling client."""
    ec2, autoscaling = client(aws, "ec2"), client(aws, "autoscaling")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=max_size,
        DesiredCapacity=desired,
        NewInstancesProtectedFromScaleIn=protect,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        AvailabilityZones=[f"{aws.region}a"],
    )
    if hook_heartbeat is not None:
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=name,
            LifecycleHookName=f"{name}-drain",
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=hook_heartbeat,
            DefaultResult="CONTINUE",
        )
    return autoscaling
