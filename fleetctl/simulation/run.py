"""One simulation run: a workload, its job durations, and each policy in its own world.

Randomness comes from ``numpy.random.SeedSequence(seed)``: the arrivals (in the
scenario), one duration stream per fleet, and per policy a stream for the
group's tie-breaks and the lost instance's choice. Every policy sees the same
jobs; the same seed gives the same results, byte for byte.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from fleetctl.simulation.faults import Faults
from fleetctl.simulation.jobs import sample_durations
from fleetctl.simulation.policies import Policy
from fleetctl.simulation.results import FleetResult, RunResult, fleet_result
from fleetctl.simulation.scenarios import Workload
from fleetctl.simulation.world import FleetTraffic, World
from modules.settings import EnvironmentSettings
from worker_metrics.contract import WorkerType

Progress = Callable[[str, float], None]
"""``progress(policy name, fraction of the run done)``."""


def traffic(
    environment: EnvironmentSettings, workload: Workload, seed: int
) -> dict[WorkerType, FleetTraffic]:
    """Each fleet's jobs: the workload's arrivals with durations drawn from the fleet's
    distribution."""
    streams = np.random.SeedSequence([seed, 2]).spawn(len(environment.fleets))
    jobs: dict[WorkerType, FleetTraffic] = {}
    for fleet, stream in zip(environment.fleets, streams, strict=True):
        arrivals = workload.fleets[fleet.worker_type]
        rng = np.random.Generator(np.random.PCG64(stream))
        durations = sample_durations(fleet.workload, len(arrivals.times), rng)
        jobs[fleet.worker_type] = FleetTraffic(
            arrivals.times, arrivals.queue_index, durations, arrivals.bursts
        )
    return jobs


def policy_rng(seed: int, name: str) -> np.random.Generator:
    """The policy's own stream: independent of which other policies run."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, 3, zlib.crc32(name.encode())]))
    )


def run_policy(
    environment: EnvironmentSettings,
    workload: Workload,
    jobs: dict[WorkerType, FleetTraffic],
    policy: Policy,
    seed: int,
    extra_faults: Faults | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[World, dict[WorkerType, FleetResult]]:
    """Run ``policy`` on ``jobs``; the world (for charts) and each fleet's results.

    The faults are the workload's own (a scenario's) plus ``extra_faults`` (the
    command line's), merged here so that no caller can drop the scenario's. The
    policy plugs in the drain agents, if it deploys them (``Policy.attach``).
    """
    faults = workload.faults if extra_faults is None else workload.faults.merged(extra_faults)
    world = World(environment, jobs, workload.horizon, policy_rng(seed, policy.name))
    policy.attach(world, environment, faults)
    for worker_type, at in faults.lost:
        world.lose_instance(worker_type, at)
    world.run(progress)
    return world, {t: fleet_result(world, fleet) for t, fleet in world.fleets.items()}


def simulate(
    environment: EnvironmentSettings,
    workload: Workload,
    policies: Sequence[Policy],
    seed: int,
    extra_faults: Faults | None = None,
    progress: Progress | None = None,
    on_world: Callable[[str, World], None] | None = None,
) -> RunResult:
    """Run every policy on ``workload`` and return the results. ``on_world(policy,
    world)`` sees each policy's world once it ran (for the charts), before the next
    policy runs, so a long run keeps one world in memory at a time."""
    jobs = traffic(environment, workload, seed)
    results: dict[str, dict[WorkerType, FleetResult]] = {}
    events: dict[str, int] = {}
    for policy in policies:
        report = None
        if progress is not None:
            name = policy.name

            def report(now: float, name: str = name) -> None:
                progress(name, now / workload.horizon)

        world, results[policy.name] = run_policy(
            environment, workload, jobs, policy, seed, extra_faults, report
        )
        if report is not None:
            report(workload.horizon)
        events[policy.name] = world.engine.events
        if on_world is not None:
            on_world(policy.name, world)
        del world
    result = RunResult(
        environment=environment.name,
        workload=workload.name,
        description=workload.description,
        seed=seed,
        horizon_seconds=workload.horizon,
        policies=results,
        events=events,
    )
    return result
