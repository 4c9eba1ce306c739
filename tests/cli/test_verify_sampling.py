"""``fleetctl verify`` reads each series at its resolution: ``QueueDepth`` per
minute (one datum each), the tracked series at the function's ``SAMPLE_SECONDS``,
and the policies' ``period`` must match it. Against a stack deployed in moto."""

from __future__ import annotations

import json

import pytest

from fleetctl.cli import main
from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, EnvVar, WorkerType

from .conftest import Deployed

TRACKED = contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME


def verify(deployed: Deployed, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    code = main(
        ["verify", "--env", "local", "--outputs", str(deployed.outputs_file), "--json", *extra]
    )
    document = json.loads(capsys.readouterr().out)
    return {"code": code, **{c["name"]: c for c in document["checks"]}}


def rename_tracked(deployed: Deployed, metric: str) -> None:
    """Point the outputs and the function at another tracked series name."""
    outputs = json.loads(deployed.outputs_file.read_text())
    outputs["backlog_per_instance_metric_name"]["value"] = metric
    deployed.outputs_file.write_text(json.dumps(outputs))
    variables = deployed.environment()
    variables[EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME] = metric
    deployed.set_environment(variables)


def test_each_series_is_read_at_its_own_resolution(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the default: QueueDepth once a minute, the tracked series every 10 s
    # WHEN verify runs
    result = verify(deployed, capsys)
    # THEN check 2 reads them at 60 s and 10 s, and check 3 finds the policies at 10 s
    assert result["code"] == 0
    detail = result["datapoints without gaps"]["detail"]
    assert detail.startswith(f"last 30 min: QueueDepth at 60 s, {TRACKED} at 10 s: 6 series")
    assert f"AI: {TRACKED} target 20 every 10 s" in result["scaling policies"]["detail"]


def test_a_tracked_series_published_once_a_minute_fails_check_2(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the function samples every 10 s, but the tracked series has one datum a minute
    # (e.g. an old publisher still deployed)
    for worker_type in WorkerType:
        deployed.put_series("BacklogPerMinute", worker_type, range(0, 30))
    rename_tracked(deployed, "BacklogPerMinute")
    # WHEN verify runs
    result = verify(deployed, capsys)
    # THEN check 2 names the series and the 10 s periods without data
    assert result["code"] == 1
    detail = result["datapoints without gaps"]["detail"]
    assert "BacklogPerMinute WorkerType=AI: 5 missing periods of 10 s in a row" in detail


def test_a_policy_at_60_s_on_a_10_s_series_fails_check_3(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the AI policy lost its period (60 s) while the function samples every 10 s
    deployed.put_target_tracking(WorkerType.AI, TRACKED, "AI", period=None)
    # WHEN verify runs
    result = verify(deployed, capsys)
    # THEN check 3 says the policy reacts later than the samples allow, naming the variable
    assert result["code"] == 1
    detail = result["scaling policies"]["detail"]
    assert f"reads {TRACKED} every 60 s, but the function samples every 10 s" in detail
    assert "SAMPLE_SECONDS" in detail


def test_one_minute_sampling_passes_with_policies_without_period(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack sampled once a minute: SAMPLE_SECONDS=60 and policies at the
    # API's default period
    variables = deployed.environment()
    variables[EnvVar.SAMPLE_SECONDS] = "60"
    deployed.set_environment(variables)
    for worker_type in TARGET_TRACKED_TYPES:
        deployed.put_target_tracking(worker_type, TRACKED, worker_type.value, period=None)
    # WHEN verify runs  THEN every check passes, the tracked series read per minute
    result = verify(deployed, capsys)
    assert result["code"] == 0, result
    assert f"{TRACKED} at 60 s" in result["datapoints without gaps"]["detail"]
    assert "target 20 every 60 s" in result["scaling policies"]["detail"]


def test_queue_depth_published_at_every_sample_fails_check_2(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN QueueDepth published six times a minute (the seed's Sum would read 6x)
    for worker_type in WorkerType:
        deployed.put_series("QueueDepthSampled", worker_type, range(0, 30), every_seconds=10)
    outputs = json.loads(deployed.outputs_file.read_text())
    outputs["metric_name"]["value"] = "QueueDepthSampled"
    deployed.outputs_file.write_text(json.dumps(outputs))
    # WHEN verify runs
    result = verify(deployed, capsys)
    # THEN check 2 fails, naming the contract it breaks
    assert result["code"] == 1
    detail = result["datapoints without gaps"]["detail"]
    assert "QueueDepthSampled WorkerType=Video: 6 datums a minute" in detail
    assert "would read 6 times the depth" in detail


def test_a_long_window_reads_the_high_resolution_series_for_its_last_3_hours(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a window of 4 hours
    # WHEN verify runs  THEN the tracked series is read at 10 s for 180 minutes only
    # (CloudWatch keeps sub-minute periods for 3 hours)
    result = verify(deployed, capsys, "--minutes", "240")
    detail = result["datapoints without gaps"]["detail"]
    assert detail.startswith(
        f"last 240 min: QueueDepth at 60 s, {TRACKED} at 10 s (its last 180 min)"
    )


def test_an_empty_sample_seconds_is_the_lambdas_default(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN SAMPLE_SECONDS set to an empty value, which the Lambda reads as its
    # default (10 s), as the policies do
    variables = deployed.environment()
    variables[EnvVar.SAMPLE_SECONDS] = ""
    deployed.set_environment(variables)
    # WHEN verify runs
    result = verify(deployed, capsys)
    # THEN check 2 reads the tracked series at 10 s and check 3 compares the policies
    # with 10 s (not with nothing, the value unread)
    assert result["code"] == 0, result
    assert f"{TRACKED} at 10 s" in result["datapoints without gaps"]["detail"]
    assert f"AI: {TRACKED} target 20 every 10 s" in result["scaling policies"]["detail"]
