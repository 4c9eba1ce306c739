"""``fleetctl report`` on every environment's real synthesized stack: the rendered
values come from the settings, and there is no drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.cli import main
from fleetctl.report import build_report, render
from modules.settings import available_environments, load_environment
from tests.conftest import Synthesized
from worker_metrics import contract
from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, TARGET_TRACKED_TYPES, WorkerType

ENVIRONMENTS = available_environments()


@pytest.mark.synth
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_report_renders_the_settings_of_every_environment(
    env: str, synthesized: Synthesized
) -> None:
    # GIVEN the environment's settings and its synthesized stack
    settings = load_environment(env)

    # WHEN the report is built and rendered as Markdown
    report = build_report(settings, synthesized.outdir)
    text = render(report, "md")

    # THEN the publisher's values are the settings' and the contract's
    assert report.drift == []
    assert report.region == settings.region
    assert report.function_name == f"{settings.name_prefix}-queue-depth"
    assert report.schedule_expression == settings.publisher.schedule
    assert report.schedule_rule == f"{settings.name_prefix}-queue-depth"
    assert report.runtime == settings.publisher.runtime
    assert (report.namespace, report.metric_name, report.unit) == (
        contract.DEFAULT_NAMESPACE,
        contract.DEFAULT_METRIC_NAME,
        contract.UNIT,
    )
    assert report.dimension_values == tuple(t.value for t in WorkerType)
    # AND each fleet row carries its ASG, bounds and controller
    for row in report.fleets:
        fleet = settings.fleet(WorkerType(row.worker_type))
        assert row.asg_name == f"{settings.name_prefix}-{fleet.key}-workers"
        assert (row.min_size, row.max_size) == (str(fleet.min_size), str(fleet.max_size))
        assert [q.split('"')[1] for q in row.queues] == [q.name for q in fleet.queues]
        if fleet.worker_type in TARGET_TRACKED_TYPES:
            (policy,) = row.policies
            assert row.control == "EC2 target tracking"
            assert policy.policy_type == "TargetTrackingScaling"
            assert policy.metric == contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME
            assert policy.dimensions == f"WorkerType={fleet.worker_type.value}"
            assert policy.statistic == contract.TARGET_TRACKING_STATISTIC
            assert policy.target == f"{fleet.target_messages_per_instance:g}"
            assert policy.warmup_seconds == str(fleet.instance_warmup_seconds)
        if fleet.worker_type in LAMBDA_CONTROLLED_TYPES:
            assert row.policies == ()
            assert row.control == "Lambda: SetDesiredCapacity"
        # AND how it leaves zero: the Video rule, the Lambda's activation at min_size 0
        if fleet.worker_type in LAMBDA_CONTROLLED_TYPES:
            assert row.activation == "Lambda: sized from its first message"
        elif fleet.min_size == 0:
            assert row.activation == (
                f"Lambda at >= {fleet.tracking.activation_backlog} message(s): desired 0 -> "
                f"ceil(backlog / {float(fleet.target_messages_per_instance)}), then target tracking"
            )
        else:
            assert row.activation.startswith("off: ")
        assert row.activation.replace("|", "") in text
    # AND the Video calls come from the IAM policy document
    actions = {c.action for c in report.video_calls}
    assert {"autoscaling:DescribeAutoScalingGroups", "autoscaling:SetDesiredCapacity"} <= actions
    # AND the verification commands are filled in with this stack's values
    assert (
        f'aws cloudwatch list-metrics --namespace "Academy/Workers" --region {settings.region}'
        in text
    )
    assert '--dimensions Name=WorkerType,Value="$worker_type"' in text
    assert 'foreach ($workerType in @("AI", "Video", "Messaging"))' in text
    for fleet in settings.fleets:
        assert f'--auto-scaling-group-name "{settings.name_prefix}-{fleet.key}-workers"' in text
    assert f"fleetctl verify --env {env} --minutes 30" in text


@pytest.mark.synth
def test_report_says_where_the_metrics_are_published(synthesized: Synthesized) -> None:
    # GIVEN the prod stack
    # WHEN the report is built
    report = build_report(load_environment("prod"), synthesized.outdir)

    # THEN the PutMetricData call is located in the Lambda's source by parsing it
    import inspect

    from worker_metrics import publish

    lines, first = inspect.getsourcelines(publish.put_datums)
    call_line = first + next(i for i, text in enumerate(lines) if "put_metric_data(" in text)
    assert report.publish_locations[0] == (
        f"`lambda/queue_depth/worker_metrics/publish.py` `put_datums()` line {call_line}"
    )
    assert report.handler_file == "lambda/queue_depth/lambda_function.py"


@pytest.mark.synth
def test_report_describes_the_tenant_backlog_join(synthesized: Synthesized) -> None:
    # GIVEN the tenant backlog module exists in the Lambda package
    pytest.importorskip("worker_metrics.tenant_backlog")

    # WHEN the prod report is built
    report = build_report(load_environment("prod"), synthesized.outdir)

    # THEN it shows the video -> session -> lecture -> tenant JOIN and the literal statuses
    section = report.tenant_backlog
    assert section is not None
    assert "video_video.session_id -> lecture_session.id" in section.join_path
    assert "lecture_lecture.tenant_id" in section.join_path
    assert "IN ('UPLOADED', 'PROCESSING')" in section.sql
    assert section.metric == contract.VIDEO_BACKLOG_METRIC_NAME


@pytest.mark.synth
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_report_cli_writes_the_file(
    fmt: str, synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an output path in a directory that does not exist yet
    out = tmp_path / "out" / f"report-prod.{fmt}"

    # WHEN the CLI writes the report
    code = main(
        [
            "report",
            "--env",
            "prod",
            "--format",
            fmt,
            "--out",
            str(out),
            "--synth-dir",
            str(synthesized.outdir),
        ]
    )

    # THEN it exits 0 and the file holds the prod values
    assert code == 0
    text = out.read_text()
    assert "academy-prod-queue-depth" in text
    assert "academy-prod-ai-workers-backlog-per-instance" in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>")
        assert "&lt;url of aws_sqs_queue" in text  # escaped, not raw markup
    assert f"wrote {out}" in capsys.readouterr().err


def test_report_without_a_synthesized_stack_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an empty synth directory
    # WHEN the report is asked for
    code = main(["report", "--env", "prod", "--synth-dir", str(tmp_path)])

    # THEN it exits 2 with one line naming the missing file and `make synth`
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "run `make synth`" in err[0]


def test_report_for_an_unknown_environment_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN / WHEN a report for an environment without config/<env>.toml
    code = main(["report", "--env", "qa"])

    # THEN exit 2 and the known environments are listed
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "no such environment 'qa' (known: " in err and "prod" in err
