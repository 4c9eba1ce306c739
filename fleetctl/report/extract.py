"""What the synthesized stack says about the publisher and its consumers.

The queue-depth function and its environment, its role's IAM statements, the
rule that schedules it, the fleets' ASGs and the scaling policies with every
series they consume. Pure reads of a ``SynthesizedStack``: no judgement (that is
``drift``), no formatting beyond ``SynthesizedStack.text``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetctl.contract_checks import (
    Dimensions,
    PublishedSchema,
    dimension_set,
    lambda_activation_backlog,
    lambda_sample_seconds,
    show_dimensions,
)
from fleetctl.report.model import Consumer
from fleetctl.report.stack import ReportError, SynthesizedStack
from modules.settings import EnvironmentSettings
from worker_metrics import contract
from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, EnvVar, WorkerType

Series = tuple[str, str, Dimensions, str]
"""``(namespace, metric, dimensions, statistic)`` of one consumed series."""


@dataclass(frozen=True)
class Publisher:
    """The queue-depth function as synthesized: what it publishes and may do."""

    address: str
    block: Mapping[str, Any]
    environment: Mapping[str, str]
    tenant_on: bool
    schema: PublishedSchema
    statements: tuple[Mapping[str, Any], ...]

    @property
    def sample_seconds(self) -> int | None:
        """The Lambda's ``SAMPLE_SECONDS`` as it reads it (unset: the contract's default),
        or ``None`` when it is not one of 10, 30, 60."""
        return lambda_sample_seconds(self.environment)

    @property
    def granted(self) -> frozenset[str]:
        """Every IAM action its role's inline policies allow."""
        return frozenset(a for s in self.statements for a in statement_actions(s))


def publisher(stack: SynthesizedStack, settings: EnvironmentSettings) -> Publisher:
    """The stack's queue-depth function. Raises ``ReportError`` unless there is exactly one."""
    address, function = find_function(stack)
    raw_env = function.get("environment", {}).get("variables", {}) or {}
    environment = {str(k): str(v) for k, v in raw_env.items()}
    tenant_on = bool(environment.get(EnvVar.BACKLOG_DB_SECRET_ARN)) or (
        settings.publisher.tenant_backlog is not None
    )
    return Publisher(
        address=address,
        block=function,
        environment=environment,
        tenant_on=tenant_on,
        schema=PublishedSchema.from_environment(environment, tenant_backlog=tenant_on),
        statements=tuple(role_statements(stack, function)),
    )


def find_function(stack: SynthesizedStack) -> tuple[str, Mapping[str, Any]]:
    """``(address, block)`` of the queue-depth function. Raises ``ReportError``
    unless the stack has exactly one."""
    functions = stack.blocks("aws_lambda_function")
    ours = {
        address: block
        for address, block in functions.items()
        if EnvVar.METRIC_NAMESPACE in block.get("environment", {}).get("variables", {})
        or any(
            EnvVar.queue_urls(t) in block.get("environment", {}).get("variables", {})
            for t in WorkerType
        )
    }
    if len(ours) == 1:
        return next(iter(ours.items()))
    if not ours and len(functions) == 1:
        return next(iter(functions.items()))
    raise ReportError(
        f"{stack.path}: expected one queue-depth function, found {len(ours) or len(functions)}"
    )


