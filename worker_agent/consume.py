"""The easy path for a Python worker: an SQS consume loop that keeps the local contract itself.

Each cycle: stop if ``drain`` exists; claim (busy); check ``drain`` again; on a
protected fleet wait for ``protected``; long-poll one message; run ``handler``
while a thread extends the message's visibility; delete it on success, leave
it for a retry on failure (the queue's redrive policy counts the attempts);
release the claim. A message that arrives after ``drain`` appeared goes back
to its queue at once. SQS errors are logged and retried after a pause; they
never lose a message.

    loop = ConsumeLoop(boto3.client("sqs"), os.environ["QUEUE_URLS"].split(","), encode)
    loop.run(concurrency=int(os.environ.get("JOBS_PER_INSTANCE", "1")))
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from worker_agent.aws import with_backoff
from worker_agent.contract import RunDir
from worker_agent.core import DrainReason

log = logging.getLogger("worker_agent.consume")

PROTECTED_FLEET_IDLE_PAUSE_SECONDS = 30.0
"""Default pause after an empty poll on a protected fleet: the instance is unprotected
(and may be scaled in) while it pauses, instead of always holding a claim."""


@dataclass(frozen=True)
class Message:
    """One received SQS message."""

    queue_url: str
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str]


class Outcome(str, Enum):
    """What one cycle did."""

    DONE = "done"  # handled and deleted
    FAILED = "failed"  # handler raised: left for a retry
    IDLE = "idle"  # nothing received
    RETURNED = "returned"  # received after drain: given back
    ERROR = "error"  # SQS call failed (after a job: its message was not deleted, comes back)
    STOP = "stop"  # drain: the loop ends


class ConsumeLoop:
    """Consume ``queue_urls`` (round robin) with ``handler(message)``; raise to leave it.

    ``run_dir``: the contract's directory (default ``WORKER_RUN_DIR`` or
    ``/run/academy-worker``). ``wait_for_protection``: default True when
    ``SCALE_IN_PROTECTION=self-managed``; then each receive waits for the agent's
    ``protected`` marker (at most ``protection_wait_seconds``, default 30).
    ``wait_seconds``: long-poll time per cycle, split over the queues (default 20).
    ``visibility_timeout_seconds``: default 300; a taken message stays invisible
    that long and is extended every half of it while the job runs, so a job may
    run longer than the queue's own timeout, and a dead instance's message is
    back within it. ``idle_pause_seconds``: pause after an empty poll; default
    30 on a protected fleet, else 0. ``expected_job_seconds``: optional; written
    as the job's ``expected_end`` so a Spot drain keeps jobs that will finish.
    ``retry_sleep``: the pause between ``DeleteMessage`` retries (``time.sleep``).
    """

    def __init__(
        self,
        sqs: Any,
        queue_urls: Sequence[str],
        handler: Callable[[Message], None],
        *,
        run_dir: RunDir | None = None,
        wait_for_protection: bool | None = None,
        protection_wait_seconds: float = 30.0,
        wait_seconds: int = 20,
        visibility_timeout_seconds: int = 300,
        idle_pause_seconds: float | None = None,
        expected_job_seconds: float | None = None,
        error_pause_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        retry_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not queue_urls:
            raise ValueError("queue_urls is empty: give at least one queue URL")
        if visibility_timeout_seconds < 2:
            raise ValueError(
                f"visibility_timeout_seconds = {visibility_timeout_seconds}: must be >= 2"
            )
        self.sqs = sqs
        self.queue_urls = list(queue_urls)
        self.handler = handler
        self.run_dir = run_dir or RunDir.from_env()
        if wait_for_protection is None:
            wait_for_protection = os.environ.get("SCALE_IN_PROTECTION") == "self-managed"
        self.wait_for_protection = wait_for_protection
        self.protection_wait_seconds = protection_wait_seconds
        self.wait_seconds = wait_seconds
        self.visibility_timeout_seconds = visibility_timeout_seconds
        if idle_pause_seconds is None:
            idle_pause_seconds = PROTECTED_FLEET_IDLE_PAUSE_SECONDS if wait_for_protection else 0.0
        self.idle_pause_seconds = idle_pause_seconds
        self.expected_job_seconds = expected_job_seconds
        self.error_pause_seconds = error_pause_seconds
        self.clock = clock
        self.retry_sleep = retry_sleep
        self.stopped = threading.Event()
        self._next_queue = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loop

    def run(self, concurrency: int = 1) -> dict[Outcome, int]:
        """Cycle until drain (or ``stop()``) in ``concurrency`` threads; the outcome counts."""
        counts: dict[Outcome, int] = {outcome: 0 for outcome in Outcome}

        def slot() -> None:
            while not self.stopped.is_set():
                outcome = self.run_once()
                with self._lock:
                    counts[outcome] += 1
                if outcome is Outcome.STOP:
                    return

        threads = [
            threading.Thread(target=slot, name=f"consume-{i}", daemon=True)
            for i in range(max(1, concurrency))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return counts

    def stop(self) -> None:
        self.stopped.set()

    def run_once(self) -> Outcome:
        """One cycle (see the module docstring); pauses come after the claim is released."""
        if self.run_dir.drain_reason() is not None:
            return Outcome.STOP
        job_id = self.run_dir.claim()
        try:
            outcome = self._cycle(job_id)
        finally:
            self.run_dir.release(job_id)
        pause = {Outcome.IDLE: self.idle_pause_seconds, Outcome.ERROR: self.error_pause_seconds}
        if pause.get(outcome, 0) > 0:
            self.stopped.wait(pause[outcome])
        return outcome

    def _cycle(self, job_id: str) -> Outcome:
        if self.run_dir.drain_reason() is not None:
            return Outcome.STOP  # drain appeared as we claimed: take nothing
        if self.wait_for_protection and not self._await_protection():
            return Outcome.STOP if self.run_dir.drain_reason() else Outcome.IDLE
        try:
            message = self._receive()
        except Exception as err:
            log.error("ReceiveMessage failed: %s", err)
            return Outcome.ERROR
        if message is None:
            return Outcome.IDLE
        expected_end = (
            self.clock() + self.expected_job_seconds if self.expected_job_seconds else None
        )
        self.run_dir.hold(job_id, message.queue_url, message.receipt_handle, expected_end)
        if self.run_dir.drain_reason() is not None:
            self._change_visibility(message, 0)
            return Outcome.RETURNED
        return self._handle(job_id, message)

    # ------------------------------------------------------------------ steps

    def _await_protection(self) -> bool:
        deadline = time.monotonic() + self.protection_wait_seconds
        while time.monotonic() < deadline and not self.stopped.is_set():
            if self.run_dir.drain_reason() is not None:
                return False
            if self.run_dir.is_protected():
                return True
            time.sleep(0.1)
        log.warning(
            "no scale-in protection after %.0f s (is the drain agent running?); not receiving",
            self.protection_wait_seconds,
        )
        return False

    def _receive(self) -> Message | None:
        with self._lock:
            url = self.queue_urls[self._next_queue % len(self.queue_urls)]
            self._next_queue += 1
        wait = max(1, self.wait_seconds // len(self.queue_urls)) if self.wait_seconds else 0
        response = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self.visibility_timeout_seconds,
        )
        messages: list[dict[str, Any]] = response.get("Messages") or []
        if not messages:
            return None
        raw = messages[0]
        return Message(
            queue_url=url,
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=dict(raw.get("Attributes") or {}),
        )

    def _handle(self, job_id: str, message: Message) -> Outcome:
        done = threading.Event()
        extender = threading.Thread(
            target=self._extend_visibility, args=(job_id, message, done), daemon=True
        )
        extender.start()
        try:
            self.handler(message)
        except Exception:
            log.exception(
                "job %s (message %s) failed; left for a retry", job_id, message.message_id
            )
            return Outcome.FAILED
        finally:
            done.set()
            extender.join()
        return Outcome.DONE if self._delete(job_id, message) else Outcome.ERROR

    def _extend_visibility(self, job_id: str, message: Message, done: threading.Event) -> None:
        while not done.wait(self.visibility_timeout_seconds / 2):
            if self.run_dir.was_returned(job_id):
                return  # the agent gave it back (Spot): extending would hide it again
            self._change_visibility(message, self.visibility_timeout_seconds)

    def _change_visibility(self, message: Message, seconds: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=message.queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=seconds,
            )
        except Exception as err:
            log.error(
                "ChangeMessageVisibility %d (%s) failed: %s", seconds, message.message_id, err
            )

    def _delete(self, job_id: str, message: Message) -> bool:
        """Delete a handled job's message (retried, ``with_backoff``); False if it stays.

        An undeleted message is delivered again once its visibility timeout ends,
        so the job will run again: that is logged as an error."""
        try:
            with_backoff(
                f"DeleteMessage {message.message_id}",
                lambda: self.sqs.delete_message(
                    QueueUrl=message.queue_url, ReceiptHandle=message.receipt_handle
                ),
                self.retry_sleep,
            )
        except Exception as err:
            log.error(
                "job %s succeeded but its message %s was not deleted (%s); it will be "
                "delivered again after its visibility timeout",
                job_id,
                message.message_id,
                err,
            )
            return False
        return True


def drain_reason(run_dir: RunDir | None = None) -> DrainReason | None:
    """For a worker with its own loop: why to stop taking work, or None."""
    return (run_dir or RunDir.from_env()).drain_reason()
