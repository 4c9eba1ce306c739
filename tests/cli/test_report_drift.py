"""Drift detection of ``fleetctl report``: the real prod stack, altered in one
place per test, must fail with exit code 1 and name that mismatch."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetctl.cli import main
from fleetctl.report import DriftKind, build_report
from modules.settings import load_environment
from tests.conftest import Synthesized

pytestmark = pytest.mark.synth

Document = dict[str, Any]


def altered(synthesized: Synthesized, tmp_path: Path, change: Callable[[Document], None]) -> Path:
    """A synth directory holding workers-prod with ``change`` applied."""
    document = copy.deepcopy(synthesized.json("workers-prod"))
    change(document)
    stack = tmp_path / "cdktf.out" / "stacks" / "workers-prod"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text(json.dumps(document))
    return tmp_path / "cdktf.out"


def one(document: Document, section: str, kind: str, prefix: str) -> dict[str, Any]:
    """The block of ``kind`` whose id starts with ``prefix`` (e.g. ``ai-target-tracking``)."""
    matches = [v for k, v in document[section][kind].items() if k.startswith(prefix)]
    assert len(matches) == 1, (kind, prefix)
    block: dict[str, Any] = matches[0]
    return block


def policy(document: Document, fleet: str) -> dict[str, Any]:
    return one(document, "resource", "aws_autoscaling_policy", f"{fleet}-target-tracking")


def environment(document: Document) -> dict[str, str]:
    function = one(document, "resource", "aws_lambda_function", "queue-depth")
    variables: dict[str, str] = function["environment"]["variables"]
    return variables


def drift_of(synth_dir: Path) -> list[tuple[DriftKind, str]]:
    report = build_report(load_environment("prod"), synth_dir)
    return [(d.kind, d.message) for d in report.drift]


def test_a_policy_on_a_metric_nobody_publishes(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the AI policy tracks a metric name the Lambda does not publish
    def change(document: Document) -> None:
        spec = policy(document, "ai")["target_tracking_configuration"][
            "customized_metric_specification"
        ]
        spec["metric_name"] = "BacklogPerInstanceV2"

    synth_dir = altered(synthesized, tmp_path, change)

    # WHEN the report is built
    drift = drift_of(synth_dir)

    # THEN exactly that mismatch is reported, naming the policy and the series
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert drift[0][1].startswith(
        "policy academy-prod-ai-workers-backlog-per-instance consumes "
        "Academy/Workers BacklogPerInstanceV2 WorkerType=AI, which no publisher emits"
    )


def test_a_policy_in_another_namespace(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the Messaging policy reads the seed namespace's neighbour
    def change(document: Document) -> None:
        spec = policy(document, "messaging")["target_tracking_configuration"][
            "customized_metric_specification"
        ]
        spec["namespace"] = "Academy/Worker"

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN it is an unpublished metric
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert "Academy/Worker BacklogPerInstance WorkerType=Messaging" in drift[0][1]


def test_a_policy_on_a_dimension_nobody_publishes(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the AI policy's dimension value is misspelled
    def change(document: Document) -> None:
        spec = policy(document, "ai")["target_tracking_configuration"][
            "customized_metric_specification"
        ]
        spec["metric_dimension"] = [{"name": "WorkerType", "value": "Ai"}]

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the dimension is named
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert "BacklogPerInstance WorkerType=Ai, which no publisher emits" in drift[0][1]


def test_a_policy_on_another_fleets_series(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the AI policy tracks Messaging's backlog (published, but not AI's)
    def change(document: Document) -> None:
        spec = policy(document, "ai")["target_tracking_configuration"][
            "customized_metric_specification"
        ]
        spec["metric_dimension"] = [{"name": "WorkerType", "value": "Messaging"}]

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN it is the wrong series for that fleet
    assert [kind for kind, _ in drift] == [DriftKind.WRONG_SERIES]
    assert (
        "of the AI fleet consumes Academy/Workers BacklogPerInstance WorkerType=Messaging"
        in (drift[0][1])
    )


def test_a_published_type_without_policy_or_lambda_control(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Messaging policy is gone (and the Lambda does not control Messaging)
    def change(document: Document) -> None:
        policies = document["resource"]["aws_autoscaling_policy"]
        for key in [k for k in policies if k.startswith("messaging-")]:
            del policies[key]

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN Messaging is named as uncontrolled
    assert [kind for kind, _ in drift] == [DriftKind.UNCONTROLLED_FLEET]
    assert drift[0][1].startswith(
        "Messaging is published but its ASG academy-prod-messaging-workers has no scaling policy"
    )


def test_video_without_set_desired_capacity_is_uncontrolled(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Lambda's IAM policy lost SetDesiredCapacity on the Video ASG
    def change(document: Document) -> None:
        statements = one(
            document, "data", "aws_iam_policy_document", "queue-depth_policy-document"
        )["statement"]
        # The Video statement only (prod's AI has its own, for activation from zero).
        statements[:] = [s for s in statements if s["sid"] != "SetDesiredCapacity"]

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN Video is uncontrolled, and the reason is the missing grant
    assert [kind for kind, _ in drift] == [DriftKind.UNCONTROLLED_FLEET]
    assert "grants no autoscaling:SetDesiredCapacity" in drift[0][1]


def test_video_with_a_scaling_policy(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN a target-tracking policy was added to the Video ASG
    def change(document: Document) -> None:
        policies = document["resource"]["aws_autoscaling_policy"]
        video = copy.deepcopy(policy(document, "ai"))
        video["name"] = "academy-prod-video-workers-backlog-per-instance"
        video_asg = next(
            k for k in document["resource"]["aws_autoscaling_group"] if k.startswith("video")
        )
        video["autoscaling_group_name"] = f"${{aws_autoscaling_group.{video_asg}.name}}"
        video["target_tracking_configuration"]["customized_metric_specification"][
            "metric_dimension"
        ] = [{"name": "WorkerType", "value": "Video"}]
        policies["video-target-tracking_policy_TEST"] = video

    synth_dir = altered(synthesized, tmp_path, change)

    # WHEN the report runs through the CLI
    code = main(
        ["report", "--env", "prod", "--synth-dir", str(synth_dir), "--out", str(tmp_path / "r.md")]
    )

    # THEN it exits 1 and the drift names Video and the policy
    drift = drift_of(synth_dir)
    assert code == 1
    assert [kind for kind, _ in drift] == [DriftKind.LAMBDA_FLEET_HAS_POLICY]
    assert drift[0][1].startswith(
        "Video is controlled by the Lambda (SetDesiredCapacity) but has scaling policy "
        "academy-prod-video-workers-backlog-per-instance"
    )
    assert "`lambda-fleet-has-policy`" in (tmp_path / "r.md").read_text()


def test_lambda_environment_off_the_contract(
    synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the function's environment lost AI_ASG_NAME and gained a variable the contract lacks
    def change(document: Document) -> None:
        variables = environment(document)
        del variables["AI_ASG_NAME"]
        variables["METRIC_UNIT"] = "Count"

    synth_dir = altered(synthesized, tmp_path, change)

    # WHEN the report runs through the CLI
    code = main(
        ["report", "--env", "prod", "--synth-dir", str(synth_dir), "--out", str(tmp_path / "r.md")]
    )

    # THEN it exits 1 and stderr names both variables
    err = capsys.readouterr().err
    assert code == 1
    assert "drift [environment]: AI_ASG_NAME is missing: the contract requires it for AI" in err
    assert "drift [environment]: METRIC_UNIT is not a variable of the contract" in err


def test_lambda_namespace_off_the_contract(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the function publishes into another namespace than the contract's
    def change(document: Document) -> None:
        environment(document)["METRIC_NAMESPACE"] = "Academy/Workers-v2"

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the environment is named, and both policies now read what nobody publishes
    kinds = [kind for kind, _ in drift]
    assert kinds[0] is DriftKind.ENVIRONMENT
    assert drift[0][1] == (
        "METRIC_NAMESPACE = 'Academy/Workers-v2', but the contract says 'Academy/Workers'"
    )
    unpublished = [m for k, m in drift if k is DriftKind.UNPUBLISHED_METRIC]
    assert len([m for m in unpublished if m.startswith("policy ")]) == 2
    # and so do the dashboard's graphs and the missing-data alarms of the old namespace
    assert any(m.startswith("dashboard academy-prod-workers widget 'AI: ") for m in unpublished)
    assert any(m.startswith("alarm academy-prod-queue-depth-missing-ai ") for m in unpublished)


# ------------------------------------------------------------------ dashboards and alarms


def dashboard_widgets(document: Document) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The prod dashboard's block and its parsed widgets (write back with ``set_widgets``)."""
    block = one(document, "resource", "aws_cloudwatch_dashboard", "dashboard")
    widgets: list[dict[str, Any]] = json.loads(block["dashboard_body"])["widgets"]
    return block, widgets