def role_statements(
    stack: SynthesizedStack, function: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The statements of every inline policy of the function's role."""
    roles = [address for address, _ in stack.references(function.get("role", ""))]
    statements: list[Mapping[str, Any]] = []
    for policy in stack.blocks("aws_iam_role_policy").values():
        if not any(stack.refers_to(policy.get("role", ""), role) for role in roles):
            continue
        for address, _attr in stack.references(policy.get("policy", "")):
            document = stack.block(address) or {}
            statements += document.get("statement", [])
        if isinstance(policy.get("policy"), str) and policy["policy"].lstrip().startswith("{"):
            statements += json.loads(policy["policy"]).get("Statement", [])
    return statements


def statement_actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement.get("actions", statement.get("Action", []))
    return [actions] if isinstance(actions, str) else list(actions)


def statement_resources(statement: Mapping[str, Any]) -> list[str]:
    resources = statement.get("resources", statement.get("Resource", []))
    return [resources] if isinstance(resources, str) else list(resources)


def schedule(stack: SynthesizedStack, function_address: str) -> tuple[str, str]:
    """``(expression, rule name)`` of the rule that targets the function."""
    for target in stack.blocks("aws_cloudwatch_event_target").values():
        if not stack.refers_to(target.get("arn", ""), function_address):
            continue
        for rule_address, _attr in stack.references(target.get("rule", "")):
            rule = stack.block(rule_address) or {}
            return str(rule.get("schedule_expression", "")), stack.text(rule.get("name"))
    return "", ""


def asg_worker_type(block: Mapping[str, Any]) -> WorkerType | None:
    """The ``WorkerType`` tag of an ASG block, if it has a valid one."""
    for tag in block.get("tag", []):
        if tag.get("key") == contract.DIMENSION_NAME:
            try:
                return WorkerType(tag.get("value"))
            except ValueError:
                return None
    return None


def asg_named_by(
    stack: SynthesizedStack, environment: Mapping[str, str], worker_type: WorkerType
) -> str | None:
    """The ASG that the function's ``<TYPE>_ASG_NAME`` variable references, if any."""
    asgs = stack.blocks("aws_autoscaling_group")
    refs = [a for a, _ in stack.references(environment.get(EnvVar.asg_name(worker_type), ""))]
    return next((a for a in refs if a in asgs), None)


def asg_by_type(stack: SynthesizedStack, environment: Mapping[str, str]) -> dict[WorkerType, str]:
    """Each fleet's ASG address: the one its environment variable names, else the one
    tagged with its ``WorkerType``."""
    asgs = stack.blocks("aws_autoscaling_group")
    found: dict[WorkerType, str] = {}
    for worker_type in WorkerType:
        target = asg_named_by(stack, environment, worker_type)
        if target is None:
            target = next((a for a, b in asgs.items() if asg_worker_type(b) is worker_type), None)
        if target is not None:
            found[worker_type] = target
    return found


@dataclass(frozen=True)
class Policy:
    """One ``aws_autoscaling_policy`` block, its ASG and the series it consumes."""

    address: str
    block: Mapping[str, Any]
    asg_address: str
    series: list[Series]


def policies(stack: SynthesizedStack) -> list[Policy]:
    """Every scaling policy of the stack, in document order."""
    asgs = stack.blocks("aws_autoscaling_group")
    return [
        Policy(
            address,
            block,
            next(
                (
                    a
                    for a, _ in stack.references(block.get("autoscaling_group_name", ""))
                    if a in asgs
                ),
                "",
            ),
            policy_series(block),
        )
        for address, block in stack.blocks("aws_autoscaling_policy").items()
    ]


def policy_series(block: Mapping[str, Any]) -> list[Series]:
    """Every custom series a target-tracking policy consumes (single metric or metric math)."""
    config = block.get("target_tracking_configuration") or {}
    custom = config.get("customized_metric_specification") or {}
    series = []
    if custom.get("metric_name"):
        dims = dimension_set(
            (d.get("name", ""), d.get("value", "")) for d in custom.get("metric_dimension", [])
        )
        series.append(
            (custom.get("namespace", ""), custom["metric_name"], dims, custom.get("statistic", ""))
        )
    for query in custom.get("metrics", []) or []:
        stat = query.get("metric_stat") or {}
        metric = stat.get("metric") or {}
        if metric.get("metric_name"):
            dims = dimension_set(
                (d.get("name", ""), d.get("value", "")) for d in metric.get("dimensions", [])
            )
            series.append(
                (metric.get("namespace", ""), metric["metric_name"], dims, stat.get("stat", ""))
            )
    return series


def consumer(policy: Policy, asg: Mapping[str, Any], stack: SynthesizedStack) -> Consumer:
    """``policy`` as a row of the consumers table."""
    block = policy.block
    config = block.get("target_tracking_configuration") or {}
    predefined = (config.get("predefined_metric_specification") or {}).get("predefined_metric_type")
    custom = config.get("customized_metric_specification") or {}
    if custom.get("metrics"):
        expressions = [q.get("expression") for q in custom["metrics"] if q.get("expression")]
        metric = "metric math: " + "; ".join(
            [f"{s[1]}" for s in policy.series] + [f"= {e}" for e in expressions]
        )
    else:
        metric = predefined or (policy.series[0][1] if policy.series else "-")
    warmup = block.get("estimated_instance_warmup", asg.get("default_instance_warmup"))
    return Consumer(
        name=stack.text(block.get("name")),
        policy_type=stack.text(block.get("policy_type", "SimpleScaling")),
        namespace=", ".join(sorted({s[0] for s in policy.series}))
        or ("AWS/EC2" if predefined else "-"),
        metric=metric,
        dimensions="; ".join(show_dimensions(s[2]) for s in policy.series) or "-",
        statistic=", ".join(sorted({s[3] for s in policy.series if s[3]})) or "-",
        target=stack.text(config.get("target_value")),
        warmup_seconds=stack.text(warmup),
        disable_scale_in=stack.text(config.get("disable_scale_in", False)),
        period=stack.text(policy_period(policy)),
    )


def may_set_desired(stack: SynthesizedStack, publisher: Publisher, asg_address: str) -> bool:
    """True if the function's role may ``SetDesiredCapacity`` on the ASG at ``asg_address``."""
    return any(
        "autoscaling:SetDesiredCapacity" in statement_actions(s)
        and asg_address
        and (stack.refers_to(statement_resources(s), asg_address) or "*" in statement_resources(s))
        for s in publisher.statements
    )


def policy_period(policy: Policy) -> int:
    """The period a target-tracking policy reads its metric at: its
    ``customized_metric_specification.period``, or 60 s, the API's default."""
    config = policy.block.get("target_tracking_configuration") or {}
    custom = config.get("customized_metric_specification") or {}
    return int(custom.get("period") or 60)


def lambda_controls(
    stack: SynthesizedStack, publisher: Publisher, worker_type: WorkerType, asg_address: str
) -> bool:
    """True if the contract has the Lambda drive ``worker_type`` and its role may
    ``SetDesiredCapacity`` on that fleet's ASG."""
    return worker_type in LAMBDA_CONTROLLED_TYPES and may_set_desired(stack, publisher, asg_address)


def activation_threshold(environment: Mapping[str, str], worker_type: WorkerType) -> int:
    """The function's ``<TYPE>_ACTIVATION_BACKLOG`` as the Lambda reads it (unset: its
    default, 1, on), or 0 (off) when the Lambda would reject the type's variables."""
    threshold = lambda_activation_backlog(environment, worker_type)
    return 0 if threshold is None else threshold
