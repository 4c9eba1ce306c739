"""What the operator's view reads: the dashboards' widgets and the alarms, from the stack.

Dashboards and alarms consume series just as the scaling policies do, and a
series that nobody publishes draws an empty graph or an alarm that never fires.
This module reads them (``aws_cloudwatch_dashboard`` bodies, parsed from their
JSON; ``aws_cloudwatch_metric_alarm`` blocks, single metric or metric math) and
the AWS resources their ``AWS/*`` series would come from. ``drift`` judges them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fleetctl.contract_checks import Dimensions, dimension_set, show_dimensions
from fleetctl.report.stack import SynthesizedStack
from modules import aws_metrics

_EXPRESSION_ID = re.compile(r"\b([a-z][A-Za-z0-9_]*)\b")
_RUNBOOK = re.compile(r"Runbook: (\S+)")


@dataclass(frozen=True)
class ShownSeries:
    """One metric a widget or an alarm reads."""

    namespace: str
    metric_name: str
    dimensions: Dimensions
    stat: str
    id: str = ""
    visible: bool = True

    def show(self) -> str:
        return f"{self.namespace} {self.metric_name} {show_dimensions(self.dimensions)}"


@dataclass(frozen=True)
class Expression:
    """A metric math line: its id and the ids of the lines it uses."""

    id: str
    expression: str

    def uses(self) -> set[str]:
        # Function names are upper case (FILL, CEIL, IF); ids start lower case.
        return set(_EXPRESSION_ID.findall(self.expression))


@dataclass(frozen=True)
class WidgetView:
    """A ``metric`` widget of a dashboard."""

    dashboard: str
    title: str
    series: tuple[ShownSeries, ...]
    expressions: tuple[Expression, ...]

    def nothing_shown(self) -> str:
        """Why the widget draws no line, or ``""`` when it draws at least one."""
        if not self.series and not self.expressions:
            return "it has no series"
        defined = {s.id for s in self.series if s.id} | {e.id for e in self.expressions if e.id}
        broken = [e for e in self.expressions if not e.uses() <= defined]
        if broken:
            missing = sorted(set().union(*(e.uses() for e in broken)) - defined)
            return f"its expression {broken[0].expression!r} uses undefined id(s) {missing}"
        if not self.expressions and not any(s.visible for s in self.series):
            return "every series is hidden and no expression uses them"
        return ""


@dataclass(frozen=True)
class DashboardView:
    """One ``aws_cloudwatch_dashboard``: its metric widgets, or why its body is unreadable."""

    name: str
    widgets: tuple[WidgetView, ...] = ()
    unreadable: str = ""


@dataclass(frozen=True)
class AlarmView:
    """One ``aws_cloudwatch_metric_alarm`` as the report lists it."""

    name: str
    series: tuple[ShownSeries, ...]
    expression: str
    condition: str
    runbook: str


def dashboards(stack: SynthesizedStack) -> list[DashboardView]:
    """Every dashboard of the stack with its metric widgets, in document order."""
    views = []
    for block in stack.blocks("aws_cloudwatch_dashboard").values():
        name = stack.text(block.get("dashboard_name"))
        body = block.get("dashboard_body", "")
        try:
            document = json.loads(body) if isinstance(body, str) else None
        except json.JSONDecodeError as error:
            views.append(DashboardView(name, unreadable=f"its body is not JSON ({error})"))
            continue
        if not isinstance(document, dict) or not isinstance(document.get("widgets"), list):
            views.append(DashboardView(name, unreadable="its body has no list of widgets"))
            continue
        views.append(DashboardView(name, tuple(_widgets(stack, name, document["widgets"]))))
    return views


def _widgets(stack: SynthesizedStack, dashboard: str, widgets: Sequence[Any]) -> list[WidgetView]:
    views = []
    for widget in widgets:
        if not isinstance(widget, Mapping) or widget.get("type") != "metric":
            continue
        properties = widget.get("properties") or {}
        series: list[ShownSeries] = []
        expressions: list[Expression] = []
        previous: list[Any] = []
        for row in properties.get("metrics") or []:
            parsed, parts = _metric_row(row, previous, str(properties.get("stat", "Average")))
            if isinstance(parsed, Expression):
                expressions.append(parsed)
            elif parsed is not None:
                # A Terraform reference in a dimension reads as the name it will be.
                series.append(
                    replace(
                        parsed,
                        dimensions=dimension_set(
                            (k, stack.readable(v)) for k, v in parsed.dimensions
                        ),
                    )
                )
                previous = parts
        title = str(properties.get("title", "(untitled)"))
        views.append(WidgetView(dashboard, title, tuple(series), tuple(expressions)))
    return views


def _metric_row(
    row: Any, previous: Sequence[Any], default_stat: str
) -> tuple[ShownSeries | Expression | None, list[Any]]:
    """One ``metrics`` row: ``[namespace, name, dim, value, ..., {options}]`` (``"."``
    repeats the previous row's value at that position) or ``[{"expression": ...}]``;
    with the row's values, ``"."`` resolved (the next row's ``previous``)."""
    if not isinstance(row, list) or not row:
        return None, list(previous)
    options = row[-1] if isinstance(row[-1], Mapping) else {}
    parts = [p for p in row if not isinstance(p, Mapping)]
    if "expression" in options:
        return Expression(str(options.get("id", "")), str(options["expression"])), list(previous)
    parts = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
    if len(parts) < 2:
        return None, parts
    namespace, metric, *flat = (str(p) for p in parts)
    shown = ShownSeries(
        namespace,
        metric,
        dimension_set(zip(flat[0::2], flat[1::2], strict=False)),
        str(options.get("stat", default_stat)),
        id=str(options.get("id", "")),
        visible=options.get("visible", True) is not False,
    )
    return shown, parts


def alarms(stack: SynthesizedStack) -> list[AlarmView]:
    """Every metric alarm of the stack, in document order."""
    views = []
    for block in stack.blocks("aws_cloudwatch_metric_alarm").values():
        series: list[ShownSeries] = []
        expression = ""
        if block.get("metric_name"):
            dims = dimension_set(
                (k, stack.readable(v)) for k, v in (block.get("dimensions") or {}).items()
            )
            series.append(
                ShownSeries(
                    str(block.get("namespace", "")),
                    str(block["metric_name"]),
                    dims,
                    str(block.get("statistic", block.get("extended_statistic", ""))),
                )
            )
        for query in block.get("metric_query") or []:
            metric = query.get("metric") or {}
            if metric.get("metric_name"):
                dims = dimension_set(
                    (k, stack.readable(v)) for k, v in (metric.get("dimensions") or {}).items()
                )
                series.append(
                    ShownSeries(
                        str(metric.get("namespace", "")),
                        str(metric["metric_name"]),
                        dims,
                        str(metric.get("stat", "")),
                        id=str(query.get("id", "")),
                    )
                )
            if query.get("expression") and query.get("return_data"):
                expression = str(query["expression"])
        runbook = _RUNBOOK.search(str(block.get("alarm_description", "")))
        views.append(
            AlarmView(
                name=stack.text(block.get("alarm_name")),
                series=tuple(series),
                expression=expression,
                condition=_condition(block, series),
                runbook=runbook.group(1) if runbook else "",
            )
        )
    return views


_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _condition(block: Mapping[str, Any], series: Sequence[ShownSeries]) -> str:
    """``> 900 in 2 of 2 periods of 60 s (missing data: notBreaching)``."""
    operator = str(block.get("comparison_operator", ""))
    periods = block.get("evaluation_periods", 1)
    datapoints = block.get("datapoints_to_alarm", periods)
    period = block.get("period") or next(
        (
            (q.get("metric") or {}).get("period")
            for q in block.get("metric_query") or []
            if q.get("metric")
        ),
        "?",
    )
    threshold = block.get("threshold")
    shown = f"{threshold:g}" if isinstance(threshold, int | float) else str(threshold)
    return (
        f"{_OPERATORS.get(operator, operator)} {shown} in {datapoints} of {periods} "
        f"period(s) of {period} s (missing data: {block.get('treat_missing_data', 'missing')})"
    )


@dataclass(frozen=True)
class AwsResources:
    """The names AWS metrics of this stack's resources are keyed by."""

    queues: frozenset[str]
    functions: frozenset[str]
    group_metrics: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """ASG name -> its ``enabled_metrics`` (only those are published)."""

    @classmethod
    def of(cls, stack: SynthesizedStack) -> AwsResources:
        queues = {
            stack.text(b.get("name"))
            for b in [
                *stack.blocks("aws_sqs_queue").values(),
                *stack.blocks("aws_sqs_queue", data=True).values(),
            ]
        }
        return cls(
            queues=frozenset(queues),
            functions=frozenset(
                stack.text(b.get("function_name"))
                for b in stack.blocks("aws_lambda_function").values()
            ),
            group_metrics={
                stack.text(b.get("name")): frozenset(b.get("enabled_metrics") or [])
                for b in stack.blocks("aws_autoscaling_group").values()
            },
        )

    def problem(self, series: ShownSeries) -> str:
        """Why ``series`` is not an AWS metric of a resource of this stack, or ``""``."""
        family = aws_metrics.FAMILIES.get(series.namespace)
        if family is None:
            return f"{series.namespace} is neither the contract's namespace nor an AWS one we read"
        if series.metric_name not in family.metrics:
            return f"{series.metric_name} is not one of the {family.namespace} metrics"
        names = dict(series.dimensions)
        if set(names) != {family.dimension}:
            return f"{family.namespace} metrics are keyed by {family.dimension} alone"
        value = names[family.dimension]
        if family is aws_metrics.SQS and value not in self.queues:
            return f"no queue of this stack is named {value}"
        if family is aws_metrics.LAMBDA and value not in self.functions:
            return f"no function of this stack is named {value}"
        if family is aws_metrics.AUTOSCALING:
            if value not in self.group_metrics:
                return f"no Auto Scaling group of this stack is named {value}"
            if series.metric_name not in self.group_metrics[value]:
                return f"the group {value} does not enable it (enabled_metrics)"
        return ""
