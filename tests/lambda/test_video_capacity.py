"""Pure unit tests of the Video sizing rule (no AWS)."""

from __future__ import annotations

import pytest

from worker_metrics.video_capacity import (
    Action,
    CapacityBounds,
    Decision,
    decide_video_capacity,
)

ZERO_TO_TEN = CapacityBounds(0, 10)


def decide(
    backlog: int,
    current: int,
    in_flight: int = 0,
    bounds: CapacityBounds = ZERO_TO_TEN,
    messages_per_instance: float = 2,
    jobs_per_instance: int = 1,
    scale_in_step: int = 1,
) -> Decision:
    return decide_video_capacity(
        backlog=backlog,
        in_flight=in_flight,
        current_desired=current,
        bounds=bounds,
        messages_per_instance=messages_per_instance,
        jobs_per_instance=jobs_per_instance,
        scale_in_step=scale_in_step,
    )


def test_scales_out_at_once_to_backlog_over_messages_per_instance() -> None:
    # GIVEN 7 visible messages, 2 per instance, 1 instance now
    # WHEN deciding
    decision = decide(backlog=7, current=1)
    # THEN desired jumps straight to ceil(7/2) = 4
    assert (decision.desired, decision.action) == (4, Action.SCALE_OUT)
    assert decision.changes
    assert "scale out to 4" in decision.reason


def test_scales_out_from_zero_on_the_first_message() -> None:
    # GIVEN an idle fleet at zero and one message appears
    decision = decide(backlog=1, current=0)
    # THEN one instance is requested at once
    assert (decision.desired, decision.action) == (1, Action.SCALE_OUT)


def test_scale_in_is_limited_to_the_step() -> None:
    # GIVEN 8 instances and an empty queue, step 3
    decision = decide(backlog=0, current=8, scale_in_step=3)
    # THEN only 3 are removed this tick
    assert (decision.desired, decision.action) == (5, Action.SCALE_IN)
    # AND the next tick removes the next 3, then the rest
    assert decide(backlog=0, current=5, scale_in_step=3).desired == 2
    assert decide(backlog=0, current=2, scale_in_step=3).desired == 0


def test_never_below_jobs_in_flight() -> None:
    # GIVEN 6 instances, no visible backlog, but 5 encodes running (1 per instance)
    decision = decide(backlog=0, in_flight=5, current=6, scale_in_step=4)
    # THEN scale-in stops at 5, not at 6 - 4 = 2
    assert decision.desired == 5
    # AND with everything still running nothing changes
    unchanged = decide(backlog=0, in_flight=6, current=6)
    assert (unchanged.desired, unchanged.action, unchanged.changes) == (6, Action.UNCHANGED, False)


def test_in_flight_floor_counts_jobs_per_instance() -> None:
    # GIVEN 2 jobs per instance and 5 jobs running on 4 instances
    decision = decide(backlog=0, in_flight=5, current=4, jobs_per_instance=2, scale_in_step=5)
    # THEN ceil(5/2) = 3 instances stay
    assert decision.desired == 3


def test_in_flight_floor_is_capped_at_max() -> None:
    # GIVEN more jobs in flight than max allows
    decision = decide(backlog=0, in_flight=50, current=3, bounds=CapacityBounds(0, 4))
    # THEN desired goes to max, never above
    assert decision.desired == 4


def test_clamped_to_max_and_min() -> None:
    # GIVEN a huge backlog and max 5
    assert decide(backlog=1000, current=2, bounds=CapacityBounds(0, 5)).desired == 5
    # GIVEN no backlog and min 2, already at 2
    at_min = decide(backlog=0, current=2, bounds=CapacityBounds(2, 5))
    assert (at_min.desired, at_min.action) == (2, Action.UNCHANGED)


def test_desired_above_a_lowered_max_comes_down_to_max() -> None:
    # GIVEN desired 9 while max was just lowered to 4 and the backlog needs 6
    decision = decide(backlog=12, current=9, bounds=CapacityBounds(0, 4))
    # THEN it goes to max at once (the ASG refuses desired > max anyway)
    assert (decision.desired, decision.action) == (4, Action.SCALE_IN)


def test_unchanged_means_no_write() -> None:
    # GIVEN the backlog matches the current size
    decision = decide(backlog=6, current=3)
    # THEN nothing changes, and the reason says so
    assert not decision.changes
    assert decision.action is Action.UNCHANGED
    assert decision.reason.startswith("unchanged at 3")


