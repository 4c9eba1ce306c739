"""AWS Lambda entry point of the queue-depth publisher (``lambda_function.lambda_handler``).

Thin on purpose: read the configuration, build the clients (and the optional
per-tenant backlog source, on when ``BACKLOG_DB_SECRET_ARN`` is set), run one
tick, log it, and fail the invocation if anything failed. The logic lives in ``worker_metrics``.

Configuration and clients are built on the first invocation of a container
(cold start) and reused while the environment is unchanged; an invalid
variable fails that first invocation with ``ConfigError: <VARIABLE> ...``.
Importing this module does no I/O and reads no variable.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from worker_metrics.clients import build_clients, build_sources
from worker_metrics.config import PublisherConfig
from worker_metrics.tick import (
    AwsClients,
    MetricSource,
    TickFailed,
    emit_logs,
    run_tick,
    tick_time,
)

logger = logging.getLogger("worker_metrics")
# The Lambda runtime's root logger lets WARNING through by default; the tick
# line is INFO and must always be written.
logger.setLevel(logging.INFO)

_lock = threading.Lock()
_cached: tuple[dict[str, str], PublisherConfig, AwsClients, tuple[MetricSource, ...]] | None = None


def _load() -> tuple[PublisherConfig, AwsClients, tuple[MetricSource, ...]]:
    """Config and clients for the current environment, built once per environment."""
    global _cached
    # Names starting with "_" are the runtime's per-invocation values (e.g.
    # _X_AMZN_TRACE_ID changes on every request); keying on them would rebuild
    # the clients, and reopen their connections, on every invocation.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("_")}
    with _lock:
        if _cached is None or _cached[0] != environ:
            config = PublisherConfig.from_env(environ)
            sources = build_sources(environ, logger)
            _cached = (environ, config, build_clients(config), sources)
        return _cached[1], _cached[2], _cached[3]


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run one tick; return its log record, or raise ``TickFailed`` after logging."""
    config, clients, sources = _load()
    result = run_tick(config, clients, tick_time(event), sources)
    emit_logs(result, logger)
    if not result.ok:
        raise TickFailed(result)
    return result.log_record()
