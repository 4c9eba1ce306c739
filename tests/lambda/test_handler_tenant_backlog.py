"""The handler with the optional per-tenant backlog source switched on: a database
fault is visible in logs and PublisherErrors, and changes nothing else."""

from __future__ import annotations

import json
import socket

import boto3
import pytest
from conftest import REGION, LocalAws, scheduled_event, set_environment, this_minute

import lambda_function
from worker_metrics.contract import TENANT_BACKLOG_STAGE, EnvVar, WorkerType
from worker_metrics.tick import TickFailed


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_leaves_sqs_metrics_and_video_control_intact(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a backlog database secret that points at a closed port on loopback
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="backlog-db",
        SecretString=json.dumps(
            {
                "host": "127.0.0.1",
                "port": _closed_port(),
                "dbname": "app",
                "username": "reader",
                "password": "not-used",
            }
        ),
    )
    # AND a Video backlog of 3
    aws.send(WorkerType.VIDEO, 3)
    env = aws.environment()
    env[EnvVar.BACKLOG_DB_SECRET_ARN] = secret["ARN"]
    env[EnvVar.BACKLOG_CONNECT_TIMEOUT_MS] = "500"
    set_environment(monkeypatch, env)
    monkeypatch.setattr(lambda_function, "_cached", None)
    when = this_minute()

    # WHEN the tick runs
    with pytest.raises(TickFailed), caplog.at_level("INFO", logger="worker_metrics"):
        lambda_function.lambda_handler(scheduled_event(when), None)

    # THEN every SQS-based QueueDepth is still published
    for worker_type in WorkerType:
        assert aws.statistic("QueueDepth", worker_type, when), worker_type
    # AND the Video fleet was still scaled out for its backlog
    assert aws.desired(WorkerType.VIDEO) == 3
    # AND the fault is a PublisherErrors datum with the source's stage
    errors = aws.statistic(
        "PublisherErrors", WorkerType.VIDEO, when, extra_dimensions={"Stage": TENANT_BACKLOG_STAGE}
    )
    assert errors and errors[0]["Sum"] >= 1
    # AND it is in the structured log
    assert any(TENANT_BACKLOG_STAGE in record.getMessage() for record in caplog.records)
