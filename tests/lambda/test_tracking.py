"""The tracked metric and activation from zero (pure): ``tracked_metric``, ``activation``
and how ``plan_tick`` uses them. No AWS, no clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from worker_metrics.activation import decide_activation
from worker_metrics.config import PublisherConfig
from worker_metrics.contract import (
    COUNTING_RULES,
    TARGET_TRACKED_TYPES,
    BacklogDivisor,
    Tracking,
    WorkerType,
    lambda_environment,
)
from worker_metrics.fleet_state import FleetState
from worker_metrics.plan import Observation, plan_tick
from worker_metrics.sqs_backlog import QueueCounts
from worker_metrics.tracked_metric import backlog_per_instance, tracked_backlog
from worker_metrics.video_capacity import Action

URL = "https://sqs.ap-northeast-2.amazonaws.com/123456789012/{}"
TICK = datetime(2025, 2, 21, 5, 0, tzinfo=UTC).isoformat()


def config(**tracking: Tracking) -> PublisherConfig:
    """The Lambda's configuration as the stack writes it, with per-type ``tracking``."""
    return PublisherConfig.from_env(
        lambda_environment(
            queue_urls={t: [URL.format(t.value.lower())] for t in WorkerType},
            asg_names={t: f"asg-{t.value.lower()}" for t in WorkerType},
            tracking={WorkerType[name]: spec for name, spec in tracking.items()},
        )
    )


def group(
    desired: int, in_service: int, pending: int = 0, min_size: int = 0, max_size: int = 10
) -> FleetState:
    return FleetState("asg", min_size, max_size, desired, in_service, pending=pending)


# ------------------------------------------------------------------ the divisor


@pytest.mark.parametrize(
    ("divisor", "expected"),
    [
        (BacklogDivisor.IN_SERVICE, 100.0),  # 100 / max(0, 1): high while instances boot
        (BacklogDivisor.IN_SERVICE_AND_PENDING, 25.0),  # 100 / (0 + 4)
        (BacklogDivisor.DESIRED, 20.0),  # 100 / 5: the capacity already asked for
    ],
)
def test_each_divisor_while_instances_boot(divisor: BacklogDivisor, expected: float) -> None:
    # GIVEN 100 messages; target tracking asked for 5, 4 are launching, none in service
    fleet = group(desired=5, in_service=0, pending=4)
    # WHEN the ratio is computed with each divisor
    value = backlog_per_instance(100, fleet, divisor)
    # THEN only "desired" already reads the target (20): no further scale-out
    assert value == expected


def test_every_divisor_agrees_once_the_fleet_is_in_service() -> None:
    # GIVEN a settled fleet of 4
    fleet = group(desired=4, in_service=4)
    # THEN the divisors give the same value, 60 / 4
    assert {backlog_per_instance(60, fleet, d) for d in BacklogDivisor} == {15.0}


def test_a_fleet_at_zero_reports_its_whole_backlog() -> None:
    assert {backlog_per_instance(57, group(0, 0), d) for d in BacklogDivisor} == {57.0}


def test_in_flight_joins_the_tracked_backlog_only_where_asked_and_not_yet_counted() -> None:
    counts = QueueCounts(visible=3, in_flight=2)
    messaging = COUNTING_RULES[WorkerType.MESSAGING]
    ai = COUNTING_RULES[WorkerType.AI]
    # GIVEN Messaging's QueueDepth (visible only, the seed's) of 3 and 2 in flight
    # THEN the tracked backlog is 5 by default (track_in_flight) and 3 without it
    assert tracked_backlog(3, counts, messaging, Tracking()) == 5
    assert tracked_backlog(3, counts, messaging, Tracking(track_in_flight=False)) == 3
    # AND AI's QueueDepth (5: visible + in flight already) is not counted twice
    assert tracked_backlog(5, counts, ai, Tracking(track_in_flight=True)) == 5


# ------------------------------------------------------------------ activation


def test_activates_a_fleet_at_zero_to_what_the_target_implies() -> None:
    # GIVEN a tracked fleet at zero, target 20, and 57 messages
    decision = decide_activation(57, group(0, 0), Tracking(target_backlog_per_instance=20))
    # THEN desired goes to ceil(57 / 20) = 3 at once
    assert (decision.desired, decision.action) == (3, Action.SCALE_OUT)
    assert decision.reason.startswith("activate to 3: backlog 57 >= activation 1 at zero")


def test_the_first_message_starts_the_first_instance() -> None:
    decision = decide_activation(1, group(0, 0), Tracking())
    assert (decision.desired, decision.changes) == (1, True)


def test_activation_is_clamped_to_max() -> None:
    decision = decide_activation(1000, group(0, 0, max_size=4), Tracking())
    assert decision.desired == 4


def test_below_the_threshold_or_off_nothing_happens() -> None:
    # GIVEN a threshold of 5 and 4 messages; and activation off with 100
    below = decide_activation(4, group(0, 0), Tracking(activation_backlog=5))
    off = decide_activation(100, group(0, 0), Tracking(activation_backlog=0))
    # THEN neither writes, and each says why
    assert (below.changes, below.reason) == (False, "at zero, backlog 4 below 5")
    assert (off.changes, off.reason) == (False, "at zero, activation off")


def test_never_touches_a_fleet_that_target_tracking_has_started() -> None:
    # GIVEN desired 1 (booting) with a huge backlog
    decision = decide_activation(10_000, group(1, 0), Tracking())
    # THEN the fleet is target tracking's
    assert (decision.changes, decision.reason) == (False, "desired 1: target tracking's")


