"""Helpers for the simulator's tests: environments with ``--set`` overrides, one
policy's run, and each fleet's job arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetctl.simulation.faults import Faults
from fleetctl.simulation.policies import Policy, parse_policies
from fleetctl.simulation.results import FleetResult
from fleetctl.simulation.run import run_policy, traffic
from fleetctl.simulation.scenarios import Workload, scenario
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings, load_environment
from modules.settings.overrides import Override
from worker_metrics.contract import WorkerType

QUIET = (
    "fleets.ai.workload.rate_per_minute=0",
    "fleets.video.workload.rate_per_minute=0",
    "fleets.messaging.workload.rate_per_minute=0",
    "fleets.ai.workload.burst_messages=0",
    "fleets.video.workload.burst_messages=0",
    "fleets.messaging.workload.burst_messages=0",
)
"""Overrides that leave every fleet without traffic (a test then adds its own)."""


def environment(name: str = "prod", *sets: str) -> EnvironmentSettings:
    """``config/<name>.toml`` with ``--set`` overrides applied."""
    return load_environment(name, overrides=[Override.parse(text) for text in sets])


@dataclass
class Ran:
    world: World
    results: dict[WorkerType, FleetResult]

    def waits(self, worker_type: WorkerType) -> np.ndarray:
        """Enqueue to start of every started job of ``worker_type`` (s)."""
        fleet = self.world.fleets[worker_type]
        mine = np.asarray(self.world.fleet_of) == fleet.index
        started = np.asarray(self.world.started_at)[mine]
        enqueued = np.asarray(self.world.enqueued_at)[mine]
        ok = ~np.isnan(started)
        return (started - enqueued)[ok]


def run(
    env: EnvironmentSettings,
    policy: str | Policy,
    workload: Workload | str = "burst",
    seed: int = 1,
    days: float | None = None,
    faults: Faults | None = None,
) -> Ran:
    """Run one policy of ``workload`` (a scenario name or a built workload)."""
    if isinstance(workload, str):
        workload = scenario(workload).build(env, seed, days)
    jobs = traffic(env, workload, seed)
    chosen = parse_policies(policy)[0] if isinstance(policy, str) else policy
    world, results = run_policy(env, workload, jobs, chosen, seed, faults)
    return Ran(world, results)
