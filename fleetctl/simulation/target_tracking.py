"""A pure model of EC2 Auto Scaling target tracking, for the simulator and the local demo.

moto stores target-tracking policies but never evaluates them (NOTES §2), so the
demo scales AI and Messaging with this model instead, from the same metric the
deployed policy tracks: backlog per instance, published once a minute by our
Lambda (``worker_metrics.tracked_metric``).

What AWS **documents** (EC2 Auto Scaling user guide, "Target tracking scaling
policies" and "default instance warmup"): scale-out is proportional and as fast
as possible, scale-in gradual; no scale-in on insufficient data; no scale-in
while new instances warm up; during scale-out, instances still warming up count
as part of the current capacity "so that multiple alarm breaches that need a
similar amount of capacity result in a single scale activity". What we
**observed** on the alarms AWS creates: the datapoint counts below. What we
**assume**: the proportional formula, the scale-in step, and nothing at all at
zero capacity (below).

What the model reproduces (NOTES §3):

* Target tracking creates two CloudWatch alarms. AlarmHigh fires on 3 of 3
  consecutive one-minute datapoints above the target; AlarmLow on 15 of 15
  consecutive datapoints below it. These shapes are **observed** on the alarms
  AWS creates, not documented, and AWS may change them. For AlarmLow we count a
  datapoint as low only when it is clearly below the target (under 90 %), as
  observed: scale-in needs the metric about 10 % below target.
* While an alarm stays in ALARM, Auto Scaling invokes the policy again every
  minute, so a run of breaching datapoints keeps acting (bounded by warmup).
* Scale-out is proportional: ``ceil(base * metric / target)``, at least
  ``base + 1`` and at most ``max_size``, where the base is the capacity past
  its warmup (below; assumed formula).
* **A group at zero capacity is not scaled out.** AWS does not document what
  target tracking computes for a group with no capacity, and the proportional
  formula gives 0 there; the earlier model's ``max(capacity, 1)`` was an
  assumption. The model takes the conservative case: at zero, AlarmHigh changes
  nothing. Leaving zero is the Lambda's activation
  (``worker_metrics.activation``: desired = ``ceil(backlog / target)``),
  KEDA's split of leaving zero and 1 -> N. Right after it every instance is
  still warming up, so the base is 0 and AlarmHigh adds nothing until the
  first of them is warm: activation must size the fleet, not start it.
* Scale-in is conservative. AWS documents only that it is gradual; our rule is
  the proportional capacity, but removing at most ``max(1, capacity // 10)``
  instances per action (10 % of the fleet or one instance, whichever is larger).
* Missing data is insufficient data: it never breaches either alarm, and it
  breaks the consecutive runs. A publisher that skips minutes freezes scaling.
* Warmup: instances launched within ``instance_warmup_seconds`` are still
  warming up, and there is no scale-in while any is. During scale-out the
  proportional capacity is computed on the instances **past** their warmup
  (the base), and acted on only when it exceeds the capacity already asked for,
  warming instances included: ``desired = max(desired, min(max(ceil(base *
  metric / target), base + 1), max_size))``. This is how AWS explains its
  documented sentence (an AWS engineer's worked example on re:Post, "slow
  down ASG target tracking scale out": a group of 4 that asked for 5 computes
  ``4 + 1`` again while the fifth warms up, and launches nothing): the same
  breach, repeated while the
  instances it asked for boot, asks for the same capacity, a single scale
  activity. The other reading (the base includes the warming instances, so a
  repeated breach multiplies the capacity already asked for) is
  ``TargetTrackingPolicy(warming_in_base=True)``, kept to measure how much a
  choice depends on the reading (``bench/tracked_divisor.py``). Instances
  another controller launched (the Lambda's activation from zero: the capacity
  grew between two evaluations without this policy) warm up too; without that,
  a policy whose AlarmLow is armed by an idle fleet (15 low datapoints: 150 s
  at 10 s) would scale in the instances the Lambda just started. When the
  capacity falls (a scale-in, or a scale-out that was not applied), the newest
  launches are forgotten first, so the warming count never exceeds the
  capacity. **Assumed:** warmup runs from the moment the capacity is asked for
  (the policy's ``EstimatedInstanceWarmup`` is documented as the time "until a
  newly launched instance can contribute to the CloudWatch metrics"); the
  group's ``DefaultInstanceWarmup`` counts from InService instead, which for a
  240 s boot would keep instances out of the base 240 s longer (AI p95 wait
  +0.3 to 0.9 min in ``bench/tracked_divisor.py``'s cases, no choice changed).
* ``disable_scale_in``; results are clamped to ``[min_size, max_size]``.

There are no cooldowns: ``ScaleInCooldown``/``ScaleOutCooldown`` belong to
Application Auto Scaling, not to EC2 Auto Scaling target tracking (NOTES §3).

High-resolution periods. A policy reads its metric at ``period_seconds`` (the
provider's ``customized_metric_specification.period``: 10, 30 or 60 s, our
``publisher.sample_seconds``); the model takes one datapoint per period.
**Documented** ("Create a target tracking policy using high-resolution metrics
for faster response", and the API's ``CustomizedMetricSpecification.Period``):
10, 30 and 60 are accepted, 60 is the default, and with a shorter period target
tracking watches the metric, and responds, at that period. **Not documented,
assumed here**: the datapoint counts of the alarms AWS creates for such a
policy. The model keeps the observed counts in datapoints, so AlarmHigh fires
after 3 periods (30 s at 10 s, 90 s at 30 s) and AlarmLow after 15 (150 s at
10 s), and a policy in ALARM acts again at every period (CloudWatch documents
that Auto Scaling actions repeat while an alarm stays in ALARM, not how often):
a scale-in step every 10 s, where 60 s gives one a minute. Were the one-minute
durations kept instead (18 and 90 datapoints at 10 s), AI and Messaging would
scale out about as late as at 60 s; Video, which the Lambda sizes at every
sample, does not depend on it.

Time is an input: ``evaluate(now, ...)`` takes the evaluation time in seconds
(any monotonic origin), so the demo can drive it with a simulated clock and the
tests with plain numbers. The model never reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from worker_metrics.contract import SAMPLE_SECONDS_CHOICES

#: Consecutive datapoints above target that fire AlarmHigh (observed at 60 s, not
#: documented; assumed the same at 10 and 30 s).
HIGH_DATAPOINTS = 3
#: Consecutive datapoints clearly below target that fire AlarmLow (observed at 60 s, not
#: documented; assumed the same at 10 and 30 s).
LOW_DATAPOINTS = 15
#: A datapoint counts toward AlarmLow only below this fraction of the target (observed).
LOW_THRESHOLD_RATIO = 0.9
#: Largest share of the fleet removed by one scale-in action (our rule; see module doc).
SCALE_IN_MAX_FRACTION = 0.1

_Predicate = Callable[[float], bool]


class Alarm(StrEnum):
    HIGH = "AlarmHigh"
    LOW = "AlarmLow"


@dataclass(frozen=True)
class TargetTrackingPolicy:
    """The parts of an ``aws_autoscaling_policy`` (TargetTrackingScaling) we model.

    ``target_value``: the metric's target, > 0 (backlog per instance, messages).
    ``min_size`` / ``max_size``: the ASG's bounds, 0 <= min <= max.
    ``instance_warmup_seconds``: default 300, the ASG default when neither
    ``estimated_instance_warmup`` nor ``default_instance_warmup`` is set; >= 0.
    ``disable_scale_in``: default false.
    ``period_seconds``: the metric's period, default 60; one of
    ``worker_metrics.contract.SAMPLE_SECONDS_CHOICES`` (10, 30, 60: the metric
    periods target tracking accepts). AlarmHigh/Low count datapoints of this
    period (assumed below 60 s; see the module doc).
    ``warming_in_base``: default false (AWS's reading, module doc): scale-out is
    proportional to the instances past their warmup. True: to the whole
    capacity, warming instances included (the other reading, for sensitivity).

    Raises ValueError naming the field and the value.
    """

    target_value: float
    min_size: int
    max_size: int
    instance_warmup_seconds: float = 300.0
    disable_scale_in: bool = False
    period_seconds: int = 60
    warming_in_base: bool = False

    def __post_init__(self) -> None:
        if not (self.target_value > 0 and math.isfinite(self.target_value)):
            raise ValueError(f"'target_value' must be a finite number > 0, got {self.target_value}")
        if self.min_size < 0:
            raise ValueError(f"'min_size' must be >= 0, got {self.min_size}")
        if self.max_size < self.min_size:
            raise ValueError(
                f"'max_size' must be >= min_size ({self.min_size}), got {self.max_size}"
            )
        if self.instance_warmup_seconds < 0:
            raise ValueError(
                f"'instance_warmup_seconds' must be >= 0, got {self.instance_warmup_seconds}"
            )
        if self.period_seconds not in SAMPLE_SECONDS_CHOICES:
            choices = ", ".join(str(c) for c in SAMPLE_SECONDS_CHOICES)
            raise ValueError(
                f"'period_seconds' must be one of {choices}, got {self.period_seconds}"
            )

    @property
    def low_threshold(self) -> float:
        """AlarmLow counts datapoints strictly below this value."""
        return self.target_value * LOW_THRESHOLD_RATIO


@dataclass(frozen=True)
class ScalingDecision:
    """The outcome of one evaluation.

    ``desired``: the new desired capacity to apply with SetDesiredCapacity, or
    ``None`` for no change. ``reason``: one human-readable line for the demo's
    table. ``alarm``: the alarm in ALARM at this evaluation, if any (it may be
    in ALARM without a change, e.g. during warmup or at max).
    """

    desired: int | None
    reason: str
    alarm: Alarm | None = None

    @property
    def changed(self) -> bool:
        return self.desired is not None


def _format(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


class TargetTrackingModel:
    """One target-tracking policy on one ASG, fed one datapoint per period.

    State: the last ``LOW_DATAPOINTS`` datapoints (``None`` = missing), the time of
    the last evaluation, and the capacity increases still warming up (when, how
    many). Create one per fleet and call ``evaluate`` once per period.
    """

    def __init__(self, policy: TargetTrackingPolicy) -> None:
        self.policy = policy
        self._datapoints: deque[float | None] = deque(maxlen=max(HIGH_DATAPOINTS, LOW_DATAPOINTS))
        self._last_evaluated_at: float | None = None
        self._launches: deque[tuple[float, int]] = deque()
        self._expected_capacity: int | None = None

    @property
    def datapoints(self) -> tuple[float | None, ...]:
        """The remembered datapoints, oldest first (``None`` = missing)."""
        return tuple(self._datapoints)

    def evaluate(self, now: float, metric: float | None, capacity: int) -> ScalingDecision:
        """Record the datapoint for ``now`` and decide, as the alarms would.

        ``now``: evaluation time in seconds, strictly increasing between calls.
        Periods skipped since the previous call count as missing datapoints.
        ``metric``: the tracked metric's datapoint for the period ending at
        ``now`` (backlog per instance), or ``None`` when none was published.
        ``capacity``: the ASG's desired capacity, >= 0, warming instances
        included: the model keeps which of it is still warming up (its own
        scale-outs, and any increase it did not make); 0 means no scale-out
        (see the module doc).

        Raises ValueError for time going backwards, a negative capacity, or a
        negative or non-finite metric.
        """
        self._record(now, metric, capacity)
        expected = self._expected_capacity
        if expected is not None and capacity > expected:
            # Launched by another controller since the last evaluation: warming up.
            self._launches.append((now, capacity - expected))
        elif expected is not None and capacity < expected:
            self._forget_launches(expected - capacity)
        decision = self._decide(now, metric, capacity)
        self._expected_capacity = capacity if decision.desired is None else decision.desired
        return decision

    def _decide(self, now: float, metric: float | None, capacity: int) -> ScalingDecision:
        policy = self.policy
        if metric is None:
            return ScalingDecision(None, "insufficient data: no datapoint this period")

        if self._run(lambda value: value > policy.target_value) >= HIGH_DATAPOINTS:
            return self._scale_out(now, metric, capacity)

        if self._run(lambda value: value < policy.low_threshold) >= LOW_DATAPOINTS:
            return self._scale_in(now, metric, capacity)

        return self._within_target(metric)

    # ------------------------------------------------------------------ internals

    def _record(self, now: float, metric: float | None, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"'capacity' must be >= 0, got {capacity}")
        if metric is not None and not (metric >= 0 and math.isfinite(metric)):
            raise ValueError(f"'metric' must be a finite number >= 0 or None, got {metric}")
        previous = self._last_evaluated_at
        if previous is not None:
            if now <= previous:
                raise ValueError(f"'now' must increase: got {now} after {previous}")
            # A period with no evaluation had no datapoint either.
            skipped = round((now - previous) / self.policy.period_seconds) - 1
            for _ in range(min(max(skipped, 0), self._datapoints.maxlen or 0)):
                self._datapoints.append(None)
        self._datapoints.append(metric)
        self._last_evaluated_at = now

    def _run(self, breaches: _Predicate) -> int:
        """Length of the run of consecutive breaching datapoints ending now."""
        length = 0
        for value in reversed(self._datapoints):
            if value is None or not breaches(value):
                break
            length += 1
        return length

    def _warming(self, now: float) -> int:
        """Instances asked for within the warmup, still warming up at ``now``."""
        launches = self._launches
        while launches and now >= launches[0][0] + self.policy.instance_warmup_seconds:
            launches.popleft()
        return sum(count for _, count in launches)

    def _forget_launches(self, count: int) -> None:
        """The capacity fell by ``count``: drop that many warming launches, newest first."""
        launches = self._launches
        while count > 0 and launches:
            at, launched = launches.pop()
            if launched > count:
                launches.append((at, launched - count))
            count -= launched

    def _in_warmup(self, now: float) -> bool:
        return self._warming(now) > 0

    def _proportional(self, metric: float, capacity: int) -> int:
        return math.ceil(capacity * metric / self.policy.target_value)

    def _scale_out(self, now: float, metric: float, capacity: int) -> ScalingDecision:
        policy = self.policy
        header = (
            f"{Alarm.HIGH} {HIGH_DATAPOINTS}/{HIGH_DATAPOINTS}: "
            f"{_format(metric)} > {_format(policy.target_value)}"
        )
        if capacity == 0:
            # Conservative: AWS does not document leaving zero (module doc).
            return ScalingDecision(
                None, f"{header}, at 0: not scaled out of zero (activation's)", Alarm.HIGH
            )
        if capacity >= policy.max_size:
            return ScalingDecision(None, f"{header}, at max {policy.max_size}", Alarm.HIGH)
        warming = 0 if policy.warming_in_base else min(self._warming(now), capacity)
        base = capacity - warming
        wanted = min(max(self._proportional(metric, base), base + 1), policy.max_size)
        if wanted <= capacity:
            return ScalingDecision(
                None,
                f"{header}, in warmup: {wanted} <= {capacity} already asked for "
                f"({warming} warming up)",
                Alarm.HIGH,
            )
        self._launches.append((now, wanted - capacity))
        return ScalingDecision(
            wanted, f"{header} → {wanted} instances (was {capacity})", Alarm.HIGH
        )

    def _scale_in(self, now: float, metric: float, capacity: int) -> ScalingDecision:
        policy = self.policy
        header = (
            f"{Alarm.LOW} {LOW_DATAPOINTS}/{LOW_DATAPOINTS}: "
            f"{_format(metric)} < {_format(policy.low_threshold)}"
        )
        if policy.disable_scale_in:
            return ScalingDecision(None, f"{header}, scale-in disabled", Alarm.LOW)
        if self._in_warmup(now):
            return ScalingDecision(None, f"{header}, in warmup: no scale-in", Alarm.LOW)
        largest_step = max(1, math.floor(capacity * SCALE_IN_MAX_FRACTION))
        wanted = max(self._proportional(metric, capacity), capacity - largest_step, policy.min_size)
        if wanted >= capacity:
            return ScalingDecision(
                None, f"{header}, at {capacity} (min {policy.min_size})", Alarm.LOW
            )
        return ScalingDecision(wanted, f"{header} → {wanted} instances (was {capacity})", Alarm.LOW)

    def _within_target(self, metric: float) -> ScalingDecision:
        policy = self.policy
        high = self._run(lambda value: value > policy.target_value)
        low = self._run(lambda value: value < policy.low_threshold)
        if high:
            detail = (
                f"{_format(metric)} > {_format(policy.target_value)} for {high}/{HIGH_DATAPOINTS}"
            )
        elif low:
            detail = (
                f"{_format(metric)} < {_format(policy.low_threshold)} for {low}/{LOW_DATAPOINTS}"
            )
        else:
            detail = f"{_format(metric)} near {_format(policy.target_value)}"
        return ScalingDecision(None, f"within target: {detail}")
