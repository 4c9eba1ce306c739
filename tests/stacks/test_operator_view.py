"""The operator's view in the synthesized stacks: the dashboard's graphs follow the
settings and the policies and show only series that exist; the alarms are scoped
to their environment, carry the configured thresholds and name a runbook section."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from modules import aws_metrics
from modules.runbook import RUNBOOK_FILE, RunbookSection, heading_anchor
from modules.settings import EnvironmentSettings, available_environments, load_environment
from tests.conftest import ROOT, Synthesized
from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, ErrorStage, WorkerType

pytestmark = pytest.mark.synth

ENVIRONMENTS = available_environments()
Doc = dict[str, Any]


def _blocks(doc: Doc, kind: str, section: str = "resource") -> list[dict[str, Any]]:
    return list(doc.get(section, {}).get(kind, {}).values())


def _widgets(doc: Doc) -> dict[str, dict[str, Any]]:
    """The dashboard's metric widgets by title (there is exactly one dashboard)."""
    (dashboard,) = _blocks(doc, "aws_cloudwatch_dashboard")
    body = json.loads(dashboard["dashboard_body"])
    return {
        w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"
    }


def _series(widget: dict[str, Any]) -> list[list[Any]]:
    """The widget's metric rows without their options (expressions left out)."""
    return [
        [p for p in row if not isinstance(p, dict)]
        for row in widget["metrics"]
        if "expression" not in row[-1]
    ]


def _expressions(widget: dict[str, Any]) -> list[str]:
    return [row[-1]["expression"] for row in widget["metrics"] if "expression" in row[-1]]


def _annotations(widget: dict[str, Any]) -> dict[str, float]:
    return {a["label"]: a["value"] for a in widget.get("annotations", {}).get("horizontal", [])}


