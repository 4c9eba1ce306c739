"""Checks 3 to 6: the scaling policies, the schedule, the function's environment
and its errors, as deployed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from botocore.exceptions import ClientError

from fleetctl.contract_checks import (
    Series,
    api_policy_period,
    dimension_set,
    environment_problems,
    period_problem,
    show_dimensions,
)
from fleetctl.stack_outputs import FleetOutputs, StackOutputs
from fleetctl.verify.aws import Aws
from fleetctl.verify.function import DeployedFunction, sample_seconds
from fleetctl.verify.results import Status, Window
from fleetctl.verify.series import PERIOD_SECONDS, contract_schema
from worker_metrics import contract
from worker_metrics.config import ConfigError, PublisherConfig
from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, TARGET_TRACKED_TYPES, WorkerType

SCHEDULE_EXPRESSION = "rate(1 minute)"
"""Target tracking evaluates one-minute datapoints and check 2 expects one per minute."""


def _consumed(policy: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``[(namespace, metric, dimensions, statistic)]`` of a target-tracking policy."""
    config = policy.get("TargetTrackingConfiguration") or {}
    spec = config.get("CustomizedMetricSpecification") or {}
    found = []
    if spec.get("MetricName"):
        dims = dimension_set((d["Name"], d["Value"]) for d in spec.get("Dimensions", []))
        found.append(
            (
                spec.get("Namespace", ""),
                spec["MetricName"],
                show_dimensions(dims),
                spec.get("Statistic", ""),
            )
        )
    for query in spec.get("Metrics", []) or []:
        stat = query.get("MetricStat") or {}
        metric = stat.get("Metric") or {}
        if metric.get("MetricName"):
            dims = dimension_set((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
            found.append(
                (
                    metric.get("Namespace", ""),
                    metric["MetricName"],
                    show_dimensions(dims),
                    stat.get("Stat", ""),
                )
            )
    predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    if predefined:
        found.append(("AWS/EC2", predefined, "(predefined)", ""))
    return found


def check_policies(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    schema = contract_schema()
    published = sample_seconds(function.configuration)
    names = [fleet.asg_name for fleet in outputs.fleets.values()]
    groups = {
        g["AutoScalingGroupName"]
        for g in aws.pages(
            "autoscaling",
            "describe_auto_scaling_groups",
            "AutoScalingGroups",
            AutoScalingGroupNames=names,
        )
    }
    problems: list[str] = []
    summary: list[str] = []
    for worker_type, fleet in outputs.fleets.items():
        if fleet.asg_name not in groups:
            problems.append(f"{worker_type.value}: ASG {fleet.asg_name} does not exist")
            continue
        policies = list(
            aws.pages(
                "autoscaling",
                "describe_policies",
                "ScalingPolicies",
                AutoScalingGroupName=fleet.asg_name,
            )
        )
        if worker_type in LAMBDA_CONTROLLED_TYPES:
            if policies:
                listed = ", ".join(p["PolicyName"] for p in policies)
                problems.append(
                    f"{worker_type.value} is Lambda-controlled but {fleet.asg_name} "
                    f"has policies: {listed}"
                )
            else:
                summary.append(f"{worker_type.value}: no policy")
            continue
        if worker_type not in TARGET_TRACKED_TYPES:
            continue
        problem, line = _tracked_policy(
            worker_type, fleet, policies, schema.tracked_series(worker_type), published
        )
        if problem:
            problems.append(problem)
        else:
            summary.append(line)
    if problems:
        return Status.FAIL, "; ".join(problems)
    return Status.PASS, "; ".join(summary)


def _tracked_policy(
    worker_type: WorkerType,
    fleet: FleetOutputs,
    policies: Sequence[Mapping[str, Any]],
    expected: Series,
    published: int | None,
) -> tuple[str, str]:
    """(problem, "") for a target-tracked fleet whose policy is not the contract's,
    or reads the series at another period than the function samples it; else
    ("", summary line)."""
    want = (
        expected.namespace,
        expected.metric_name,
        show_dimensions(expected.dimensions),
        contract.TARGET_TRACKING_STATISTIC,
    )
    if len(policies) != 1:
        return (
            f"{worker_type.value}: {fleet.asg_name} has {len(policies)} policies, "
            "expected exactly 1"
        ), ""
    policy = policies[0]
    consumed = _consumed(policy)
    config = policy.get("TargetTrackingConfiguration") or {}
    period = api_policy_period(policy)
    if policy.get("PolicyType") != "TargetTrackingScaling":
        return (
            f"{worker_type.value}: {policy['PolicyName']} is "
            f"{policy.get('PolicyType')}, not TargetTrackingScaling"
        ), ""
    if consumed != [want]:
        shown = "; ".join(" ".join(c) for c in consumed) or "nothing"
        return (
            f"{worker_type.value}: {policy['PolicyName']} consumes {shown}; "
            f"the contract says {' '.join(want)}"
        ), ""
    if fleet.scaling_policy and policy["PolicyName"] != fleet.scaling_policy:
        return (
            f"{worker_type.value}: policy is {policy['PolicyName']}, "
            f"the outputs say {fleet.scaling_policy}"
        ), ""
    consequence = period_problem(period, published)
    if consequence is not None:
        return (
            f"{worker_type.value}: {policy['PolicyName']} reads {expected.metric_name} every "
            f"{period} s, but the function samples every {published} s "
            f"({contract.EnvVar.SAMPLE_SECONDS}): {consequence}"
        ), ""
    target = config.get("TargetValue")
    return "", f"{worker_type.value}: {expected.metric_name} target {target:g} every {period} s"


def check_schedule(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    try:
        rule = aws.call("events", "describe_rule", Name=outputs.schedule_rule_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return Status.FAIL, f"rule {outputs.schedule_rule_name} does not exist"
        raise
    problems = []
    if rule.get("State") != "ENABLED":
        problems.append(f"rule {outputs.schedule_rule_name} is {rule.get('State')}, not ENABLED")
    if rule.get("ScheduleExpression") != SCHEDULE_EXPRESSION:
        problems.append(
            f"schedule is {rule.get('ScheduleExpression')!r}, not {SCHEDULE_EXPRESSION!r}"
        )
    targets = [
        t.get("Arn", "")
        for t in aws.pages(
            "events", "list_targets_by_rule", "Targets", Rule=outputs.schedule_rule_name
        )
    ]
    configuration = function.configuration
    function_arn = configuration.get("FunctionArn", "") if configuration else ""
    if configuration is None:
        problems.append(f"the target function {outputs.function_name} does not exist")
    elif not any(
        # A qualified ARN (":alias" or ":version") still invokes this function.
        arn == function_arn or arn.startswith(f"{function_arn}:")
        for arn in targets
    ):
        problems.append(
            f"no target is function {outputs.function_name} "
            f"(targets: {', '.join(targets) or 'none'})"
        )
    if problems:
        return Status.FAIL, "; ".join(problems)
    return (
        Status.PASS,
        f"{outputs.schedule_rule_name}: ENABLED, {SCHEDULE_EXPRESSION} -> {outputs.function_name}",
    )


def check_environment(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    configuration = function.configuration
    if configuration is None:
        return Status.FAIL, f"function {outputs.function_name} does not exist"
    environment = (configuration.get("Environment") or {}).get("Variables") or {}
    problems = environment_problems(environment)
    for worker_type, fleet in outputs.fleets.items():
        asg_name = environment.get(contract.EnvVar.asg_name(worker_type))
        if asg_name and asg_name != fleet.asg_name:
            problems.append(
                f"{contract.EnvVar.asg_name(worker_type)} = {asg_name!r}, "
                f"the stack's ASG is {fleet.asg_name!r}"
            )
        urls = environment.get(contract.EnvVar.queue_urls(worker_type))
        if urls and fleet.queue_urls and urls.split(",") != list(fleet.queue_urls):
            problems.append(
                f"{contract.EnvVar.queue_urls(worker_type)} = {urls!r}, "
                f"the stack's queues are {','.join(fleet.queue_urls)!r}"
            )
    for name, value in (
        (contract.EnvVar.METRIC_NAMESPACE, outputs.metric_namespace),
        (contract.EnvVar.METRIC_NAME, outputs.metric_name),
        (
            contract.EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME,
            outputs.backlog_per_instance_metric_name,
        ),
    ):
        if environment.get(name, value) != value:
            problems.append(f"{name} = {environment[name]!r}, the stack's output is {value!r}")
    if not problems:
        try:
            PublisherConfig.from_env(environment)
        except ConfigError as error:
            problems.append(f"the Lambda would reject it: {error}")
    if problems:
        return Status.FAIL, "; ".join(problems)
    return Status.PASS, f"{len(environment)} variables match the contract"


def check_lambda_errors(
    aws: Aws, outputs: StackOutputs, window: Window, function: DeployedFunction
) -> tuple[Status, str]:
    points = aws.call(
        "cloudwatch",
        "get_metric_statistics",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": outputs.function_name}],
        StartTime=window.start,
        EndTime=window.end,
        Period=PERIOD_SECONDS,
        Statistics=["Sum"],
    ).get("Datapoints", [])
    failing = sorted(
        (p["Timestamp"].astimezone(UTC), p["Sum"]) for p in points if p.get("Sum", 0) > 0
    )
    if failing:
        total = sum(value for _, value in failing)
        return Status.FAIL, (
            f"{total:g} error(s) in the last {window.minutes} min, "
            f"last at {failing[-1][0]:%H:%M}Z; see log group {outputs.log_group_name}"
        )
    return Status.PASS, f"no errors in the last {window.minutes} min"
