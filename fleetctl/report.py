"""``fleetctl report``: the metric schema report, rebuilt from synthesized Terraform.

The seed was a hand-written "metric schema extraction report" (publisher,
consumers per ASG, the Video fleet, the tenant backlog JOIN, verification
commands). This module rebuilds it from evidence only:

* ``cdktf.out/stacks/workers-<env>/cdk.tf.json`` (what ``make synth`` wrote):
  the Lambda's environment, handler and IAM policy document, the EventBridge
  rule, the ASGs and their scaling policies;
* the metric contract (``worker_metrics.contract``) and the Lambda's source
  (``fleetctl.code_map``) for where datums are built and published;
* the environment's settings (``config/<env>.toml``) for the region.

``build_report`` returns a ``Report`` including its ``drift``: every place where
a consumer and the publisher disagree (see ``DriftKind``). ``render`` turns it
into Markdown or HTML with the jinja2 templates in ``fleetctl/templates``.
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

import worker_metrics
from fleetctl import code_map
from fleetctl.contract_checks import (
    Dimensions,
    PublishedSchema,
    dimension_set,
    environment_problems,
    show_dimensions,
)
from modules.settings import CONFIG_DIR, EnvironmentSettings, load_environment
from worker_metrics import contract
from worker_metrics.contract import (
    LAMBDA_CONTROLLED_TYPES,
    TARGET_TRACKED_TYPES,
    EnvVar,
    WorkerType,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("md", "html")
DEFAULT_VERIFY_MINUTES = 30
"""Window of the verification commands (the seed's 30 minutes)."""

_REF = re.compile(
    r"\$\{(?P<data>data\.)?(?P<type>[a-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)\.(?P<attr>[a-z_]+)\}"
)


class ReportError(RuntimeError):
    """The report cannot be built (no synthesized stack, an unreadable file, ...)."""


class DriftKind(enum.Enum):
    """What disagrees. The value is the short name printed with each mismatch."""

    UNPUBLISHED_METRIC = "unpublished-metric"
    """A policy consumes a namespace, metric or dimension that no publisher emits."""
    WRONG_SERIES = "wrong-series"
    """A policy consumes a published series, but not its own fleet's contract series."""
    UNCONTROLLED_FLEET = "uncontrolled-fleet"
    """A published worker type has neither a scaling policy nor Lambda control."""
    LAMBDA_FLEET_HAS_POLICY = "lambda-fleet-has-policy"
    """A Lambda-controlled fleet (Video) has a scaling policy."""
    ENVIRONMENT = "environment"
    """The Lambda's environment disagrees with the contract."""


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    message: str

    def show(self) -> str:
        return f"drift [{self.kind.value}]: {self.message}"


# ------------------------------------------------------------------ synthesized JSON


@dataclass(frozen=True)
class SynthesizedStack:
    """One stack's ``cdk.tf.json`` with reference resolution."""

    path: Path
    document: Mapping[str, Any]

    @classmethod
    def load(cls, synth_dir: Path, stack: str) -> SynthesizedStack:
        """Read ``<synth_dir>/stacks/<stack>/cdk.tf.json``. Raises ``ReportError``."""
        path = synth_dir / "stacks" / stack / "cdk.tf.json"
        if not path.is_file():
            raise ReportError(f"{path}: not found; run `make synth` (or pass --synth-dir)")
        try:
            return cls(path, json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ReportError(f"{path}: cannot read: {error}") from None

    def blocks(self, resource_type: str, data: bool = False) -> dict[str, Mapping[str, Any]]:
        """``{address: block}`` of one resource (or data source) type."""
        section = self.document.get("data" if data else "resource", {})
        prefix = f"data.{resource_type}" if data else resource_type
        return {f"{prefix}.{name}": block for name, block in section.get(resource_type, {}).items()}

    def block(self, address: str) -> Mapping[str, Any] | None:
        """The block at ``[data.]type.name``, if any."""
        data = address.startswith("data.")
        resource_type, _, name = address.removeprefix("data.").partition(".")
        return self.blocks(resource_type, data).get(
            f"{'data.' if data else ''}{resource_type}.{name}"
        )

    @staticmethod
    def references(value: object) -> list[tuple[str, str]]:
        """``[(address, attribute)]`` of every ``${...}`` reference in ``value``."""
        return [
            (f"{m['data'] or ''}{m['type']}.{m['name']}", m["attr"])
            for m in _REF.finditer(value if isinstance(value, str) else json.dumps(value))
        ]

    def refers_to(self, value: object, address: str) -> bool:
        """True if ``value`` references the resource at ``address``."""
        return any(ref == address for ref, _ in self.references(value))

    def readable(self, value: object) -> str:
        """``value`` with each reference replaced by what it will be: a literal
        attribute when the stack has one (an ASG's ``name``), else
        ``<attr of type "name">`` (a queue's URL is known only after apply)."""

        def one(match: re.Match[str]) -> str:
            address = f"{match['data'] or ''}{match['type']}.{match['name']}"
            block = self.block(address) or {}
            literal = block.get(match["attr"])
            if isinstance(literal, str | int | float) and "${" not in str(literal):
                return str(literal)
            name = block.get("name")
            label = f'"{name}"' if isinstance(name, str) and "${" not in name else match["name"]
            return f"<{match['attr']} of {match['type']} {label}>"

        return _REF.sub(one, str(value))


# ------------------------------------------------------------------ report model


@dataclass(frozen=True)
class MetricRow:
    name: str
    dimensions: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Consumer:
    """One scaling policy, as the report shows it."""

    name: str
    policy_type: str
    namespace: str
    metric: str
    dimensions: str
    statistic: str
    target: str
    warmup_seconds: str
    disable_scale_in: str


@dataclass(frozen=True)
class FleetRow:
    worker_type: str
    asg_name: str
    asg_address: str
    min_size: str
    max_size: str
    control: str
    policies: tuple[Consumer, ...]
    queues: tuple[str, ...]


@dataclass(frozen=True)
class CallRow:
    action: str
    resources: str
    code: str


@dataclass(frozen=True)
class TenantBacklogSection:
    enabled: bool
    join_path: str
    metric: str
    dimensions: str
    statuses: str
    top_tenants: int
    sql: str
    index_file: str
    module: str
    error_stages: str


@dataclass
class Report:
    """Everything the templates render."""

    env: str
    stack: str
    region: str
    source: str
    contract_file: str
    function_name: str
    handler: str
    handler_file: str
    runtime: str
    namespace: str
    metric_name: str
    backlog_per_instance_metric_name: str
    unit: str
    dimension_name: str
    dimension_values: tuple[str, ...]
    schedule_expression: str
    schedule_rule: str
    metrics: tuple[MetricRow, ...]
    publish_locations: tuple[str, ...]
    datum_locations: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    fleets: tuple[FleetRow, ...]
    video_fleets: tuple[FleetRow, ...]
    video_calls: tuple[CallRow, ...]
    tenant_backlog: TenantBacklogSection | None
    verify_minutes: int
    bash_commands: str = ""
    powershell_commands: str = ""
    drift: list[Drift] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ building


def _text(value: object, stack: SynthesizedStack) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return stack.readable(value)


def _find_function(stack: SynthesizedStack) -> tuple[str, Mapping[str, Any]]:
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


def _role_statements(
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


def _statement_actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement.get("actions", statement.get("Action", []))
    return [actions] if isinstance(actions, str) else list(actions)


def _statement_resources(statement: Mapping[str, Any]) -> list[str]:
    resources = statement.get("resources", statement.get("Resource", []))
    return [resources] if isinstance(resources, str) else list(resources)


def _schedule(stack: SynthesizedStack, function_address: str) -> tuple[str, str]:
    """``(expression, rule name)`` of the rule that targets the function."""
    for target in stack.blocks("aws_cloudwatch_event_target").values():
        if not stack.refers_to(target.get("arn", ""), function_address):
            continue
        for rule_address, _attr in stack.references(target.get("rule", "")):
            rule = stack.block(rule_address) or {}
            return str(rule.get("schedule_expression", "")), _text(rule.get("name"), stack)
    return "", ""


def _asg_worker_type(block: Mapping[str, Any]) -> WorkerType | None:
    for tag in block.get("tag", []):
        if tag.get("key") == contract.DIMENSION_NAME:
            try:
                return WorkerType(tag.get("value"))
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class _Policy:
    address: str
    block: Mapping[str, Any]
    asg_address: str
    series: list[tuple[str, str, Dimensions, str]]  # namespace, metric, dimensions, statistic


def _policy_series(block: Mapping[str, Any]) -> list[tuple[str, str, Dimensions, str]]:
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


def _consumer(policy: _Policy, asg: Mapping[str, Any], stack: SynthesizedStack) -> Consumer:
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
        name=_text(block.get("name"), stack),
        policy_type=_text(block.get("policy_type", "SimpleScaling"), stack),
        namespace=", ".join(sorted({s[0] for s in policy.series}))
        or ("AWS/EC2" if predefined else "-"),
        metric=metric,
        dimensions="; ".join(show_dimensions(s[2]) for s in policy.series) or "-",
        statistic=", ".join(sorted({s[3] for s in policy.series if s[3]})) or "-",
        target=_text(config.get("target_value"), stack),
        warmup_seconds=_text(warmup, stack),
        disable_scale_in=_text(config.get("disable_scale_in", False), stack),
    )


def _tenant_section(
    environment: Mapping[str, str], settings: EnvironmentSettings
) -> TenantBacklogSection | None:
    """The tenant backlog section, once ``worker_metrics.tenant_backlog`` exists."""
    if importlib.util.find_spec("worker_metrics.tenant_backlog") is None:
        return None
    from worker_metrics import tenant_backlog

    configured = settings.publisher.tenant_backlog
    config = tenant_backlog.TenantBacklogConfig.from_env(environment)
    enabled = config is not None or configured is not None
    if config is None:
        # Not in the function's environment: the SQL the schema defaults (or the
        # settings' secret) would give; the secret only switches the source on.
        secret = (
            configured.secret_arn if configured else f"arn:aws:secretsmanager:{settings.region}"
        )
        config = tenant_backlog.TenantBacklogConfig(
            secret_arn=secret,
            top_tenants=configured.top_tenants
            if configured
            else contract.DEFAULT_BACKLOG_TOP_TENANTS,
        )
    schema = config.schema
    join_path = (
        f"{schema.video_table}.{schema.video_session_column} -> "
        f"{schema.session_table}.{schema.session_id_column}, "
        f"{schema.session_table}.{schema.session_lecture_column} -> "
        f"{schema.lecture_table}.{schema.lecture_id_column}, "
        f"{schema.lecture_table}.{schema.lecture_tenant_column} = tenant"
    )
    index = code_map.PROJECT_ROOT / "sql" / "001_video_backlog_indexes.sql"
    return TenantBacklogSection(
        enabled=enabled,
        join_path=join_path,
        metric=contract.VIDEO_BACKLOG_METRIC_NAME,
        dimensions=f"{contract.DIMENSION_NAME}=Video (total); {contract.DIMENSION_NAME}=Video,"
        f"{contract.TENANT_DIMENSION_NAME}=<tenant> (top {config.top_tenants})",
        statuses=", ".join(config.statuses),
        top_tenants=config.top_tenants,
        sql=tenant_backlog.backlog_sql(config),
        index_file=str(index.relative_to(code_map.PROJECT_ROOT)) if index.is_file() else "",
        module=code_map._display(Path(tenant_backlog.__file__).resolve()),
        error_stages=", ".join(contract.BACKLOG_ERROR_STAGES),
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
    function_address, function = _find_function(stack)
    raw_env = function.get("environment", {}).get("variables", {}) or {}
    environment = {str(k): str(v) for k, v in raw_env.items()}
    tenant_on = bool(environment.get(EnvVar.BACKLOG_DB_SECRET_ARN)) or (
        settings.publisher.tenant_backlog is not None
    )
    schema = PublishedSchema.from_environment(environment, tenant_backlog=tenant_on)
    drift: list[Drift] = [
        Drift(DriftKind.ENVIRONMENT, p) for p in environment_problems(environment)
    ]
    warnings: list[str] = []

    asgs = stack.blocks("aws_autoscaling_group")
    asg_by_type: dict[WorkerType, str] = {}
    for worker_type in WorkerType:
        refs = [a for a, _ in stack.references(environment.get(EnvVar.asg_name(worker_type), ""))]
        target = next((a for a in refs if a in asgs), None)
        if target is None:
            target = next((a for a, b in asgs.items() if _asg_worker_type(b) is worker_type), None)
        elif _asg_worker_type(asgs[target]) not in (None, worker_type):
            drift.append(
                Drift(
                    DriftKind.ENVIRONMENT,
                    f"{EnvVar.asg_name(worker_type)} points at "
                    f"{_text(asgs[target].get('name'), stack)}, the "
                    f"{_asg_worker_type(asgs[target]).value} fleet",  # type: ignore[union-attr]
                )
            )
        if target is not None:
            asg_by_type[worker_type] = target
    type_of_asg = {address: t for t, address in asg_by_type.items()}

    policies = [
        _Policy(
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
            _policy_series(block),
        )
        for address, block in stack.blocks("aws_autoscaling_policy").items()
    ]
    statements = _role_statements(stack, function)
    granted = {action for s in statements for action in _statement_actions(s)}

    # --- consumers vs publisher
    for policy in policies:
        name = _text(policy.block.get("name"), stack)
        owner = type_of_asg.get(policy.asg_address) or _asg_worker_type(
            asgs.get(policy.asg_address, {})
        )
        for namespace, metric, dims, statistic in policy.series:
            shown = f"{namespace} {metric} {show_dimensions(dims)}"
            if not schema.emits(namespace, metric, dims):
                drift.append(
                    Drift(
                        DriftKind.UNPUBLISHED_METRIC,
                        f"policy {name} consumes {shown}, which no publisher emits "
                        f"(the Lambda publishes {', '.join(schema.metric_names)} in "
                        f"{schema.namespace} by {contract.DIMENSION_NAME}="
                        f"{'|'.join(t.value for t in schema.worker_types) or '(none)'})",
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

    # --- every published type has a controller
    fleets: list[FleetRow] = []
    for worker_type in WorkerType:
        address = asg_by_type.get(worker_type)
        asg = asgs.get(address or "", {})
        own = [p for p in policies if address and p.asg_address == address]
        set_desired = [
            s
            for s in statements
            if "autoscaling:SetDesiredCapacity" in _statement_actions(s)
            and address
            and (
                stack.refers_to(_statement_resources(s), address) or "*" in _statement_resources(s)
            )
        ]
        lambda_control = bool(set_desired) and worker_type in LAMBDA_CONTROLLED_TYPES
        if worker_type in schema.worker_types and not own and not lambda_control:
            why = (
                "its IAM policy grants no autoscaling:SetDesiredCapacity on it"
                if worker_type in LAMBDA_CONTROLLED_TYPES
                else "it is not Lambda-controlled in the contract"
            )
            drift.append(
                Drift(
                    DriftKind.UNCONTROLLED_FLEET,
                    f"{worker_type.value} is published but its ASG "
                    f"{_text(asg.get('name'), stack) if asg else '(none found)'} has no scaling "
                    f"policy and the Lambda does not control it ({why})",
                )
            )
        if worker_type in TARGET_TRACKED_TYPES and not own and worker_type in schema.worker_types:
            warnings.append(
                f"{worker_type.value}: the contract target-tracks it, but it has no policy"
            )
        control = (
            "Lambda: SetDesiredCapacity"
            if lambda_control
            else "EC2 target tracking"
            if own
            else "none"
        )
        queues = tuple(
            stack.readable(u)
            for u in environment.get(EnvVar.queue_urls(worker_type), "").split(",")
            if u
        )
        fleets.append(
            FleetRow(
                worker_type=worker_type.value,
                asg_name=_text(asg.get("name"), stack) if asg else "-",
                asg_address=address or "",
                min_size=_text(asg.get("min_size"), stack),
                max_size=_text(asg.get("max_size"), stack),
                control=control,
                policies=tuple(_consumer(p, asg, stack) for p in own),
                queues=queues,
            )
        )

    # --- the code and the IAM policy agree
    lambda_dir = Path(worker_metrics.__file__).resolve().parent
    handler = str(function.get("handler", ""))
    handler_file = lambda_dir.parent / f"{handler.rpartition('.')[0] or 'lambda_function'}.py"
    code = code_map.scan(lambda_dir, (handler_file,) if handler_file.is_file() else ())
    optional = frozenset() if tenant_on else frozenset({"worker_metrics.tenant_backlog"})
    for action in sorted(code.actions(exclude_modules=optional) - granted):
        where = ", ".join(c.location.show() for c in code.calls_of(action))
        warnings.append(f"the Lambda calls {action} ({where}) but its IAM policy does not grant it")
    put_conditions = [
        v
        for s in statements
        if "cloudwatch:PutMetricData" in _statement_actions(s)
        for c in s.get("condition", []) or []
        if c.get("variable") == "cloudwatch:namespace"
        for v in c.get("values", [])
    ]
    if put_conditions and schema.namespace not in put_conditions:
        warnings.append(
            f"the IAM policy allows PutMetricData only in {', '.join(put_conditions)}, "
            f"but the Lambda publishes in {schema.namespace}"
        )

    video_calls = []
    for s in statements:
        for action in _statement_actions(s):
            if not action.startswith("autoscaling:"):
                continue
            resources = _statement_resources(s)
            if "*" not in resources and not any(
                stack.refers_to(resources, asg_by_type.get(t, "-")) for t in LAMBDA_CONTROLLED_TYPES
            ):
                continue
            where = (
                ", ".join(c.location.show() for c in code.calls_of(action))
                or "(no call in the code)"
            )
            video_calls.append(
                CallRow(action, ", ".join(stack.readable(r) for r in resources), where)
            )

    listed = {row.action for row in video_calls}
    for call in code.calls:
        if call.action.startswith("autoscaling:") and call.action not in listed:
            listed.add(call.action)
            where = ", ".join(c.location.show() for c in code.calls_of(call.action))
            video_calls.append(CallRow(call.action, "NOT GRANTED by the IAM policy", where))

    schedule_expression, schedule_rule = _schedule(stack, function_address)
    report = Report(
        env=settings.name,
        stack=settings.stack_name,
        region=settings.region,
        source=_relative(stack.path),
        contract_file=code_map._display(Path(contract.__file__).resolve()),
        function_name=_text(function.get("function_name"), stack),
        handler=handler,
        handler_file=code_map._display(handler_file),
        runtime=_text(function.get("runtime"), stack),
        namespace=schema.namespace,
        metric_name=schema.metric_name,
        backlog_per_instance_metric_name=schema.backlog_per_instance_metric_name,
        unit=contract.UNIT,
        dimension_name=contract.DIMENSION_NAME,
        dimension_values=tuple(t.value for t in schema.worker_types),
        schedule_expression=schedule_expression or "-",
        schedule_rule=schedule_rule or "-",
        metrics=tuple(_metric_rows(schema)),
        publish_locations=tuple(
            [
                f"`{c.location.path}` `{c.location.function}()` line {c.location.line}"
                for c in code.calls_of("cloudwatch:PutMetricData")
            ]
            + [
                f"`{loc.path}` `{loc.function}()` line {loc.line} (calls it)"
                for loc in code.publish_callers
            ]
        ),
        datum_locations=tuple(
            f"`{b.location.path}` `{b.location.function}()` line {b.location.line}: "
            f"MetricName = `{b.metric}`"
            for b in code.datum_builders
            if tenant_on or b.module != "worker_metrics.tenant_backlog"
        ),
        environment=tuple((k, stack.readable(v)) for k, v in sorted(environment.items())),
        fleets=tuple(fleets),
        video_fleets=tuple(
            f for f in fleets if WorkerType(f.worker_type) in LAMBDA_CONTROLLED_TYPES
        ),
        video_calls=tuple(video_calls),
        tenant_backlog=_tenant_section(environment, settings),
        verify_minutes=verify_minutes,
        drift=drift,
        warnings=warnings,
    )
    if not schedule_expression:
        warnings.append(f"no EventBridge rule targets {report.function_name}: nothing invokes it")
    report.bash_commands = _commands("commands.sh.j2", report)
    report.powershell_commands = _commands("commands.ps1.j2", report)
    return report


def _tracked_key(schema: PublishedSchema, worker_type: WorkerType) -> tuple[str, str, Dimensions]:
    series = schema.tracked_series(worker_type)
    return series.namespace, series.metric_name, series.dimensions


def _metric_rows(schema: PublishedSchema) -> Iterator[MetricRow]:
    types = "|".join(t.value for t in schema.worker_types)
    dim = contract.DIMENSION_NAME
    yield MetricRow(
        schema.metric_name,
        f"{dim}={types}",
        contract.UNIT,
        "SQS backlog per type (AI: visible + in flight; Video, Messaging: visible)",
    )
    yield MetricRow(
        schema.backlog_per_instance_metric_name,
        f"{dim}={types}",
        contract.UNIT,
        "QueueDepth / max(in-service instances, 1): what target tracking consumes",
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


def _relative(path: Path) -> str:
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(resolved)


# ------------------------------------------------------------------ rendering


def _markdown_cell(value: object) -> str:
    """``value`` safe inside a Markdown table cell (no pipe, no line break)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment(autoescape: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell"] = _markdown_cell
    return environment


def _commands(template: str, report: Report) -> str:
    return _environment(autoescape=False).get_template(template).render(r=report).rstrip() + "\n"


def render(report: Report, fmt: str = "md") -> str:
    """The report as Markdown (``md``) or a standalone HTML page (``html``).

    Raises ``ValueError`` for another format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    template = _environment(autoescape=fmt == "html").get_template(f"report.{fmt}.j2")
    return template.render(r=report, kinds=list(DriftKind))


# ------------------------------------------------------------------ CLI

HELP = "rebuild the metric schema report from the synthesized stack; exit 1 on drift"
DESCRIPTION = (
    "Render the metric schema report (publisher, consumers per ASG, the Video fleet, the "
    "tenant backlog query, verification commands) from cdktf.out and the metric contract, "
    "and check that every consumer reads what the publisher emits."
)
EPILOG = """\
examples:
  fleetctl report --env prod                           # Markdown on stdout
  fleetctl report --env prod --out out/report-prod.md
  fleetctl report --env dev --format html --out out/report-dev.html
  fleetctl report --env local --synth-dir /tmp/cdktf.out
  make report ENV=prod                                 # synth first, then out/report-prod.md

exit codes: 0 no drift, 1 drift (each mismatch is printed on stderr and in the
report), 2 the report could not be built (unknown environment, no synthesized stack).
drift kinds: unpublished-metric, wrong-series, uncontrolled-fleet,
lambda-fleet-has-policy, environment.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment name: config/<env>.toml")
    parser.add_argument("--format", choices=FORMATS, default="md", help="md (default) or html")
    parser.add_argument(
        "--out", type=Path, help="write here instead of stdout (parents are created)"
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=Path("cdktf.out"),
        help="cdktf output directory (default cdktf.out)",
    )
    parser.add_argument(
        "--minutes",
        type=int,
        default=DEFAULT_VERIFY_MINUTES,
        help=f"window of the verification commands (default {DEFAULT_VERIFY_MINUTES})",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path(os.environ.get("WORKER_CONFIG_DIR", CONFIG_DIR)),
        help="settings directory (default: config/, or WORKER_CONFIG_DIR)",
    )


def run(args: argparse.Namespace) -> int:
    """Build, render and write the report; print drift and findings on stderr."""
    settings = load_environment(args.env, args.config_dir)  # SettingsError: handled by the CLI
    try:
        report = build_report(settings, args.synth_dir, verify_minutes=args.minutes)
    except ReportError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    text = render(report, args.format)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"report: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for warning in report.warnings:
        print(f"report: finding: {warning}", file=sys.stderr)
    for drift in report.drift:
        print(f"report: {drift.show()}", file=sys.stderr)
    return 1 if report.drift else 0
