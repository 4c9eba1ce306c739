"""``QueueSettings``: one SQS queue of a fleet (``[[fleets.<type>.queues]]``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modules.settings.checks import fail, whole

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}(\.fifo)?$")


@dataclass(frozen=True)
class QueueSettings:
    """One SQS queue of a fleet.

    ``name``: the queue name, unique across all fleets of the environment.
    ``existing``: default ``False``; ``True`` imports a queue that already exists
    (looked up by name) instead of creating it, e.g. the queues of the old
    PowerShell-managed setup.
    ``visibility_timeout_seconds``: default 900 (15 min), longer than a job runs.
    ``max_receive_count``: default 5 receives before a message moves to the DLQ.
    ``message_retention_seconds``: default 1,209,600 (14 days, the SQS maximum).
    ``dead_letter_queue``: default empty. For an ``existing`` queue only: the
    name of the dead-letter queue its own redrive policy sends to, so the
    "dead-letter queue not empty" alarm and the dashboard watch it (looked up by
    name, left as it is). A created queue gets its own ``<name>-dlq``.
    """

    name: str
    existing: bool = False
    visibility_timeout_seconds: int = 900
    max_receive_count: int = 5
    message_retention_seconds: int = 1_209_600
    dead_letter_queue: str = ""

    def __post_init__(self) -> None:
        if not _QUEUE_NAME.match(self.name):
            fail("name", self.name, "must be 1-80 letters, digits, '-' or '_' (SQS queue name)")
        whole("visibility_timeout_seconds", self.visibility_timeout_seconds, 0, 43_200)
        whole("max_receive_count", self.max_receive_count, 1, 1000)
        whole("message_retention_seconds", self.message_retention_seconds, 60, 1_209_600)
        if self.dead_letter_queue and not self.existing:
            fail(
                "dead_letter_queue",
                self.dead_letter_queue,
                "only for an existing queue; a created queue gets its own '<name>-dlq'",
            )
        if self.dead_letter_queue and not _QUEUE_NAME.match(self.dead_letter_queue):
            fail(
                "dead_letter_queue",
                self.dead_letter_queue,
                "must be 1-80 letters, digits, '-' or '_' (SQS queue name)",
            )
