"""The demo's workers: the simulator's worker model on real SQS calls (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetctl.demo.workers import SqsWorkers
from tests.simulation.conftest import environment
from worker_metrics.contract import WorkerType

REGION = "ap-northeast-2"


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_workers_hold_running_jobs_in_flight_delete_finished_ones_and_return_killed_ones(
    sqs: Any,
) -> None:
    # GIVEN local's Video workers (60 s jobs, 60 s boot, 1 per instance) and 5 messages
    url = sqs.create_queue(QueueName="video")["QueueUrl"]
    other = {t: (sqs.create_queue(QueueName=t.name)["QueueUrl"],) for t in WorkerType}
    workers = SqsWorkers(sqs, {**other, WorkerType.VIDEO: (url,)}, environment("local"))
    assert workers.enqueue(WorkerType.VIDEO, 5) == 5

    # WHEN two instances appear at t = 0 and the workers run to t = 90
    booting = workers.step(0.0, {WorkerType.VIDEO: ["i-1", "i-2"]})[WorkerType.VIDEO]
    first = workers.step(90.0, {WorkerType.VIDEO: ["i-1", "i-2"]})[WorkerType.VIDEO]
    assert booting.started == 0

    # THEN after the 60 s boot each took one message: 2 in flight, 3 visible
    assert (first.started, first.completed, first.in_flight) == (2, 0, 2)
    assert _counts(sqs, url) == (3, 2)

    # WHEN i-1 is gone at t = 150 (scale-in)
    second = workers.step(150.0, {WorkerType.VIDEO: ["i-2"]})[WorkerType.VIDEO]

    # THEN its job was killed and its message given back; i-2 finished at 120 and took
    # the next one (deleted the finished one)
    assert (second.killed, second.completed, second.started) == (1, 1, 1)
    assert _counts(sqs, url) == (3, 1)
