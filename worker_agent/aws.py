"""The agent's AWS calls (boto3), each retried with capped exponential backoff.

Throttling, 5xx and connection errors are retried ``attempts`` times; any other
error, or the last failure, raises ``ActionFailed`` naming the call. The agent
then decides the action again on its next poll, so a longer outage only delays
it. Two answers mean the work is already done and are not failures: a lifecycle
action that no longer exists (completed by an earlier attempt whose reply was
lost, or expired), and a message that is no longer in flight.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker_agent.core import Job

log = logging.getLogger("worker_agent")

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "ResourceContention",
    }
)
# botocore's own retries are off: this module's loop is the one retry policy.
CLIENT_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=10
)


class ActionFailed(RuntimeError):
    """An AWS call failed for good (not retryable, or retries exhausted)."""


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _retryable(err: ClientError) -> bool:
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return _code(err) in RETRYABLE_CODES or status >= 500


def _no_lifecycle_action(err: ClientError) -> bool:
    message = str(err.response.get("Error", {}).get("Message", ""))
    return _code(err) == "ValidationError" and "No active Lifecycle Action" in message


def _message_gone(err: ClientError) -> bool:
    # SQS answers InvalidParameterValue for a receipt handle whose message was
    # deleted or is no longer in flight.
    return _code(err) in (
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
        "MessageNotInflight",
        "AWS.SimpleQueueService.NonExistentQueue",
    )


def with_backoff(
    describe: str,
    call: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 5,
    base_seconds: float = 0.5,
    cap_seconds: float = 8.0,
) -> T:
    """``call()``, retried on throttling, 5xx and connection errors (full jitter)."""
    last = ""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as err:
            if not _retryable(err):
                raise
            last = f"{_code(err)}: {err}"
        except BotoCoreError as err:  # connection refused, timeouts, DNS
            last = f"{type(err).__name__}: {err}"
        if attempt + 1 < attempts:
            delay = min(cap_seconds, base_seconds * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning("%s failed (%s); retry %d in %.1f s", describe, last, attempt + 1, delay)
            sleep(delay)
    raise ActionFailed(f"{describe}: gave up after {attempts} attempts: {last}")


class LifecycleApi:
    """The calls about this instance: lifecycle actions, its protection, its messages."""

    def __init__(
        self,
        autoscaling: Any,
        sqs: Any,
        *,
        asg_name: str,
        hook_name: str,
        instance_id: str,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
    ) -> None:
        self.autoscaling = autoscaling
        self.sqs = sqs
        self.asg_name = asg_name
        self.hook_name = hook_name
        self.instance_id = instance_id
        self._sleep = sleep
        self._attempts = attempts

    def _call(self, describe: str, call: Callable[[], Any]) -> Any:
        try:
            return with_backoff(describe, call, self._sleep, self._attempts)
        except ClientError as err:
            raise ActionFailed(f"{describe}: {_code(err)}: {err}") from err

    def record_heartbeat(self) -> None:
        self._call(
            "RecordLifecycleActionHeartbeat",
            lambda: self.autoscaling.record_lifecycle_action_heartbeat(
                AutoScalingGroupName=self.asg_name,
                LifecycleHookName=self.hook_name,
                InstanceId=self.instance_id,
            ),
        )

    def complete(self, result: str) -> None:
        try:
            self._call(
                f"CompleteLifecycleAction {result}",
                lambda: self.autoscaling.complete_lifecycle_action(
                    AutoScalingGroupName=self.asg_name,
                    LifecycleHookName=self.hook_name,
                    InstanceId=self.instance_id,
                    LifecycleActionResult=result,
                ),
            )
        except ActionFailed as err:
            cause = err.__cause__
            if isinstance(cause, ClientError) and _no_lifecycle_action(cause):
                log.warning("CompleteLifecycleAction: no action is waiting (already done): %s", err)
                return
            raise

    def set_protection(self, protected: bool) -> None:
        self._call(
            f"SetInstanceProtection {protected}",
            lambda: self.autoscaling.set_instance_protection(
                AutoScalingGroupName=self.asg_name,
                InstanceIds=[self.instance_id],
                ProtectedFromScaleIn=protected,
            ),
        )

    def return_message(self, job: Job) -> None:
        """Give the job's message back to its queue now (visibility 0)."""
        try:
            self._call(
                f"ChangeMessageVisibility 0 ({job.job_id})",
                lambda: self.sqs.change_message_visibility(
                    QueueUrl=job.queue_url, ReceiptHandle=job.receipt_handle, VisibilityTimeout=0
                ),
            )
        except ActionFailed as err:
            cause = err.__cause__
            if isinstance(cause, ClientError) and _message_gone(cause):
                log.warning("job %s: its message is no longer in flight: %s", job.job_id, err)
                return
            raise


def clients(region: str) -> tuple:
    """(autoscaling, sqs) boto3 clients; ``AWS_ENDPOINT_URL`` is honoured by boto3 itself."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return (
        session.client("autoscaling", config=CLIENT_CONFIG),
        session.client("sqs", config=CLIENT_CONFIG),
    )