def _names(doc: Doc, settings: EnvironmentSettings) -> dict[str, set[str]]:
    """What AWS metrics of this stack are keyed by: queue, ASG and function names."""
    queues = {b["name"] for b in _blocks(doc, "aws_sqs_queue")}
    queues |= {b["name"] for b in _blocks(doc, "aws_sqs_queue", "data")}
    return {
        "QueueName": queues,
        "AutoScalingGroupName": {b["name"] for b in _blocks(doc, "aws_autoscaling_group")},
        "FunctionName": {f"{settings.name_prefix}-queue-depth"},
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_graphed_series_is_published_or_an_aws_metric_of_the_stack(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN the synthesized stack, its settings and the names of its resources
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    names = _names(doc, settings)
    stages = {s.value for s in ErrorStage} | {contract.TENANT_BACKLOG_STAGE}
    published = {
        contract.DEFAULT_METRIC_NAME,
        contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
        contract.ERROR_METRIC_NAME,
    }

    # WHEN every row of every graph of the dashboard body (parsed as JSON) is read
    rows = [row for widget in _widgets(doc).values() for row in _series(widget)]

    # THEN each is a contract series of a published worker type, or an AWS metric
    # keyed by the name of one of this stack's resources
    assert rows
    for namespace, metric, *flat in rows:
        dimensions = dict(zip(flat[0::2], flat[1::2], strict=True))
        if namespace == contract.DEFAULT_NAMESPACE:
            assert metric in published, metric
            assert dimensions[contract.DIMENSION_NAME] in {t.value for t in WorkerType}
            extra = set(dimensions) - {contract.DIMENSION_NAME}
            assert extra == (
                {contract.STAGE_DIMENSION_NAME} if metric == "PublisherErrors" else set()
            )
            if extra:
                assert dimensions[contract.STAGE_DIMENSION_NAME] in stages
        else:
            family = aws_metrics.FAMILIES[namespace]
            assert metric in family.metrics, (namespace, metric)
            assert list(dimensions) == [family.dimension]
            assert dimensions[family.dimension] in names[family.dimension], dimensions


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_fleet_row_follows_its_settings_and_its_policy(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN the synthesized stack and its settings
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    policies = {
        p["target_tracking_configuration"]["customized_metric_specification"]["metric_dimension"][
            0
        ]["value"]: p
        for p in _blocks(doc, "aws_autoscaling_policy")
    }

    # WHEN the dashboard's graphs are read
    widgets = _widgets(doc)

    # THEN each fleet has its six graphs, drawn from its own settings and policy
    for fleet in settings.fleets:
        t = fleet.worker_type.value
        asg = f"{settings.name_prefix}-{fleet.key}-workers"
        queue_names = [q.name for q in fleet.queues]
        depth = next(w for title, w in widgets.items() if title.startswith(f"{t}: QueueDepth"))
        assert _series(depth) == [["Academy/Workers", "QueueDepth", "WorkerType", t]]
        if fleet.worker_type in TARGET_TRACKED_TYPES:
            tracked = widgets[f"{t}: BacklogPerInstance (tracked)"]
            target = policies[t]["target_tracking_configuration"]["target_value"]
            assert _series(tracked) == [["Academy/Workers", "BacklogPerInstance", "WorkerType", t]]
            assert _annotations(tracked) == {f"target {target:g}": target}
            # at the policy's period: the publisher's sampling
            assert tracked["period"] == settings.publisher.sample_seconds == 10
        else:
            rule = widgets[f"{t}: the Lambda's rule (instances)"]
            per_instance = f"{fleet.target_messages_per_instance:g}"
            # the jobs running plus the jobs waiting (worker_metrics.video_capacity)
            assert (
                f"CEIL((FILL(q0, 0)) / {fleet.jobs_per_instance} + backlog / {per_instance})"
                in _expressions(rule)
            )
        capacity = widgets[f"{t}: capacity (instances)"]
        assert _series(capacity) == [
            ["AWS/AutoScaling", metric, "AutoScalingGroupName", asg]
            for metric in (
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
            )
        ]
        assert _annotations(capacity) == {"max size": fleet.max_size, "min size": fleet.min_size}
        in_flight = widgets[f"{t}: jobs in flight"]
        assert [row[3] for row in _series(in_flight)] == queue_names
        assert _expressions(in_flight) == [
            " + ".join(f"FILL(q{i}, 0)" for i in range(len(queue_names)))
        ]
        oldest = widgets[f"{t}: age of the oldest message"]
        assert [row[3] for row in _series(oldest)] == queue_names
        assert list(_annotations(oldest).values()) == [fleet.max_wait_seconds]
        errors = widgets[f"{t}: PublisherErrors by stage"]
        shown = [dict(zip(row[2::2], row[3::2], strict=True)) for row in _series(errors)]
        assert {d["WorkerType"] for d in shown} == {t}
        assert {d["Stage"] for d in shown} >= {"read_queue", "describe_asg", "put_metric_data"}
        # AND a fleet whose capacity the Lambda writes (Video, or activation from zero)
        # shows the failures of those writes
        writes = "set_desired_capacity" in {d["Stage"] for d in shown}
        assert writes == fleet.lambda_writes_capacity
    duration = widgets["Publisher: duration (ms)"]
    assert _annotations(duration) == {"timeout": settings.publisher.timeout_seconds * 1000}


def test_the_tracked_graph_follows_the_policys_period(lambda_zip: Path) -> None:
    import dataclasses

    from cdktf import App

    from modules.worker_stack import WorkerAutoscalingStack

    # GIVEN policies that evaluate 30-second datapoints (publisher.sample_seconds = 30)
    local = load_environment("local")
    settings = dataclasses.replace(
        local, publisher=dataclasses.replace(local.publisher, sample_seconds=30)
    )

    # WHEN the local stack is built
    stack = WorkerAutoscalingStack(App(), settings=settings, lambda_zip=lambda_zip)

    # THEN the tracked graphs are plotted at 30 s, the AWS metrics stay at 60 s
    periods = {
        w["properties"]["title"]: w["properties"]["period"]
        for w in stack.dashboard.body["widgets"]
        if w["type"] == "metric"
    }
    assert periods["AI: BacklogPerInstance (tracked)"] == 30
    assert periods["Messaging: BacklogPerInstance (tracked)"] == 30
    assert periods["AI: capacity (instances)"] == 60


def test_an_existing_queue_with_its_dead_letter_queue_is_watched(lambda_zip: Path) -> None:
    from cdktf import App, Testing

    from modules.worker_stack import WorkerAutoscalingStack

    # GIVEN prod's Messaging queue (existing) with the name of its own DLQ
    prod = load_environment("prod")
    messaging = prod.fleet(WorkerType.MESSAGING)
    queue = replace(messaging.queues[0], dead_letter_queue="academy-messaging-dlq")
    fleets = tuple(replace(f, queues=(queue,)) if f is messaging else f for f in prod.fleets)

    # WHEN the stack is built
    stack = WorkerAutoscalingStack(
        App(), settings=replace(prod, fleets=fleets), lambda_zip=lambda_zip
    )
    doc = json.loads(Testing.synth(stack))

    # THEN the DLQ is looked up by name, alarmed on and graphed
    assert "academy-messaging-dlq" in {b["name"] for b in _blocks(doc, "aws_sqs_queue", "data")}
    (alarm,) = [
        a
        for a in _blocks(doc, "aws_cloudwatch_metric_alarm")
        if a["alarm_name"] == "academy-prod-messaging-workers-dead-letters-academy-messaging"
    ]
    assert alarm["dimensions"] == {"QueueName": "academy-messaging-dlq"}
    assert alarm["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["threshold"], alarm["comparison_operator"]) == (0, "GreaterThanThreshold")
    dlq_graph = _widgets(doc)["Dead-letter queues: messages"]
    assert [row[3] for row in _series(dlq_graph)] == ["academy-messaging-dlq"]


# ------------------------------------------------------------------ alarms


def _alarms(doc: Doc) -> list[dict[str, Any]]:
    return _blocks(doc, "aws_cloudwatch_metric_alarm")


def _dimension_values(alarm: dict[str, Any]) -> list[tuple[str, str]]:
    dims = list((alarm.get("dimensions") or {}).items())
    for query in alarm.get("metric_query") or []:
        dims += list(((query.get("metric") or {}).get("dimensions") or {}).items())
    return dims


def test_alarms_are_scoped_and_named_per_environment(synthesized: Synthesized) -> None:
    # GIVEN every environment's alarms and the runbook's sections
    headings = re.findall(r"^## (.+)$", (ROOT / RUNBOOK_FILE).read_text(), re.MULTILINE)
    anchors = {heading_anchor(h) for h in headings}
    seen: dict[str, str] = {}
    for env in ENVIRONMENTS:
        doc = synthesized.json(f"workers-{env}")
        settings = load_environment(env)
        names = _names(doc, settings)
        # WHEN each alarm is read
        for alarm in _alarms(doc):
            name = alarm["alarm_name"]
            # THEN its name carries the environment's prefix and no other environment has it
            assert name.startswith(f"{settings.name_prefix}-"), name
            assert name not in seen, (name, env, seen.get(name))
            seen[name] = env
            # its metrics are those of this environment's resources
            for key, value in _dimension_values(alarm):
                if key in names:
                    assert value in names[key] or value.startswith("${aws_lambda_function."), (
                        name,
                        key,
                        value,
                    )
            # it notifies the environment's topics, and names an existing runbook section
            assert alarm["alarm_actions"] == list(settings.publisher.alarm_topic_arns)
            match = re.search(r"Runbook: RUNBOOK\.md#(\S+)$", alarm["alarm_description"])
            assert match and match.group(1) in anchors, (name, alarm["alarm_description"])


def test_the_runbook_has_one_section_per_kind_of_alarm() -> None:
    # GIVEN the runbook
    text = (ROOT / RUNBOOK_FILE).read_text()
    # WHEN its second-level headings are read
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    # THEN they are exactly the sections the alarms point to, each with its three parts
    assert headings == [s.value for s in RunbookSection]
    for section in text.split("\n## ")[1:]:
        for part in ("**What it means.**", "**What to check.**", "**What to do.**"):
            assert part in section, (section.splitlines()[0], part)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_fleet_alarms_carry_the_fleet_settings(synthesized: Synthesized, env: str) -> None:
    # GIVEN the synthesized stack and its settings
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    by_name = {a["alarm_name"]: a for a in _alarms(doc)}

    for fleet in settings.fleets:
        asg = f"{settings.name_prefix}-{fleet.key}-workers"
        # WHEN the fleet's alarms are looked up by name
        capacity = by_name[f"{asg}-capacity-exhausted"]
        # THEN capacity exhausted compares desired with max size over 10 minutes, and
        # what was sent to every queue of the fleet with what was deleted
        queries = {q["id"]: q for q in capacity["metric_query"]}
        assert queries["desired"]["metric"]["dimensions"] == {"AutoScalingGroupName": asg}
        assert queries["desired"]["metric"]["stat"] == "Minimum"
        assert queries["maxsize"]["metric"]["metric_name"] == "GroupMaxSize"
        for index, queue in enumerate(fleet.queues):
            assert queries[f"sent{index}"]["metric"]["dimensions"] == {"QueueName": queue.name}
            assert queries[f"deleted{index}"]["metric"]["metric_name"] == "NumberOfMessagesDeleted"
        assert {q["metric"]["period"] for q in queries.values() if q.get("metric")} == {600}
        assert queries["exhausted"]["expression"].startswith("IF(desired >= maxsize AND ")
        assert queries["exhausted"]["return_data"] is True
        assert (capacity["threshold"], capacity["evaluation_periods"]) == (1, 1)
        # one max-wait alarm per queue at the fleet's max_wait_seconds
        for queue in fleet.queues:
            wait = by_name[f"{asg}-max-wait-{queue.name}"]
            assert wait["dimensions"] == {"QueueName": queue.name}
            assert wait["threshold"] == fleet.max_wait_seconds
            assert (wait["evaluation_periods"], wait["datapoints_to_alarm"]) == (2, 2)
            # and a dead-letter alarm for each queue the stack creates (with its DLQ)
            dead = by_name.get(f"{asg}-dead-letters-{queue.name}")
            if queue.existing:
                assert dead is None
            else:
                assert dead is not None
                assert dead["dimensions"] == {"QueueName": f"{queue.name}-dlq"}
