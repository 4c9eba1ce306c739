"""The drain agent in the simulator: the real ``worker_agent.core`` on every simulated instance."""

from __future__ import annotations

import pytest

from fleetctl.simulation.drain import SimulatedDrainAgent
from fleetctl.simulation.fleet import State
from fleetctl.simulation.policies import NO_DRAIN, Current, parse_policies
from fleetctl.simulation.results import FleetResult
from fleetctl.simulation.run import run_policy, traffic
from fleetctl.simulation.scenarios import SCENARIOS, scenario
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings
from tests.simulation.conftest import environment
from worker_metrics.contract import WorkerType

SHORT_DAYS = 0.25
"""The day-long scenarios run a quarter day here (the bench runs them whole)."""


def _run(
    env: EnvironmentSettings, name: str, drain: bool, seed: int = 1
) -> tuple[World, dict[WorkerType, FleetResult]]:
    built = scenario(name)
    workload = built.build(env, seed, SHORT_DAYS if built.hours > 6 else None)
    policy = Current() if drain else Current(name=NO_DRAIN, drain=False)
    return run_policy(env, workload, traffic(env, workload, seed), policy, seed, workload.faults)


def test_no_job_is_killed_by_scale_in_on_any_scenario_with_the_agent() -> None:
    # GIVEN prod's settings and every built-in scenario
    env = environment("prod")
    lost_without = 0
    for name in SCENARIOS:
        # WHEN the deployed stack runs it with its hooks and drain agents
        _world, results = _run(env, name, drain=True)
        # THEN no fleet loses a job to scale-in
        assert {t: r.killed_by_scale_in for t, r in results.items()} == dict.fromkeys(
            WorkerType, 0
        ), name
        lost_without += sum(r.killed_by_scale_in for r in _run(env, name, False)[1].values())
    # ...while the same scenarios without them do (the check above can fail)
    assert lost_without > 0


def test_a_busy_instance_picked_for_scale_in_finishes_its_job_under_heartbeats() -> None:
    # GIVEN AI jobs of 20 min on average (many longer than the 900 s heartbeat timeout)
    env = environment(
        "prod",
        "fleets.ai.workload.job_duration=exponential",
        "fleets.ai.workload.mean_job_seconds=1200",
        "fleets.ai.workload.rate_per_minute=1",
    )
    # WHEN the deployed stack runs it for a quarter day
    world, results = _run(env, "steady", drain=True)
    agent = world.fleets[WorkerType.AI].group.agent
    assert isinstance(agent, SimulatedDrainAgent)
    # THEN instances were drained: each waited for its job with heartbeats, then completed
    assert agent.completed > 0 and agent.heartbeats >= agent.completed
    assert results[WorkerType.AI].killed_by_scale_in == 0
    # ...and without the hook the same run kills jobs mid-way
    _world, without = _run(env, "steady", drain=False)
    assert without[WorkerType.AI].killed_by_scale_in > 0


def test_video_scales_in_only_idle_encoders_and_no_longer_stays_at_its_peak() -> None:
    # GIVEN prod's Video fleet: new instances protected from scale-in
    env = environment("prod")
    assert env.fleet(WorkerType.VIDEO).protect_from_scale_in
    # WHEN a burst of encodes comes and goes, with and without the agent
    with_agent, drained = _run(env, "burst", drain=True)
    without, stuck = _run(env, "burst", drain=False)
    # THEN with the agent Video scales back in after the burst, killing nothing
    video = with_agent.fleets[WorkerType.VIDEO].group
    assert drained[WorkerType.VIDEO].killed_by_scale_in == 0
    assert video.count(State.IN_SERVICE) == video.desired == 0
    # ...and without it the protection is never cleared: the fleet stays up, paid for
    assert without.fleets[WorkerType.VIDEO].group.count(State.IN_SERVICE) > 0
    assert stuck[WorkerType.VIDEO].instance_hours > 3 * drained[WorkerType.VIDEO].instance_hours


def test_the_no_drain_baseline_is_a_policy_name() -> None:
    (current, baseline) = parse_policies("current,current:no-drain")
    assert isinstance(current, Current) and current.drain
    assert isinstance(baseline, Current) and not baseline.drain
    assert baseline.name == NO_DRAIN


@pytest.mark.parametrize("seed", [1, 2])
def test_draining_is_deterministic(seed: int) -> None:
    env = environment("prod")
    first = _run(env, "second-burst", drain=True, seed=seed)[1]
    second = _run(env, "second-burst", drain=True, seed=seed)[1]
    assert first == second
