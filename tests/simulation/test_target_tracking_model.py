"""The target-tracking model against the documented (and observed) semantics."""

from __future__ import annotations

import pytest

from fleetctl.simulation.target_tracking import (
    HIGH_DATAPOINTS,
    LOW_DATAPOINTS,
    Alarm,
    ScalingDecision,
    TargetTrackingModel,
    TargetTrackingPolicy,
)

MINUTE = 60.0


def _policy(**overrides: object) -> TargetTrackingPolicy:
    fields: dict[str, object] = {
        "target_value": 20.0,
        "min_size": 0,
        "max_size": 10,
        "instance_warmup_seconds": 60.0,
    }
    fields.update(overrides)
    return TargetTrackingPolicy(**fields)  # type: ignore[arg-type]


def _feed(
    model: TargetTrackingModel,
    metrics: list[float | None],
    capacity: int,
    start_minute: int = 1,
) -> list[ScalingDecision]:
    """One evaluation per minute, at a constant capacity."""
    return [
        model.evaluate((start_minute + index) * MINUTE, metric, capacity)
        for index, metric in enumerate(metrics)
    ]


# ------------------------------------------------------------------ scale-out


def test_scale_out_after_exactly_three_high_datapoints_not_two() -> None:
    # GIVEN a fleet of 2 tracking a target of 20
    model = TargetTrackingModel(_policy())

    # WHEN the metric is above target for 2, then 3 minutes
    first_two = _feed(model, [45.0, 45.0], capacity=2)
    third = model.evaluate(3 * MINUTE, 45.0, capacity=2)

    # THEN nothing happens after 2; AlarmHigh fires on the 3rd, proportionally
    assert [decision.desired for decision in first_two] == [None, None]
    assert "2/3" in first_two[-1].reason
    assert third.desired == 5  # ceil(2 * 45 / 20)
    assert third.alarm is Alarm.HIGH
    assert third.reason == "AlarmHigh 3/3: 45 > 20 → 5 instances (was 2)"


def test_scale_out_is_proportional_and_at_least_one_more() -> None:
    # GIVEN a fleet of 10, barely above its target
    model = TargetTrackingModel(_policy(max_size=50))

    # WHEN AlarmHigh fires at 20.5 (2.5 % above), then at 60 (3x) for another fleet
    barely = _feed(model, [20.5] * HIGH_DATAPOINTS, capacity=10)[-1]
    triple = _feed(TargetTrackingModel(_policy(max_size=50)), [60.0] * 3, capacity=10)[-1]

    # THEN the new capacity is ceil(capacity * metric / target)
    assert barely.desired == 11  # ceil(10.25): never less than one more
    assert triple.desired == 30


def test_a_group_at_zero_is_not_scaled_out_by_target_tracking() -> None:
    # GIVEN an empty fleet: AWS documents nothing about target tracking at zero capacity
    model = TargetTrackingModel(_policy())

    # WHEN 57 messages wait for 3 minutes
    decision = _feed(model, [57.0] * HIGH_DATAPOINTS, capacity=0)[-1]

    # THEN the model takes the conservative case: AlarmHigh, but no scale-out (leaving
    # zero is the Lambda's activation)
    assert decision.desired is None
    assert decision.alarm is Alarm.HIGH
    assert decision.reason == "AlarmHigh 3/3: 57 > 20, at 0: not scaled out of zero (activation's)"

    # AND once activation has started one instance, the alarm adds nothing while it
    # warms up (60 s), then scales proportionally on it
    started = model.evaluate(4 * MINUTE, 57.0, capacity=1)
    warmed = model.evaluate(5 * MINUTE, 57.0, capacity=1)
    assert started.desired is None
    assert "in warmup" in started.reason
    assert warmed.desired == 3


def test_scale_out_is_clamped_to_max_size() -> None:
    # GIVEN a fleet of 4 with max 6
    model = TargetTrackingModel(_policy(max_size=6))

    # WHEN the metric asks for 20 instances, and later the fleet is at max
    decision = _feed(model, [100.0] * HIGH_DATAPOINTS, capacity=4)[-1]
    at_max = TargetTrackingModel(_policy(max_size=6))
    stuck = _feed(at_max, [100.0] * HIGH_DATAPOINTS, capacity=6)[-1]

    # THEN it stops at max, and at max AlarmHigh changes nothing
    assert decision.desired == 6
    assert stuck.desired is None
    assert stuck.alarm is Alarm.HIGH
    assert "at max 6" in stuck.reason


def test_alarm_high_keeps_acting_while_the_metric_stays_high() -> None:
    # GIVEN a fleet that scaled out from 1 to 3, with no warmup
    model = TargetTrackingModel(_policy(instance_warmup_seconds=0))
    assert _feed(model, [50.0] * 3, capacity=1)[-1].desired == 3

    # WHEN the metric is still high next minute at the new capacity
    decision = model.evaluate(4 * MINUTE, 30.0, capacity=3)

    # THEN the alarm, still in ALARM, scales out again: ceil(3 * 30 / 20)
    assert decision.desired == 5


