"""The scaling policies the simulator compares, each attached to a fresh ``World``.

* ``current``: what the environment's settings deploy today. The simulated
  Lambda (``SimulatedPublisher``, the real ``plan_tick``) publishes and applies
  every write it decides (the Video fleet's desired capacity; any other write
  the decision code adds). AI and Messaging are scaled by the target-tracking
  model (``target_tracking``) from each fleet's settings (target, warmup,
  min/max), fed the series the Lambda publishes for them (``BacklogPerInstance``).
* ``seed``: the old system as the seed report describes it: target tracking
  on the raw ``QueueDepth`` Average, target 20, for AI and Messaging (at least
  one instance each: it had no way out of zero), with the
  ASG's default warmup of 300 s (the old script set only cooldowns, which EC2
  target tracking ignores). The seed does not describe the old Lambda's
  ``set_video_worker_desired``; we model it as desired =
  ``ceil(visible / messages_per_instance)`` clamped to the group's bounds, with
  no in-flight floor and immediate scale-in.
* ``keda``: KEDA's ``aws-sqs-queue`` scaler semantics on every fleet:
  ``ceil((visible + in flight) / queueLength)`` with ``queueLength`` = the
  fleet's ``target_messages_per_instance``, polled every 30 s (the counts with
  the same lag), activation at > 0 messages, scale to zero 300 s
  (``cooldownPeriod``) after the last active poll, ``minReplicaCount`` 0 and
  ``maxReplicaCount`` the fleet's ``max_size``. Between 1 and N the HPA
  decides; we **include** its defaults: 10 % tolerance, a scale-down
  stabilization window of 300 s (the highest recommendation of the last 5
  minutes), and the scale-up limit of max(+100 %, +4 pods) per 15 s. The HPA's
  own 15 s sync is folded into KEDA's 30 s poll (so the model reacts up to 15 s
  later than a real HPA could). A throttled read changes nothing (no fallback).
  A replica is an instance, with the fleet's boot time.
* ``static:N``: N instances in service from the start, never changed.

How target tracking is fed (``TrackedScaler``), and how sure we are:

* **documented:** the policy tracks the ``Average`` of its metric per period
  (``publisher.sample_seconds``: 10, 30 or 60 s, the policy's ``period``; the
  seed's: 60 s); it scales out proportionally to the group's current capacity,
  and during scale-out warming instances count as part of it so that repeated
  breaches give a single scale activity. The model is given the group's desired
  capacity and keeps which of it still warms up; it reads that sentence as AWS
  explains it (``target_tracking``): the proportional capacity of the warmed
  instances, acted on above the capacity already asked for.
  ``Current(warming_in_base=True)`` is the other reading (``bench/tracked_divisor.py``);
* **assumed:** a period is evaluated when it closes, and by default the group
  acts **after** the tick of that instant has read it: CloudWatch evaluates a
  closed period with some delay (undocumented), while the next tick fires on
  time, so the datum of the period in which target tracking acts was computed
  before it acted. Under AWS's reading that stale datum changes nothing (it is
  multiplied by the warmed instances only); under the other it is multiplied
  by the new capacity: a warm AI fleet of 1 meeting 100 messages with a 240 s
  boot goes 1 -> 5 -> 20 whatever the divisor, and peaks at 5 only dividing by
  the capacity asked for with the alarm acting first
  (``Current(alarm_before_tick=True)``). All combinations are tested;
* the alarms' datapoint counts and the scale-in step are the target-tracking
  model's own (``target_tracking``: observed, not documented).

Every policy starts from a warm fleet: its initial desired capacity in service
at second 0 (``current`` and ``seed``: ``min_size``; ``keda``: 0). Only
``current`` protects new instances from scale-in (``protect_from_scale_in``,
as deployed); the seed's groups, KEDA's pods and a static fleet do not.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from fleetctl.simulation.drain import install_drain
from fleetctl.simulation.engine import Priority
from fleetctl.simulation.errors import InputError
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.publisher import SimulatedPublisher
from fleetctl.simulation.sqs import LaggedCounts
from fleetctl.simulation.target_tracking import TargetTrackingModel, TargetTrackingPolicy
from fleetctl.simulation.world import FleetWorld, World
from modules.settings import EnvironmentSettings
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType
from worker_metrics.plan import TickPlan

SEED_TARGET = 20.0
"""The seed's ``TargetValue`` on raw ``QueueDepth``."""
SEED_WARMUP_SECONDS = 300.0
"""The ASG default when no warmup is set (the seed set none)."""
KEDA_POLL_SECONDS = 30.0
KEDA_COOLDOWN_SECONDS = 300.0
HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_WINDOW_SECONDS = 300.0
HPA_SCALE_UP_PERIOD_SECONDS = 15.0
SEED_PERIOD_SECONDS = 60
"""The seed's policies read one-minute datapoints of a once-a-minute Lambda."""
SEED_MIN_TRACKED_SIZE = 1
"""The seed's AI and Messaging groups keep at least one instance (no activation)."""

