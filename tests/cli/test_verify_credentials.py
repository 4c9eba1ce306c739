"""Credential and setup errors of ``fleetctl verify``: one line with the cause
and the fix, exit code 2, no traceback. Each error code has its own test."""

from __future__ import annotations

import argparse
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from fleetctl import verify
from fleetctl.cli import main

from .conftest import REGION, Deployed


def stubbed_aws(code: str, message: str) -> tuple[verify.Aws, Stubber]:
    """Clients whose first call (ListMetrics, check 1) fails with ``code``."""
    session = boto3.Session(
        region_name=REGION, aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret"
    )
    clients = {service: session.client(service) for service in verify.Aws.SERVICES}
    stubber = Stubber(clients["cloudwatch"])
    stubber.add_client_error(
        "list_metrics", service_error_code=code, service_message=message, http_status_code=403
    )
    stubber.activate()
    return verify.Aws(clients), stubber


def run_with(aws: verify.Aws, outputs_file: Path) -> int:
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    args = parser.parse_args(["--env", "local", "--outputs", str(outputs_file)])
    return verify.run(args, aws=aws)


@pytest.fixture
def outputs_file(deployed: Deployed) -> Path:
    return deployed.outputs_file


def assert_one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_invalid_client_token_id_names_aws_profile(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an access key that AWS does not know (the seed's own failure)
    aws, stubber = stubbed_aws(
        "InvalidClientTokenId", "The security token included in the request is invalid."
    )

    # WHEN verify runs
    code = run_with(aws, outputs_file)

    # THEN one line names the code, the failed call and the fix
    line = assert_one_line(capsys)
    assert code == 2
    assert "InvalidClientTokenId on cloudwatch:ListMetrics" in line
    assert "AWS_PROFILE" in line
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code_name", ["ExpiredToken", "ExpiredTokenException"])
def test_expired_token_names_sso_login(
    code_name: str, outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a session token that has expired
    aws, _ = stubbed_aws(code_name, "The security token included in the request is expired")

    # WHEN verify runs
    code = run_with(aws, outputs_file)

    # THEN one line says it expired and to run `aws sso login`
    line = assert_one_line(capsys)
    assert code == 2
    assert f"session token has expired ({code_name} on cloudwatch:ListMetrics)" in line
    assert "`aws sso login`" in line


def test_access_denied_names_the_denied_action(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a role without cloudwatch:ListMetrics (AWS names the action in the message)
    aws, _ = stubbed_aws(
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/ReadOnly/dev is not authorized to "
        "perform: cloudwatch:ListMetrics because no identity-based policy allows it",
    )

    # WHEN verify runs
    code = run_with(aws, outputs_file)

    # THEN the missing permission is named as the fix
    line = assert_one_line(capsys)
    assert code == 2
    assert "may not call cloudwatch:ListMetrics (AccessDenied)" in line
    assert "grant `cloudwatch:ListMetrics`" in line


def test_access_denied_exception_without_action_in_message_uses_the_call(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a denial whose message does not name the action
    aws, _ = stubbed_aws("AccessDeniedException", "Access denied")

    # WHEN verify runs
    code = run_with(aws, outputs_file)

    # THEN the action is derived from the failed call
    line = assert_one_line(capsys)
    assert code == 2
    assert "grant `cloudwatch:ListMetrics`" in line


def test_unauthorized_operation_is_an_access_error(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the EC2-style denial code
    aws, _ = stubbed_aws(
        "UnauthorizedOperation", "You are not authorized to perform this operation."
    )

    # WHEN verify runs
    code = run_with(aws, outputs_file)

    # THEN it reads like the other access errors
    line = assert_one_line(capsys)
    assert code == 2
    assert "access denied" in line and "(UnauthorizedOperation)" in line


def test_no_credentials_names_aws_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a shell with no credentials anywhere (no keys, no profile files, no IMDS)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        '{"region": "ap-northeast-2", "metric_namespace": "Academy/Workers", "metric_name": '
        '"QueueDepth", "backlog_per_instance_metric_name": "BacklogPerInstance", "function_name": '
        '"f", "schedule_rule_name": "r", "log_group_name": "/aws/lambda/f", "fleets": {"AI": '
        '{"asg_name": "a", "queue_urls": [], "scaling_policy": "p"}, "Video": {"asg_name": "v", '
        '"queue_urls": [], "scaling_policy": ""}, "Messaging": {"asg_name": "m", "queue_urls": '
        '[], "scaling_policy": "q"}}}'
    )

    # WHEN verify runs through the CLI
    code = main(["verify", "--env", "local", "--outputs", str(outputs)])

    # THEN one line says no credentials were found and how to provide them
    line = assert_one_line(capsys)
    assert code == 2
    assert "no AWS credentials found (NoCredentialsError on cloudwatch:ListMetrics)" in line
    assert "AWS_PROFILE" in line


def test_unknown_environment_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no config/staging.toml
    # WHEN verify runs for it
    code = main(["verify", "--env", "staging"])

    # THEN the message names the environment and the known ones
    line = assert_one_line(capsys)
    assert code == 2
    assert "no such environment 'staging'" in line
    assert "prod" in line


def test_malformed_region_is_one_line(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a mistyped region
    # WHEN verify runs with it
    code = main(
        ["verify", "--env", "local", "--region", "ap-northeast2", "--outputs", str(outputs_file)]
    )

    # THEN it is rejected before any call
    line = assert_one_line(capsys)
    assert code == 2
    assert "--region 'ap-northeast2' is not an AWS region" in line


def test_missing_outputs_say_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a synth directory without the stack
    # WHEN verify runs without --outputs
    code = main(["verify", "--env", "prod", "--synth-dir", str(tmp_path)])

    # THEN it says to synthesize and deploy first
    line = assert_one_line(capsys)
    assert code == 2
    assert "run `make synth` and `make deploy` first" in line


def test_unknown_profile_names_aws_profile(
    outputs_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN AWS_PROFILE names a profile that no config file defines
    monkeypatch.setenv("AWS_PROFILE", "academy-prod-typo")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))

    # WHEN verify runs
    code = main(["verify", "--env", "local", "--outputs", str(outputs_file)])

    # THEN one line names the profile and how to list the real ones
    line = assert_one_line(capsys)
    assert code == 2
    assert "academy-prod-typo" in line and "aws configure list-profiles" in line
