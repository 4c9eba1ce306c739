"""The workers of one fleet, time-stepped: the simulator's worker model for a driver that
moves in steps instead of events (the demo, on real SQS queues).

It is the same model as the simulation's: an ``Instance`` (``fleet``) is in
service ``boot_seconds`` after it appears and runs up to ``jobs_per_instance``
jobs at once; each job runs for a duration from ``jobs.sample_durations`` (the
fleet's ``[workload]``). ``advance(now, receive)`` replays the interval since
the last step in time order: a job that ends frees its slot at its end, and the
slot takes the next message then, so a step of a minute runs as many short
jobs as an event-driven run would.

Messages are opaque handles: ``receive(n)`` returns up to ``n`` (the driver's
ReceiveMessage); the step reports the handles completed (to delete), those
received but not started (to give back) and, from ``sync``, those killed with
an instance that went away.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from fleetctl.simulation.fleet import Instance, State
from fleetctl.simulation.jobs import sample_durations
from modules.settings import WorkloadSettings

Handle = TypeVar("Handle")

_DRAW = 256
"""Durations drawn from the distribution at a time."""


@dataclass
class PoolStep(Generic[Handle]):
    """What one ``advance`` did."""

    completed: list[Handle] = field(default_factory=list)
    unused: list[Handle] = field(default_factory=list)
    started: int = 0
    running: int = 0


class WorkerPool(Generic[Handle]):
    """The workers on one fleet's instances (module doc). ``rng``: the duration stream."""

    def __init__(self, workload: WorkloadSettings, slots: int, rng: np.random.Generator) -> None:
        self.workload = workload
        self.slots = slots
        self.rng = rng
        self.instances: dict[str, Instance] = {}
        self._handles: dict[int, Handle] = {}
        self._ends: dict[int, float] = {}
        self._ids = itertools.count(1)
        self._durations: list[float] = []
        self._last = 0.0

    @property
    def running(self) -> int:
        """Jobs running now."""
        return len(self._handles)

    def sync(self, instance_ids: Iterable[str], now: float) -> list[Handle]:
        """Match the instances the group lists now: a new one starts booting, one that
        is gone takes its running jobs with it. Returns the killed jobs' handles."""
        present = set(instance_ids)
        killed: list[Handle] = []
        for gone in sorted(set(self.instances) - present):
            instance = self.instances.pop(gone)
            for job in instance.running:
                killed.append(self._handles.pop(job))
                self._ends.pop(job)
            instance.running.clear()
            instance.state = State.TERMINATED
        for new in sorted(present - set(self.instances)):
            ready = now + self.workload.boot_seconds
            self.instances[new] = Instance(len(self.instances), 0, now, ready, self.slots)
        return killed

    def advance(
        self,
        now: float,
        receive: Callable[[int], list[Handle]],
        available: Callable[[Handle], float] = lambda _handle: 0.0,
    ) -> PoolStep[Handle]:
        """Run the workers from the last step to ``now`` (see the module doc).

        ``available(handle)``: when that message was sent (default 0); a free slot
        starts it no earlier.
        """
        step: PoolStep[Handle] = PoolStep()
        # (time, order, instance id, job or 0): a job ending, or a slot free at time.
        agenda: list[tuple[float, int, str, int]] = []
        order = itertools.count()
        for name, instance in self.instances.items():
            if instance.ready_at > now:
                continue
            instance.state = State.IN_SERVICE
            for job in instance.running:
                if self._ends[job] <= now:
                    agenda.append((self._ends[job], next(order), name, job))
            idle_from = max(instance.ready_at, self._last)
            # A draining instance (its agent stopped it taking work) only finishes jobs.
            for _ in range(instance.slots - len(instance.running) if instance.accepting else 0):
                agenda.append((idle_from, next(order), name, 0))
        heapq.heapify(agenda)
        buffer: list[Handle] = []
        drained = False
        while agenda:
            time, _, name, job = heapq.heappop(agenda)
            instance = self.instances[name]
            if job:
                del instance.running[job]
                step.completed.append(self._handles.pop(job))
                del self._ends[job]
            if drained or not instance.accepting:
                continue
            if not buffer:
                buffer = list(receive(1 + sum(1 for entry in agenda if not entry[3])))
                if not buffer:
                    drained = True
                    continue
            handle = buffer.pop(0)
            started = self._start(instance, handle, min(max(time, available(handle)), now))
            step.started += 1
            if self._ends[started] <= now:
                heapq.heappush(agenda, (self._ends[started], next(order), name, started))
        step.unused = buffer
        step.running = self.running
        self._last = now
        return step

    def _start(self, instance: Instance, handle: Handle, time: float) -> int:
        if not self._durations:
            self._durations = sample_durations(self.workload, _DRAW, self.rng).tolist()
        job = next(self._ids)
        instance.running[job] = time
        self._handles[job] = handle
        self._ends[job] = time + self._durations.pop()
        return job
