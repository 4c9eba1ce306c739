"""``fleetctl verify`` against a stack deployed in moto: a passing case and one
failing case per check. Every name comes from the outputs file, as in real use."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fleetctl.cli import main
from worker_metrics import contract
from worker_metrics.contract import EnvVar, WorkerType

from .conftest import FUNCTION, Deployed, asg_name


def verify(deployed: Deployed, *extra: str) -> int:
    return main(["verify", "--env", "local", "--outputs", str(deployed.outputs_file), *extra])


def checks_by_name(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    document = json.loads(capsys.readouterr().out)
    return {c["name"]: c for c in document["checks"]}


def test_a_healthy_stack_passes_every_check(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the stack deployed as the contract says, with 30 minutes of datums

    # WHEN verify runs with JSON output
    code = verify(deployed, "--json")

    # THEN all six checks pass and the exit code is 0
    checks = checks_by_name(capsys)
    assert code == 0
    assert [c["status"] for c in checks.values()] == ["PASS"] * 6
    assert checks["metrics listed"]["detail"] == "6 series listed in Academy/Workers"
    assert "AI: BacklogPerInstance target 20" in str(checks["scaling policies"]["detail"])
    assert "Video: no policy" in str(checks["scaling policies"]["detail"])
    assert checks["schedule"]["detail"] == f"{FUNCTION}: ENABLED, rate(1 minute) -> {FUNCTION}"


def test_table_output_lists_each_check(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a healthy stack
    # WHEN verify runs without --json
    code = verify(deployed)

    # THEN a table with a header and one PASS row per check is printed
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == "verify workers-local in ap-northeast-2 (last 30 min)"
    assert lines[1].split()[:3] == ["#", "check", "status"]
    assert sum(" PASS " in line for line in lines) == 6


def test_missing_series_fail_checks_1_and_2(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a namespace where only the seed's QueueDepth is published, BacklogPerInstance never
    outputs = json.loads(deployed.outputs_file.read_text())
    outputs["backlog_per_instance_metric_name"]["value"] = "BacklogPerInstanceV2"
    deployed.outputs_file.write_text(json.dumps(outputs))

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN both metric checks name the missing series, and the exit code is 1
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["metrics listed"]["status"] == "FAIL"
    assert "BacklogPerInstanceV2 WorkerType=Video" in str(checks["metrics listed"]["detail"])
    assert checks["datapoints without gaps"]["status"] == "FAIL"
    assert "BacklogPerInstanceV2 WorkerType=AI: no datapoints" in str(
        checks["datapoints without gaps"]["detail"]
    )


def series_with_gap(deployed: Deployed, missing: range) -> None:
    """Publish every type's ``QueueDepthGappy`` for 30 minutes, Messaging's with ``missing``
    minutes left out, and point the outputs and the function at that metric name."""
    for worker_type in WorkerType:
        minutes = [
            m for m in range(30) if worker_type is not WorkerType.MESSAGING or m not in missing
        ]
        for minute in minutes:
            deployed.put_series("QueueDepthGappy", worker_type, range(minute, minute + 1))
    outputs = json.loads(deployed.outputs_file.read_text())
    outputs["metric_name"]["value"] = "QueueDepthGappy"
    deployed.outputs_file.write_text(json.dumps(outputs))


def test_a_gap_of_three_minutes_fails_check_2(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Messaging's series misses 3 minutes in a row, 10 to 12 minutes ago
    series_with_gap(deployed, range(10, 13))

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 2 fails naming the series and the gap
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["datapoints without gaps"]["status"] == "FAIL"
    assert "QueueDepthGappy WorkerType=Messaging: 3 missing minutes in a row" in str(
        checks["datapoints without gaps"]["detail"]
    )


def test_a_gap_of_two_minutes_is_tolerated(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Messaging's series misses 2 minutes in a row (CloudWatch may lag that much)
    series_with_gap(deployed, range(10, 12))

    # WHEN verify runs
    verify(deployed, "--json")

    # THEN check 2 passes and reports the largest gap
    check = checks_by_name(capsys)["datapoints without gaps"]
    assert check["status"] == "PASS"
    assert "largest gap 2 period(s)" in str(check["detail"])


def test_a_policy_on_video_fails_check_3(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN someone added target tracking to the Lambda-controlled Video fleet
    deployed.put_target_tracking(WorkerType.VIDEO, "BacklogPerInstance", "Video")

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 3 fails naming the ASG and the policy
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["scaling policies"]["status"] == "FAIL"
    assert f"Video is Lambda-controlled but {asg_name(WorkerType.VIDEO)} has policies" in str(
        checks["scaling policies"]["detail"]
    )


def test_a_policy_on_raw_queue_depth_fails_check_3(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the AI policy is back on the old raw QueueDepth (the seed's mistake)
    deployed.put_target_tracking(WorkerType.AI, "QueueDepth", "AI")

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 3 fails and says what the contract wants instead
    checks = checks_by_name(capsys)
    detail = str(checks["scaling policies"]["detail"])
    assert code == 1
    assert "consumes Academy/Workers QueueDepth WorkerType=AI Average" in detail
    assert "the contract says Academy/Workers BacklogPerInstance WorkerType=AI Average" in detail


def test_a_disabled_rule_fails_check_4(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the schedule was disabled
    deployed.client("events").disable_rule(Name=FUNCTION)

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 4 fails naming the state
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["schedule"]["status"] == "FAIL"
    assert f"rule {FUNCTION} is DISABLED, not ENABLED" in str(checks["schedule"]["detail"])


def test_an_environment_off_the_contract_fails_check_5(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the function's namespace was changed by hand and Video's ASG variable removed
    variables = deployed.environment()
    variables[EnvVar.METRIC_NAMESPACE] = "Academy/Workers2"
    del variables[EnvVar.asg_name(WorkerType.VIDEO)]
    deployed.set_environment(variables)

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 5 names both variables
    checks = checks_by_name(capsys)
    detail = str(checks["function environment"]["detail"])
    assert code == 1
    assert "VIDEO_ASG_NAME is missing" in detail
    assert (
        "METRIC_NAMESPACE = 'Academy/Workers2', but the contract says 'Academy/Workers'" in detail
    )


def test_lambda_errors_fail_check_6(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the function failed twice 3 minutes ago
    deployed.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION}],
                "Value": 2.0,
                "Timestamp": deployed.now - timedelta(minutes=3),
            }
        ],
    )

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN check 6 fails with the count and the log group
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["function errors"]["status"] == "FAIL"
    assert str(checks["function errors"]["detail"]).startswith("2 error(s) in the last 30 min")
    assert f"/aws/lambda/{FUNCTION}" in str(checks["function errors"]["detail"])


def test_a_missing_function_fails_checks_4_and_5(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the function was deleted
    deployed.client("lambda").delete_function(FunctionName=FUNCTION)

    # WHEN verify runs
    code = verify(deployed, "--json")

    # THEN the environment check says so, and the rule targets nothing that exists
    checks = checks_by_name(capsys)
    assert code == 1
    assert checks["function environment"]["detail"] == f"function {FUNCTION} does not exist"
    assert checks["schedule"]["status"] == "FAIL"


def test_contract_names_are_what_the_checks_look_for() -> None:
    # GIVEN / WHEN the contract's names
    # THEN they are the seed's schema (a change here changes every check above)
    assert (contract.DEFAULT_NAMESPACE, contract.DEFAULT_METRIC_NAME, contract.DIMENSION_NAME) == (
        "Academy/Workers",
        "QueueDepth",
        "WorkerType",
    )
