"""The world's parts: SQS visibility and lag, the group's scale-in, protection,
lifecycle hooks, a plugged-in agent, and a lost instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from fleetctl.simulation.engine import Engine, Priority
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.fleet import AutoScalingGroup, Instance, LifecycleHook, State
from fleetctl.simulation.publisher import describe
from fleetctl.simulation.run import run_policy, traffic
from fleetctl.simulation.scenarios import FleetArrivals, Workload
from fleetctl.simulation.sqs import LaggedCounts
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings
from tests.simulation.conftest import QUIET, environment
from worker_metrics.contract import WorkerType
from worker_metrics.fleet_state import FleetState
from worker_metrics.sqs_backlog import QueueCounts

AI = WorkerType.AI
LONG_JOBS = (
    "fleets.ai.jobs_per_instance=1",
    "fleets.ai.workload.job_duration=fixed",
    "fleets.ai.workload.mean_job_seconds=1000",
    "fleets.ai.workload.boot_seconds=60",
)


@dataclass(frozen=True)
class Scripted:
    """A test policy: start with ``start`` AI instances, then run ``steps`` at given times."""

    start: int
    steps: tuple[tuple[float, Callable[[AutoScalingGroup], None]], ...] = ()
    setup: Callable[[AutoScalingGroup], None] = lambda group: None
    name: str = "scripted"

    def attach(self, world: World, environment: EnvironmentSettings, faults: Faults) -> None:
        group = world.fleets[AI].group
        group.min_size = 0
        self.setup(group)
        for fleet in world.fleets.values():
            fleet.group.start_with(self.start if fleet.worker_type is AI else 0)
        for at, step in self.steps:
            world.engine.call_at(at, lambda _now, step=step: step(group), Priority.READ)


def ai_jobs(env: EnvironmentSettings, times: list[float], horizon: float) -> Workload:
    fleets = {
        f.worker_type: FleetArrivals(
            np.asarray(times if f.worker_type is AI else [], dtype=float),
            np.zeros(len(times) if f.worker_type is AI else 0, dtype=np.int64),
        )
        for f in env.fleets
    }
    return Workload("test", "test", horizon, fleets)


def run_script(env: EnvironmentSettings, workload: Workload, policy: Scripted, faults=None):  # type: ignore[no-untyped-def]
    jobs = traffic(env, workload, 1)
    return run_policy(env, workload, jobs, policy, 1, faults or Faults())  # type: ignore[arg-type]


def test_scale_in_terminates_busy_instances_and_counts_the_killed_work() -> None:
    # GIVEN 4 AI instances, each running a 1000 s job from t = 0
    env = environment("prod", *QUIET, *LONG_JOBS)
    policy = Scripted(4, ((100.0, lambda g: g.set_desired(2)),))

    # WHEN desired drops to 2 at t = 100 (the default policy does not look at busy)
    _world, results = run_script(env, ai_jobs(env, [0.0] * 4, 3000.0), policy)

    # THEN two running jobs die with 100 s of work each, and come back to be redone
    assert results[AI].killed_by_scale_in == 2
    assert results[AI].killed_work_seconds == pytest.approx(200.0)
    assert results[AI].completed == 4
    assert results[AI].wait_max >= 900  # the 15-minute visibility timeout


def test_scale_in_balances_zones_then_picks_the_instance_closest_to_its_billing_hour() -> None:
    # GIVEN prod's 3 subnets: 1 instance warm at t = 0, 2 launched at t = 600
    env = environment("prod", *QUIET, *LONG_JOBS)
    removed: list[float] = []

    def shrink(group: AutoScalingGroup) -> None:
        before = {i.id: i.launched_at for i in group.instances.values()}
        group.set_desired(group.desired - 1)
        removed.extend(t for i, t in before.items() if i not in group.instances)

    policy = Scripted(
        1,
        (
            (600.0, lambda g: g.set_desired(3)),
            (1800.0, shrink),  # the t=0 one is 1800 s into its hour, the others 1200
            (4000.0, shrink),  # now the t=600 one is 3400 s in, the t=0 one 400
        ),
    )

    # WHEN the group scales in twice
    world, _ = run_script(env, ai_jobs(env, [], 5000.0), policy)

    # THEN zones were balanced at launch (one per subnet) and the picks follow the hour
    assert removed == [0.0, 600.0]
    assert sorted(i.zone for i in world.fleets[AI].group.instances.values()) in ([1], [2])


def test_protected_instances_are_never_picked_until_protection_is_cleared() -> None:
    # GIVEN 3 AI instances that start protected from scale-in
    env = environment("prod", *QUIET, *LONG_JOBS)

    def unprotect_one(group: AutoScalingGroup) -> None:
        group.set_instance_protection(min(group.instances.values(), key=lambda i: i.id), False)

    counts: list[int] = []
    policy = Scripted(
        3,
        (
            (100.0, lambda g: g.set_desired(1)),
            (150.0, lambda g: counts.append(len(g.instances))),
            (200.0, unprotect_one),
            (250.0, lambda g: counts.append(len(g.instances))),
        ),
        setup=lambda g: setattr(g, "protect_new", True),
    )

    # WHEN desired drops to 1, then one instance's protection is cleared
    world, _ = run_script(env, ai_jobs(env, [], 400.0), policy)

    # THEN desired dropped but nothing terminated; clearing protection let one go
    assert world.fleets[AI].group.desired == 1
    assert counts == [3, 2]


def test_a_termination_hook_holds_a_busy_instance_until_its_heartbeat_timeout() -> None:
    # GIVEN a 300 s termination hook and one instance running a 1000 s job
    env = environment("prod", *QUIET, *LONG_JOBS)
    states: list[str] = []
    policy = Scripted(
        1,
        (
            (100.0, lambda g: g.set_desired(0)),
            (399.0, lambda g: states.extend(g.lifecycle_states())),
        ),
        setup=lambda g: setattr(g, "hook", LifecycleHook(heartbeat_timeout_seconds=300)),
    )

    # WHEN the group scales in at t = 100 with no agent on the instance
    _world, results = run_script(env, ai_jobs(env, [0.0], 1000.0), policy)

    # THEN it waits in Terminating:Wait, then terminates at t = 400 and kills the job
    assert states == ["Terminating:Wait"]
    assert results[AI].killed_by_scale_in == 1
    assert results[AI].killed_work_seconds == pytest.approx(400.0)


class DrainingAgent:
    """What issue 14's agent does, minimally: stop taking work, heartbeat, complete when idle."""

    def on_in_service(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        pass

    def on_job_started(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        pass

    def on_job_finished(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        if instance.state is State.TERMINATING_WAIT and not instance.running:
            group.complete_lifecycle_action(instance)

    def on_terminating(self, instance: Instance, group: AutoScalingGroup, now: float) -> None:
        instance.accepting = False
        group.record_heartbeat(instance)
        if not instance.running:
            group.complete_lifecycle_action(instance)


def test_an_agent_plugged_into_the_instance_drains_it_and_nothing_is_killed() -> None:
    # GIVEN a hook with a long timeout and the draining agent on every AI instance
    env = environment("prod", *QUIET, *LONG_JOBS)

    def plug(group: AutoScalingGroup) -> None:
        group.hook = LifecycleHook(heartbeat_timeout_seconds=3600)
        group.agent = DrainingAgent()

    policy = Scripted(2, ((100.0, lambda g: g.set_desired(0)),), setup=plug)

    # WHEN both busy instances are picked for termination at t = 100
    world, results = run_script(env, ai_jobs(env, [0.0, 0.0, 50.0], 4000.0), policy)

    # THEN the running jobs finish, the instances terminate when idle, none killed;
    # the third job (queued behind them) waits for a new instance
    assert results[AI].killed_by_scale_in == 0
    assert not world.fleets[AI].group.instances
    assert world.fleets[AI].group.instance_seconds == pytest.approx(2 * 1000.0)
    assert results[AI].completed == 2
    assert results[AI].queued == 1


def test_a_lost_instance_kills_its_jobs_which_reappear_after_the_visibility_timeout() -> None:
    # GIVEN one AI instance running a 1000 s job; prod's AI queues time out in 900 s
    env = environment("prod", *QUIET, *LONG_JOBS)
    faults = Faults(lost=((AI, 300.0),))

    # WHEN the instance dies at t = 300
    world, results = run_script(env, ai_jobs(env, [0.0], 4000.0), Scripted(1), faults)

    # THEN the job is a fault kill, reappears at t = 900, the replacement (60 s boot)
    # runs it again: its wait is 900 s
    assert results[AI].killed_by_fault == 1
    assert results[AI].killed_by_scale_in == 0
    assert results[AI].completed == 1
    assert results[AI].wait_max == pytest.approx(900.0)
    assert world.fleets[AI].group.launches == [0.0, 300.0]


@pytest.mark.parametrize(
    ("lag", "expected"), [(0, [1, 2, 3, 4]), (60, [0, 1, 2, 3]), (90, [0, 0, 1, 2])]
)
def test_lagged_counts_return_the_counts_of_lag_seconds_ago(lag: int, expected: list[int]) -> None:
    # GIVEN a visible count that grows by one at 45, 105, 165 and 225 s
    engine = Engine()
    state = {"visible": 0}
    for step in range(4):
        engine.call_at(step * 60.0 + 45, lambda _t: state.update(visible=state["visible"] + 1))
    reader = LaggedCounts(engine, 60.0, lag, lambda: QueueCounts(visible=state["visible"]))
    seen: list[int] = []
    for step in range(4):
        engine.call_at(step * 60.0 + 60, lambda t: seen.append(reader.read(t).visible))

    # WHEN reads happen at 60, 120, 180 and 240 s
    engine.run(300.0)

    # THEN each read sees the counts as they were lag seconds before it
    assert seen == expected


def test_the_lambda_reads_the_simulated_group_with_its_own_parser() -> None:
    # GIVEN a group with one instance in service and two still booting
    env = environment("prod", *QUIET)
    world = World(env, traffic(env, ai_jobs(env, [], 100.0), 1), 100.0, np.random.default_rng(1))
    group = world.fleets[AI].group
    group.start_with(1)
    group.set_desired(3)

    # WHEN the Lambda's FleetState parses what DescribeAutoScalingGroups would list
    state = FleetState.from_group(describe(group))

    # THEN it counts in-service instances only, and sees the desired capacity
    assert (state.in_service, state.desired_capacity) == (1, 3)
    assert group.count(State.PENDING) == 2
