"""Drift detection: every place where a consumer and the publisher disagree.

Each function returns the ``Drift`` of one concern, in a stable order, so the
report lists the function's environment first, then the policies, then the
fleets nothing controls, then the dashboards and alarms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fleetctl.contract_checks import (
    Dimensions,
    PublishedSchema,
    environment_problems,
    period_problem,
    show_dimensions,
)
from fleetctl.report import observers
from fleetctl.report.extract import (
    Policy,
    Publisher,
    activation_threshold,
    asg_named_by,
    asg_worker_type,
    lambda_controls,
    may_set_desired,
    policy_period,
)
from fleetctl.report.model import Drift, DriftKind
from fleetctl.report.observers import AwsResources, ShownSeries
from fleetctl.report.stack import SynthesizedStack
from modules import aws_metrics
from worker_metrics import contract
from worker_metrics.contract import (
    LAMBDA_CONTROLLED_TYPES,
    TARGET_TRACKED_TYPES,
    EnvVar,
    WorkerType,
)


def stack_drift(
    stack: SynthesizedStack,
    publisher: Publisher,
    asg_by_type: Mapping[WorkerType, str],
    policies: Sequence[Policy],
) -> list[Drift]:
    """Every drift of the stack, in the order the report lists it."""
    type_of_asg = {address: t for t, address in asg_by_type.items()}
    return (
        environment_drift(stack, publisher)
        + policy_drift(stack, policies, publisher.schema, type_of_asg)
        + period_drift(stack, policies, publisher)
        + controller_drift(stack, publisher, asg_by_type, policies)
        + observer_drift(stack, publisher.schema)
        + activation_drift(stack, publisher, asg_by_type)
    )


def environment_drift(stack: SynthesizedStack, publisher: Publisher) -> list[Drift]:
    """The function's environment against the contract, and each ``<TYPE>_ASG_NAME``
    that points at another fleet's ASG."""
    drift = [Drift(DriftKind.ENVIRONMENT, p) for p in environment_problems(publisher.environment)]
    asgs = stack.blocks("aws_autoscaling_group")
    for worker_type in WorkerType:
        target = asg_named_by(stack, publisher.environment, worker_type)
        if target is None:
            continue
        tagged = asg_worker_type(asgs[target])
        if tagged is not None and tagged is not worker_type:
            drift.append(
                Drift(
                    DriftKind.ENVIRONMENT,
                    f"{EnvVar.asg_name(worker_type)} points at "
                    f"{stack.text(asgs[target].get('name'))}, the "
                    f"{tagged.value} fleet",
                )
            )
    return drift


def policy_drift(
    stack: SynthesizedStack,
    policies: Sequence[Policy],
    schema: PublishedSchema,
    type_of_asg: Mapping[str, WorkerType],
) -> list[Drift]:
    """Each policy's series against what is published and against its own fleet's
    contract series; a policy on a Lambda-controlled fleet."""
    asgs = stack.blocks("aws_autoscaling_group")
    drift: list[Drift] = []
    for policy in policies:
        name = stack.text(policy.block.get("name"))
        owner = type_of_asg.get(policy.asg_address) or asg_worker_type(
            asgs.get(policy.asg_address, {})
        )
        for namespace, metric, dims, statistic in policy.series:
            shown = f"{namespace} {metric} {show_dimensions(dims)}"
            if not schema.emits(namespace, metric, dims):
                drift.append(
                    Drift(
                        DriftKind.UNPUBLISHED_METRIC,
                        f"policy {name} consumes {shown}, which {_unpublished(schema)}",
                    )
                )
            elif owner is not None and (
                (namespace, metric, dims) != _tracked_key(schema, owner)
                or statistic != contract.TARGET_TRACKING_STATISTIC
            ):
                expected = schema.tracked_series(owner)
                drift.append(
                    Drift(
                        DriftKind.WRONG_SERIES,
                        f"policy {name} of the {owner.value} fleet consumes {shown} "
                        f"({statistic}); the contract says {expected.show()} "
                        f"({contract.TARGET_TRACKING_STATISTIC})",
                    )
                )
        if owner in LAMBDA_CONTROLLED_TYPES:
            drift.append(
                Drift(
                    DriftKind.LAMBDA_FLEET_HAS_POLICY,
                    f"{owner.value} is controlled by the Lambda (SetDesiredCapacity) but has "
                    f"scaling policy {name}; two scalers would fight over its desired capacity",
                )
            )
    return drift


def period_drift(
    stack: SynthesizedStack, policies: Sequence[Policy], publisher: Publisher
) -> list[Drift]:
    """Each target-tracking policy on the tracked series that reads it at another
    period than the Lambda samples it (``SAMPLE_SECONDS``)."""
    sampled = publisher.sample_seconds
    tracked = publisher.schema.backlog_per_instance_metric_name
    drift: list[Drift] = []
    for policy in policies:
        period = policy_period(policy)
        consequence = period_problem(period, sampled, why=True)
        if consequence is None:
            continue
        if not any(metric == tracked for _ns, metric, _dims, _stat in policy.series):
            continue
        drift.append(
            Drift(
                DriftKind.PERIOD,
                f"policy {stack.text(policy.block.get('name'))} reads {tracked} every "
                f"{period} s, but the Lambda samples it every {sampled} s "
                f"({EnvVar.SAMPLE_SECONDS}): {consequence}",
            )
        )
    return drift


