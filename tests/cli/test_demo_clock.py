"""The demo's simulated clock ends at the present (``fleetctl.demo.loop.clock_start_for``).

So the seed's ``get-metric-statistics --start-time "30 minutes ago" --end-time now``
finds the demo's data right after ``make demo DEMO_ARGS=--keep``; the e2e test
runs those commands with the AWS CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from fleetctl.demo.loop import clock_start_for

CLOUDWATCH_OLDEST = timedelta(days=14)


@pytest.mark.parametrize("ticks", [1, 28, 240])
def test_one_minute_per_tick_and_the_last_tick_is_the_present_minute(ticks: int) -> None:
    # GIVEN the present, not on a minute boundary
    now = datetime(2026, 3, 1, 10, 7, 42, 123456, tzinfo=UTC)
    # WHEN the demo lays out its ticks
    start = clock_start_for(now, ticks)
    minutes = [start + timedelta(minutes=tick) for tick in range(1, ticks + 1)]
    # THEN they are consecutive minutes ending at the present minute, none in the future
    assert minutes[-1] == datetime(2026, 3, 1, 10, 7, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(minutes))
    assert all(m <= now for m in minutes)
    # AND CloudWatch accepts all of them (two weeks back at most)
    assert now - minutes[0] < CLOUDWATCH_OLDEST
    # AND the seed's 30-minute window holds the last min(ticks, 30) of them
    assert sum(1 for m in minutes if now - timedelta(minutes=30) <= m) == min(ticks, 30)


def test_a_local_time_is_taken_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    now = datetime(2026, 3, 1, 19, 7, 42, tzinfo=seoul)
    assert clock_start_for(now, 2) == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
