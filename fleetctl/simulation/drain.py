"""The drain agent in the simulator: ``worker_agent.core`` on every simulated instance.

``install_drain`` gives each group what the stack deploys: the termination
lifecycle hook of ``[fleets.<type>.drain]`` and, on every instance, the drain
agent, whose decisions are the real ``worker_agent.core.step`` (one copy of
the drain decision: the instances, the demo and the simulator run it).

How the agent is driven, and what that assumes:

* it is stepped when its instance enters service and when a job starts or
  ends, so protection follows the worker at once (the real worker claims and
  waits for protection before it receives: no scale-in can fall in between);
  on a fleet without protection nothing can happen then
  (``core.acts_while_serving``), and those steps are skipped;
* a terminating instance's agent acts at its polls: ``poll_seconds`` after
  the group picks the instance (it reads the target state from IMDS), after
  each job ends, and when a heartbeat is due. It completes one poll after it
  told the worker to stop, as the real agent does;
* its API calls succeed (faults of the lifecycle API are the unit tests');
  there are no Spot notices in the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetctl.simulation.engine import Engine
from fleetctl.simulation.fleet import AutoScalingGroup, Instance, LifecycleHook, State
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings, FleetSettings
from worker_agent import core


class SimulatedDrainAgent:
    """The drain agent of every instance of one group (an ``InstanceAgent``).

    ``policy``: the core's policy for the fleet. ``poll_seconds``: how often the
    real agent reads IMDS (``drain.poll_seconds``).
    """

    def __init__(self, engine: Engine, policy: core.Policy, poll_seconds: float) -> None:
        self.engine = engine
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.states: dict[int, core.AgentState] = {}
        self.completed = 0
        self.heartbeats = 0
        self._serving_steps = core.acts_while_serving(policy)
        self._poll = engine.register(self._polled)

    # ------------------------------------------------------------- InstanceAgent

    def on_in_service(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        if self._serving_steps:
            self._step(instance, group, now)

    def on_job_started(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        self._act_now_or_at_next_poll(instance, group, now)

    def on_job_finished(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        self._act_now_or_at_next_poll(instance, group, now)

    def on_terminating(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        self.engine.at(now + self.poll_seconds, self._poll, instance, group)

    # ------------------------------------------------------------------ internals

    def _act_now_or_at_next_poll(
        self, instance: Instance, group: AutoScalingGroup, now: float
    ) -> None:
        if instance.state is State.TERMINATING_WAIT:
            self.engine.at(now + self.poll_seconds, self._poll, instance, group)
        elif self._serving_steps:
            self._step(instance, group, now)

    def _polled(self, instance: Instance, group: AutoScalingGroup) -> None:
        if instance.state is State.TERMINATED:
            self.states.pop(instance.id, None)
            return
        self._step(instance, group, self.engine.now)

    def _step(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        state = self.states.get(instance.id, core.AgentState())
        if state.completed:
            return
        observed = observation(now, instance, instance.state is State.TERMINATING_WAIT)
        state, actions = core.step(state, observed, self.policy)
        for action in actions:
            state = core.confirm(state, action, now)
            self.states[instance.id] = state
            self._apply(action, instance, group, now)
        self.states[instance.id] = state
        if instance.state is State.TERMINATED or state.completed:
            self.states.pop(instance.id, None)
            return
        if state.terminating and state.signalled is not None:
            # The next poll that matters: completion (no job) or the next heartbeat.
            # Polls come every poll_seconds, never sooner (a heartbeat due at this very
            # instant, missed by a rounding error, waits for the next one, as it would).
            due = now + self.poll_seconds
            if instance.running:
                heartbeat = (state.last_heartbeat or now) + self.policy.heartbeat_interval_seconds
                due = max(due, heartbeat)
            self.engine.at(due, self._poll, instance, group)

    def _apply(
        self, action: core.Action, instance: Instance, group: AutoScalingGroup, now: float
    ) -> None:
        if isinstance(action, core.StopTakingWork):
            instance.accepting = False
        elif isinstance(action, core.SetProtection):
            group.set_instance_protection(instance, action.protected)
        elif isinstance(action, core.RecordHeartbeat):
            self.heartbeats += 1
            group.record_heartbeat(instance)
        elif isinstance(action, core.CompleteLifecycle):
            self.completed += 1
            group.complete_lifecycle_action(instance)
        else:  # ReturnMessage needs a Spot notice, which the simulator never gives
            raise AssertionError(f"unexpected drain action in the simulator: {action!r}")


def core_policy(settings: FleetSettings) -> core.Policy:
    """The core's policy of the agent ``settings`` deploy on the fleet's instances."""
    return core.Policy(
        manage_protection=settings.protect_from_scale_in,
        heartbeat_interval_seconds=float(settings.drain_plan.heartbeat_interval_seconds),
    )


def observation(now: float, instance: Instance, terminating: bool) -> core.Observation:
    """What the agent on ``instance`` reads at ``now``: the target lifecycle state IMDS
    gives (``terminating``: the group holds the instance in ``Terminating:Wait``), the
    jobs running on it, and no Spot notice (the simulator and the demo give none)."""
    target = core.TERMINATING_TARGET_STATE if terminating else State.IN_SERVICE.value
    jobs = tuple(core.Job(str(job)) for job in instance.running)
    return core.Observation(now=now, target_lifecycle_state=target, spot=None, jobs=jobs)


def drain_agent(engine: Engine, settings: FleetSettings) -> SimulatedDrainAgent:
    """The agent ``settings`` deploy on the fleet's instances."""
    return SimulatedDrainAgent(
        engine, core_policy(settings), float(settings.drain_plan.poll_seconds)
    )


def install_drain(
    world: World, environment: EnvironmentSettings
) -> Mapping[str, SimulatedDrainAgent]:
    """Give every group of ``world`` its termination hook and drain agent, as deployed.

    Call it before the policy starts the fleets (``Policy.attach``), so the
    instances of a warm start have their agent too. Returns the agents by fleet key.
    """
    agents: dict[str, SimulatedDrainAgent] = {}
    for settings in environment.fleets:
        group = world.fleets[settings.worker_type].group
        plan = settings.drain_plan
        group.hook = LifecycleHook(plan.heartbeat_timeout_seconds, plan.default_result)
        group.agent = agents[settings.key] = drain_agent(world.engine, settings)
    return agents
