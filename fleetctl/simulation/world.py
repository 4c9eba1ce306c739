"""The simulated world of one run and one policy: jobs, queues, groups and workers.

Jobs live in flat lists indexed by job number (a million jobs, no object each):
enqueue time, duration, queue, fleet, the start of the current (or last)
attempt, the first attempt's start, receives, and whether it completed.

The worker on an in-service instance takes a visible message as soon as it has
a free slot (a long-polling worker: no poll delay), runs it for the job's
duration, and deletes it. ``FleetWorld`` is one fleet: its ``FleetQueue``, its
``AutoScalingGroup`` and the instances with a free slot.

**Wait** of a job: from its enqueue to the start of the attempt that ran (or
runs) it to the end; a job killed and retried therefore waits through its lost
attempt and its visibility timeout. A job still waiting at the end of the run
counts with the wait it has had so far (a lower bound), so a policy that never
serves a queue cannot look fast.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from fleetctl.simulation.engine import Engine, Priority
from fleetctl.simulation.fleet import AutoScalingGroup, Instance, State
from fleetctl.simulation.sqs import FleetQueue
from modules.settings import EnvironmentSettings, FleetSettings
from worker_metrics.contract import WorkerType

RECORD_SECONDS = 60.0
"""Resolution of the charts' time series."""


@dataclass(frozen=True)
class FleetTraffic:
    """One fleet's jobs: sorted ``arrivals`` (s), each job's ``queue_index`` and
    ``durations`` (s), and the ``bursts`` start times reaction is measured from."""

    arrivals: np.ndarray
    queue_index: np.ndarray
    durations: np.ndarray
    bursts: tuple[float, ...] = ()


@dataclass
class Series:
    """Per-minute samples of one fleet, for the charts."""

    time: list[float] = field(default_factory=list)
    arrivals: list[int] = field(default_factory=list)
    visible: list[int] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)
    in_service: list[int] = field(default_factory=list)


class FleetWorld:
    """One fleet in the world: queue, group, workers and its counters.

    ``group`` is set by ``World`` (the group reports to this fleet, so it comes second).
    """

    group: AutoScalingGroup

    def __init__(self, world: World, index: int, settings: FleetSettings) -> None:
        self.world = world
        self.index = index
        self.settings = settings
        self.worker_type = settings.worker_type
        self.queue = FleetQueue(
            [q.visibility_timeout_seconds for q in settings.queues],
            [q.max_receive_count for q in settings.queues],
        )
        self.free: deque[Instance] = deque()
        self.arrived = 0
        self.completed = 0
        self.killed = {"scale_in": 0, "fault": 0}
        self.killed_work_seconds = {"scale_in": 0.0, "fault": 0.0}
        self.missing_minutes: set[int] = set()
        self.series = Series()
        self._recorded_arrivals = 0

    # ------------------------------------------------------------ group events

    def instance_in_service(self, instance: Instance) -> None:
        visible = self.queue.visible
        for _ in range(instance.free_slots):
            if visible:
                self.world.start(self, instance, visible.popleft())
            else:
                self.free.append(instance)

    def instance_stopped(self, instance: Instance, reason: str) -> None:
        world = self.world
        now = world.engine.now
        for job, started in instance.running.items():
            self.killed[reason] += 1
            self.killed_work_seconds[reason] += now - started
            back = self.queue.reappears_at(world.queue_index[job], started, now)
            world.engine.at(back, world.visible_kind, self, job)
        instance.running.clear()

    # ----------------------------------------------------------------- workers

    def free_instance(self) -> Instance | None:
        """An instance with a free slot, or ``None`` (stale entries are dropped)."""
        free = self.free
        while free:
            instance = free.popleft()
            if instance.takes_work and len(instance.running) < instance.slots:
                return instance
        return None

    def offer(self, job: int, front: bool = False) -> None:
        """A message becomes visible: a free worker takes it, or it waits."""
        instance = self.free_instance()
        if instance is not None:
            self.world.start(self, instance, job)
        elif front:
            self.queue.visible.appendleft(job)
        else:
            self.queue.visible.append(job)

    def record(self, now: float) -> None:
        series = self.series
        group = self.group
        series.time.append(now)
        series.arrivals.append(self.arrived - self._recorded_arrivals)
        self._recorded_arrivals = self.arrived
        series.visible.append(len(self.queue.visible))
        series.in_flight.append(self.queue.in_flight)
        series.desired.append(group.desired)
        series.in_service.append(group.count(State.IN_SERVICE))


