"""No job vanishes, and the same seed gives the same bytes."""

from __future__ import annotations

import numpy as np

from fleetctl.simulation.faults import parse_faults
from fleetctl.simulation.fleet import State
from fleetctl.simulation.policies import parse_policies
from fleetctl.simulation.run import simulate
from fleetctl.simulation.scenarios import scenario
from tests.simulation.conftest import environment, run


def test_every_job_ends_completed_running_or_queued_none_vanish() -> None:
    # GIVEN a busy day cut short, with kills by scale-in (keda, short visibility
    # timeouts), instances lost mid-job and a publisher outage
    env = environment(
        "prod",
        "fleets.video.queues[0].visibility_timeout_seconds=120",
        "fleets.video.queues[0].max_receive_count=2",
    )
    faults = parse_faults(["lose:video:200", "lose:ai:300", "outage:100-130"], seed=3)

    # WHEN keda runs 8 hours of the diurnal scenario
    ran = run(env, "keda", "diurnal", seed=3, days=8 / 24, faults=faults)

    # THEN jobs were killed and retried, and each job is in exactly one place
    world = ran.world
    count = len(world.enqueued_at)
    completed = {j for j in range(count) if world.completed[j]}
    running = {
        j for f in world.fleets.values() for i in f.group.instances.values() for j in i.running
    }
    visible = {j for f in world.fleets.values() for j in f.queue.visible}
    returning = world.awaiting_visibility()
    dead = sum(f.queue.dead_lettered for f in world.fleets.values())
    retried = {j for j in range(count) if world.receives[j] > 1}
    assert sum(r.killed_by_scale_in for r in ran.results.values()) > 0
    assert sum(r.killed_by_fault for r in ran.results.values()) > 0
    assert retried and dead > 0
    places = [completed, running, visible, returning]
    assert sum(len(p) for p in places) + dead == count
    assert len(set().union(*places)) + dead == count  # disjoint, and nothing lost
    # and each fleet's own account agrees
    for result in ran.results.values():
        assert result.enqueued == (
            result.completed + result.running + result.queued + result.dead_lettered
        )
    # and an instance still running is billed to the end
    assert all(
        i.state in (State.PENDING, State.IN_SERVICE, State.TERMINATING_WAIT)
        for f in world.fleets.values()
        for i in f.group.instances.values()
    )


def test_the_same_seed_gives_the_same_json_bytes_and_another_seed_does_not() -> None:
    # GIVEN the prod settings, the steady scenario and three policies
    env = environment("prod")
    policies = parse_policies("current,seed,keda")

    # WHEN it runs twice with seed 5 and once with seed 6
    def json_of(seed: int) -> str:
        workload = scenario("steady").build(env, seed, days=2 / 24)
        return simulate(env, workload, policies, seed).to_json()

    first, second, other = json_of(5), json_of(5), json_of(6)

    # THEN both seed-5 runs are byte-identical, and seed 6 differs
    assert first == second
    assert first != other


def test_policies_of_one_run_see_the_same_jobs() -> None:
    # GIVEN one workload
    env = environment("prod")
    workload = scenario("steady").build(env, 2, days=1 / 24)

    # WHEN two policies run it
    a = run(env, "current", workload, seed=2)
    b = run(env, "static:2", workload, seed=2)

    # THEN their jobs (arrivals and durations) are the same
    assert a.world.enqueued_at == b.world.enqueued_at
    assert np.array_equal(np.asarray(a.world.duration), np.asarray(b.world.duration))
