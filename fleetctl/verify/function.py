"""The deployed function as the checks read it: its configuration (fetched once
per run), and the sampling period it publishes the tracked series at
(``SAMPLE_SECONDS``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from fleetctl.contract_checks import lambda_sample_seconds
from fleetctl.stack_outputs import StackOutputs
from fleetctl.verify.aws import Aws


def function_configuration(aws: Aws, outputs: StackOutputs) -> dict[str, Any] | None:
    """``GetFunctionConfiguration`` of the stack's function, or ``None`` if it does not exist."""
    try:
        return aws.call("lambda", "get_function_configuration", FunctionName=outputs.function_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


class DeployedFunction:
    """The stack's function for one run of the checks: ``GetFunctionConfiguration``
    on first use, kept for the checks after it.

    Fetched when a check first needs it (not before check 1), so a credential error
    still names the run's first call; a failed fetch is not kept, so each check that
    needs the function reports a non-credential API error itself, as before.
    """

    def __init__(self, aws: Aws, outputs: StackOutputs) -> None:
        self._aws = aws
        self._outputs = outputs
        self._fetched = False
        self._configuration: dict[str, Any] | None = None

    @property
    def configuration(self) -> dict[str, Any] | None:
        """``GetFunctionConfiguration`` of the function, or ``None`` if it does not exist."""
        if not self._fetched:
            self._configuration = function_configuration(self._aws, self._outputs)
            self._fetched = True
        return self._configuration


def sample_seconds(function: dict[str, Any] | None) -> int | None:
    """The function's ``SAMPLE_SECONDS`` as the Lambda reads it (absent: the
    contract's default), or ``None`` when there is no function or the value is not
    one of 10, 30, 60 (check 5 names that)."""
    if function is None:
        return None
    return lambda_sample_seconds((function.get("Environment") or {}).get("Variables") or {})