class World:
    """Jobs, fleets and the engine of one policy's run over ``horizon`` seconds.

    ``traffic``: per worker type. The groups start without an agent; a policy plugs
    one in (``fleetctl.simulation.drain.install_drain``).
    """

    def __init__(
        self,
        environment: EnvironmentSettings,
        traffic: Mapping[WorkerType, FleetTraffic],
        horizon: float,
        rng: np.random.Generator,
    ) -> None:
        self.environment = environment
        self.horizon = horizon
        self.rng = rng
        self.engine = Engine()
        self.fleets: dict[WorkerType, FleetWorld] = {}
        for index, settings in enumerate(environment.fleets):
            fleet = FleetWorld(self, index, settings)
            fleet.group = AutoScalingGroup(
                name=settings.asg_name(environment.name_prefix),
                engine=self.engine,
                events=fleet,
                min_size=settings.min_size,
                max_size=settings.max_size,
                boot_seconds=settings.workload.boot_seconds,
                slots=settings.jobs_per_instance,
                zones=len(settings.subnet_ids) or len(settings.availability_zones),
                rng=rng,
            )
            self.fleets[settings.worker_type] = fleet
        self._merge(traffic)
        self.finish_kind = self.engine.register(self._finished)
        self.visible_kind = self.engine.register(self._visible_again)
        self.engine.call_at(0.0, self._record, Priority.RECORD)

    def _merge(self, traffic: Mapping[WorkerType, FleetTraffic]) -> None:
        fleets = list(self.fleets.values())
        parts = [traffic[f.worker_type] for f in fleets]
        times = np.concatenate([p.arrivals for p in parts]) if parts else np.zeros(0)
        order = np.argsort(times, kind="stable")
        owner = np.concatenate(
            [
                np.full(len(p.arrivals), f.index, dtype=np.int64)
                for f, p in zip(fleets, parts, strict=True)
            ]
        )
        self.enqueued_at: list[float] = times[order].tolist()
        self.fleet_of: list[int] = owner[order].tolist()
        self.queue_index: list[int] = np.concatenate([p.queue_index for p in parts])[order].tolist()
        self.duration: list[float] = np.concatenate([p.durations for p in parts])[order].tolist()
        count = len(self.enqueued_at)
        self.started_at: list[float] = [math.nan] * count
        self.first_started_at: list[float] = [math.nan] * count
        self.receives: list[int] = [0] * count
        self.completed: bytearray = bytearray(count)
        self.bursts = {f.worker_type: traffic[f.worker_type].bursts for f in fleets}
        self._by_index = fleets

    # ------------------------------------------------------------------ jobs

    def start(self, fleet: FleetWorld, instance: Instance, job: int) -> None:
        """``instance`` receives ``job``'s message and starts running it."""
        now = self.engine.now
        fleet.queue.in_flight += 1
        self.receives[job] += 1
        if self.receives[job] == 1:
            self.first_started_at[job] = now
        self.started_at[job] = now
        instance.running[job] = now
        self.engine.at(now + self.duration[job], self.finish_kind, instance, job)
        agent = fleet.group.agent
        if agent is not None:
            agent.on_job_started(instance, fleet.group, now)

    def _arrived(self, job: int) -> None:
        fleet = self._by_index[self.fleet_of[job]]
        fleet.arrived += 1
        fleet.offer(job)

    def _finished(self, instance: Instance, job: int) -> None:
        if instance.running.pop(job, None) is None:
            return  # killed before it ended
        fleet = self._by_index[self.fleet_of[job]]
        fleet.queue.in_flight -= 1
        fleet.completed += 1
        self.completed[job] = 1
        agent = fleet.group.agent
        if agent is not None:
            agent.on_job_finished(instance, fleet.group, self.engine.now)
        if instance.takes_work:
            visible = fleet.queue.visible
            if visible:
                self.start(fleet, instance, visible.popleft())
            else:
                fleet.free.append(instance)

    def _visible_again(self, fleet: FleetWorld, job: int) -> None:
        fleet.queue.in_flight -= 1
        if self.receives[job] >= fleet.queue.max_receives[self.queue_index[job]]:
            fleet.queue.dead_lettered += 1
            return
        fleet.offer(job, front=True)

    def _record(self, now: float) -> None:
        for fleet in self._by_index:
            fleet.record(now)
        if now + RECORD_SECONDS <= self.horizon:
            self.engine.call_at(now + RECORD_SECONDS, self._record, Priority.RECORD)

    def awaiting_visibility(self) -> set[int]:
        """Jobs killed with their instance whose message is not visible again yet."""
        return {job for _fleet, job in self.engine.pending(self.visible_kind)}

    # ------------------------------------------------------------------ faults

    def lose_instance(self, worker_type: WorkerType, at: float) -> None:
        """Schedule the loss of one in-service instance of ``worker_type`` at ``at``."""

        def lose(_now: float) -> None:
            group = self.fleets[worker_type].group
            serving = [i for i in group.instances.values() if i.state is State.IN_SERVICE]
            if serving:
                group.lose(serving[int(self.rng.integers(len(serving)))])

        self.engine.call_at(at, lose, Priority.WORLD)

    # ------------------------------------------------------------------- run

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Run to the horizon, then bill the instances still running.

        ``progress(now)`` is called now and then with the simulated time.
        """
        self.engine.run(self.horizon, self.enqueued_at, self._arrived, progress)
        for fleet in self._by_index:
            fleet.group.finish(self.horizon)
