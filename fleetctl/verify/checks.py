"""The six checks in order, run against one deployed stack."""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from fleetctl.stack_outputs import StackOutputs
from fleetctl.verify.aws import Aws
from fleetctl.verify.deployment import (
    check_environment,
    check_lambda_errors,
    check_policies,
    check_schedule,
)
from fleetctl.verify.function import DeployedFunction
from fleetctl.verify.results import CheckResult, Status, Window
from fleetctl.verify.series import check_datapoints, check_list_metrics

Check = Callable[[Aws, StackOutputs, Window, DeployedFunction], tuple[Status, str]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("metrics listed", check_list_metrics),
    ("datapoints without gaps", check_datapoints),
    ("scaling policies", check_policies),
    ("schedule", check_schedule),
    ("function environment", check_environment),
    ("function errors", check_lambda_errors),
)


def run_checks(aws: Aws, outputs: StackOutputs, window: Window) -> list[CheckResult]:
    """Run every check. Raises ``CannotVerify`` on a credential or endpoint error;
    any other API error makes that one check ``ERROR`` and the others still run.
    The function's configuration is fetched once, by the first check that needs it."""
    function = DeployedFunction(aws, outputs)
    results = []
    for number, (name, check) in enumerate(CHECKS, start=1):
        try:
            status, detail = check(aws, outputs, window, function)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            status, detail = (
                Status.ERROR,
                f"{error.operation_name} failed: {code}: "
                f"{error.response.get('Error', {}).get('Message', '')}",
            )
        except BotoCoreError as error:
            status, detail = Status.ERROR, f"{type(error).__name__}: {error}"
        results.append(CheckResult(number, name, status, detail))
    return results