_STATIC = re.compile(r"^static:(\d{1,5})$")


class PolicyError(InputError):
    """An unknown or malformed policy name."""


class TrackedScaler:
    """A target-tracking policy on one group, fed the datapoints of one series.

    A tick's datum lands in its period (the policy's ``period_seconds``); the
    alarms evaluate a period when it closes (the Average of its datapoints, or
    missing data), after the tick of that instant, or before it with
    ``act_before_tick``.
    The model gets the group's desired capacity, and keeps which of it still
    warms up (``target_tracking``).
    """

    def __init__(
        self,
        world: World,
        fleet: FleetWorld,
        policy: TargetTrackingPolicy,
        value: Callable[[TickPlan], float | None],
        act_before_tick: bool = False,
    ) -> None:
        self.world = world
        self.fleet = fleet
        self.model = TargetTrackingModel(policy)
        self._value = value
        self._periods: dict[int, list[float]] = defaultdict(list)
        self.period = float(policy.period_seconds)
        self._priority = Priority.ACT_BEFORE_READ if act_before_tick else Priority.EVALUATE
        world.engine.call_at(self.period, self._evaluate, self._priority)

    def datum(self, now: float, plan: TickPlan) -> None:
        value = self._value(plan)
        if value is not None:
            self._periods[int(now // self.period)].append(value)

    def _evaluate(self, now: float) -> None:
        self.world.engine.call_at(now + self.period, self._evaluate, self._priority)
        period = round(now / self.period) - 1
        values = self._periods.pop(period, None)
        metric = sum(values) / len(values) if values else None
        group = self.fleet.group
        decision = self.model.evaluate(now, metric, group.desired)
        if decision.desired is not None:
            group.set_desired(decision.desired)


def tracking_policy(
    fleet: FleetWorld, period_seconds: int = 60, warming_in_base: bool = False
) -> TargetTrackingPolicy:
    """The target-tracking policy the stack deploys for ``fleet``, from its settings;
    ``period_seconds``: the publisher's ``sample_seconds``; ``warming_in_base``:
    the model's other reading of warmup (``target_tracking``)."""
    settings = fleet.settings
    return TargetTrackingPolicy(
        target_value=float(settings.target_messages_per_instance),
        min_size=settings.min_size,
        max_size=settings.max_size,
        instance_warmup_seconds=float(settings.instance_warmup_seconds),
        period_seconds=period_seconds,
        warming_in_base=warming_in_base,
    )


def _series(name: str, worker_type: WorkerType) -> Callable[[TickPlan], float | None]:
    def value(plan: TickPlan) -> float | None:
        series = plan.backlog_per_instance if name == "backlog" else plan.queue_depth
        found = series.get(worker_type)
        return None if found is None else float(found)

    return value


@dataclass(frozen=True)
class Current:
    """What the environment's settings deploy today (module doc).

    ``alarm_before_tick``: default false; the order of an alarm's action and the
    tick of the same instant (module doc).
    ``drain``: default True: every group has its termination lifecycle hook and
    every instance its drain agent (``simulation.drain``, issue 14). False
    (``current:no-drain``) is the stack without them: scale-in terminates at
    once, and protected instances are never unprotected.
    ``warming_in_base``: default false; True models target tracking under the
    other reading of warmup (``target_tracking``), for ``bench/tracked_divisor.py``.
    """

    name: str = "current"
    alarm_before_tick: bool = False
    drain: bool = True
    warming_in_base: bool = False

    def attach(self, world: World, environment: EnvironmentSettings, faults: Faults) -> None:
        if self.drain:
            install_drain(world, environment)
        publisher = SimulatedPublisher(world, environment, faults)
        for worker_type in TARGET_TRACKED_TYPES:
            fleet = world.fleets[worker_type]
            period = environment.publisher.sample_seconds
            series = _series("backlog", worker_type)
            policy = tracking_policy(fleet, period, self.warming_in_base)
            scaler = TrackedScaler(world, fleet, policy, series, self.alarm_before_tick)
            publisher.listeners.append(scaler.datum)
        for fleet in world.fleets.values():
            # As deployed: new Video instances start protected (the drain agent clears it).
            fleet.group.protect_new = fleet.settings.protect_from_scale_in
            fleet.group.start_with(fleet.settings.min_size)


@dataclass(frozen=True)
class Seed:
    """The old system (module doc)."""

    name: str = "seed"

    def attach(self, world: World, environment: EnvironmentSettings, faults: Faults) -> None:
        publisher = SimulatedPublisher(
            world, environment, faults, apply_writes=False, sample_seconds=SEED_PERIOD_SECONDS
        )
        for worker_type in TARGET_TRACKED_TYPES:
            fleet = world.fleets[worker_type]
            # The old system had no activation from zero: target tracking on a
            # group at zero does not scale out (``target_tracking``), so it could
            # only have worked with at least one instance. A min_size of 0 in
            # today's settings (possible since activation) would leave the seed's
            # fleet idle for ever and say nothing about the old system.
            fleet.group.min_size = max(fleet.group.min_size, SEED_MIN_TRACKED_SIZE)
            policy = TargetTrackingPolicy(
                target_value=SEED_TARGET,
                min_size=fleet.group.min_size,
                max_size=fleet.settings.max_size,
                instance_warmup_seconds=SEED_WARMUP_SECONDS,
                period_seconds=SEED_PERIOD_SECONDS,
            )
            scaler = TrackedScaler(world, fleet, policy, _series("depth", worker_type))
            publisher.listeners.append(scaler.datum)
        video = world.fleets[WorkerType.VIDEO]

        def set_video_worker_desired(_now: float, plan: TickPlan) -> None:
            visible = plan.queue_depth.get(WorkerType.VIDEO)
            if visible is None:
                return
            group = video.group
            per_instance = float(video.settings.target_messages_per_instance)
            wanted = math.ceil(visible / per_instance)
            group.set_desired(max(group.min_size, min(group.max_size, wanted)))

        publisher.listeners.append(set_video_worker_desired)
        for fleet in world.fleets.values():
            fleet.group.start_with(fleet.group.min_size)


class KedaScaler:
    """KEDA's SQS scaler and the HPA behind it, on one fleet (module doc)."""

    def __init__(self, world: World, fleet: FleetWorld, faults: Faults) -> None:
        self.world = world
        self.fleet = fleet
        self.faults = faults
        self.queue_length = float(fleet.settings.target_messages_per_instance)
        self.last_active = -math.inf
        self._recommendations: deque[tuple[float, int]] = deque()
        self._ok_minutes: set[int] = set()
        self._reader = LaggedCounts(
            world.engine,
            KEDA_POLL_SECONDS,
            fleet.settings.workload.count_lag_seconds,
            fleet.queue.counts,
        )
        world.engine.call_at(0.0, self._poll, Priority.READ)

    def _poll(self, now: float) -> None:
        self.world.engine.call_at(now + KEDA_POLL_SECONDS, self._poll, Priority.READ)
        counts = self._reader.read(now)
        minute = int(now // 60)
        if self.faults.read_fails(self.fleet.worker_type, now):
            if minute not in self._ok_minutes:
                self.fleet.missing_minutes.add(minute)
            return
        self._ok_minutes.add(minute)
        self.fleet.missing_minutes.discard(minute)
        group = self.fleet.group
        metric = counts.visible + counts.in_flight
        if metric > 0:
            self.last_active = now
        replicas = group.desired
        if replicas == 0:
            if metric == 0:
                return
            replicas = 1  # activation; the HPA follows at once
        elif metric == 0 and now - self.last_active >= KEDA_COOLDOWN_SECONDS:
            self._recommendations.clear()
            group.set_desired(0)
            return
        group.set_desired(self._hpa(now, metric, replicas))

    def _hpa(self, now: float, metric: int, replicas: int) -> int:
        ratio = metric / (replicas * self.queue_length)
        wanted = replicas if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(ratio * replicas)
        wanted = max(1, wanted)
        window = self._recommendations
        window.append((now, wanted))
        while window and window[0][0] <= now - HPA_SCALE_DOWN_WINDOW_SECONDS:
            window.popleft()
        if wanted > replicas:
            limit = replicas
            for _ in range(round(KEDA_POLL_SECONDS / HPA_SCALE_UP_PERIOD_SECONDS)):
                limit = max(2 * limit, limit + 4)
            desired = min(wanted, limit)
        else:
            desired = min(replicas, max(value for _, value in window))
        return max(1, min(self.fleet.group.max_size, desired))


@dataclass(frozen=True)
class Keda:
    """KEDA's semantics on every fleet (module doc)."""

    name: str = "keda"

    def attach(self, world: World, environment: EnvironmentSettings, faults: Faults) -> None:
        for fleet in world.fleets.values():
            fleet.group.min_size = 0
            KedaScaler(world, fleet, faults)
            fleet.group.start_with(0)


@dataclass(frozen=True)
class Static:
    """``count`` instances per fleet, in service from the start, never changed."""

    count: int

    @property
    def name(self) -> str:
        return f"static:{self.count}"

    def attach(self, world: World, environment: EnvironmentSettings, faults: Faults) -> None:
        for fleet in world.fleets.values():
            fleet.group.min_size = fleet.group.max_size = self.count
            fleet.group.start_with(self.count)


Policy = Current | Seed | Keda | Static
NAMES = ("current", "current:no-drain", "seed", "keda", "static:N")
NO_DRAIN = "current:no-drain"
"""The deployed stack without termination hooks and drain agents (the issue-14 baseline)."""


def parse_policies(text: str) -> list[Policy]:
    """``current,seed,keda,static:4`` into policies. Raises ``PolicyError`` naming
    the unknown one."""
    policies: list[Policy] = []
    for name in (part.strip() for part in text.split(",")):
        if name == "current":
            policies.append(Current())
        elif name == NO_DRAIN:
            policies.append(Current(name=NO_DRAIN, drain=False))
        elif name == "seed":
            policies.append(Seed())
        elif name == "keda":
            policies.append(Keda())
        elif match := _STATIC.match(name):
            policies.append(Static(int(match[1])))
        else:
            raise PolicyError(f"unknown policy {name!r} (known: {', '.join(NAMES)})")
        if [p.name for p in policies].count(policies[-1].name) > 1:
            raise PolicyError(f"policy {name!r} is listed twice")
    return policies
