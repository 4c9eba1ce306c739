"""The architecture as a graph, read from one synthesized stack (``cdk.tf.json``).

Nodes are the stack's resources (the schedule, the Lambda, the queues and their
dead-letter queues, the ASGs, the scaling policies, the alarms by runbook
section, the dashboard, the state backend) plus one node per published metric.
Every edge comes from the document: a ``${...}`` reference (a rule's target, a
queue's redrive policy, an IAM statement's resource, a policy's ASG), the
function's environment (its queues and metric names), or the names an alarm's
AWS metrics are keyed by. Nothing is drawn that the stack does not say.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetctl.contract_checks import PublishedSchema
from fleetctl.report import extract, observers
from fleetctl.report.stack import SynthesizedStack
from modules import aws_metrics
from modules.runbook import RunbookSection
from worker_metrics import contract
from worker_metrics.contract import EnvVar, WorkerType


class NodeKind(enum.Enum):
    """What a node is; ``column`` places it left to right in the picture."""

    SCHEDULE = (0, "schedule")
    STATE = (0, "Terraform state")
    LAMBDA = (1, "publisher")
    METRIC = (2, "metrics")
    POLICY = (3, "scaling policies")
    FLEET = (4, "fleets (ASGs)")
    QUEUE = (5, "queues")
    DEAD_LETTER_QUEUE = (6, "dead-letter queues")
    ALARMS = (7, "alarms")
    DASHBOARD = (8, "dashboard")

    @property
    def column(self) -> int:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]


class EdgeKind(enum.Enum):
    """What an edge means; the value is its legend text."""

    INVOKES = "invokes every tick"
    READS = "reads queue depth"
    PUBLISHES = "publishes"
    TRACKS = "is tracked by"
    SCALES = "scales"
    SETS_DESIRED = "sets desired capacity"
    CONSUMES = "workers consume"
    REDRIVES = "redrives to after max receives"
    WATCHES = "is watched by"
    SHOWS = "state shown on"


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    lines: tuple[str, ...]
    order: tuple[Any, ...] = ()
    """Sort key within its column (fleets by worker type, queues by fleet, ...)."""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind


@dataclass
class Architecture:
    """The nodes and edges of one stack."""

    stack: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def connect(self, source: str, target: str, kind: EdgeKind) -> None:
        edge = Edge(source, target, kind)
        if source in self.nodes and target in self.nodes and edge not in self.edges:
            self.edges.append(edge)


_TYPE_ORDER = {t.value: i for i, t in enumerate(WorkerType)}


def architecture(stack: SynthesizedStack, name: str) -> Architecture:
    """The architecture graph of ``stack`` (named ``name`` in the picture)."""
    graph = Architecture(name)
    function_address, function = extract.find_function(stack)
    environment = {
        str(k): str(v) for k, v in (function.get("environment", {}).get("variables") or {}).items()
    }
    graph.add(
        Node(
            function_address,
            NodeKind.LAMBDA,
            ("Lambda", str(function.get("function_name")), _runtime(function)),
        )
    )
    _schedule(graph, stack, function_address)
    _state(graph, stack)
    fleet_order = _fleets(graph, stack)
    _queues(graph, stack, fleet_order, environment, function_address)
    schema = PublishedSchema.from_environment(environment)
    _metrics(graph, schema, function_address)
    _policies(graph, stack, schema, fleet_order)
    for statement in extract.role_statements(stack, function):
        if "autoscaling:SetDesiredCapacity" in extract.statement_actions(statement):
            for address in stack.expression_references(extract.statement_resources(statement)):
                graph.connect(function_address, address, EdgeKind.SETS_DESIRED)
    _alarms(graph, stack, schema, function_address)
    return graph


def _runtime(function: Mapping[str, Any]) -> str:
    return f"{function.get('runtime', '?')}, {function.get('memory_size', '?')} MB"


def _schedule(graph: Architecture, stack: SynthesizedStack, function_address: str) -> None:
    for target in stack.blocks("aws_cloudwatch_event_target").values():
        if function_address not in stack.expression_references(target.get("arn", "")):
            continue
        for rule_address in stack.expression_references(target.get("rule", "")):
            rule = stack.block(rule_address) or {}
            expression = str(rule.get("schedule_expression"))
            lines = ("EventBridge rule", str(rule.get("name")), expression)
            graph.add(Node(rule_address, NodeKind.SCHEDULE, lines))
            graph.connect(rule_address, function_address, EdgeKind.INVOKES)


def _state(graph: Architecture, stack: SynthesizedStack) -> None:
    s3 = (stack.document.get("terraform", {}).get("backend") or {}).get("s3")
    if s3:
        locking = ", lockfile" if s3.get("use_lockfile") else ""
        lines = ("S3 state bucket", str(s3.get("bucket")), f"{s3.get('key')}{locking}")
        graph.add(Node("backend.s3", NodeKind.STATE, lines, order=(1,)))


def _fleets(graph: Architecture, stack: SynthesizedStack) -> dict[str, tuple[Any, ...]]:
    """ASG nodes; returns each ASG address's sort key (worker type order)."""
    order: dict[str, tuple[Any, ...]] = {}
    for address, block in stack.blocks("aws_autoscaling_group").items():
        worker_type = extract.asg_worker_type(block)
        key = (_TYPE_ORDER.get(worker_type.value if worker_type else "", 9), address)
        order[address] = key
        size = f"{block.get('min_size')}..{block.get('max_size')} x {_instance_types(stack, block)}"
        graph.add(
            Node(address, NodeKind.FLEET, ("Auto Scaling group", str(block["name"]), size), key)
        )
    return order


