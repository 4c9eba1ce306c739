"""AWS Lambda entry point of the queue-depth publisher (``lambda_function.lambda_handler``).

Thin on purpose: read the configuration, build the clients (and the optional
per-tenant backlog source, on when ``BACKLOG_DB_SECRET_ARN`` is set), run the
invocation's samples (``sampling.run_invocation``: one tick every
``SAMPLE_SECONDS`` until the next minute), log each, and fail the invocation if
anything failed. The logic lives in ``worker_metrics``.

``clock`` is the loop's time source; a test (or the demo's runner) may replace
it with a simulated one, which is the only way to run the loop without waiting.

Configuration and clients are built on the first invocation of a container
(cold start) and reused while the environment is unchanged; an invalid
variable fails that first invocation with ``ConfigError: <VARIABLE> ...``.
Importing this module does no I/O and reads no variable.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from worker_metrics.clients import build_clients, build_sources
from worker_metrics.config import PublisherConfig
from worker_metrics.sampling import Clock, Sample, SystemClock, run_invocation
from worker_metrics.tick import (
    AwsClients,
    MetricSource,
    TickFailed,
    TickResult,
    emit_logs,
    publish_skipped,
    run_tick,
    tick_time,
)

logger = logging.getLogger("worker_metrics")
# The Lambda runtime's root logger lets WARNING through by default; the tick
# line is INFO and must always be written.
logger.setLevel(logging.INFO)

clock: Clock = SystemClock()
"""The sampling loop's clock (wall time and sleep)."""

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


def _remaining_seconds(context: Any) -> Callable[[], float] | None:
    """The Lambda's time left, from its context (``None`` without one, e.g. locally)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else lambda: remaining() / 1000


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the invocation's samples; return its record (``InvocationResult.record``),
    or raise ``TickFailed`` after logging."""
    config, clients, sources = _load()

    def run_sample(timestamp: datetime, sample: Sample) -> TickResult:
        return run_tick(config, clients, timestamp, sources, sample)

    result = run_invocation(
        tick_time(event, clock.now()),
        config.sample_seconds,
        run_sample,
        clock=clock,
        remaining_seconds=_remaining_seconds(context),
        publish_skipped=lambda count, when: publish_skipped(config, clients, count, when),
        on_sample=lambda outcome: emit_logs(outcome, logger),
    )
    for error in result.extra_errors:  # a failed SamplesSkipped (each sample logs its own)
        logger.error(json.dumps(error.log_record(), sort_keys=True))
    logger.info(json.dumps(result.log_record(), sort_keys=True))
    if not result.ok:
        raise TickFailed(result)
    return result.record()
