"""Instances and the Auto Scaling group that launches and terminates them.

An instance is launched, pending for ``boot_seconds``, then in service: its
worker runs up to ``jobs_per_instance`` jobs at once. The group keeps its
capacity (pending + in service) at the desired capacity.

What the model takes from AWS, and how sure it is:

* **Documented** (EC2 Auto Scaling user guide, "termination policies"): on
  scale-in the group first picks the Availability Zone with the most instances
  that has an unprotected one, then, with a single launch template, the
  instance closest to its next billing hour, then one at random. It does not
  look at whether the instance is busy. A protected instance is never picked;
  if all are protected the desired capacity drops and nothing terminates until
  protection is cleared. Launches balance the zones.
* **Documented:** an ``EC2_INSTANCE_TERMINATING`` lifecycle hook holds a picked
  instance in ``Terminating:Wait`` until ``CompleteLifecycleAction`` or its
  heartbeat timeout (each ``RecordLifecycleActionHeartbeat`` restarts it); the
  instance keeps running meanwhile. Then it terminates, with either result.
* **Assumed:** a launch starts at once (the API's seconds fold into
  ``boot_seconds``); an instance lost to a fault is replaced at once (EC2
  status checks take minutes in reality); billing is per second from launch to
  the end of termination (Linux on-demand), with no 60 s minimum.
* A killed busy instance kills its jobs; the world counts them and their work.

The instance side of draining is an ``InstanceAgent`` (none by default): it is
told when its instance enters service, starts and ends a job, and is picked
for termination, and may answer through the group's API (protection,
heartbeat, complete) and ``Instance.accepting``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from fleetctl.simulation.engine import Engine

BILLING_HOUR = 3600.0


class State(Enum):
    """An instance's lifecycle state (the ASG's ``LifecycleState``)."""

    PENDING = "Pending"
    IN_SERVICE = "InService"
    TERMINATING_WAIT = "Terminating:Wait"
    TERMINATED = "Terminated"


class Instance:
    """One instance of a group: its state, its worker's slots and running jobs.

    ``running``: job index -> the time its current attempt started.
    ``accepting``: the worker takes new messages (an agent that drains sets it false).
    """

    __slots__ = (
        "accepting",
        "hook_deadline",
        "id",
        "launched_at",
        "protected",
        "ready_at",
        "running",
        "slots",
        "state",
        "zone",
    )

    def __init__(
        self, instance_id: int, zone: int, launched_at: float, ready_at: float, slots: int
    ) -> None:
        self.id = instance_id
        self.zone = zone
        self.launched_at = launched_at
        self.ready_at = ready_at
        self.slots = slots
        self.state = State.PENDING
        self.running: dict[int, float] = {}
        self.accepting = True
        self.protected = False
        self.hook_deadline = 0.0

    @property
    def takes_work(self) -> bool:
        """Its worker takes new messages: accepting, and in service (or in a
        termination hook's wait, still running)."""
        return self.accepting and self.state in _TAKING_WORK

    @property
    def free_slots(self) -> int:
        """Jobs this instance could start now (0 unless it takes work)."""
        if not self.takes_work:
            return 0
        return self.slots - len(self.running)


@dataclass(frozen=True)
class LifecycleHook:
    """An ``EC2_INSTANCE_TERMINATING`` hook: ``heartbeat_timeout_seconds`` (30..7200,
    AWS default 3600) and ``default_result`` (``CONTINUE`` or ``ABANDON``; for
    termination both end in termination)."""

    heartbeat_timeout_seconds: int = 3600
    default_result: str = "CONTINUE"

    def __post_init__(self) -> None:
        if not 30 <= self.heartbeat_timeout_seconds <= 7200:
            raise ValueError(
                f"heartbeat_timeout_seconds = {self.heartbeat_timeout_seconds}: must be 30..7200"
            )
        if self.default_result not in ("CONTINUE", "ABANDON"):
            raise ValueError(f"default_result = {self.default_result!r}: CONTINUE or ABANDON")


class InstanceAgent(Protocol):
    """The instance side of safe scale-in (issue 14 plugs its drain agent here)."""

    def on_in_service(self, instance: Instance, group: AutoScalingGroup, now: float) -> None: ...

    def on_job_started(self, instance: Instance, group: AutoScalingGroup, now: float) -> None: ...

    def on_job_finished(self, instance: Instance, group: AutoScalingGroup, now: float) -> None: ...

    def on_terminating(self, instance: Instance, group: AutoScalingGroup, now: float) -> None: ...


class GroupEvents(Protocol):
    """What the group tells the world."""

    def instance_in_service(self, instance: Instance) -> None: ...

    def instance_stopped(self, instance: Instance, reason: str) -> None: ...


class AutoScalingGroup:
    """One fleet's group: desired capacity, bounds, instances, termination.

    ``zones``: Availability Zones (subnets) the group spreads over, >= 1.
    ``protect_new``: new instances start protected from scale-in.
    ``hook``: the termination lifecycle hook, or ``None``.
    ``rng``: breaks ties of the termination policy.
    """

    def __init__(
        self,
        *,
        name: str,
        engine: Engine,
        events: GroupEvents,
        min_size: int,
        max_size: int,
        boot_seconds: float,
        slots: int,
        zones: int,
        rng: np.random.Generator,
        protect_new: bool = False,
        hook: LifecycleHook | None = None,
        agent: InstanceAgent | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.events = events
        self.min_size = min_size
        self.max_size = max_size
        self.boot_seconds = boot_seconds
        self.slots = slots
        self.zones = max(zones, 1)
        self.rng = rng
        self.protect_new = protect_new
        self.hook = hook
        self.agent = agent
        self.desired = 0
        self.tags: dict[str, str] = {}
        self.instances: dict[int, Instance] = {}
        self.scale_actions = 0
        self.instance_seconds = 0.0
        self.launches: list[float] = []
        self.peak_desired = 0
        self.peak_instances = 0
        self._ids = 0
        self._boot = engine.register(self._booted)
        self._hook_expiry = engine.register(self._hook_expired)

    # ------------------------------------------------------------------ reading

    def lifecycle_states(self) -> list[str]:
        """Every instance's ``LifecycleState``, as DescribeAutoScalingGroups lists them."""
        return [i.state.value for i in self.instances.values()]

    @property
    def capacity(self) -> int:
        """Instances that count toward the desired capacity (pending or in service)."""
        return sum(1 for i in self.instances.values() if i.state in _COUNTED)

    def count(self, state: State) -> int:
        """Instances in ``state``."""
        return sum(1 for i in self.instances.values() if i.state is state)

    # ------------------------------------------------------------------ writing

    def start_with(self, count: int) -> None:
        """Begin the run with ``count`` instances already in service (a warm fleet)."""
        self.desired = count
        self.peak_desired = count
        for _ in range(count):
            instance = self._launch(ready=True)
            instance.state = State.IN_SERVICE
            self.events.instance_in_service(instance)
            if self.agent is not None:
                self.agent.on_in_service(instance, self, self.engine.now)

    def set_desired(self, desired: int) -> None:
        """SetDesiredCapacity. Raises ``ValueError`` outside [min, max]."""
        if not self.min_size <= desired <= self.max_size:
            raise ValueError(
                f"{self.name}: desired {desired} outside [{self.min_size}, {self.max_size}]"
            )
        if desired != self.desired:
            self.scale_actions += 1
            self.desired = desired
            self.peak_desired = max(self.peak_desired, desired)
        self.reconcile()

    def set_instance_protection(self, instance: Instance, protected: bool) -> None:
        """SetInstanceProtection; clearing it may let a pending scale-in proceed."""
        instance.protected = protected
        if not protected:
            self.reconcile()

    def record_heartbeat(self, instance: Instance) -> None:
        """RecordLifecycleActionHeartbeat: the hook's timeout starts again."""
        if instance.state is State.TERMINATING_WAIT and self.hook is not None:
            instance.hook_deadline = self.engine.now + self.hook.heartbeat_timeout_seconds
            self.engine.at(instance.hook_deadline, self._hook_expiry, instance, None)

    def complete_lifecycle_action(self, instance: Instance) -> None:
        """CompleteLifecycleAction: the instance terminates now."""
        if instance.state is State.TERMINATING_WAIT:
            self._terminate(instance, "scale_in")

    def lose(self, instance: Instance) -> None:
        """The instance dies (hardware, Spot, a kernel panic); the group replaces it."""
        if instance.state is not State.TERMINATED:
            self._terminate(instance, "fault")
            self.reconcile()

    def reconcile(self) -> None:
        """Launch or pick instances for termination until capacity meets desired."""
        capacity = self.capacity
        while capacity < self.desired:
            self._launch(ready=False)
            capacity += 1
        while capacity > self.desired:
            victim = self._pick_victim()
            if victim is None:
                return  # every remaining instance is protected
            self._begin_termination(victim)
            capacity -= 1

    def finish(self, now: float) -> None:
        """Bill the instances still running at the end of the run."""
        for instance in self.instances.values():
            self.instance_seconds += now - instance.launched_at

    # ---------------------------------------------------------------- internals

    def _launch(self, *, ready: bool) -> Instance:
        now = self.engine.now
        zone_counts = [0] * self.zones
        for existing in self.instances.values():
            if existing.state in _COUNTED:
                zone_counts[existing.zone] += 1
        zone = zone_counts.index(min(zone_counts))
        self._ids += 1
        ready_at = now if ready else now + self.boot_seconds
        instance = Instance(self._ids, zone, now, ready_at, self.slots)
        instance.protected = self.protect_new
        self.instances[instance.id] = instance
        self.launches.append(now)
        self.peak_instances = max(self.peak_instances, len(self.instances))
        if not ready:
            self.engine.at(ready_at, self._boot, instance, None)
        return instance

    def _booted(self, instance: Instance, _unused: object) -> None:
        if instance.state is not State.PENDING:
            return  # terminated while booting
        instance.state = State.IN_SERVICE
        if self.agent is not None:
            self.agent.on_in_service(instance, self, self.engine.now)
        self.events.instance_in_service(instance)

    def _pick_victim(self) -> Instance | None:
        candidates = [i for i in self.instances.values() if i.state in _COUNTED and not i.protected]
        if not candidates:
            return None
        per_zone = [0] * self.zones
        for instance in self.instances.values():
            if instance.state in _COUNTED:
                per_zone[instance.zone] += 1
        # The zone(s) with the most instances among those with an unprotected one.
        most = max(per_zone[i.zone] for i in candidates)
        in_zone = [i for i in candidates if per_zone[i.zone] == most]
        now = self.engine.now
        # Closest to the next billing hour: the most seconds into its current hour.
        into_hour = [(now - i.launched_at) % BILLING_HOUR for i in in_zone]
        latest = max(into_hour)
        tied = [i for i, seconds in zip(in_zone, into_hour, strict=True) if seconds == latest]
        return tied[int(self.rng.integers(len(tied)))] if len(tied) > 1 else tied[0]

    def _begin_termination(self, instance: Instance) -> None:
        if self.hook is None:
            self._terminate(instance, "scale_in")
            return
        instance.state = State.TERMINATING_WAIT
        instance.hook_deadline = self.engine.now + self.hook.heartbeat_timeout_seconds
        self.engine.at(instance.hook_deadline, self._hook_expiry, instance, None)
        if self.agent is not None:
            self.agent.on_terminating(instance, self, self.engine.now)

    def _hook_expired(self, instance: Instance, _unused: object) -> None:
        if instance.state is State.TERMINATING_WAIT and self.engine.now >= instance.hook_deadline:
            self._terminate(instance, "scale_in")

    def _terminate(self, instance: Instance, reason: str) -> None:
        instance.state = State.TERMINATED
        instance.accepting = False
        self.events.instance_stopped(instance, reason)
        self.instance_seconds += self.engine.now - instance.launched_at
        del self.instances[instance.id]


_COUNTED = (State.PENDING, State.IN_SERVICE)
_TAKING_WORK = (State.IN_SERVICE, State.TERMINATING_WAIT)