def _launch_template(stack: SynthesizedStack, asg: Mapping[str, Any]) -> str:
    spec = asg.get("launch_template") or (asg.get("mixed_instances_policy") or {}).get(
        "launch_template"
    )
    return next(iter(stack.expression_references(spec or {})), "")


def _instance_types(stack: SynthesizedStack, asg: Mapping[str, Any]) -> str:
    overrides = ((asg.get("mixed_instances_policy") or {}).get("launch_template") or {}).get(
        "override"
    )
    if overrides:
        return "/".join(str(o.get("instance_type")) for o in overrides)
    template = stack.block(_launch_template(stack, asg)) or {}
    return str(template.get("instance_type", "?"))


def _queues(
    graph: Architecture,
    stack: SynthesizedStack,
    fleet_order: Mapping[str, tuple[Any, ...]],
    environment: Mapping[str, str],
    function_address: str,
) -> None:
    queues = {**stack.blocks("aws_sqs_queue"), **stack.blocks("aws_sqs_queue", data=True)}
    consumers = _consumers(stack, fleet_order)
    redrives = {
        address: stack.expression_references(block.get("redrive_policy", ""))
        for address, block in queues.items()
    }
    by_path = {_path(b): a for a, b in queues.items()}
    for address, block in queues.items():
        path = _path(block)
        if path.endswith("/existing-dlq"):
            redrives[by_path.get(path.removesuffix("-dlq"), "")] = [address]
    dead_letter = {dlq for targets in redrives.values() for dlq in targets}
    for address, block in queues.items():
        name = str(block.get("name"))
        fleet = consumers.get(address, ((9,), ""))
        if address in dead_letter:
            continue
        existing = address.startswith("data.")
        lines = ("SQS queue", name, "existing, read only" if existing else "created")
        graph.add(Node(address, NodeKind.QUEUE, lines, (*fleet[0], name)))
        graph.connect(fleet[1], address, EdgeKind.CONSUMES)
        for dlq in redrives.get(address, []):
            dlq_name = str(queues[dlq].get("name"))
            dlq_lines = ("dead-letter queue", dlq_name)
            graph.add(Node(dlq, NodeKind.DEAD_LETTER_QUEUE, dlq_lines, (*fleet[0], name)))
            graph.connect(address, dlq, EdgeKind.REDRIVES)
    for worker_type in WorkerType:
        urls = environment.get(EnvVar.queue_urls(worker_type), "")
        for address in stack.expression_references(urls):
            graph.connect(function_address, address, EdgeKind.READS)


def _path(block: Mapping[str, Any]) -> str:
    return str(((block.get("//") or {}).get("metadata") or {}).get("path", ""))


def _consumers(
    stack: SynthesizedStack, fleet_order: Mapping[str, tuple[Any, ...]]
) -> dict[str, tuple[tuple[Any, ...], str]]:
    """Queue address -> (its fleet's sort key, the ASG whose instances may receive from it):
    ASG -> launch template -> instance profile -> role -> its policies' ``sqs:ReceiveMessage``."""
    found: dict[str, tuple[tuple[Any, ...], str]] = {}
    for asg_address in fleet_order:
        asg = stack.block(asg_address) or {}
        template = stack.block(_launch_template(stack, asg)) or {}
        profiles = stack.expression_references(template.get("iam_instance_profile", {}))
        roles = {
            role
            for profile in profiles
            for role in stack.expression_references((stack.block(profile) or {}).get("role", ""))
        }
        for policy in stack.blocks("aws_iam_role_policy").values():
            if not set(stack.expression_references(policy.get("role", ""))) & roles:
                continue
            for document in stack.expression_references(policy.get("policy", "")):
                for statement in (stack.block(document) or {}).get("statement", []):
                    if "sqs:ReceiveMessage" in extract.statement_actions(statement):
                        for queue in stack.expression_references(statement.get("resources", [])):
                            found.setdefault(queue, (fleet_order[asg_address], asg_address))
    return found


