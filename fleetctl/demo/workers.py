"""The demo's workers: the simulator's worker model on the real queues of the local AWS.

moto launches instances that run nothing (NOTES §2), so each fleet's in-service
instances get simulated workers: a ``fleetctl.simulation.workers.WorkerPool``
per fleet (boot, ``jobs_per_instance`` slots, job durations from the fleet's
``[fleets.<type>.workload]``: the same model ``fleetctl simulate`` uses), fed
by ``ReceiveMessage``:

* a running job's message is received and not deleted, so SQS counts it in
  flight (``ApproximateNumberOfMessagesNotVisible``), exactly what the Lambda
  reads; a finished job's message is deleted;
* a message received and not started, or whose instance the group terminated
  (a job killed by scale-in, counted), is made visible again at once
  (``ChangeMessageVisibility`` 0): the demo's clock runs a minute per tick,
  far faster than a visibility timeout in real seconds.

It talks to SQS through a boto3 client and never reads a clock: ``step`` gets
the simulated time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetctl.demo.drain import DemoDrain, Polled
from fleetctl.simulation.workers import WorkerPool
from modules.settings import EnvironmentSettings
from worker_metrics.contract import WorkerType

SQS_BATCH = 10
"""SendMessageBatch / ReceiveMessage / DeleteMessageBatch take at most 10 entries."""

HOLD_SECONDS = 900
"""Visibility timeout of a received message (real seconds): far longer than a demo
run, so a message stays in flight until its job ends or is given back."""


@dataclass(frozen=True)
class Message:
    """A received message; ``sent_at``: the simulated second it was sent (its body)."""

    queue_url: str
    receipt_handle: str
    sent_at: float = 0.0


@dataclass(frozen=True)
class StepResult:
    """What one fleet's workers did in one tick."""

    completed: int
    started: int
    in_flight: int
    killed: int
    drained: tuple[str, ...] = ()
    """Instances whose drain agent completed their lifecycle action this tick."""
    held_busy: int = 0
    """Instances the group picked for termination while jobs ran on them, found this
    tick (their agent holds them until the jobs end)."""


def _sent_at(message: Mapping[str, Any]) -> float:
    """The simulated second in the body ``enqueue`` wrote (0 for any other body)."""
    try:
        return float(json.loads(message.get("Body", "{}")).get("at", 0.0))
    except (ValueError, AttributeError, TypeError):
        return 0.0


class SqsWorkers:
    """The workers of every fleet. ``sqs``: a boto3 SQS client; ``queue_urls``: per
    fleet; ``environment``: the fleets' settings (workload, jobs_per_instance)."""

    def __init__(
        self,
        sqs: Any,
        queue_urls: Mapping[WorkerType, Sequence[str]],
        environment: EnvironmentSettings,
        seed: int = 1,
    ) -> None:
        self.sqs = sqs
        self.queue_urls = {t: tuple(urls) for t, urls in queue_urls.items()}
        streams = np.random.SeedSequence(seed).spawn(len(self.queue_urls))
        self.pools: dict[WorkerType, WorkerPool[Message]] = {}
        for (worker_type, urls), stream in zip(self.queue_urls.items(), streams, strict=True):
            if not urls:
                raise ValueError(f"queue_urls = (): {worker_type.value} needs a queue")
            fleet = environment.fleet(worker_type)
            self.pools[worker_type] = WorkerPool(
                fleet.workload,
                fleet.jobs_per_instance,
                np.random.Generator(np.random.PCG64(stream)),
            )

    def enqueue(self, worker_type: WorkerType, per_queue: int, at: float = 0.0) -> int:
        """Send ``per_queue`` messages to each of the fleet's queues at simulated second
        ``at`` (a worker starts none before it); return the total."""
        sent = 0
        for url in self.queue_urls[worker_type]:
            for start in range(0, per_queue, SQS_BATCH):
                count = min(SQS_BATCH, per_queue - start)
                entries = [
                    {"Id": str(i), "MessageBody": json.dumps({"job": start + i, "at": at})}
                    for i in range(count)
                ]
                response = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
                failed = response.get("Failed") or []
                if failed:
                    raise RuntimeError(
                        f"SendMessageBatch to {url}: {len(failed)} failed: {failed[0]}"
                    )
                sent += count
        return sent

    def step(
        self,
        now: float,
        instances: Mapping[WorkerType, Sequence[str]],
        terminating: Mapping[WorkerType, Sequence[str]] | None = None,
        drain: DemoDrain | None = None,
    ) -> dict[WorkerType, StepResult]:
        """Run every fleet's workers up to simulated second ``now``, on the in-service
        ``instances`` (ids) each group lists and those it holds ``terminating``.

        With ``drain``, every instance's drain agent polls before the workers run
        (an instance being terminated stops taking work) and after (an instance
        whose last job ended is released)."""
        results = {}
        for worker_type, pool in self.pools.items():
            held = tuple((terminating or {}).get(worker_type, ()))
            killed = pool.sync([*instances.get(worker_type, ()), *held], now)
            urls = self.queue_urls[worker_type]

            def receive(wanted: int, urls: Sequence[str] = urls) -> list[Message]:
                return self._receive(urls, wanted)

            before = drain.poll(now, worker_type, pool, held) if drain else Polled()
            step = pool.advance(now, receive, lambda message: message.sent_at)
            after = drain.poll(now, worker_type, pool, held) if drain else Polled()
            self._per_batch(self.sqs.delete_message_batch, step.completed)
            self._per_batch(
                self.sqs.change_message_visibility_batch,
                [*killed, *step.unused],
                VisibilityTimeout=0,
            )
            results[worker_type] = StepResult(
                len(step.completed),
                step.started,
                step.running,
                len(killed),
                before.released + after.released,
                before.held_busy + after.held_busy,
            )
        return results

    def _receive(self, urls: Sequence[str], wanted: int) -> list[Message]:
        """Up to ``wanted`` messages, round robin over ``urls``; empty when all are drained."""
        drained: set[str] = set()
        taken: list[Message] = []
        for url in itertools.islice(itertools.cycle(urls), wanted + len(urls)):
            if len(taken) >= wanted or len(drained) == len(urls):
                break
            if url in drained:
                continue
            messages = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(SQS_BATCH, wanted - len(taken)),
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                drained.add(url)
            taken += [Message(url, m["ReceiptHandle"], _sent_at(m)) for m in messages]
        return taken

    def _per_batch(
        self, call: Callable[..., Any], messages: Sequence[Message], **entry: Any
    ) -> None:
        """``call`` (a ``*_batch`` SQS method) on ``messages``, per queue and by at most
        ``SQS_BATCH``; each entry is the message's receipt handle and ``entry``."""
        by_queue: dict[str, list[Message]] = {}
        for message in messages:
            by_queue.setdefault(message.queue_url, []).append(message)
        for url, batch in by_queue.items():
            for start in range(0, len(batch), SQS_BATCH):
                chunk = batch[start : start + SQS_BATCH]
                call(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle, **entry}
                        for i, m in enumerate(chunk)
                    ],
                )