# ------------------------------------------------------------------ warmup


def test_no_double_scale_out_during_warmup() -> None:
    # GIVEN a fleet that just scaled out from 2 to 5, with a 5-minute warmup
    model = TargetTrackingModel(_policy(instance_warmup_seconds=5 * MINUTE))
    assert _feed(model, [45.0] * 3, capacity=2)[-1].desired == 5

    # WHEN the metric stays high while the 3 new instances warm up (desired 5)
    same = model.evaluate(4 * MINUTE, 45.0, capacity=5)
    higher = model.evaluate(5 * MINUTE, 80.0, capacity=5)

    # THEN the proportional capacity is computed on the 2 warmed instances: the same
    # demand asks for the same 5 and adds nothing; a higher one adds the difference
    assert same.desired is None
    assert same.reason == (
        "AlarmHigh 3/3: 45 > 20, in warmup: 5 <= 5 already asked for (3 warming up)"
    )
    assert higher.desired == 8  # ceil(2 * 80 / 20)


def test_the_other_reading_of_warmup_multiplies_the_capacity_already_asked_for() -> None:
    # GIVEN the same fleet, scaled out from 2 to 5, under the other reading: warming
    # instances in the base of the proportional capacity
    model = TargetTrackingModel(_policy(instance_warmup_seconds=5 * MINUTE, warming_in_base=True))
    assert _feed(model, [45.0] * 3, capacity=2)[-1].desired == 5

    # WHEN the same stale datapoint (45 per instance of 2) is seen at desired 5
    same = model.evaluate(4 * MINUTE, 45.0, capacity=5)

    # THEN it scales out again on the capacity on its way: ceil(5 * 45 / 20)
    assert same.desired == 10  # clamped to max 10 (12 wanted)


def test_no_scale_in_during_warmup_then_scale_in_after_it() -> None:
    # GIVEN a fleet that scaled out at minute 3, with a 30-minute warmup
    model = TargetTrackingModel(_policy(instance_warmup_seconds=30 * MINUTE))
    assert _feed(model, [45.0] * 3, capacity=2)[-1].desired == 5

    # WHEN the metric falls to zero for 15 minutes, within the warmup
    during = _feed(model, [0.0] * LOW_DATAPOINTS, capacity=5, start_minute=4)[-1]
    # ... and stays there until the warmup (minute 3 + 30) is over
    after = _feed(model, [0.0] * 15, capacity=5, start_minute=4 + LOW_DATAPOINTS)

    # THEN there is no scale-in during warmup, and one once it has passed
    assert during.desired is None
    assert during.alarm is Alarm.LOW
    assert "in warmup" in during.reason
    first_scale_in = next(d for d in after if d.changed)
    assert first_scale_in.desired == 4


# ------------------------------------------------------------------ scale-in


def test_scale_in_only_after_fifteen_low_datapoints_not_fourteen() -> None:
    # GIVEN a fleet of 4, no recent scale-out
    model = TargetTrackingModel(_policy())

    # WHEN the metric is clearly below target for 14, then 15 minutes
    first_fourteen = _feed(model, [2.0] * (LOW_DATAPOINTS - 1), capacity=4)
    fifteenth = model.evaluate(LOW_DATAPOINTS * MINUTE, 2.0, capacity=4)

    # THEN nothing happens for 14; AlarmLow fires on the 15th, one instance at a time
    assert all(decision.desired is None for decision in first_fourteen)
    assert "14/15" in first_fourteen[-1].reason
    assert fifteenth.desired == 3
    assert fifteenth.reason == "AlarmLow 15/15: 2 < 18 → 3 instances (was 4)"


def test_scale_in_needs_the_metric_clearly_below_target() -> None:
    # GIVEN a fleet of 4
    model = TargetTrackingModel(_policy())

    # WHEN the metric sits just below target (19 of 20: above 90 % of it) for long
    decisions = _feed(model, [19.0] * 30, capacity=4)

    # THEN it never scales in
    assert all(decision.desired is None for decision in decisions)


def test_scale_in_removes_at_most_ten_percent_or_one_instance() -> None:
    # GIVEN large and small fleets whose backlog has drained
    large = TargetTrackingModel(_policy(max_size=100))
    small = TargetTrackingModel(_policy())

    # WHEN AlarmLow fires with an empty queue
    large_decision = _feed(large, [0.0] * LOW_DATAPOINTS, capacity=40)[-1]
    small_decision = _feed(small, [0.0] * LOW_DATAPOINTS, capacity=3)[-1]

    # THEN the step is 10 % of the fleet, or one instance, whichever is larger
    assert large_decision.desired == 36
    assert small_decision.desired == 2


