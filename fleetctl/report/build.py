"""``build_report``: the report of one environment's synthesized stack, with its drift.

It reads the stack (``extract``), judges it (``drift``), and fills the ``Report``
rows: the fleets and their consumers, the Lambda's code against its IAM policy
(``fleetctl.code_map``), the Video calls, the metric table and the commands.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import worker_metrics
from fleetctl import code_map
from fleetctl.contract_checks import PublishedSchema
from fleetctl.report import drift as drift_checks
from fleetctl.report import extract, observers
from fleetctl.report.cost import SamplingCost, comparison, sampling_cost
from fleetctl.report.extract import Policy, Publisher
from fleetctl.report.model import (
    DEFAULT_VERIFY_MINUTES,
    AlarmRow,
    CallRow,
    FleetRow,
    MetricRow,
    Report,
    WidgetRow,
)
from fleetctl.report.render import commands
from fleetctl.report.stack import SynthesizedStack, relative
from fleetctl.report.tenant import tenant_section
from modules.settings import EnvironmentSettings
from worker_metrics import contract
from worker_metrics.contract import (
    LAMBDA_CONTROLLED_TYPES,
    TARGET_TRACKED_TYPES,
    EnvVar,
    WorkerType,
)


def build_report(
    settings: EnvironmentSettings,
    synth_dir: Path,
    *,
    verify_minutes: int = DEFAULT_VERIFY_MINUTES,
) -> Report:
    """The report of ``settings``' stack in ``synth_dir``, with its drift.

    Raises ``ReportError`` when the stack is not synthesized or lacks the
    queue-depth function.
    """
    stack = SynthesizedStack.load(synth_dir, settings.stack_name)
    publisher = extract.publisher(stack, settings)
    schema, function = publisher.schema, publisher.block
    asg_by_type = extract.asg_by_type(stack, publisher.environment)
    policies = extract.policies(stack)
    drift = drift_checks.stack_drift(stack, publisher, asg_by_type, policies)
    warnings = _missing_policy_warnings(schema, asg_by_type, policies)

    handler, handler_file, code = _scan_code(function)
    warnings += _code_findings(publisher, code)

    widgets, alarms = _operator_view(stack)
    warnings += [f"alarm {a.name} names no runbook section" for a in alarms if a.runbook == "-"]
    schedule_expression, schedule_rule = extract.schedule(stack, publisher.address)
    fleets = _fleet_rows(stack, publisher, asg_by_type, policies)
    cost, cost_comparison = _costs(settings, fleets)
    report = Report(
        env=settings.name,
        stack=settings.stack_name,
        region=settings.region,
        source=relative(stack.path),
        contract_file=code_map._display(Path(contract.__file__).resolve()),
        function_name=stack.text(function.get("function_name")),
        handler=handler,
        handler_file=code_map._display(handler_file),
        runtime=stack.text(function.get("runtime")),
        namespace=schema.namespace,
        metric_name=schema.metric_name,
        backlog_per_instance_metric_name=schema.backlog_per_instance_metric_name,
        unit=contract.UNIT,
        dimension_name=contract.DIMENSION_NAME,
        dimension_values=tuple(t.value for t in schema.worker_types),
        schedule_expression=schedule_expression or "-",
        schedule_rule=schedule_rule or "-",
        metrics=tuple(_metric_rows(schema)),
        publish_locations=_publish_locations(code),
        datum_locations=_datum_locations(code, publisher.tenant_on),
        environment=tuple((k, stack.readable(v)) for k, v in sorted(publisher.environment.items())),
        fleets=fleets,
        video_fleets=tuple(
            f for f in fleets if WorkerType(f.worker_type) in LAMBDA_CONTROLLED_TYPES
        ),
        video_calls=_video_calls(stack, publisher, asg_by_type, code),
        tenant_backlog=tenant_section(publisher.environment, settings),
        verify_minutes=verify_minutes,
        widgets=widgets,
        alarms=alarms,
        sample_seconds=publisher.sample_seconds or settings.publisher.sample_seconds,
        cost=cost,
        cost_comparison=cost_comparison,
        drift=drift,
        warnings=warnings,
    )
    if not schedule_expression:
        warnings.append(f"no EventBridge rule targets {report.function_name}: nothing invokes it")
    report.bash_commands = commands("commands.sh.j2", report)
    report.powershell_commands = commands("commands.ps1.j2", report)
    return report


def _operator_view(
    stack: SynthesizedStack,
) -> tuple[tuple[WidgetRow, ...], tuple[AlarmRow, ...]]:
    """The dashboards' graphs and the alarms, as the report lists them."""
    widgets = tuple(
        WidgetRow(
            dashboard.name,
            widget.title,
            "; ".join(
                [f"{s.id + ': ' if s.id else ''}{s.show()} ({s.stat})" for s in widget.series]
                + [f"{e.id} = {e.expression}" for e in widget.expressions]
            ),
        )
        for dashboard in observers.dashboards(stack)
        for widget in dashboard.widgets
    )
    alarms = tuple(
        AlarmRow(
            alarm.name,
            "; ".join(
                ([f"metric math: {alarm.expression}"] if alarm.expression else [])
                + [f"{s.id + ': ' if s.id else ''}{s.show()} ({s.stat})" for s in alarm.series]
            ),
            alarm.condition,
            alarm.runbook or "-",
        )
        for alarm in observers.alarms(stack)
    )
    return widgets, alarms


