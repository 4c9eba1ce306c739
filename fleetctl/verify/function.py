"""The deployed function as the checks read it: its configuration, and the
sampling period it publishes the tracked series at (``SAMPLE_SECONDS``)."""

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


def sample_seconds(function: dict[str, Any] | None) -> int | None:
    """The function's ``SAMPLE_SECONDS`` as the Lambda reads it (absent: the
    contract's default), or ``None`` when there is no function or the value is not
    one of 10, 30, 60 (check 5 names that)."""
    if function is None:
        return None
    return lambda_sample_seconds((function.get("Environment") or {}).get("Variables") or {})
