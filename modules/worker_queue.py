"""``WorkerQueue``: one SQS work queue of a fleet, created or imported.

Created queues get SQS-managed server-side encryption and a dead-letter queue
(``<name>-dlq``, also encrypted, 14-day retention) with a redrive policy, so a
poison message stops being retried after ``max_receive_count`` receives instead
of inflating the backlog forever. Existing queues (``existing = true``) are looked
up by name and left as they are: this stack only reads their attributes (and,
when ``dead_letter_queue`` names one, their dead-letter queue's metrics).
"""

from __future__ import annotations

from cdktf import Fn
from constructs import Construct

from modules.aws import DataAwsSqsQueue, SqsQueue
from modules.iam import PolicyDocumentBuilder
from modules.settings import QueueSettings

DLQ_RETENTION_SECONDS = 1_209_600
"""Dead-letter queues keep messages for the SQS maximum (14 days) for inspection."""


class WorkerQueue(Construct):
    """An SQS queue that feeds one worker fleet.

    Attributes ``arn``, ``url`` and ``name`` are Terraform references; pass the
    construct itself to other constructs, not these strings.
    ``dead_letter_queue_name``: the literal name of its dead-letter queue (created,
    or the existing one named in the settings), or ``None``: what the alarms and
    the dashboard watch (``AWS/SQS`` metrics are keyed by ``QueueName``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: QueueSettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.dead_letter_queue: SqsQueue | None = None
        self.dead_letter_queue_name: str | None = None
        if settings.existing:
            existing = DataAwsSqsQueue(self, "existing", name=settings.name)
            self.arn: str = existing.arn
            self.url: str = existing.url
            if settings.dead_letter_queue:
                # Looked up so a misspelled name fails the plan, not the alarm silently.
                DataAwsSqsQueue(self, "existing-dlq", name=settings.dead_letter_queue)
                self.dead_letter_queue_name = settings.dead_letter_queue
        else:
            self.dead_letter_queue = SqsQueue(
                self,
                "dlq",
                name=f"{settings.name}-dlq",
                sqs_managed_sse_enabled=True,
                message_retention_seconds=DLQ_RETENTION_SECONDS,
            )
            queue = SqsQueue(
                self,
                "queue",
                name=settings.name,
                sqs_managed_sse_enabled=True,
                visibility_timeout_seconds=settings.visibility_timeout_seconds,
                message_retention_seconds=settings.message_retention_seconds,
                redrive_policy=Fn.jsonencode(
                    {
                        "deadLetterTargetArn": self.dead_letter_queue.arn,
                        "maxReceiveCount": settings.max_receive_count,
                    }
                ),
            )
            self.arn = queue.arn
            self.url = queue.url
            self.dead_letter_queue_name = f"{settings.name}-dlq"
        self.name = settings.name

    def grant_read_attributes(self, policy: PolicyDocumentBuilder) -> None:
        """Allow ``sqs:GetQueueAttributes`` on this queue only (the queue-depth reader)."""
        policy.allow("ReadQueueAttributes", ["sqs:GetQueueAttributes"], [self.arn])

    def grant_consume_messages(self, policy: PolicyDocumentBuilder) -> None:
        """Allow a worker to consume: ``sqs:ReceiveMessage``, ``sqs:DeleteMessage``,
        ``sqs:ChangeMessageVisibility`` and ``sqs:GetQueueAttributes``, on this queue only."""
        policy.allow(
            "ConsumeMessages",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            [self.arn],
        )
