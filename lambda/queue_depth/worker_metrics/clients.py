"""The boto3 clients of a tick, with timeouts below the Lambda's and adaptive retries.

boto3 is imported here only, so the pure modules load without it. Region and
endpoint come from the usual environment (``AWS_REGION`` in Lambda;
``AWS_ENDPOINT_URL`` for a local emulated AWS).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import boto3
from botocore.config import Config

from worker_metrics.config import PublisherConfig
from worker_metrics.contract import TENANT_BACKLOG_STAGE, WorkerType
from worker_metrics.sqs_backlog import MAX_READ_THREADS
from worker_metrics.tenant_backlog import (
    TenantBacklogConfig,
    TenantBacklogSource,
    secrets_client_config,
)
from worker_metrics.tick import AwsClients, MetricSource

MAX_ATTEMPTS = 3
"""Attempts per API call (first try + 2 retries) in adaptive retry mode."""


def client_config(api_timeout_seconds: float) -> Config:
    """botocore settings shared by the three clients.

    Each attempt waits at most ``min(timeout, 2)`` s to connect and ``timeout``
    s to read, so a single call gives up after about ``MAX_ATTEMPTS * (2 +
    timeout)`` s (21 s with the default 5 s). A slow call makes the samples
    after it late: they are skipped and counted (``sampling``), not stacked. A
    tick has four sequential stages, so an endpoint that hangs on every stage
    can still reach the Lambda timeout; that too ends as a Lambda error.
    Adaptive mode adds client-side rate limiting after throttling errors. The
    pool holds one connection per read thread, or the concurrent reads would
    queue for connections (botocore's default pool is 10).
    """
    return Config(
        connect_timeout=min(api_timeout_seconds, 2.0),
        read_timeout=api_timeout_seconds,
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=MAX_READ_THREADS,
    )


def build_clients(config: PublisherConfig, session: boto3.Session | None = None) -> AwsClients:
    """The SQS, Auto Scaling and CloudWatch clients for ``config``."""
    session = session or boto3.Session()
    settings = client_config(config.api_timeout_seconds)
    return AwsClients(
        sqs=session.client("sqs", config=settings),
        autoscaling=session.client("autoscaling", config=settings),
        cloudwatch=session.client("cloudwatch", config=settings),
    )


def build_sources(
    environ: Mapping[str, str], logger: logging.Logger, session: boto3.Session | None = None
) -> tuple[MetricSource, ...]:
    """The tick's optional extra sources: the per-tenant Video backlog from
    PostgreSQL when ``BACKLOG_DB_SECRET_ARN`` is set, else none.

    Raises ``TenantBacklogConfigError`` naming an invalid ``BACKLOG_*`` variable.
    """
    backlog = TenantBacklogConfig.from_env(environ)
    if backlog is None:
        return ()
    secrets = (session or boto3.Session()).client("secretsmanager", config=secrets_client_config())
    source = TenantBacklogSource(backlog, secrets, logger)
    return (MetricSource(TENANT_BACKLOG_STAGE, WorkerType.VIDEO, source.collect),)