def _costs(
    settings: EnvironmentSettings, fleets: Sequence[FleetRow]
) -> tuple[SamplingCost, tuple[SamplingCost, ...]]:
    """The chosen sampling's monthly cost, from the settings, and the three choices
    side by side; the alarms counted from the stack's target-tracking policies."""
    publisher = settings.publisher
    tracked = sum(len(f.policies) for f in fleets)
    chosen = sampling_cost(
        publisher.sample_seconds, publisher.memory_mb, publisher.architecture, tracked
    )
    return chosen, tuple(comparison(publisher.memory_mb, publisher.architecture, tracked))


def _missing_policy_warnings(
    schema: PublishedSchema, asg_by_type: Mapping[WorkerType, str], policies: Sequence[Policy]
) -> list[str]:
    """A published, target-tracked fleet with no policy (the drift names it too)."""
    return [
        f"{worker_type.value}: the contract target-tracks it, but it has no policy"
        for worker_type in WorkerType
        if worker_type in TARGET_TRACKED_TYPES
        and worker_type in schema.worker_types
        and not _own_policies(asg_by_type.get(worker_type), policies)
    ]


def _own_policies(address: str | None, policies: Sequence[Policy]) -> list[Policy]:
    return [p for p in policies if address and p.asg_address == address]


def _fleet_rows(
    stack: SynthesizedStack,
    publisher: Publisher,
    asg_by_type: Mapping[WorkerType, str],
    policies: Sequence[Policy],
) -> tuple[FleetRow, ...]:
    """One row per worker type: its ASG, bounds, controller, policies and queues."""
    asgs = stack.blocks("aws_autoscaling_group")
    rows = []
    for worker_type in WorkerType:
        address = asg_by_type.get(worker_type)
        asg = asgs.get(address or "", {})
        own = _own_policies(address, policies)
        control = (
            "Lambda: SetDesiredCapacity"
            if extract.lambda_controls(stack, publisher, worker_type, address or "")
            else "EC2 target tracking"
            if own
            else "none"
        )
        queues = tuple(
            stack.readable(u)
            for u in publisher.environment.get(EnvVar.queue_urls(worker_type), "").split(",")
            if u
        )
        rows.append(
            FleetRow(
                worker_type=worker_type.value,
                asg_name=stack.text(asg.get("name")) if asg else "-",
                asg_address=address or "",
                min_size=stack.text(asg.get("min_size")),
                max_size=stack.text(asg.get("max_size")),
                control=control,
                policies=tuple(extract.consumer(p, asg, stack) for p in own),
                queues=queues,
                activation=_activation_path(stack, publisher, worker_type, address or ""),
            )
        )
    return tuple(rows)


def _activation_path(
    stack: SynthesizedStack, publisher: Publisher, worker_type: WorkerType, address: str
) -> str:
    """How ``worker_type``'s fleet leaves zero, from the function's environment and grants."""
    if worker_type in LAMBDA_CONTROLLED_TYPES:
        return "Lambda: sized from its first message"
    threshold = extract.activation_threshold(publisher.environment, worker_type)
    if threshold == 0:
        return f"off: {EnvVar.activation_backlog(worker_type)} = 0 (a fleet with min_size >= 1)"
    target = stack.text(publisher.environment.get(EnvVar.target_backlog_per_instance(worker_type)))
    granted = extract.may_set_desired(stack, publisher, address)
    return (
        f"Lambda at >= {threshold} message(s): desired 0 -> ceil(backlog / {target}), "
        "then target tracking" + ("" if granted else " (NOT GRANTED: SetDesiredCapacity missing)")
    )


