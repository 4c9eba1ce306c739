"""The simulator against a known result: M/M/c waiting times (Erlang C)."""

from __future__ import annotations

import math

from tests.simulation.conftest import environment, run
from worker_metrics.contract import WorkerType

# M/M/5 with Poisson arrivals at 4 per second and exponential service of mean 1 s:
# a = 4, rho = 0.8 (NOTES §7).
ARRIVALS_PER_SECOND = 4.0
SERVERS = 5
ERLANG_C = 0.5541
"""P(wait > 0) = [a^c/c! / (1 - rho)] / [sum_{k<c} a^k/k! + a^c/c! / (1 - rho)]."""
MEAN_WAIT_SECONDS = 0.5541
"""Wq = C / (c * mu - lambda) = 0.5541 / 1 = 0.5541 service times."""
P95_WAIT_SECONDS = math.log(ERLANG_C / 0.05)
"""P(wait > t) = C * exp(-(c mu - lambda) t) = 0.05 at t = ln(C / 0.05) = 2.405 s."""
RUN_HOURS = 48
"""About 690,000 jobs: the relative standard error of the mean wait, measured
over 14 seeds, is 1.5 %, so 5 % is more than 3 standard errors; it runs in about 2 s."""


def _erlang_c(a: float, c: int) -> float:
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_static_fleet_waits_match_erlang_c_within_five_percent() -> None:
    # GIVEN one fleet of 5 single-slot instances, Poisson arrivals at 4/s and
    # exponential jobs of mean 1 s (the other fleets get no traffic)
    env = environment(
        "prod",
        "fleets.ai.jobs_per_instance=1",
        "fleets.ai.workload.job_duration=exponential",
        "fleets.ai.workload.mean_job_seconds=1",
        f"fleets.ai.workload.rate_per_minute={ARRIVALS_PER_SECOND * 60:g}",
        "fleets.video.workload.rate_per_minute=0",
        "fleets.messaging.workload.rate_per_minute=0",
    )
    assert round(_erlang_c(ARRIVALS_PER_SECOND, SERVERS), 4) == ERLANG_C

    # WHEN static:5 runs the steady scenario for two simulated days
    ran = run(env, f"static:{SERVERS}", "steady", seed=7, days=RUN_HOURS / 24)

    # THEN the mean wait, P(wait > 0) and the p95 wait match M/M/5 within 5 %
    waits = ran.waits(WorkerType.AI)
    assert len(waits) > 600_000
    assert abs(waits.mean() / MEAN_WAIT_SECONDS - 1) < 0.05
    assert abs((waits > 0).mean() / ERLANG_C - 1) < 0.05
    assert abs(ran.results[WorkerType.AI].wait_p95 / P95_WAIT_SECONDS - 1) < 0.05
