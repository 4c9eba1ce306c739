"""Typed CloudWatch dashboard widgets and their layout, rendered to the body JSON.

``WorkersDashboard`` builds its widgets from the contract and the fleets'
constructs with these types; nothing writes the body's JSON by hand. The body
follows the CloudWatch dashboard body structure: ``widgets`` with ``type``,
``x``/``y``/``width``/``height`` on a 24-column grid, and for ``metric`` widgets
``properties.metrics`` rows ``[namespace, name, dim, value, ..., {options}]`` or
``[{"expression": ...}]``. Pure (no cdktf).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GRID_COLUMNS = 24
"""Width of the CloudWatch dashboard grid."""


@dataclass(frozen=True)
class MetricSeries:
    """One metric line: ``namespace``/``metric_name``/``dimensions`` read with ``stat``.

    ``id``: needed when an expression uses it; ``visible=False`` hides a series
    that only feeds an expression. ``period``: default the widget's.
    """

    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]
    stat: str
    label: str = ""
    id: str = ""
    visible: bool = True
    period: int | None = None

    def row(self) -> list[Any]:
        options: dict[str, Any] = {"stat": self.stat}
        if self.label:
            options["label"] = self.label
        if self.id:
            options["id"] = self.id
        if not self.visible:
            options["visible"] = False
        if self.period is not None:
            options["period"] = self.period
        flat = [part for name in sorted(self.dimensions) for part in (name, self.dimensions[name])]
        return [self.namespace, self.metric_name, *flat, options]


@dataclass(frozen=True)
class MathSeries:
    """A metric math line over the ``id`` of other series in the same widget."""

    expression: str
    label: str
    id: str

    def row(self) -> list[Any]:
        return [{"expression": self.expression, "label": self.label, "id": self.id}]


Series = MetricSeries | MathSeries


@dataclass(frozen=True)
class Annotation:
    """A horizontal line at ``value`` (a target, a limit) labelled ``label``."""

    label: str
    value: float


@dataclass(frozen=True)
class GraphWidget:
    """A time-series graph. ``period`` in seconds applies to every series without its own."""

    title: str
    series: tuple[Series, ...]
    period: int
    annotations: tuple[Annotation, ...] = ()
    y_label: str = ""
    width: int = 4
    height: int = 6

    def __post_init__(self) -> None:
        ids = [s.id for s in self.series if s.id]
        if len(ids) != len(set(ids)):
            raise ValueError(f"widget {self.title!r}: series ids {ids} are not unique")
        if not any(isinstance(s, MathSeries) or s.visible for s in self.series):
            raise ValueError(f"widget {self.title!r}: shows no series")

    def render(self, region: str) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "title": self.title,
            "view": "timeSeries",
            "region": region,
            "period": self.period,
            "metrics": [s.row() for s in self.series],
            "yAxis": {"left": {"min": 0, "label": self.y_label, "showUnits": False}},
        }
        if self.annotations:
            properties["annotations"] = {
                "horizontal": [{"label": a.label, "value": a.value} for a in self.annotations]
            }
        return {"type": "metric", "properties": properties}


@dataclass(frozen=True)
class AlarmStatusWidget:
    """The state of ``alarm_arns`` (Terraform references are fine: the body is a string)."""

    title: str
    alarm_arns: tuple[str, ...]
    width: int = GRID_COLUMNS
    height: int = 3

    def render(self, region: str) -> dict[str, Any]:
        return {
            "type": "alarm",
            "properties": {"title": self.title, "alarms": list(self.alarm_arns)},
        }


@dataclass(frozen=True)
class TextWidget:
    """Markdown, e.g. a fleet's header with its limits and runbook link."""

    markdown: str
    width: int = GRID_COLUMNS
    height: int = 2

    def render(self, region: str) -> dict[str, Any]:
        return {"type": "text", "properties": {"markdown": self.markdown}}


Widget = GraphWidget | AlarmStatusWidget | TextWidget


def dashboard_body(rows: Sequence[Sequence[Widget]], *, region: str) -> dict[str, Any]:
    """The body of a dashboard showing ``rows`` top to bottom, each left to right.

    A row wider than the grid wraps. Raises ``ValueError`` for a widget wider
    than the grid.
    """
    widgets: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        x, row_height = 0, 0
        for widget in row:
            if not 1 <= widget.width <= GRID_COLUMNS:
                raise ValueError(f"widget width {widget.width}: must be 1..{GRID_COLUMNS}")
            if x + widget.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            placed = {"x": x, "y": y, "width": widget.width, "height": widget.height}
            widgets.append(placed | widget.render(region))
            x += widget.width
            row_height = max(row_height, widget.height)
        y += row_height
    return {"widgets": widgets}