def _metrics(graph: Architecture, schema: PublishedSchema, function_address: str) -> None:
    dimensions = {
        contract.ERROR_METRIC_NAME: f"{contract.DIMENSION_NAME}, {contract.STAGE_DIMENSION_NAME}",
        contract.VIDEO_BACKLOG_METRIC_NAME: f"{contract.DIMENSION_NAME}=Video [, TenantId]",
    }
    for index, name in enumerate(schema.metric_names):
        lines = (schema.namespace, name, f"by {dimensions.get(name, contract.DIMENSION_NAME)}")
        graph.add(Node(f"metric.{name}", NodeKind.METRIC, lines, (index,)))
        graph.connect(function_address, f"metric.{name}", EdgeKind.PUBLISHES)


def _policies(
    graph: Architecture,
    stack: SynthesizedStack,
    schema: PublishedSchema,
    fleet_order: Mapping[str, tuple[Any, ...]],
) -> None:
    for policy in extract.policies(stack):
        config = policy.block.get("target_tracking_configuration") or {}
        target = config.get("target_value")
        lines = (
            "target tracking",
            str(policy.block.get("name")),
            f"target {target:g}" if isinstance(target, int | float) else "target ?",
        )
        order = fleet_order.get(policy.asg_address, (9,))
        graph.add(Node(policy.address, NodeKind.POLICY, lines, order))
        for namespace, metric, _dims, _stat in policy.series:
            if namespace == schema.namespace:
                graph.connect(f"metric.{metric}", policy.address, EdgeKind.TRACKS)
        graph.connect(policy.address, policy.asg_address, EdgeKind.SCALES)


def _alarms(
    graph: Architecture, stack: SynthesizedStack, schema: PublishedSchema, function_address: str
) -> None:
    """One node per runbook section; edges from what each alarm reads; the dashboard."""
    sections = {s.anchor: (i, s.value) for i, s in enumerate(RunbookSection)}
    by_name = {str(n.lines[1]): n.id for n in graph.nodes.values() if len(n.lines) > 1}
    groups: dict[str, list[observers.AlarmView]] = {}
    for alarm in observers.alarms(stack):
        groups.setdefault(alarm.runbook.partition("#")[2], []).append(alarm)
    for anchor, alarms in sorted(groups.items(), key=lambda g: sections.get(g[0], (99, ""))):
        index, title = sections.get(anchor, (99, "other alarms"))
        node_id = f"alarms.{anchor or 'other'}"
        count = f"{len(alarms)} alarm{'s' if len(alarms) > 1 else ''}"
        graph.add(Node(node_id, NodeKind.ALARMS, (title, count), (index,)))
        for alarm in alarms:
            for source in sorted(_sources(alarm.series, schema, by_name, function_address)):
                graph.connect(source, node_id, EdgeKind.WATCHES)
    for address, block in stack.blocks("aws_cloudwatch_dashboard").items():
        name = str(block.get("dashboard_name"))
        graphs = sum(len(d.widgets) for d in observers.dashboards(stack) if d.name == name)
        lines = ("CloudWatch dashboard", name, f"{graphs} graphs")
        graph.add(Node(address, NodeKind.DASHBOARD, lines))
        shown = set(stack.expression_references(block.get("dashboard_body", "")))
        for anchor, alarms in groups.items():
            if any(a for a in alarms if _alarm_address(stack, a.name) in shown):
                graph.connect(f"alarms.{anchor or 'other'}", address, EdgeKind.SHOWS)


def _sources(
    series: Iterable[observers.ShownSeries],
    schema: PublishedSchema,
    by_name: Mapping[str, str],
    function_address: str,
) -> set[str]:
    sources = set()
    for shown in series:
        if shown.namespace == schema.namespace:
            sources.add(f"metric.{shown.metric_name}")
        elif shown.namespace == aws_metrics.LAMBDA.namespace:
            sources.add(function_address)
        else:
            sources.update(by_name[v] for _, v in shown.dimensions if v in by_name)
    return sources


def _alarm_address(stack: SynthesizedStack, name: str) -> str:
    alarms = stack.blocks("aws_cloudwatch_metric_alarm")
    return next((a for a, b in alarms.items() if b.get("alarm_name") == name), "")
