"""The demo's drain agents: ``worker_agent.core`` on every simulated instance, on the local AWS.

moto's instances run nothing, so the demo runs the agent for them: each poll,
every instance of a fleet (in service, or held in ``Terminating:Wait`` by the
fleet's termination hook) is observed as the real agent would observe it
(IMDS's target lifecycle state from the group's lifecycle state, its running
jobs from the worker model) and the core's actions go to the real API of the
local AWS: ``RecordLifecycleActionHeartbeat``, ``CompleteLifecycleAction``,
``SetInstanceProtection``; "stop taking work" stops the worker model's
instance from starting jobs. The hook itself is read back from the deployed
group, so a stack without one fails here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetctl.demo.context import DemoError
from fleetctl.simulation.drain import core_policy, observation
from fleetctl.simulation.fleet import Instance
from fleetctl.simulation.workers import WorkerPool
from modules.settings import EnvironmentSettings
from modules.settings.drain import TERMINATING_TRANSITION
from worker_agent import core
from worker_metrics.contract import WorkerType


@dataclass
class FleetDrain:
    """One fleet's agents: its deployed hook, the core's policy, each instance's state."""

    asg_name: str
    hook_name: str
    policy: core.Policy
    states: dict[str, core.AgentState] = field(default_factory=dict)


@dataclass(frozen=True)
class Polled:
    """What one poll of a fleet's agents did."""

    released: tuple[str, ...] = ()
    """Instances whose lifecycle action it completed."""
    held_busy: int = 0
    """Instances it found picked for termination while jobs ran on them (held until they end)."""


class DemoDrain:
    """The drain agents of every fleet (module doc). ``autoscaling``: a boto3 client."""

    def __init__(
        self,
        autoscaling: Any,
        settings: EnvironmentSettings,
        asg_names: Mapping[WorkerType, str],
    ) -> None:
        self.autoscaling = autoscaling
        self.fleets: dict[WorkerType, FleetDrain] = {}
        for worker_type, asg_name in asg_names.items():
            fleet = settings.fleet(worker_type)
            plan = fleet.drain_plan
            hook = self._deployed_hook(asg_name)
            if int(hook["HeartbeatTimeout"]) != plan.heartbeat_timeout_seconds:
                raise DemoError(
                    f"{asg_name}: hook {hook['LifecycleHookName']} has heartbeat timeout "
                    f"{hook['HeartbeatTimeout']}, settings say {plan.heartbeat_timeout_seconds}"
                )
            self.fleets[worker_type] = FleetDrain(
                asg_name, str(hook["LifecycleHookName"]), core_policy(fleet)
            )

    def _deployed_hook(self, asg_name: str) -> Mapping[str, Any]:
        hooks = self.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=asg_name)
        for hook in hooks.get("LifecycleHooks", []):
            if hook.get("LifecycleTransition") == TERMINATING_TRANSITION:
                return dict(hook)
        raise DemoError(f"{asg_name}: no {TERMINATING_TRANSITION} lifecycle hook is deployed")

    def poll(
        self,
        now: float,
        worker_type: WorkerType,
        pool: WorkerPool[Any],
        terminating: Collection[str],
    ) -> Polled:
        """One poll of every agent of ``worker_type``'s instances at simulated ``now``;
        ``terminating``: the instances the group holds in ``Terminating:Wait``.
        Nothing for a fleet the agents were not given."""
        fleet = self.fleets.get(worker_type)
        if fleet is None:
            return Polled()
        released: list[str] = []
        held_busy = 0
        for instance_id, instance in pool.instances.items():
            state = fleet.states.get(instance_id, core.AgentState())
            if state.completed:
                continue
            observed = observation(now, instance, instance_id in terminating)
            if not state.terminating and instance_id in terminating and instance.running:
                held_busy += 1
            state, actions = core.step(state, observed, fleet.policy)
            for action in actions:
                self._act(fleet, instance_id, instance, action)
                state = core.confirm(state, action, now)
            fleet.states[instance_id] = state
            if state.completed:
                released.append(instance_id)
        return Polled(tuple(released), held_busy)

    def _act(self, fleet: FleetDrain, instance_id: str, instance: Instance, action: Any) -> None:
        target = {
            "AutoScalingGroupName": fleet.asg_name,
            "LifecycleHookName": fleet.hook_name,
            "InstanceId": instance_id,
        }
        if isinstance(action, core.StopTakingWork):
            instance.accepting = False
        elif isinstance(action, core.SetProtection):
            self.autoscaling.set_instance_protection(
                AutoScalingGroupName=fleet.asg_name,
                InstanceIds=[instance_id],
                ProtectedFromScaleIn=action.protected,
            )
        elif isinstance(action, core.RecordHeartbeat):
            self.autoscaling.record_lifecycle_action_heartbeat(**target)
        elif isinstance(action, core.CompleteLifecycle):
            self.autoscaling.complete_lifecycle_action(
                **target, LifecycleActionResult=action.result
            )
        else:  # ReturnMessage needs a Spot notice, which the demo never gives
            raise DemoError(f"unexpected drain action in the demo: {action!r}")