def test_overrides_only_narrow_the_asg_bounds() -> None:
    # GIVEN an ASG of 0..10
    asg = CapacityBounds(0, 10)
    # THEN overrides inside the range narrow it and overrides outside are clamped
    assert asg.narrowed(2, 6) == CapacityBounds(2, 6)
    assert asg.narrowed(None, 50) == CapacityBounds(0, 10)
    assert asg.narrowed(12, None) == CapacityBounds(10, 10)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("messages_per_instance", 0), ("jobs_per_instance", 0), ("scale_in_step", 0)],
)
def test_rejects_non_positive_knobs(argument: str, value: int) -> None:
    # GIVEN a knob at zero  WHEN deciding  THEN the error names it
    with pytest.raises(ValueError, match=argument):
        decide(backlog=1, current=0, **{argument: value})


def test_bounds_validate() -> None:
    with pytest.raises(ValueError, match="max_size = 1"):
        CapacityBounds(2, 1)


# ------------------------------------------------------------ running + waiting


def test_a_burst_while_busy_is_sized_for_running_plus_waiting() -> None:
    # GIVEN 3 encodes running on 3 instances, 1 job and 1 message per instance
    # WHEN 4 new videos are uploaded
    decision = decide(backlog=4, in_flight=3, current=3, messages_per_instance=1)
    # THEN the fleet goes to 3 + 4 = 7 in this tick, not to 4
    assert (decision.desired, decision.action) == (7, Action.SCALE_OUT)
    assert "3 running / 1 per instance + 4 waiting / 1 per instance -> 7" in decision.reason


def test_waiting_work_fills_the_free_slots_of_busy_instances() -> None:
    # GIVEN 2 jobs per instance (and 2 messages per instance), 3 jobs running
    # WHEN 1 job waits, then 2
    one = decide(backlog=1, in_flight=3, current=2, jobs_per_instance=2)
    two = decide(backlog=2, in_flight=3, current=2, jobs_per_instance=2)
    # THEN the waiting job takes the free slot (ceil(3/2 + 1/2) = 2), and a second needs
    # a third instance (ceil(3/2 + 2/2) = 3): Buildkite's ceil((waiting + running) / 2)
    assert (one.desired, one.action) == (2, Action.UNCHANGED)
    assert (two.desired, two.action) == (3, Action.SCALE_OUT)


def test_more_messages_than_jobs_per_instance_trades_latency_for_cost() -> None:
    # GIVEN 1 job per instance, but each new instance sized for 2 waiting messages
    # WHEN 3 run and 4 wait
    decision = decide(backlog=4, in_flight=3, current=3, messages_per_instance=2)
    # THEN 3 instances stay busy and 2 more take 2 waiting videos each: 5
    assert decision.desired == 5


def test_fewer_messages_than_jobs_per_instance_leaves_spare_slots() -> None:
    # GIVEN 4 jobs per instance, each new instance sized for 1 waiting message
    # WHEN 4 run (one full instance) and 2 wait
    decision = decide(
        backlog=2, in_flight=4, current=1, jobs_per_instance=4, messages_per_instance=1
    )
    # THEN 1 for the running jobs plus 2 for the waiting ones: 3
    assert decision.desired == 3


def test_the_sum_is_exact_not_rounded_up_by_float_error() -> None:
    # GIVEN 1 of 3 slots busy, 2 waiting at 3 per instance (1/3 + 2/3 = 1), and
    # 0.1 messages per instance with 3 waiting (30 instances, 30.000000000000004 in floats)
    exact_one = decide(
        backlog=2, in_flight=1, current=1, jobs_per_instance=3, messages_per_instance=3
    )
    tenth = decide(backlog=3, current=0, messages_per_instance=0.1, bounds=CapacityBounds(0, 50))
    # THEN neither is rounded up by a representation error
    assert exact_one.desired == 1
    assert tenth.desired == 30


def test_scale_in_with_work_running_steps_and_stops_at_the_running_jobs() -> None:
    # GIVEN 8 instances after a burst; the queue is empty, 5 encodes still run
    first = decide(backlog=0, in_flight=5, current=8, scale_in_step=2)
    # THEN one step of 2, then down to the 5 running and no further
    assert (first.desired, first.action) == (6, Action.SCALE_IN)
    second = decide(backlog=0, in_flight=5, current=6, scale_in_step=2)
    assert second.desired == 5
    assert decide(backlog=0, in_flight=5, current=5, scale_in_step=2).changes is False


def test_a_lagging_zero_backlog_keeps_the_running_work_covered() -> None:
    # GIVEN 7 instances sized for 3 running + 4 waiting; the 4 were just received
    # (they moved from waiting to running, so in flight is now 7 and waiting 0)
    decision = decide(backlog=0, in_flight=7, current=7, messages_per_instance=1)
    # THEN nothing is removed
    assert (decision.desired, decision.action) == (7, Action.UNCHANGED)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_rejects_a_non_finite_messages_per_instance(value: float) -> None:
    # GIVEN NaN, infinity or a negative number  WHEN deciding  THEN the error names it
    with pytest.raises(ValueError, match="messages_per_instance"):
        decide(backlog=1, current=0, messages_per_instance=value)