def test_scale_in_never_goes_below_the_proportional_capacity() -> None:
    # GIVEN a fleet of 10 at 15 messages per instance (target 20: 75 %)
    model = TargetTrackingModel(_policy(max_size=20))

    # WHEN AlarmLow fires
    decision = _feed(model, [15.0] * LOW_DATAPOINTS, capacity=10)[-1]

    # THEN it keeps what the backlog needs: max(ceil(10 * 15 / 20), 10 - 1) = 9
    assert decision.desired == 9


def test_scale_in_is_clamped_to_min_size() -> None:
    # GIVEN a fleet at its minimum of 2
    model = TargetTrackingModel(_policy(min_size=2))

    # WHEN the queue is empty for 15 minutes
    decision = _feed(model, [0.0] * LOW_DATAPOINTS, capacity=2)[-1]

    # THEN it stays at min
    assert decision.desired is None
    assert decision.alarm is Alarm.LOW
    assert "min 2" in decision.reason


def test_scale_in_reaches_zero_only_with_no_backlog() -> None:
    # GIVEN a fleet of 1 with min 0
    drained = TargetTrackingModel(_policy())
    trickle = TargetTrackingModel(_policy())

    # WHEN the queue is empty, or holds a single message, for 15 minutes
    to_zero = _feed(drained, [0.0] * LOW_DATAPOINTS, capacity=1)[-1]
    kept = _feed(trickle, [1.0] * LOW_DATAPOINTS, capacity=1)[-1]

    # THEN only the empty queue scales the fleet to zero
    assert to_zero.desired == 0
    assert kept.desired is None


def test_disable_scale_in() -> None:
    # GIVEN a policy with DisableScaleIn
    model = TargetTrackingModel(_policy(disable_scale_in=True))

    # WHEN the queue is empty for 20 minutes
    decisions = _feed(model, [0.0] * 20, capacity=4)

    # THEN AlarmLow fires but never scales in
    assert all(decision.desired is None for decision in decisions)
    assert decisions[-1].reason.endswith("scale-in disabled")


# ------------------------------------------------------------------ missing data


def test_no_scale_in_on_missing_data() -> None:
    # GIVEN a fleet of 4 whose publisher stopped publishing
    model = TargetTrackingModel(_policy())

    # WHEN no datapoint arrives for 30 minutes
    decisions = _feed(model, [None] * 30, capacity=4)

    # THEN the model reports insufficient data and never scales in
    assert all(decision.desired is None for decision in decisions)
    assert all(decision.reason.startswith("insufficient data") for decision in decisions)


def test_a_missing_datapoint_breaks_the_low_run() -> None:
    # GIVEN 14 low datapoints, then one missing minute
    model = TargetTrackingModel(_policy())
    _feed(model, [0.0] * (LOW_DATAPOINTS - 1) + [None], capacity=4)

    # WHEN 14 more low datapoints arrive
    decisions = _feed(model, [0.0] * (LOW_DATAPOINTS - 1), capacity=4, start_minute=16)

    # THEN the run restarted: still no scale-in; the 15th after the gap scales in
    assert all(decision.desired is None for decision in decisions)
    assert model.evaluate(30 * MINUTE, 0.0, capacity=4).desired == 3


def test_a_missing_datapoint_breaks_the_high_run() -> None:
    # GIVEN high, high, missing
    model = TargetTrackingModel(_policy())
    _feed(model, [50.0, 50.0, None], capacity=1)

    # WHEN one more high datapoint arrives
    decision = model.evaluate(4 * MINUTE, 50.0, capacity=1)

    # THEN it is 1/3, not 3/3
    assert decision.desired is None
    assert "1/3" in decision.reason


def test_skipped_minutes_count_as_missing_datapoints() -> None:
    # GIVEN two high datapoints, then no evaluation for minute 3
    model = TargetTrackingModel(_policy())
    _feed(model, [50.0, 50.0], capacity=1)

    # WHEN the next evaluation comes at minute 4
    decision = model.evaluate(4 * MINUTE, 50.0, capacity=1)

    # THEN the gap broke the run
    assert decision.desired is None
    assert model.datapoints[-3:] == (50.0, None, 50.0)


# ------------------------------------------------------------------ inputs


def test_time_is_an_input_and_must_increase() -> None:
    model = TargetTrackingModel(_policy())
    model.evaluate(MINUTE, 10.0, capacity=1)
    with pytest.raises(ValueError, match="'now' must increase"):
        model.evaluate(MINUTE, 10.0, capacity=1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target_value", 0.0, "'target_value' must be a finite number > 0, got 0.0"),
        ("min_size", -1, "'min_size' must be >= 0, got -1"),
        ("max_size", 1, r"'max_size' must be >= min_size \(2\), got 1"),
        ("instance_warmup_seconds", -5.0, "'instance_warmup_seconds' must be >= 0, got -5.0"),
    ],
)
def test_policy_validation_names_the_field_and_value(
    field: str, value: object, message: str
) -> None:
    overrides: dict[str, object] = {field: value}
    if field == "max_size":
        overrides["min_size"] = 2
    with pytest.raises(ValueError, match=message):
        _policy(**overrides)


