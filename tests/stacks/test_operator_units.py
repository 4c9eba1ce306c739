"""Pure units of the operator's view: its settings and the dashboard layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from modules.dashboard_widgets import (
    GraphWidget,
    MathSeries,
    MetricSeries,
    TextWidget,
    dashboard_body,
)
from modules.runbook import RunbookSection, heading_anchor
from tests.stacks.test_settings import _base, _error


@pytest.mark.parametrize("seconds", [30, 1_209_601, 90.5])
def test_max_wait_out_of_range_is_one_line(tmp_path: Path, seconds: float) -> None:
    # GIVEN a fleet whose latency goal is below a minute, beyond retention, or a fraction
    doc = _base()
    doc["fleets"]["video"]["max_wait_seconds"] = seconds
    # WHEN it is loaded THEN the error names the file, the setting and the value
    message = _error(tmp_path, doc)
    assert f"fleets.video.max_wait_seconds = {seconds}" in message
    assert "\n" not in message


def test_more_queues_than_an_alarm_can_sum(tmp_path: Path) -> None:
    # GIVEN an AI fleet with five queues
    doc = _base()
    doc["fleets"]["ai"]["queues"] = [{"name": f"academy-local-ai-{i}"} for i in range(5)]
    # WHEN it is loaded THEN the limit and its reason are named
    message = _error(tmp_path, doc)
    assert "fleets.ai.queues = " in message and "at most 4 queues per fleet" in message


def test_a_dead_letter_queue_name_only_for_an_existing_queue(tmp_path: Path) -> None:
    # GIVEN a created queue that names a DLQ (the stack creates its own)
    doc = _base()
    doc["fleets"]["messaging"]["queues"] = [
        {"name": "academy-local-messaging", "dead_letter_queue": "other-dlq"}
    ]
    # WHEN it is loaded THEN it is refused with the reason
    message = _error(tmp_path, doc)
    assert "dead_letter_queue = 'other-dlq'" in message and "only for an existing queue" in message


def _graph(title: str, width: int = 8) -> GraphWidget:
    series = (MetricSeries("AWS/SQS", "NumberOfMessagesSent", {"QueueName": "q"}, "Sum"),)
    return GraphWidget(title, series, period=60, width=width)


def test_rows_are_laid_out_left_to_right_and_wrap_at_24_columns() -> None:
    # GIVEN a header and four graphs of width 8 (32 columns)
    rows = [[TextWidget("# header")], [_graph(f"g{i}") for i in range(4)]]
    # WHEN the body is rendered
    widgets = dashboard_body(rows, region="ap-northeast-2")["widgets"]
    # THEN the fourth graph wraps to the next line under the first
    assert [(w["x"], w["y"]) for w in widgets] == [(0, 0), (0, 2), (8, 2), (16, 2), (0, 8)]
    assert widgets[1]["properties"]["region"] == "ap-northeast-2"
    assert widgets[1]["properties"]["metrics"] == [
        ["AWS/SQS", "NumberOfMessagesSent", "QueueName", "q", {"stat": "Sum"}]
    ]


def test_a_graph_must_show_something_and_ids_must_be_unique() -> None:
    hidden = MetricSeries("AWS/SQS", "NumberOfMessagesSent", {"QueueName": "q"}, "Sum", id="a")
    with pytest.raises(ValueError, match="shows no series"):
        GraphWidget("t", (replace(hidden, visible=False),), period=60)
    with pytest.raises(ValueError, match="not unique"):
        GraphWidget("t", (hidden, MathSeries("a * 2", "twice", "a")), period=60)
    with pytest.raises(ValueError, match="width 30"):
        dashboard_body([[_graph("wide", width=30)]], region="r")


def test_runbook_anchors_are_githubs() -> None:
    assert heading_anchor("QueueDepth missing") == "queuedepth-missing"
    assert RunbookSection.LAMBDA_ERRORS.anchor == "queue-depth-lambda-errors"
    assert RunbookSection.CAPACITY_EXHAUSTED.describe("Full.") == (
        "Full. Runbook: RUNBOOK.md#fleet-capacity-exhausted"
    )