def controller_drift(
    stack: SynthesizedStack,
    publisher: Publisher,
    asg_by_type: Mapping[WorkerType, str],
    policies: Sequence[Policy],
) -> list[Drift]:
    """Every published worker type whose fleet has neither a policy nor Lambda control."""
    asgs = stack.blocks("aws_autoscaling_group")
    drift: list[Drift] = []
    for worker_type in WorkerType:
        address = asg_by_type.get(worker_type)
        asg = asgs.get(address or "", {})
        own = [p for p in policies if address and p.asg_address == address]
        controlled = lambda_controls(stack, publisher, worker_type, address or "")
        if worker_type not in publisher.schema.worker_types or own or controlled:
            continue
        why = (
            "its IAM policy grants no autoscaling:SetDesiredCapacity on it"
            if worker_type in LAMBDA_CONTROLLED_TYPES
            else "it is not Lambda-controlled in the contract"
        )
        drift.append(
            Drift(
                DriftKind.UNCONTROLLED_FLEET,
                f"{worker_type.value} is published but its ASG "
                f"{stack.text(asg.get('name')) if asg else '(none found)'} has no scaling "
                f"policy and the Lambda does not control it ({why})",
            )
        )
    return drift


def observer_drift(stack: SynthesizedStack, schema: PublishedSchema) -> list[Drift]:
    """Every dashboard widget that draws nothing, and every series a widget or an
    alarm reads that is neither published nor an AWS metric of this stack."""
    resources = AwsResources.of(stack)
    drift: list[Drift] = []
    for dashboard in observers.dashboards(stack):
        if dashboard.unreadable:
            drift.append(
                Drift(
                    DriftKind.EMPTY_WIDGET,
                    f"dashboard {dashboard.name}: {dashboard.unreadable}, so it shows nothing",
                )
            )
        for widget in dashboard.widgets:
            where = f"dashboard {dashboard.name} widget '{widget.title}'"
            empty = widget.nothing_shown()
            if empty:
                drift.append(Drift(DriftKind.EMPTY_WIDGET, f"{where} shows nothing: {empty}"))
            for series in widget.series:
                why = _series_problem(series, schema, resources)
                if why:
                    drift.append(
                        Drift(DriftKind.UNPUBLISHED_METRIC, f"{where} shows {series.show()}, {why}")
                    )
    for alarm in observers.alarms(stack):
        for series in alarm.series:
            why = _series_problem(series, schema, resources)
            if why:
                drift.append(
                    Drift(
                        DriftKind.UNPUBLISHED_METRIC,
                        f"alarm {alarm.name} reads {series.show()}, {why}",
                    )
                )
    return drift


def _series_problem(series: ShownSeries, schema: PublishedSchema, resources: AwsResources) -> str:
    """Why nothing publishes ``series`` (``which ...``), or ``""`` when something does."""
    if series.namespace == schema.namespace or series.namespace not in aws_metrics.FAMILIES:
        if schema.emits(series.namespace, series.metric_name, series.dimensions):
            return ""
        return f"which {_unpublished(schema)}"
    problem = resources.problem(series)
    return f"which AWS does not publish: {problem}" if problem else ""


def _unpublished(schema: PublishedSchema) -> str:
    return (
        f"no publisher emits (the Lambda publishes {', '.join(schema.metric_names)} in "
        f"{schema.namespace} by {contract.DIMENSION_NAME}="
        f"{'|'.join(t.value for t in schema.worker_types) or '(none)'})"
    )


def activation_drift(
    stack: SynthesizedStack, publisher: Publisher, asg_by_type: Mapping[WorkerType, str]
) -> list[Drift]:
    """Each tracked fleet whose activation and the Lambda's ``SetDesiredCapacity`` grant
    disagree: on without the grant (the write fails at run time), or the grant without
    activation (a privilege nothing uses, on a fleet target tracking owns)."""
    drift: list[Drift] = []
    for worker_type in TARGET_TRACKED_TYPES:
        address = asg_by_type.get(worker_type, "")
        granted = may_set_desired(stack, publisher, address)
        name = EnvVar.activation_backlog(worker_type)
        threshold = activation_threshold(publisher.environment, worker_type)
        if threshold > 0 and not granted:
            drift.append(
                Drift(
                    DriftKind.ACTIVATION,
                    f"{name} = {threshold} turns activation on for {worker_type.value}, but the "
                    "Lambda's IAM policy grants no autoscaling:SetDesiredCapacity on its ASG",
                )
            )
        elif threshold == 0 and granted:
            drift.append(
                Drift(
                    DriftKind.ACTIVATION,
                    f"the Lambda may autoscaling:SetDesiredCapacity on the {worker_type.value} "
                    f"ASG, but {name} is 0 (off): target tracking's fleet, unused privilege",
                )
            )
    return drift


def _tracked_key(schema: PublishedSchema, worker_type: WorkerType) -> tuple[str, str, Dimensions]:
    series = schema.tracked_series(worker_type)
    return series.namespace, series.metric_name, series.dimensions