def test_rejects_negative_capacity_and_metric() -> None:
    model = TargetTrackingModel(_policy())
    with pytest.raises(ValueError, match="'capacity' must be >= 0, got -1"):
        model.evaluate(MINUTE, 1.0, capacity=-1)
    with pytest.raises(ValueError, match="'metric' must be a finite number >= 0"):
        model.evaluate(2 * MINUTE, -1.0, capacity=1)


# ------------------------------------------------------------------ high resolution


@pytest.mark.parametrize("period", [10, 30])
def test_a_high_resolution_policy_scales_out_after_three_of_its_periods(period: int) -> None:
    # GIVEN a fleet of 2 whose policy reads the metric every `period` seconds
    model = TargetTrackingModel(_policy(period_seconds=period))
    # WHEN the metric is above target at three consecutive periods
    decisions = [model.evaluate(i * period, 45.0, capacity=2) for i in (1, 2, 3)]
    # THEN AlarmHigh fires at the third: 3 periods after the first datapoint (assumed)
    assert [d.desired for d in decisions] == [None, None, 5]


def test_a_missing_ten_second_datapoint_breaks_the_run() -> None:
    # GIVEN a 10 s policy with two high datapoints
    model = TargetTrackingModel(_policy(period_seconds=10))
    model.evaluate(10, 45.0, capacity=2)
    model.evaluate(20, 45.0, capacity=2)
    # WHEN the next sample is skipped (no call at 30 s) and one arrives at 40 s
    decision = model.evaluate(40, 45.0, capacity=2)
    # THEN the skipped period counts as missing: no scale-out yet
    assert decision.desired is None
    assert model.datapoints[-3:] == (45.0, None, 45.0)


@pytest.mark.parametrize("period", [0, 15, 120, -10])
def test_a_period_target_tracking_does_not_accept_is_refused(period: int) -> None:
    with pytest.raises(
        ValueError, match=rf"'period_seconds' must be one of 10, 30, 60, got {period}"
    ):
        _policy(period_seconds=period)


def test_instances_another_controller_launched_warm_up_too() -> None:
    # GIVEN a 10 s policy on an idle fleet at zero: 15 low datapoints arm AlarmLow
    model = TargetTrackingModel(_policy(period_seconds=10, instance_warmup_seconds=60))
    for i in range(1, 16):
        model.evaluate(i * 10, 0.0, capacity=0)
    # WHEN the Lambda's activation starts 5 instances before the next evaluation,
    # whose datapoint (from before the burst) is still low
    decision = model.evaluate(160, 0.0, capacity=5)
    # THEN they are warming up: no scale-in of what was just launched
    assert decision.desired is None and "in warmup" in decision.reason
    # AND once the warmup is over, a still-low metric scales in as before
    later = [model.evaluate(160 + 10 * i, 0.0, capacity=5) for i in range(1, 7)]
    assert later[-1].desired == 4


def test_a_scale_out_that_was_not_applied_is_not_counted_as_warming() -> None:
    # GIVEN a fleet of 2 whose policy asked for 5 (10-minute warmup)
    model = TargetTrackingModel(_policy(instance_warmup_seconds=10 * MINUTE, max_size=20))
    assert _feed(model, [45.0] * 3, capacity=2)[-1].desired == 5

    # WHEN the group stayed at 2 (the write was lost) and the metric rises
    decision = model.evaluate(4 * MINUTE, 60.0, capacity=2)

    # THEN the 3 phantom launches are forgotten: the base is 2, not 0, and it scales
    # out again at once: ceil(2 * 60 / 20)
    assert decision.desired == 6


def test_a_capacity_drop_forgets_the_newest_launches_first() -> None:
    # GIVEN a fleet of 4 that the policy took to 8, then another controller to 10
    model = TargetTrackingModel(_policy(instance_warmup_seconds=10 * MINUTE, max_size=40))
    assert _feed(model, [40.0] * 3, capacity=4)[-1].desired == 8
    assert model.evaluate(4 * MINUTE, 40.0, capacity=10).desired is None  # base 4 -> 8

    # WHEN the group is set back to 5 and the breach grows
    decision = model.evaluate(5 * MINUTE, 100.0, capacity=5)

    # THEN 1 of the 6 launches is still warming: the base is the 4 warmed instances,
    # ceil(4 * 100 / 20) = 20
    assert decision.desired == 20
