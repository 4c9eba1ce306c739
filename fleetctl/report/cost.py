"""The monthly cost of the publisher's sampling, computed from the settings.

What changes with ``publisher.sample_seconds`` (and nothing else does: the
custom metrics, the schedule's 43,800 invocations and the standard alarms are
the same at 10, 30 and 60 s):

* Lambda duration: an invocation lasts until its last sample is done,
  ``(60 / sample_seconds - 1) * sample_seconds + SAMPLE_WORK_SECONDS``
  (50.2 s at 10 s, 0.2 s at 60 s), billed as memory x duration (GB-seconds);
* ``PutMetricData``: one request per sample;
* alarms: target tracking creates 2 alarms per policy, and our tracked-series
  missing-data alarm is 1 more per policy; at a 10 or 30 s period each is a
  high-resolution alarm.

Prices are US East (N. Virginia) list prices, before the free tier (Lambda's
400,000 GB-seconds and CloudWatch's 1 million API requests and 10 alarms a
month), as listed on aws.amazon.com/lambda/pricing and
aws.amazon.com/cloudwatch/pricing (``PRICES_DATE``). Asia Pacific (Seoul)
prices can differ; check the pages before budgeting.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker_metrics.contract import INVOCATION_INTERVAL_SECONDS, SAMPLE_SECONDS_CHOICES
from worker_metrics.sampling import samples_per_invocation

PRICES_DATE = "2026-12-04"
"""When the prices below were read (the pages through stored copies: this
machine cannot reach aws.amazon.com)."""

LAMBDA_GB_SECOND_USD = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
"""Lambda duration, first tier, per GB-second."""

LAMBDA_REQUEST_USD = 0.20 / 1_000_000
"""Lambda requests, per request."""

PUT_METRIC_DATA_USD = 0.01 / 1_000
"""CloudWatch API requests (PutMetricData), per request."""

ALARM_STANDARD_USD = 0.10
"""A standard-resolution (60 s) metric alarm, per month."""

ALARM_HIGH_RESOLUTION_USD = 0.30
"""A high-resolution (10 or 30 s period) metric alarm, per month."""

INVOCATIONS_PER_MONTH = 43_800
"""``rate(1 minute)`` for 730 hours, AWS's month."""

SAMPLE_WORK_SECONDS = 0.2
"""Wall time of one sample's reads, decision, writes and publish: bench/lambda_tick.py
measures 72 ms with 3 queues at a 20 ms round trip; rounded up for the real APIs."""

ALARMS_PER_POLICY = 3
"""Target tracking's AlarmHigh and AlarmLow, and our tracked-series missing-data alarm."""


@dataclass(frozen=True)
class CostLine:
    """One priced item: what it is, how much of it a month, and its monthly cost."""

    item: str
    quantity: str
    usd: float


@dataclass(frozen=True)
class SamplingCost:
    """The monthly cost of sampling every ``sample_seconds``."""

    sample_seconds: int
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)


def invocation_seconds(sample_seconds: int) -> float:
    """Billed duration of one invocation: it sleeps between samples until the last."""
    samples = samples_per_invocation(sample_seconds)
    return (samples - 1) * sample_seconds + SAMPLE_WORK_SECONDS


def sampling_cost(
    sample_seconds: int, memory_mb: int, architecture: str, tracked_policies: int
) -> SamplingCost:
    """The monthly cost of the items sampling changes, for one environment.

    ``memory_mb`` and ``architecture``: the publisher's (``publisher.memory_mb``,
    ``publisher.architecture``). ``tracked_policies``: the target-tracking
    policies reading the tracked series (AI and Messaging: 2).

    Raises ``ValueError`` for a ``sample_seconds`` not in 10, 30, 60 or an
    unknown architecture.
    """
    if architecture not in LAMBDA_GB_SECOND_USD:
        raise ValueError(f"architecture = {architecture!r}: must be arm64 or x86_64")
    samples = samples_per_invocation(sample_seconds)
    seconds = invocation_seconds(sample_seconds)
    gb_seconds = memory_mb / 1024 * seconds * INVOCATIONS_PER_MONTH
    requests = samples * INVOCATIONS_PER_MONTH
    alarms = ALARMS_PER_POLICY * tracked_policies
    high = sample_seconds < INVOCATION_INTERVAL_SECONDS
    alarm_usd = ALARM_HIGH_RESOLUTION_USD if high else ALARM_STANDARD_USD
    return SamplingCost(
        sample_seconds,
        (
            CostLine(
                "Lambda duration",
                f"{memory_mb} MB x {seconds:.1f} s x {INVOCATIONS_PER_MONTH:,} invocations "
                f"= {gb_seconds:,.0f} GB-s ({architecture})",
                gb_seconds * LAMBDA_GB_SECOND_USD[architecture],
            ),
            CostLine(
                "Lambda requests",
                f"{INVOCATIONS_PER_MONTH:,} invocations",
                INVOCATIONS_PER_MONTH * LAMBDA_REQUEST_USD,
            ),
            CostLine(
                "PutMetricData",
                f"{samples} per invocation = {requests:,} requests",
                requests * PUT_METRIC_DATA_USD,
            ),
            CostLine(
                "Tracked-series alarms",
                f"{alarms} at {sample_seconds} s ({'high' if high else 'standard'} resolution: "
                f"{ALARMS_PER_POLICY} per policy x {tracked_policies})",
                alarms * alarm_usd,
            ),
        ),
    )


def comparison(memory_mb: int, architecture: str, tracked_policies: int) -> list[SamplingCost]:
    """``sampling_cost`` at every choice, 10, 30 and 60 s."""
    return [
        sampling_cost(s, memory_mb, architecture, tracked_policies) for s in SAMPLE_SECONDS_CHOICES
    ]
