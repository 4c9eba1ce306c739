"""Each policy's defining behaviour, and the lower bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fleetctl.simulation.publisher as publisher_module
from fleetctl.simulation.policies import Current, PolicyError, parse_policies
from fleetctl.simulation.scenarios import BURST_AT
from tests.simulation.conftest import environment, run
from worker_metrics.contract import WorkerType
from worker_metrics.plan import CapacityWrite, TickPlan
from worker_metrics.video_capacity import Action, Decision

AI, VIDEO, MESSAGING = WorkerType.AI, WorkerType.VIDEO, WorkerType.MESSAGING


@pytest.mark.parametrize(
    ("warming_in_base", "peak", "inflation"),
    [(False, 5, 4), (True, 20, 15)],
)
def test_in_service_divisor_overshoots_only_if_warming_instances_are_in_the_base(
    warming_in_base: bool, peak: int, inflation: float
) -> None:
    # GIVEN issue 12's case: AI boots in 240 s, min 1, max 20, target 20,
    # BacklogPerInstance over in-service instances, one-minute datapoints, and a
    # 100-message burst
    env = environment(
        "prod",
        "fleets.ai.min_size=1",
        "fleets.ai.backlog_divisor=in_service",
        "publisher.sample_seconds=60",
    )
    needed = math.ceil(100 / env.fleet(AI).target_messages_per_instance)

    # WHEN target tracking meets it, under AWS's reading of warmup (the proportional
    # capacity of the instances past their warmup) or the other (of all of them)
    policy = Current(warming_in_base=warming_in_base)
    result = run(env, policy, "burst").results[AI]

    # THEN under AWS's reading a repeated breach asks for the same 5 instances; under
    # the other, each minute in alarm multiplies the capacity on its way: max size
    assert needed == 5
    assert result.peak_desired == peak
    baseline = 2.0  # the min_size instance for the 2-hour run
    assert result.instance_hours < baseline + inflation * result.lower_bound_hours
    assert result.instance_hours > baseline + (inflation - 4) * result.lower_bound_hours


@pytest.mark.parametrize(
    ("divisor", "alarm_before_tick", "warming_in_base", "peak"),
    [
        ("in_service", False, False, 5),
        ("in_service", True, False, 5),
        ("desired", False, False, 5),
        ("desired", True, False, 5),
        ("in_service", False, True, 20),
        ("in_service", True, True, 20),
        ("desired", True, True, 5),
        ("desired", False, True, 20),  # the datum of the period it acted is one decision stale
    ],
)
def test_the_burst_peak_by_divisor_alarm_order_and_reading_of_warmup(
    divisor: str, alarm_before_tick: bool, warming_in_base: bool, peak: int
) -> None:
    # GIVEN a warm AI fleet of 1 (240 s boot, max 20, target 20) and a 100-message burst,
    # BacklogPerInstance over in-service instances or over the capacity asked for
    env = environment("prod", "fleets.ai.min_size=1", f"fleets.ai.backlog_divisor={divisor}")

    # WHEN the current policy meets it, the alarm acting before or after the tick of
    # the same instant reads the group, under either reading of warmup
    policy = Current(alarm_before_tick=alarm_before_tick, warming_in_base=warming_in_base)
    result = run(env, policy, "burst").results[AI]

    # THEN under AWS's reading every combination peaks at ceil(100 / 20) = 5; under the
    # other, only the capacity asked for with the alarm acting first does
    assert result.peak_desired == peak
    assert result.completed == 100


def test_current_applies_every_write_the_lambda_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN decision code that also plans a write for the AI group on its first tick
    real = publisher_module.plan_tick
    planned: list[float] = []

    def plan_with_ai_write(config, observation, tick_key):  # type: ignore[no-untyped-def]
        plan: TickPlan = real(config, observation, tick_key)
        if planned:
            return plan
        planned.append(1)
        ai = observation.fleets[AI]
        write = CapacityWrite(AI, ai.name, Decision(4, ai.desired_capacity, Action.SCALE_OUT, "t"))
        return TickPlan(
            plan.queue_depth,
            plan.backlog_per_instance,
            plan.in_service,
            plan.video,
            (*plan.writes, write),
        )

    monkeypatch.setattr(publisher_module, "plan_tick", plan_with_ai_write)

    # WHEN the current policy runs a quiet hour
    ran = run(environment("prod"), "current", "trickle", days=1 / 24)

    # THEN the simulated Lambda applied that write to the AI group, as the Lambda would
    assert ran.results[AI].peak_desired == 4
    assert ran.world.fleets[AI].group.launches.count(0.0) == 1 + 3  # min 1 warm, 3 launched


def test_current_video_follows_the_lambda_and_never_kills_an_encode() -> None:
    # GIVEN prod's Video fleet: 12 encodes of 10 minutes arrive at once
    env = environment("prod")

    # WHEN the current policy (the Lambda's Video decision) runs it
    ran = run(env, "current", "burst")

    # THEN the Lambda scaled Video out to one instance per message and killed nothing
    assert ran.results[VIDEO].peak_desired == 12
    assert ran.results[VIDEO].killed_by_scale_in == 0
    assert ran.results[VIDEO].completed == 12


def test_seed_tracks_raw_queue_depth_and_runs_to_max_size() -> None:
    # GIVEN steady AI traffic that keeps about 15 instances busy (45/min x 20 s), on a
    # fleet kept at 1 or more (target tracking is not modelled to leave zero)
    env = environment("prod", "fleets.ai.workload.rate_per_minute=45", "fleets.ai.min_size=1")

    # WHEN the seed's policy (target 20 on raw QueueDepth) runs it
    seed = run(env, "seed", "steady", days=4 / 24)
    current = run(env, "current", "steady", days=4 / 24)

    # THEN AI's QueueDepth (visible + in flight) never falls below the target as
    # instances are added: the seed sits at max size; backlog per instance does not
    seed_desired = np.asarray(seed.world.fleets[AI].series.desired)
    current_desired = np.asarray(current.world.fleets[AI].series.desired)
    assert seed_desired[len(seed_desired) // 2 :].min() == env.fleet(AI).max_size
    assert current_desired[len(current_desired) // 2 :].mean() < 18


def test_seed_keeps_one_tracked_instance_when_today_s_min_size_is_zero() -> None:
    # GIVEN prod, whose AI fleet now has min_size = 0 (activation from zero is ours)
    env = environment("prod", "fleets.ai.min_size=0")

    # WHEN the seed's policy, which had no activation, meets the AI burst
    ran = run(env, "seed", "burst")

    # THEN it starts from one instance and serves the burst instead of idling at zero
    assert np.asarray(ran.world.fleets[AI].series.desired).min() >= 1
    assert ran.results[AI].completed == 100


def test_seed_video_scales_in_below_the_running_encodes_and_kills_them() -> None:
    # GIVEN a Video burst: the seed's rule is ceil(visible / per_instance), no in-flight floor
    env = environment("prod")

    # WHEN the seed runs it
    ran = run(env, "seed", "burst")

    # THEN once the messages are in flight, visible is 0, desired drops and encodes die
    assert ran.results[VIDEO].killed_by_scale_in >= 12
    assert ran.results[VIDEO].killed_work_seconds > 0


def test_keda_sizes_by_visible_plus_in_flight_and_activates_from_zero() -> None:
    # GIVEN prod, where KEDA's queueLength would be the fleet's target (AI: 20)
    env = environment("prod")

    # WHEN keda meets the 100-message AI burst (its fleets start at zero)
    ran = run(env, "keda", "burst")

    # THEN it asks ceil(100 / 20) = 5, launching within the count lag plus one poll
    result = ran.results[AI]
    assert result.peak_desired == 5
    reaction = result.reactions[0]
    assert reaction.burst_at == BURST_AT
    assert reaction.to_launch is not None and reaction.to_launch <= 60 + 30


def test_keda_scales_to_zero_only_after_its_cooldown() -> None:
    # GIVEN the AI burst under keda
    env = environment("prod")
    ran = run(env, "keda", "burst")
    series = ran.world.fleets[AI].series
    time = np.asarray(series.time)
    backlog = np.asarray(series.visible) + np.asarray(series.in_flight)
    desired = np.asarray(series.desired)

    # WHEN the queue is empty for good
    empty_from = time[np.flatnonzero(backlog > 0)[-1] + 1]

    # THEN the fleet keeps an instance for the 300 s cooldown (plus lag and poll), then 0
    assert desired[time == empty_from + 300][0] >= 1
    assert desired[time == empty_from + 60 + 300 + 60][0] == 0
    assert desired[-1] == 0


def test_static_keeps_n_instances_for_the_whole_run() -> None:
    # GIVEN a static fleet of 3 instances
    env = environment("prod")

    # WHEN it runs the burst (2 h)
    ran = run(env, "static:3", "burst")

    # THEN each fleet paid exactly 3 x 2 instance-hours and made no scale action
    for result in ran.results.values():
        assert result.instance_hours == pytest.approx(6.0)
        assert result.scale_actions == 0
        assert result.peak_instances == 3


def test_lower_bound_is_job_seconds_over_jobs_per_instance() -> None:
    # GIVEN fixed 30 s Messaging jobs, 2 per instance, Poisson at 10 per minute
    env = environment(
        "prod",
        "fleets.messaging.jobs_per_instance=2",
        "fleets.messaging.workload.job_duration=fixed",
        "fleets.messaging.workload.mean_job_seconds=30",
        "fleets.messaging.workload.rate_per_minute=10",
    )

    # WHEN any policy runs an hour of it
    ran = run(env, "current", "steady", days=1 / 24)

    # THEN the lower bound is (jobs x 30 s) / 2 slots, in hours, and efficiency <= 1
    result = ran.results[MESSAGING]
    assert result.lower_bound_hours == pytest.approx(result.enqueued * 30 / 2 / 3600, abs=1e-3)
    assert result.efficiency is not None and 0 < result.efficiency <= 1


@pytest.mark.parametrize("text", ["currrent", "static", "static:-1", "keda,keda", ""])
def test_an_unknown_or_malformed_policy_is_named(text: str) -> None:
    # GIVEN / WHEN a bad policy list is parsed / THEN the error names it
    with pytest.raises(PolicyError, match="policy"):
        parse_policies(text)
