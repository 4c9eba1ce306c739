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
