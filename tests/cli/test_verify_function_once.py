"""``fleetctl verify`` reads the function's configuration once per run: checks 2
to 5 share one ``GetFunctionConfiguration``, and an error on it is still reported
plainly. Against a stack deployed in moto."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from botocore.stub import Stubber

from fleetctl import verify

from .conftest import Deployed


class CountingAws(verify.Aws):
    """``verify.Aws`` that records every call as ``service:method``."""

    def __init__(self, clients: dict[str, Any]) -> None:
        super().__init__(clients)
        self.calls: list[str] = []

    def call(self, service: str, method: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(f"{service}:{method}")
        return super().call(service, method, **kwargs)


def run_with(aws: verify.Aws, deployed: Deployed) -> int:
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    args = parser.parse_args(["--env", "local", "--outputs", str(deployed.outputs_file)])
    return verify.run(args, aws=aws, now=deployed.now)


def clients(deployed: Deployed) -> dict[str, Any]:
    return {service: deployed.client(service) for service in verify.Aws.SERVICES}


def test_the_function_configuration_is_fetched_once_per_run(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the healthy stack, every call counted
    aws = CountingAws(clients(deployed))

    # WHEN verify runs
    code = run_with(aws, deployed)

    # THEN every check passes on one GetFunctionConfiguration (was one per check 2 to 5)
    assert code == 0, capsys.readouterr().out
    assert aws.calls.count("lambda:get_function_configuration") == 1


def test_rejected_credentials_on_the_function_are_one_plain_line(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN credentials the Lambda API rejects (CloudWatch still answers)
    lambda_clients = clients(deployed)
    stubber = Stubber(lambda_clients["lambda"])
    stubber.add_client_error(
        "get_function_configuration",
        service_error_code="InvalidClientTokenId",
        service_message="The security token included in the request is invalid.",
        http_status_code=403,
    )
    stubber.activate()

    # WHEN verify runs
    code = run_with(verify.Aws(lambda_clients), deployed)

    # THEN it stops with one line naming the code, the call and the fix
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == "" and "Traceback" not in captured.err
    (line,) = captured.err.splitlines()
    assert "InvalidClientTokenId on lambda:GetFunctionConfiguration" in line
    assert "AWS_PROFILE" in line
    stubber.assert_no_pending_responses()


def test_a_failed_fetch_is_an_error_of_each_check_that_needs_the_function(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN GetFunctionConfiguration throttled on every try
    lambda_clients = clients(deployed)
    stubber = Stubber(lambda_clients["lambda"])
    for _ in range(4):
        stubber.add_client_error(
            "get_function_configuration",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=429,
        )
    stubber.activate()

    # WHEN verify runs
    code = run_with(verify.Aws(lambda_clients), deployed)

    # THEN checks 2 to 5 could not run, each saying why, and the others still ran
    table = capsys.readouterr().out
    assert code == 2
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    for number in "2345":
        assert "ERROR" in rows[number].split()
        assert "GetFunctionConfiguration failed: ThrottlingException" in rows[number]
    assert "PASS" in rows["1"].split() and "PASS" in rows["6"].split()
    stubber.assert_no_pending_responses()
