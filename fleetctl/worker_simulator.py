"""Simulated workers for the local demo: consume SQS messages like the fleets would.

moto launches EC2 instances that run nothing (NOTES §2), so the demo stands in
for the workers: each in-service instance of a fleet takes a fixed number of
messages per tick (one simulated minute) and finishes them one tick later.
A taken message is received and not yet deleted, so SQS counts it as in flight
(``ApproximateNumberOfMessagesNotVisible``), exactly what the Lambda reads; a
finished one is deleted.

The simulator only talks to SQS through a boto3 client; it never reads a clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker_metrics.contract import WorkerType

SQS_BATCH = 10
"""SendMessageBatch / ReceiveMessage / DeleteMessageBatch take at most 10 entries."""

HOLD_SECONDS = 900
"""Visibility timeout of a taken message (real seconds): far longer than a demo
run, so a message stays in flight until the simulator deletes it."""


@dataclass(frozen=True)
class SimulatedFleet:
    """One fleet's workers.

    ``queue_urls``: the queues its instances consume (round robin).
    ``messages_per_instance``: messages one in-service instance takes per tick, > 0.
    Raises ValueError naming the field and the value.
    """

    worker_type: WorkerType
    queue_urls: tuple[str, ...]
    messages_per_instance: int

    def __post_init__(self) -> None:
        if not self.queue_urls:
            raise ValueError(f"queue_urls = (): {self.worker_type.value} needs a queue")
        if self.messages_per_instance <= 0:
            raise ValueError(f"messages_per_instance = {self.messages_per_instance}: must be > 0")


@dataclass(frozen=True)
class StepResult:
    """What one fleet's workers did in one tick."""

    completed: int
    started: int
    in_flight: int


@dataclass
class _Held:
    queue_url: str
    receipt_handle: str


@dataclass
class WorkerSimulator:
    """The workers of every fleet. ``sqs``: a boto3 SQS client."""

    sqs: Any
    fleets: Mapping[WorkerType, SimulatedFleet]
    _held: dict[WorkerType, list[_Held]] = field(default_factory=dict)

    def enqueue(self, worker_type: WorkerType, per_queue: int) -> int:
        """Send ``per_queue`` messages to each of the fleet's queues; return the total."""
        sent = 0
        for url in self.fleets[worker_type].queue_urls:
            for start in range(0, per_queue, SQS_BATCH):
                count = min(SQS_BATCH, per_queue - start)
                entries = [
                    {"Id": str(i), "MessageBody": f'{{"job": {start + i}}}'} for i in range(count)
                ]
                response = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
                failed = response.get("Failed") or []
                if failed:
                    raise RuntimeError(
                        f"SendMessageBatch to {url}: {len(failed)} failed: {failed[0]}"
                    )
                sent += count
        return sent

    def in_flight(self, worker_type: WorkerType) -> int:
        """Messages the fleet has taken and not finished."""
        return len(self._held.get(worker_type, []))

    def step(self, in_service: Mapping[WorkerType, int]) -> dict[WorkerType, StepResult]:
        """One tick: finish (delete) what was taken last tick, then take new work.

        ``in_service``: each fleet's in-service instances now; a fleet takes up to
        ``in_service * messages_per_instance`` messages.
        """
        results = {}
        for worker_type, fleet in self.fleets.items():
            completed = self._finish(worker_type)
            capacity = max(in_service.get(worker_type, 0), 0) * fleet.messages_per_instance
            started = self._take(worker_type, fleet.queue_urls, capacity)
            results[worker_type] = StepResult(completed, started, self.in_flight(worker_type))
        return results

    def _finish(self, worker_type: WorkerType) -> int:
        held = self._held.pop(worker_type, [])
        by_queue: dict[str, list[_Held]] = {}
        for message in held:
            by_queue.setdefault(message.queue_url, []).append(message)
        for url, messages in by_queue.items():
            for start in range(0, len(messages), SQS_BATCH):
                batch = messages[start : start + SQS_BATCH]
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                        for i, m in enumerate(batch)
                    ],
                )
        return len(held)

    def _take(self, worker_type: WorkerType, urls: Sequence[str], capacity: int) -> int:
        held = self._held.setdefault(worker_type, [])
        drained: set[str] = set()
        # Bounded: each round takes >= 1 message or marks a queue drained.
        for url in itertools.islice(itertools.cycle(urls), capacity + len(urls)):
            wanted = capacity - len(held)
            if wanted <= 0 or len(drained) == len(urls):
                break
            if url in drained:
                continue
            messages = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(SQS_BATCH, wanted),
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                drained.add(url)
            held.extend(_Held(url, m["ReceiptHandle"]) for m in messages)
        return len(held)
