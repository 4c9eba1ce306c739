"""The demo's AWS calls on the local AWS: boto3 clients, what is deployed read back
(the function's environment, the groups, a datapoint, a scaling policy), the
scheduled event the handler gets, and emptying the versioned state bucket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from fleetctl.contract_checks import api_policy_period
from fleetctl.demo.context import DemoError
from fleetctl.local_aws import LocalAws
from fleetctl.simulation.target_tracking import TargetTrackingPolicy
from worker_metrics import contract
from worker_metrics.contract import WorkerType


def aws_clients(aws: LocalAws) -> dict[str, Any]:
    """boto3 clients on the local AWS (loopback endpoint, dummy credentials)."""
    session = boto3.Session(
        aws_access_key_id=aws.env()["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws.env()["AWS_SECRET_ACCESS_KEY"],
        region_name=aws.region,
    )
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5)
    services = ("autoscaling", "cloudwatch", "events", "lambda", "s3", "sqs")
    return {s: session.client(s, endpoint_url=aws.endpoint, config=config) for s in services}


MAX_BUCKET_PAGES = 100
"""Bound on ListObjectVersions pages when emptying the state bucket (1000 per page)."""


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of ``bucket``; return how many.

    The state bucket is versioned and has no ``force_destroy`` (rightly, for real
    state), so ``destroy`` of the bootstrap stack needs it empty first.
    """
    removed = 0
    for _ in range(MAX_BUCKET_PAGES):
        listing = s3.list_object_versions(Bucket=bucket)
        entries = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for kind in ("Versions", "DeleteMarkers")
            for item in listing.get(kind, [])
        ]
        if not entries:
            return removed
        s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[:1000], "Quiet": True})
        removed += len(entries[:1000])
    raise DemoError(f"{bucket}: still not empty after {MAX_BUCKET_PAGES} pages of deletes")


def deployed_function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    """The deployed function's variables (``GetFunctionConfiguration``)."""
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    if not variables:
        raise DemoError(f"function {function_name} has no environment variables")
    return {str(k): str(v) for k, v in variables.items()}


def handler_environment(lambda_client: Any, function_name: str, aws: LocalAws) -> dict[str, str]:
    """What the Lambda runtime would give the handler: the function's variables,
    plus the local AWS's endpoint and credentials in place of the execution role's."""
    return {
        **deployed_function_environment(lambda_client, function_name),
        **aws.env(),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
    }


def scheduled_event(when: datetime, region: str, rule_name: str) -> dict[str, Any]:
    """An EventBridge scheduled event for ``when`` (the handler reads ``time``)."""
    return {
        "version": "0",
        "id": f"demo-{int(when.timestamp())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule_name}"],
        "detail": {},
    }


@dataclass(frozen=True)
class GroupState:
    desired: int
    in_service: int
    min_size: int
    max_size: int
    instance_ids: tuple[str, ...] = ()
    """The in-service instances (the demo's workers run on them)."""
    terminating_ids: tuple[str, ...] = ()
    """Instances the termination hook holds in ``Terminating:Wait``: still running their
    jobs until their drain agent completes the lifecycle action."""


def describe_groups(
    autoscaling: Any, names: Mapping[WorkerType, str]
) -> dict[WorkerType, GroupState]:
    """Desired and in-service instances of each fleet's ASG (one DescribeAutoScalingGroups)."""
    by_name = {name: worker_type for worker_type, name in names.items()}
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(by_name))
    states = {}
    for group in groups.get("AutoScalingGroups", []):
        worker_type = by_name.get(group["AutoScalingGroupName"])
        if worker_type is None:
            continue
        serving = tuple(
            str(i["InstanceId"])
            for i in group.get("Instances", [])
            if i.get("LifecycleState") == "InService"
        )
        terminating = tuple(
            str(i["InstanceId"])
            for i in group.get("Instances", [])
            if i.get("LifecycleState") == "Terminating:Wait"
        )
        states[worker_type] = GroupState(
            int(group["DesiredCapacity"]),
            len(serving),
            int(group["MinSize"]),
            int(group["MaxSize"]),
            serving,
            terminating,
        )
    missing = [t.value for t in names if t not in states]
    if missing:
        raise DemoError(f"DescribeAutoScalingGroups: no group for {', '.join(missing)}")
    return states


def read_datapoint(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    worker_type: WorkerType,
    when: datetime,
    period_seconds: int = 60,
) -> float | None:
    """The Average of ``metric`` for ``worker_type`` over the period starting at
    ``when`` (default one minute; a policy's 10 or 30 s period), or None."""
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=contract.dimensions(worker_type),
        StartTime=when,
        EndTime=when + timedelta(seconds=period_seconds),
        Period=period_seconds,
        Statistics=[contract.TARGET_TRACKING_STATISTIC],
    ).get("Datapoints", [])
    if not points:
        return None
    return float(points[-1][contract.TARGET_TRACKING_STATISTIC])


def deployed_policy(autoscaling: Any, asg_name: str, policy_name: str) -> TargetTrackingPolicy:
    """The model's policy from what is deployed: target, warmup and the metric's
    period (absent: 60 s) from DescribePolicies, bounds from the group, warmup
    falling back to the group's."""
    policies = autoscaling.describe_policies(
        AutoScalingGroupName=asg_name, PolicyNames=[policy_name]
    ).get("ScalingPolicies", [])
    if not policies:
        raise DemoError(f"DescribePolicies: {asg_name} has no policy {policy_name}")
    policy = policies[0]
    tracking = policy.get("TargetTrackingConfiguration") or {}
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])[
        "AutoScalingGroups"
    ][0]
    warmup = policy.get("EstimatedInstanceWarmup") or group.get("DefaultInstanceWarmup") or 300
    return TargetTrackingPolicy(
        target_value=float(tracking["TargetValue"]),
        min_size=int(group["MinSize"]),
        max_size=int(group["MaxSize"]),
        instance_warmup_seconds=float(warmup),
        disable_scale_in=bool(tracking.get("DisableScaleIn", False)),
        period_seconds=api_policy_period(policy),
    )
