"""The simulated Lambda samples every ``publisher.sample_seconds`` and the tracked
policies read that period: how soon a burst is decided on, at 10, 30 and 60 s."""

from __future__ import annotations

import pytest

import fleetctl.simulation.publisher as publisher_module
from fleetctl.simulation.scenarios import BURST_AT, scenario
from tests.simulation.conftest import environment, run
from worker_metrics.contract import WorkerType

AI, VIDEO = WorkerType.AI, WorkerType.VIDEO
NO_LAG = tuple(f"fleets.{f}.workload.count_lag_seconds=0" for f in ("ai", "video", "messaging"))
"""Counts as they are (the sampling's own delay, without SQS's consistency lag)."""


def sampled(seconds: int, *sets: str) -> tuple[str, ...]:
    timeout = {10: 55, 30: 35, 60: 30}[seconds]
    return (f"publisher.sample_seconds={seconds}", f"publisher.timeout_seconds={timeout}", *sets)


@pytest.mark.parametrize("seconds", [10, 30, 60])
def test_the_simulated_lambda_samples_each_minute_under_the_minute_s_key(
    monkeypatch: pytest.MonkeyPatch, seconds: int
) -> None:
    # GIVEN the decision code recorded
    keys: list[str] = []
    real = publisher_module.plan_tick

    def recording(config, observation, tick_key):  # type: ignore[no-untyped-def]
        keys.append(tick_key)
        return real(config, observation, tick_key)

    monkeypatch.setattr(publisher_module, "plan_tick", recording)
    # WHEN a quiet 10 minutes run at `seconds`
    run(environment("prod", *sampled(seconds)), "current", "trickle", days=10 / 1440)
    # THEN each of the 10 minutes has 60 / seconds samples, all keyed by their minute
    minutes = sorted(set(keys))[:10]
    assert [keys.count(k) for k in minutes] == [60 // seconds] * 10
    assert all(k.endswith(":00Z") for k in keys)


@pytest.mark.parametrize(("seconds", "within"), [(10, 10), (30, 30), (60, 60)])
def test_video_is_decided_at_the_next_sample_after_a_mid_minute_burst(
    seconds: int, within: float
) -> None:
    # GIVEN prod's Video burst arriving 25 s into a minute, counts without lag
    env = environment("prod", *sampled(seconds, *NO_LAG))
    workload = scenario("burst").build(env, 1).shifted(25)
    # WHEN the current policy runs it
    ran = run(env, "current", workload)
    # THEN the Lambda launches Video instances at the next sample: at most `seconds` later
    (reaction,) = ran.results[VIDEO].reactions
    assert reaction.burst_at == BURST_AT + 25
    assert reaction.to_launch is not None and 0 < reaction.to_launch <= within


@pytest.mark.parametrize(("seconds", "at_most"), [(10, 45), (30, 135), (60, 270)])
def test_target_tracking_scales_out_after_three_periods_of_its_policy(
    seconds: int, at_most: float
) -> None:
    # GIVEN prod's AI kept at one instance (1 -> N is target tracking's), its burst
    # 25 s into a minute, counts without lag
    env = environment("prod", *sampled(seconds, *NO_LAG), "fleets.ai.min_size=1")
    workload = scenario("burst").build(env, 1).shifted(25)
    # WHEN the current policy runs it
    ran = run(env, "current", workload)
    # THEN target tracking launches after 3 high datapoints of its period (assumed
    # counts, target_tracking's module doc): within 4 periods of the burst
    (reaction,) = ran.results[AI].reactions
    assert reaction.to_launch is not None and 3 * seconds <= reaction.to_launch <= at_most


@pytest.mark.parametrize("seconds", [10, 30, 60])
def test_a_tracked_fleet_at_zero_is_activated_at_the_next_sample(seconds: int) -> None:
    # GIVEN prod's AI at zero (min_size 0: the Lambda's activation starts it), its burst
    # 25 s into a minute, counts without lag
    env = environment("prod", *sampled(seconds, *NO_LAG))
    workload = scenario("burst").build(env, 1).shifted(25)
    # WHEN the current policy runs it  THEN the Lambda starts AI at its next sample
    (reaction,) = run(env, "current", workload).results[AI].reactions
    assert reaction.to_launch is not None and 0 < reaction.to_launch <= seconds


def test_shifted_workload_moves_arrivals_and_bursts() -> None:
    env = environment("prod")
    base = scenario("burst").build(env, 1)
    later = base.shifted(25)
    assert later.fleets[AI].bursts == (BURST_AT + 25,)
    assert (later.fleets[AI].times - base.fleets[AI].times == 25).all()
    assert later.horizon == base.horizon + 25