def _code_findings(publisher: Publisher, code: code_map.CodeMap) -> list[str]:
    """The Lambda's code against its IAM policy: calls it may not make, and a
    ``PutMetricData`` namespace condition that excludes the published namespace."""
    optional = frozenset() if publisher.tenant_on else frozenset({"worker_metrics.tenant_backlog"})
    findings = []
    for action in sorted(code.actions(exclude_modules=optional) - publisher.granted):
        where = ", ".join(c.location.show() for c in code.calls_of(action))
        findings.append(f"the Lambda calls {action} ({where}) but its IAM policy does not grant it")
    put_conditions = [
        v
        for s in publisher.statements
        if "cloudwatch:PutMetricData" in extract.statement_actions(s)
        for c in s.get("condition", []) or []
        if c.get("variable") == "cloudwatch:namespace"
        for v in c.get("values", [])
    ]
    namespace = publisher.schema.namespace
    if put_conditions and namespace not in put_conditions:
        findings.append(
            f"the IAM policy allows PutMetricData only in {', '.join(put_conditions)}, "
            f"but the Lambda publishes in {namespace}"
        )
    return findings


def _video_calls(
    stack: SynthesizedStack,
    publisher: Publisher,
    asg_by_type: Mapping[WorkerType, str],
    code: code_map.CodeMap,
) -> tuple[CallRow, ...]:
    """Every autoscaling action granted on a Lambda-controlled fleet (or on ``*``), with
    where the code calls it; then each autoscaling call of the code that is not granted."""
    rows = []
    for s in publisher.statements:
        for action in extract.statement_actions(s):
            if not action.startswith("autoscaling:"):
                continue
            resources = extract.statement_resources(s)
            if "*" not in resources and not any(
                stack.refers_to(resources, asg_by_type.get(t, "-")) for t in LAMBDA_CONTROLLED_TYPES
            ):
                continue
            where = (
                ", ".join(c.location.show() for c in code.calls_of(action))
                or "(no call in the code)"
            )
            rows.append(CallRow(action, ", ".join(stack.readable(r) for r in resources), where))

    listed = {row.action for row in rows}
    for call in code.calls:
        if call.action.startswith("autoscaling:") and call.action not in listed:
            listed.add(call.action)
            where = ", ".join(c.location.show() for c in code.calls_of(call.action))
            rows.append(CallRow(call.action, "NOT GRANTED by the IAM policy", where))
    return tuple(rows)


def _scan_code(function: Mapping[str, Any]) -> tuple[str, Path, code_map.CodeMap]:
    """The function's handler, its file, and the code map of the Lambda package plus that file."""
    handler = str(function.get("handler", ""))
    lambda_dir = Path(worker_metrics.__file__).resolve().parent
    handler_file = lambda_dir.parent / f"{handler.rpartition('.')[0] or 'lambda_function'}.py"
    scanned = code_map.scan(lambda_dir, (handler_file,) if handler_file.is_file() else ())
    return handler, handler_file, scanned


def _datum_locations(code: code_map.CodeMap, tenant_on: bool) -> tuple[str, ...]:
    return tuple(
        f"`{b.location.path}` `{b.location.function}()` line {b.location.line}: "
        f"MetricName = `{b.metric}`"
        for b in code.datum_builders
        if tenant_on or b.module != "worker_metrics.tenant_backlog"
    )


def _publish_locations(code: code_map.CodeMap) -> tuple[str, ...]:
    return tuple(
        [
            f"`{c.location.path}` `{c.location.function}()` line {c.location.line}"
            for c in code.calls_of("cloudwatch:PutMetricData")
        ]
        + [
            f"`{loc.path}` `{loc.function}()` line {loc.line} (calls it)"
            for loc in code.publish_callers
        ]
    )


def _metric_rows(schema: PublishedSchema) -> Iterator[MetricRow]:
    types = "|".join(t.value for t in schema.worker_types)
    dim = contract.DIMENSION_NAME
    yield MetricRow(
        schema.metric_name,
        f"{dim}={types}",
        contract.UNIT,
        "SQS backlog per type (AI: visible + in flight; Video, Messaging: visible); "
        "one standard-resolution datum per minute",
    )
    yield MetricRow(
        schema.backlog_per_instance_metric_name,
        f"{dim}={types}",
        contract.UNIT,
        "tracked backlog (QueueDepth [+ in flight]) / max(capacity per <TYPE>_BACKLOG_DIVISOR, "
        "1): what target tracking consumes; one datum per sample, high resolution below 60 s",
    )
    yield MetricRow(
        contract.ERROR_METRIC_NAME,
        f"{dim}={types}, {contract.STAGE_DIMENSION_NAME}=<stage>",
        contract.UNIT,
        "1 per failed read, publish or scaling call",
    )
    if schema.tenant_backlog:
        yield MetricRow(
            contract.VIDEO_BACKLOG_METRIC_NAME,
            f"{dim}=Video [, {contract.TENANT_DIMENSION_NAME}=<tenant>]",
            contract.UNIT,
            "Video backlog counted in PostgreSQL, total and top-N tenants",
        )