def set_widgets(block: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
    block["dashboard_body"] = json.dumps({"widgets": widgets})


def widget(widgets: list[dict[str, Any]], title: str) -> dict[str, Any]:
    matches = [w for w in widgets if w.get("properties", {}).get("title") == title]
    assert len(matches) == 1, title
    return matches[0]


def test_a_graph_of_a_series_nobody_publishes(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the AI QueueDepth graph reads a metric name the Lambda does not publish
    def change(document: Document) -> None:
        block, widgets = dashboard_widgets(document)
        row = widget(widgets, "AI: QueueDepth (visible + in flight)")["properties"]["metrics"][0]
        row[1] = "QueueDepthV2"
        set_widgets(block, widgets)

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the dashboard, the graph and the series are named
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert drift[0][1].startswith(
        "dashboard academy-prod-workers widget 'AI: QueueDepth (visible + in flight)' shows "
        "Academy/Workers QueueDepthV2 WorkerType=AI, which no publisher emits"
    )


def test_a_graph_of_a_queue_the_stack_does_not_have(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Messaging oldest-message graph reads a queue name of no queue in the stack
    def change(document: Document) -> None:
        block, widgets = dashboard_widgets(document)
        graph = widget(widgets, "Messaging: age of the oldest message")
        graph["properties"]["metrics"][0][3] = "academy-messages"
        set_widgets(block, widgets)

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN that AWS series is named: AWS publishes nothing for it
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert drift[0][1].endswith(
        "shows AWS/SQS ApproximateAgeOfOldestMessage QueueName=academy-messages, which AWS "
        "does not publish: no queue of this stack is named academy-messages"
    )


def test_a_graph_of_a_group_metric_the_asg_does_not_enable(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Video ASG no longer enables GroupPendingInstances
    def change(document: Document) -> None:
        asg = one(document, "resource", "aws_autoscaling_group", "video-fleet")
        asg["enabled_metrics"].remove("GroupPendingInstances")

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the capacity graph is named with the reason
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert drift[0][1] == (
        "dashboard academy-prod-workers widget 'Video: capacity (instances)' shows "
        "AWS/AutoScaling GroupPendingInstances AutoScalingGroupName=academy-prod-video-workers, "
        "which AWS does not publish: the group academy-prod-video-workers does not enable it "
        "(enabled_metrics)"
    )


def test_a_graph_without_series(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the publisher's throttles graph lost its only series
    def change(document: Document) -> None:
        block, widgets = dashboard_widgets(document)
        widget(widgets, "Publisher: throttles")["properties"]["metrics"] = []
        set_widgets(block, widgets)

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN it is an empty widget
    assert drift == [
        (
            DriftKind.EMPTY_WIDGET,
            "dashboard academy-prod-workers widget 'Publisher: throttles' shows nothing: "
            "it has no series",
        )
    ]


def test_a_graph_whose_expression_uses_an_undefined_id(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the AI jobs-in-flight sum refers to a queue series that is not in the graph
    def change(document: Document) -> None:
        block, widgets = dashboard_widgets(document)
        rows = widget(widgets, "AI: jobs in flight")["properties"]["metrics"]
        rows[-1][0]["expression"] = "FILL(q0, 0) + FILL(q7, 0)"
        set_widgets(block, widgets)

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the graph draws nothing, and the missing id is named
    assert [kind for kind, _ in drift] == [DriftKind.EMPTY_WIDGET]
    assert drift[0][1].endswith("uses undefined id(s) ['q7']")


def test_a_dashboard_body_that_is_not_json(
    synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the dashboard body was cut short
    def change(document: Document) -> None:
        block, _ = dashboard_widgets(document)
        block["dashboard_body"] = block["dashboard_body"][:100]

    synth_dir = altered(synthesized, tmp_path, change)

    # WHEN the report runs through the CLI
    code = main(
        ["report", "--env", "prod", "--synth-dir", str(synth_dir), "--out", str(tmp_path / "r.md")]
    )

    # THEN it exits 1 naming the dashboard
    assert code == 1
    assert (
        "drift [empty-widget]: dashboard academy-prod-workers: its body is not JSON"
        in capsys.readouterr().err
    )


def test_an_alarm_on_a_series_nobody_publishes(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the Video missing-data alarm watches a misspelled metric name
    def change(document: Document) -> None:
        alarm = one(
            document,
            "resource",
            "aws_cloudwatch_metric_alarm",
            "queue-depth_missing-data-alarm-video",
        )
        alarm["metric_name"] = "QueueDept"

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the alarm is named: it would fire forever (missing data is breaching)
    assert [kind for kind, _ in drift] == [DriftKind.UNPUBLISHED_METRIC]
    assert drift[0][1].startswith(
        "alarm academy-prod-queue-depth-missing-video reads Academy/Workers QueueDept "
        "WorkerType=Video, which no publisher emits"
    )


def test_a_graph_in_the_dot_shorthand_is_read_like_the_long_form(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the AI capacity graph rewritten with CloudWatch's "." (same as the row above),
    # its last series misspelled
    def change(document: Document) -> None:
        block, widgets = dashboard_widgets(document)
        rows = widget(widgets, "AI: capacity (instances)")["properties"]["metrics"]
        rows[1] = [".", "GroupInServiceInstances", ".", ".", rows[1][-1]]
        rows[2] = [".", "GroupPendingInstance", ".", ".", rows[2][-1]]
        set_widgets(block, widgets)

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN only the misspelled series is drift, named with the ASG the dots stand for
    assert drift == [
        (
            DriftKind.UNPUBLISHED_METRIC,
            "dashboard academy-prod-workers widget 'AI: capacity (instances)' shows "
            "AWS/AutoScaling GroupPendingInstance AutoScalingGroupName=academy-prod-ai-workers, "
            "which AWS does not publish: GroupPendingInstance is not one of the "
            "AWS/AutoScaling metrics",
        )
    ]


def test_activation_on_without_its_grant(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN prod's Messaging (min_size 1: activation off, no grant) with its variable set
    # to 1 by hand
    def change(document: Document) -> None:
        environment(document)["MESSAGING_ACTIVATION_BACKLOG"] = "1"

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the Lambda's write would be refused at run time, and the report says so
    assert drift == [
        (
            DriftKind.ACTIVATION,
            "MESSAGING_ACTIVATION_BACKLOG = 1 turns activation on for Messaging, but the "
            "Lambda's IAM policy grants no autoscaling:SetDesiredCapacity on its ASG",
        )
    ]


def test_a_grant_on_a_tracked_fleet_without_activation(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Video SetDesiredCapacity statement widened to prod's Messaging ASG, whose
    # activation is off
    def change(document: Document) -> None:
        (statement,) = [
            s
            for s in one(
                document, "data", "aws_iam_policy_document", "queue-depth_policy-document"
            )["statement"]
            if s["sid"] == "SetDesiredCapacity"
        ]
        messaging = next(
            k for k in document["resource"]["aws_autoscaling_group"] if k.startswith("messaging")
        )
        statement["resources"].append(f"${{aws_autoscaling_group.{messaging}.arn}}")

    # WHEN the report is built
    drift = drift_of(altered(synthesized, tmp_path, change))

    # THEN the unused privilege on a fleet target tracking owns is named
    assert [kind for kind, _ in drift] == [DriftKind.ACTIVATION]
    assert (
        "SetDesiredCapacity on the Messaging ASG, but MESSAGING_ACTIVATION_BACKLOG is 0"
        in (drift[0][1])
    )


def test_an_unset_activation_is_the_lambdas_default_not_off(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN prod's AI fleet (min_size 0, granted SetDesiredCapacity) without
    # AI_ACTIVATION_BACKLOG: the Lambda then activates at its default, 1 message
    def change(document: Document) -> None:
        del environment(document)["AI_ACTIVATION_BACKLOG"]

    # WHEN the report is built
    report = build_report(load_environment("prod"), altered(synthesized, tmp_path, change))

    # THEN the grant is not called unused, and the AI fleet leaves zero at 1 message
    assert report.drift == []
    (ai,) = [row for row in report.fleets if row.worker_type == "AI"]
    assert ai.activation.startswith("Lambda at >= 1 message(s): desired 0 -> ")
