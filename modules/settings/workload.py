"""``WorkloadSettings`` (``[fleets.<type>.workload]``): the traffic and the workers the
simulator (``fleetctl simulate``) assumes for one fleet. Nothing here is deployed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from modules.settings.checks import fail, positive, whole

P95_Z = 1.6448536269514722
"""The standard normal quantile at 0.95: a lognormal's p95 is ``exp(mu + P95_Z * sigma)``."""

MAX_LOGNORMAL_P95_RATIO = math.exp(P95_Z**2 / 2)
"""Largest p95 / mean a lognormal can have (about 3.87): ``ln(p95 / mean)`` is
``P95_Z * sigma - sigma**2 / 2``, which peaks at ``P95_Z**2 / 2``."""


@dataclass(frozen=True)
class WorkloadSettings:
    """One fleet's traffic and workers, for the simulator. Every field has a default.

    ``boot_seconds``: default 90; from launch to in service with the worker
    polling (a plain AMI boots in about a minute; a GPU AMI that loads drivers
    and a model takes minutes: set it per fleet). 0..3600.
    ``job_duration``: default ``lognormal``; the distribution of one job's run
    time: ``fixed`` (always ``mean_job_seconds``), ``exponential`` (mean
    ``mean_job_seconds``) or ``lognormal`` (mean ``mean_job_seconds``, 95th
    percentile ``p95_job_seconds``).
    ``mean_job_seconds``: default 30; > 0.
    ``p95_job_seconds``: default 75; lognormal only: above the mean and at most
    about 3.87 times it (the largest p95/mean ratio a lognormal has).
    ``count_lag_seconds``: default 60; how old the SQS approximate counts are
    when read (AWS: the counts may not be consistent until at least a minute
    after producers stop). 0..900.
    ``burst_messages``: default 100; messages of the ``burst``,
    ``second-burst`` (each), ``spike-from-zero``, ``publisher-outage`` and
    ``throttled`` scenarios, spread over the fleet's queues. >= 0.
    ``rate_per_minute``: default 10; mean Poisson arrivals per minute of the
    ``steady`` and ``diurnal`` scenarios. >= 0.
    ``diurnal_amplitude``: default 0.8; the ``diurnal`` rate swings between
    ``(1 - a)`` and ``(1 + a)`` times ``rate_per_minute``. 0..1.

    The fleet's concurrency is ``fleets.<type>.jobs_per_instance`` and the
    visibility timeout its queues' ``visibility_timeout_seconds``.
    """

    boot_seconds: int = 90
    job_duration: Literal["fixed", "exponential", "lognormal"] = "lognormal"
    mean_job_seconds: float = 30
    p95_job_seconds: float = 75
    count_lag_seconds: int = 60
    burst_messages: int = 100
    rate_per_minute: float = 10
    diurnal_amplitude: float = 0.8

    def __post_init__(self) -> None:
        whole("boot_seconds", self.boot_seconds, 0, 3600)
        if self.job_duration not in ("fixed", "exponential", "lognormal"):
            fail("job_duration", self.job_duration, "must be 'fixed', 'exponential' or 'lognormal'")
        positive("mean_job_seconds", self.mean_job_seconds)
        if self.job_duration == "lognormal":
            positive("p95_job_seconds", self.p95_job_seconds)
            if self.p95_job_seconds <= self.mean_job_seconds:
                fail(
                    "p95_job_seconds",
                    self.p95_job_seconds,
                    f"must be above mean_job_seconds = {self.mean_job_seconds:g} for a lognormal",
                )
            if self.p95_job_seconds > self.mean_job_seconds * MAX_LOGNORMAL_P95_RATIO:
                fail(
                    "p95_job_seconds",
                    self.p95_job_seconds,
                    f"no lognormal has a p95 above {MAX_LOGNORMAL_P95_RATIO:.2f} x its mean "
                    f"({self.mean_job_seconds * MAX_LOGNORMAL_P95_RATIO:.0f} s here)",
                )
        whole("count_lag_seconds", self.count_lag_seconds, 0, 900)
        whole("burst_messages", self.burst_messages, 0, 1_000_000)
        if not (math.isfinite(self.rate_per_minute) and self.rate_per_minute >= 0):
            fail("rate_per_minute", self.rate_per_minute, "must be a finite number >= 0")
        if not 0 <= self.diurnal_amplitude <= 1:
            fail("diurnal_amplitude", self.diurnal_amplitude, "must be 0..1")

    @property
    def lognormal_sigma(self) -> float:
        """The lognormal's sigma for this mean and p95 (the smaller root; see
        ``MAX_LOGNORMAL_P95_RATIO``)."""
        gap = math.log(self.p95_job_seconds / self.mean_job_seconds)
        return P95_Z - math.sqrt(P95_Z**2 - 2 * gap)
