"""The tick's pure decisions (``worker_metrics.plan``): no AWS, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

from worker_metrics.config import PublisherConfig
from worker_metrics.contract import VIDEO_SCALE_IN_MARKER_TAG, WorkerType, lambda_environment
from worker_metrics.fleet_state import FleetState
from worker_metrics.plan import Observation, plan_tick
from worker_metrics.sqs_backlog import QueueCounts
from worker_metrics.video_capacity import Action

URL = "https://sqs.ap-northeast-2.amazonaws.com/123456789012/{}"
CONFIG = PublisherConfig.from_env(
    lambda_environment(
        queue_urls={t: [URL.format(t.value.lower())] for t in WorkerType},
        asg_names={t: f"asg-{t.value.lower()}" for t in WorkerType},
    )
)
TICK = datetime(2025, 2, 21, 5, 0, tzinfo=UTC).isoformat()


def fleet(worker_type: WorkerType, desired: int, in_service: int, **tags: str) -> FleetState:
    return FleetState(f"asg-{worker_type.value.lower()}", 0, 10, desired, in_service, tags)


def test_plan_follows_the_seed_counting_rules_and_divides_by_in_service() -> None:
    # GIVEN every type read, AI with 2 in-service instances
    counts = {t: QueueCounts(visible=6, in_flight=4) for t in WorkerType}
    fleets = {t: fleet(t, 2, 2) for t in WorkerType}
    # WHEN planned
    plan = plan_tick(CONFIG, Observation(counts, fleets), TICK)
    # THEN AI = visible + in flight, the others visible; per instance over max(desired, 1)
    assert plan.queue_depth == {WorkerType.AI: 10, WorkerType.VIDEO: 6, WorkerType.MESSAGING: 6}
    assert plan.backlog_per_instance[WorkerType.AI] == 5.0
    assert [d["MetricName"] for d in plan.datums(CONFIG, datetime.now(UTC))].count(
        "QueueDepth"
    ) == 3


def test_an_unread_type_gets_no_datum_and_an_unread_asg_no_ratio() -> None:
    # GIVEN Messaging's queues unreadable and AI's ASG missing
    counts = {WorkerType.AI: QueueCounts(3), WorkerType.VIDEO: QueueCounts(0)}
    fleets = {WorkerType.VIDEO: fleet(WorkerType.VIDEO, 0, 0)}
    plan = plan_tick(CONFIG, Observation(counts, fleets), TICK)
    # THEN no false zero for Messaging, and AI's QueueDepth without BacklogPerInstance
    assert WorkerType.MESSAGING not in plan.queue_depth
    assert plan.queue_depth[WorkerType.AI] == 3
    assert WorkerType.AI not in plan.backlog_per_instance


def test_video_without_its_asg_is_skipped_with_no_write() -> None:
    plan = plan_tick(CONFIG, Observation({WorkerType.VIDEO: QueueCounts(5)}, {}), TICK)
    assert plan.video.decision is None and "ASG could not be read" in plan.video.skipped
    assert plan.writes == ()


def test_a_video_scale_in_carries_its_marker_and_a_repeat_decides_from_it() -> None:
    # GIVEN an empty Video queue and 4 instances
    counts = {WorkerType.VIDEO: QueueCounts(0)}
    first = plan_tick(
        CONFIG, Observation(counts, {WorkerType.VIDEO: fleet(WorkerType.VIDEO, 4, 4)}), TICK
    )
    # THEN one step in, with the marker "<tick> 4" written first
    (write,) = first.writes
    assert (write.decision.action, write.decision.desired) == (Action.SCALE_IN, 3)
    assert write.scale_in_marker == f"{TICK} 4"
    # WHEN the same tick runs again after the write (desired 3, marker present)
    again = fleet(WorkerType.VIDEO, 3, 3, **{VIDEO_SCALE_IN_MARKER_TAG: write.scale_in_marker})
    repeat = plan_tick(CONFIG, Observation(counts, {WorkerType.VIDEO: again}), TICK)
    # THEN it does not step down a second time
    assert repeat.writes == ()
    assert repeat.video.decision is not None and repeat.video.decision.desired == 3


def test_samples_of_one_tick_scale_in_one_step_even_after_a_scale_out_between() -> None:
    # GIVEN a tick whose first sample scaled Video in from 5 to 4 (marker "<tick> 5")
    marker = {VIDEO_SCALE_IN_MARKER_TAG: f"{TICK} 5"}
    # WHEN a later sample of the same tick sees a burst of 8 and scales out to 8
    burst = plan_tick(
        CONFIG,
        Observation(
            {WorkerType.VIDEO: QueueCounts(8)},
            {WorkerType.VIDEO: fleet(WorkerType.VIDEO, 4, 4, **marker)},
        ),
        TICK,
    )
    assert [w.decision.desired for w in burst.writes] == [8]
    # AND a still later sample finds the burst taken (6 in flight, nothing visible)
    drained = plan_tick(
        CONFIG,
        Observation(
            {WorkerType.VIDEO: QueueCounts(0, in_flight=6)},
            {WorkerType.VIDEO: fleet(WorkerType.VIDEO, 8, 8, **marker)},
        ),
        TICK,
    )
    # THEN it steps in by one from 8 (not to the stale marker's 5 - 1 = 4), marking 8
    (write,) = drained.writes
    assert (write.decision.action, write.decision.desired) == (Action.SCALE_IN, 7)
    assert write.scale_in_marker == f"{TICK} 8"