def test_activation_uses_exact_arithmetic() -> None:
    # GIVEN target 0.1 per instance and 3 messages (3 / 0.1 = 30.000000000000004 in floats)
    decision = decide_activation(
        3, group(0, 0, max_size=50), Tracking(target_backlog_per_instance=0.1)
    )
    assert decision.desired == 30


# ------------------------------------------------------------------ the planner


def test_plan_writes_an_activation_for_a_tracked_fleet_at_zero() -> None:
    # GIVEN AI at zero with 45 messages (visible + in flight), Messaging at 2 with 90
    counts = {
        WorkerType.AI: QueueCounts(visible=40, in_flight=5),
        WorkerType.MESSAGING: QueueCounts(visible=90),
    }
    fleets = {
        WorkerType.AI: FleetState("asg-ai", 0, 10, 0, 0),
        WorkerType.MESSAGING: FleetState("asg-messaging", 0, 10, 2, 2),
    }
    # WHEN planned
    plan = plan_tick(config(), Observation(counts, fleets), TICK)
    # THEN one write: AI to ceil(45 / 20) = 3; Messaging is left to target tracking
    (write,) = plan.writes
    assert (write.worker_type, write.asg_name, write.decision.desired) == (
        WorkerType.AI,
        "asg-ai",
        3,
    )
    assert write.scale_in_marker is None
    assert plan.activation[WorkerType.MESSAGING].changes is False
    # AND Messaging's ratio divides by desired (the default divisor): 90 / 2
    assert plan.backlog_per_instance[WorkerType.MESSAGING] == 45.0


def test_plan_uses_each_types_divisor_and_in_flight_setting() -> None:
    # GIVEN Messaging tracking in flight and dividing by in service; AI by desired
    cfg = config(
        MESSAGING=Tracking(divisor=BacklogDivisor.IN_SERVICE, track_in_flight=True),
        AI=Tracking(divisor=BacklogDivisor.DESIRED),
    )
    counts = {t: QueueCounts(visible=30, in_flight=10) for t in TARGET_TRACKED_TYPES}
    fleets = {t: FleetState(f"asg-{t.value}", 0, 10, 4, 2) for t in TARGET_TRACKED_TYPES}
    # WHEN planned
    plan = plan_tick(cfg, Observation(counts, fleets), TICK)
    # THEN Messaging: (30 + 10) / 2 in service; AI: (30 + 10) / 4 desired
    assert plan.backlog_per_instance[WorkerType.MESSAGING] == 20.0
    assert plan.backlog_per_instance[WorkerType.AI] == 10.0
    # AND QueueDepth stays exactly the seed's: Messaging visible only
    assert plan.queue_depth[WorkerType.MESSAGING] == 30


def test_no_activation_without_the_fleet_or_the_queues() -> None:
    # GIVEN AI's ASG unread, and Messaging's queues unread
    counts = {WorkerType.AI: QueueCounts(visible=50)}
    fleets = {WorkerType.MESSAGING: FleetState("asg-messaging", 0, 10, 0, 0)}
    plan = plan_tick(config(), Observation(counts, fleets), TICK)
    # THEN nothing is written to either
    assert plan.writes == ()


def test_the_lambda_never_fights_target_tracking_over_random_observations() -> None:
    # GIVEN 3000 random observations: every type, random counts, random ASG states
    rng = random.Random(13)
    cfg = config(
        AI=Tracking(activation_backlog=3, target_backlog_per_instance=7.5),
        MESSAGING=Tracking(track_in_flight=True),
    )
    writes_seen = 0
    for _ in range(3000):
        counts = {
            t: QueueCounts(rng.randrange(0, 300), rng.randrange(0, 50), rng.randrange(0, 5))
            for t in WorkerType
            if rng.random() < 0.9
        }
        fleets = {}
        for t in WorkerType:
            if rng.random() < 0.9:
                min_size = rng.choice([0, 0, 0, 1])
                max_size = rng.randrange(max(min_size, 1), 20)
                desired = rng.choice([0, rng.randrange(min_size, max_size + 1)])
                desired = max(desired, min_size)
                in_service = rng.randrange(0, desired + 1)
                pending = rng.randrange(0, desired - in_service + 1)
                fleets[t] = FleetState(
                    f"asg-{t.value}", min_size, max_size, desired, in_service, pending=pending
                )
        # WHEN planned
        plan = plan_tick(cfg, Observation(counts, fleets), TICK)
        # THEN a write to a tracked fleet only ever starts it from zero, within its bounds,
        # and only when its tracked backlog reached the threshold
        for write in plan.writes:
            if write.worker_type not in TARGET_TRACKED_TYPES:
                continue
            writes_seen += 1
            fleet = fleets[write.worker_type]
            tracking = cfg.fleets[write.worker_type].tracking
            backlog = tracked_backlog(
                plan.queue_depth[write.worker_type],
                counts[write.worker_type],
                COUNTING_RULES[write.worker_type],
                tracking,
            )
            assert fleet.desired_capacity == 0
            assert backlog >= tracking.activation_backlog
            assert 1 <= write.decision.desired <= fleet.max_size
            assert write.decision.previous == 0
        # AND every tracked fleet with desired > 0 was left alone
        touched = {w.worker_type for w in plan.writes}
        for t in TARGET_TRACKED_TYPES:
            if t in fleets and fleets[t].desired_capacity > 0:
                assert t not in touched
    # AND the property was exercised, not vacuously true
    assert writes_seen > 100
