"""Job durations: the fleet's run-time distribution, sampled as one array.

``sample_durations(workload, count, rng)`` draws ``count`` run times in seconds
from ``WorkloadSettings.job_duration``:

* ``fixed``: every job takes ``mean_job_seconds``;
* ``exponential``: mean ``mean_job_seconds`` (the M/M/c check);
* ``lognormal``: mean ``mean_job_seconds`` and 95th percentile
  ``p95_job_seconds``, i.e. ``mu = ln(mean) - sigma**2 / 2`` with ``sigma``
  from ``WorkloadSettings.lognormal_sigma``.

A job that is killed and retried runs for the same duration again: the
duration belongs to the job, not to the attempt. Every policy of one run sees
the same jobs (common random numbers), so their differences are the policies'.
"""

from __future__ import annotations

import math

import numpy as np

from modules.settings import WorkloadSettings


def sample_durations(
    workload: WorkloadSettings, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` job run times in seconds (float64), from ``workload``'s distribution."""
    mean = float(workload.mean_job_seconds)
    if workload.job_duration == "fixed":
        return np.full(count, mean)
    if workload.job_duration == "exponential":
        return rng.exponential(mean, count)
    sigma = workload.lognormal_sigma
    return rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, count)
