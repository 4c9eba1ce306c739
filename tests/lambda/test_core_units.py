"""Pure units: counting rules, chunking, datums, tick timestamps (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from worker_metrics.contract import COUNTING_RULES, CountingRule, WorkerType
from worker_metrics.fleet_state import FleetState
from worker_metrics.publish import MAX_DATUMS_PER_CALL, chunk, datum, error_datum
from worker_metrics.sqs_backlog import QueueCounts, count_backlog, sum_counts
from worker_metrics.tick import tick_time

COUNTS = QueueCounts(visible=5, in_flight=3, delayed=2)


def test_ai_counts_visible_plus_in_flight() -> None:
    # GIVEN 5 visible, 3 in flight, 2 delayed  WHEN counted by the AI rule
    # THEN in-flight counts and delayed does not (seed: AI = visible + not visible)
    assert count_backlog(COUNTS, COUNTING_RULES[WorkerType.AI], include_delayed=False) == 8


@pytest.mark.parametrize("worker_type", [WorkerType.VIDEO, WorkerType.MESSAGING])
def test_video_and_messaging_count_visible_only(worker_type: WorkerType) -> None:
    assert count_backlog(COUNTS, COUNTING_RULES[worker_type], include_delayed=False) == 5


def test_include_delayed_adds_delayed_per_type() -> None:
    # GIVEN <TYPE>_INCLUDE_DELAYED=true
    assert count_backlog(COUNTS, COUNTING_RULES[WorkerType.VIDEO], include_delayed=True) == 7
    assert count_backlog(COUNTS, COUNTING_RULES[WorkerType.AI], include_delayed=True) == 10
    # AND a rule that counts delayed by itself does so without the setting
    assert count_backlog(COUNTS, CountingRule(in_flight=False, delayed=True), False) == 7


def test_counts_sum_over_queues() -> None:
    total = sum_counts([QueueCounts(1, 2, 3), QueueCounts(10, 20, 30)])
    assert total == QueueCounts(11, 22, 33)
    assert QueueCounts.from_attributes({"ApproximateNumberOfMessages": "4"}) == QueueCounts(4, 0, 0)


@pytest.mark.parametrize(
    ("items", "sizes"),
    [(0, []), (1, [1]), (999, [999]), (1000, [1000]), (1001, [1000, 1]), (2500, [1000, 1000, 500])],
)
def test_chunks_at_1000(items: int, sizes: list[int]) -> None:
    # GIVEN n datums  WHEN chunked for PutMetricData
    parts = chunk(list(range(items)))
    # THEN at most 1000 per call, in order, none lost
    assert [len(p) for p in parts] == sizes
    assert [x for p in parts for x in p] == list(range(items))
    assert MAX_DATUMS_PER_CALL == 1000


def test_chunk_rejects_non_positive_size() -> None:
    with pytest.raises(ValueError, match="size = 0"):
        chunk([1], 0)


def test_datums_follow_the_seed_schema() -> None:
    when = datetime(2025, 2, 21, 5, 0, tzinfo=UTC)
    assert datum("QueueDepth", WorkerType.VIDEO, 3, when) == {
        "MetricName": "QueueDepth",
        "Dimensions": [{"Name": "WorkerType", "Value": "Video"}],
        "Value": 3.0,
        "Timestamp": when,
        "Unit": "Count",
    }
    assert error_datum(WorkerType.AI, "read_queue", when)["Dimensions"] == [
        {"Name": "WorkerType", "Value": "AI"},
        {"Name": "Stage", "Value": "read_queue"},
    ]


def test_tick_time_uses_the_scheduled_event_time() -> None:
    # GIVEN an EventBridge scheduled event
    event = {"time": "2025-02-21T05:00:00Z", "detail-type": "Scheduled Event"}
    # THEN its time is the tick's timestamp, timezone-aware UTC
    assert tick_time(event) == datetime(2025, 2, 21, 5, 0, tzinfo=UTC)
    # AND an offset is converted to UTC, a naive value taken as UTC
    kst = timezone(timedelta(hours=9))
    assert tick_time({"time": "2025-02-21T14:00:00+09:00"}) == datetime(2025, 2, 21, 5, tzinfo=UTC)
    assert tick_time({"time": "2025-02-21T05:00:00"}).tzinfo is UTC
    assert datetime(2025, 2, 21, 14, tzinfo=kst) == tick_time({"time": "2025-02-21T05:00:00Z"})


@pytest.mark.parametrize("event", [{}, {"time": "yesterday"}, {"time": 5}, None, "x"])
def test_tick_time_falls_back_to_the_clock(event: object) -> None:
    # GIVEN an event without a valid time (a manual test invoke)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    # THEN the clock is used
    assert tick_time(event, now) == now
    assert tick_time(event).tzinfo is not None


def test_in_service_and_launching_instances_are_counted() -> None:
    # GIVEN an ASG with instances in several lifecycle states
    group = {
        "AutoScalingGroupName": "video",
        "MinSize": 0,
        "MaxSize": 8,
        "DesiredCapacity": 4,
        "Instances": [
            {"LifecycleState": "InService"},
            {"LifecycleState": "InService"},
            {"LifecycleState": "Pending"},
            {"LifecycleState": "Pending:Wait"},
            {"LifecycleState": "Terminating"},
            {"LifecycleState": "Terminating:Wait"},
        ],
        "Tags": [{"Key": "worker-metrics:video-scale-in", "Value": "t 5"}],
    }
    # WHEN parsed
    state = FleetState.from_group(group)
    # THEN InService and launching (Pending, Pending:Wait) are counted apart, terminating
    # instances in neither, and tags are kept
    assert (state.in_service, state.pending, state.desired_capacity, state.max_size) == (
        2,
        2,
        4,
        8,
    )
    assert state.tags == {"worker-metrics:video-scale-in": "t 5"}
