"""The drain agent in the simulator: the real ``worker_agent.core`` on every simulated instance."""

from __future__ import annotations

import json

import pytest

from fleetctl import cli
from fleetctl.simulation.drain import SimulatedDrainAgent, drain_agent
from fleetctl.simulation.fleet import AutoScalingGroup, LifecycleHook, State
from fleetctl.simulation.policies import NO_DRAIN, Current, parse_policies
from fleetctl.simulation.results import FleetResult
from fleetctl.simulation.run import run_policy, traffic
from fleetctl.simulation.scenarios import SCENARIOS, scenario
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings
from tests.simulation.conftest import QUIET, environment
from tests.simulation.test_world_model import LONG_JOBS, Scripted, ai_jobs, run_script
from worker_metrics.contract import WorkerType

SHORT_DAYS = 0.25
"""The day-long scenarios run a quarter day here (the bench runs them whole)."""


def _run(
    env: EnvironmentSettings, name: str, drain: bool, seed: int = 1
) -> tuple[World, dict[WorkerType, FleetResult]]:
    built = scenario(name)
    workload = built.build(env, seed, SHORT_DAYS if built.hours > 6 else None)
    policy = Current() if drain else Current(name=NO_DRAIN, drain=False)
    return run_policy(env, workload, traffic(env, workload, seed), policy, seed)


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


def test_busy_instances_picked_for_scale_in_finish_their_jobs_under_heartbeats() -> None:
    # GIVEN 4 AI instances, each running a 1000 s job from t = 0 (longer than the
    # 900 s heartbeat timeout), with the termination hook and drain agent as deployed
    env = environment("prod", *QUIET, *LONG_JOBS)
    settings = env.fleet(WorkerType.AI)

    def deployed(group: AutoScalingGroup) -> None:
        plan = settings.drain_plan
        group.hook = LifecycleHook(plan.heartbeat_timeout_seconds, plan.default_result)
        group.agent = drain_agent(group.engine, settings)

    policy = Scripted(4, ((100.0, lambda g: g.set_desired(2)),), setup=deployed)

    # WHEN desired drops to 2 at t = 100 (the ASG picks busy instances: it does not look)
    world, results = run_script(env, ai_jobs(env, [0.0] * 4, 3000.0), policy)

    # THEN nothing is killed: the two picked instances are held, heartbeat every 300 s
    # (at 102, 402 and 702 s), and released at their agent's first poll after 1000 s
    agent = world.fleets[WorkerType.AI].group.agent
    assert isinstance(agent, SimulatedDrainAgent)
    assert results[WorkerType.AI].killed_by_scale_in == 0
    assert results[WorkerType.AI].completed == 4
    assert (agent.completed, agent.heartbeats) == (2, 6)
    # ...which costs the two of them 1002 s each instead of 100 s
    assert results[WorkerType.AI].instance_hours == pytest.approx(
        (2 * 3000 + 2 * 1002) / 3600, 0.01
    )


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


def test_simulate_no_drain_adds_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN / WHEN the steady scenario runs a quarter day with --no-drain
    code = cli.main(
        ["simulate", "--env", "prod", "--scenario", "steady", "--days", "0.25", "--policy",
         "current", "--no-drain", "--json"]
    )  # fmt: skip
    policies = json.loads(capsys.readouterr().out)["policies"]
    assert code == 0
    # THEN both rows are there: nothing killed with the agent, jobs killed without it
    assert set(policies) == {"current", NO_DRAIN}
    assert all(f["killed_by_scale_in"] == 0 for f in policies["current"].values())
    assert sum(f["killed_by_scale_in"] for f in policies[NO_DRAIN].values()) > 0
