"""Scaling quality: every built-in scenario x policy x fleet, on prod.

Policies: current (the deployed stack, with its termination hooks and drain
agents), current:no-drain (the same without them: the baseline of issue 14),
seed, keda.

Each scenario runs once per policy with seed 1 through ``fleetctl.simulation``
(the same code as ``fleetctl simulate``): the runs are deterministic, so one
run is the figure, and a second run checks that it gives the same bytes.
Columns: p95 wait, instance-hours and the lower bound (the jobs' run time per
slot), efficiency, jobs killed by scale-in, and reaction from a burst's first
message to the first instance launched / first job started.
The issues on sizing (13), safe scale-in (14) and sampling (15) measure
against this table.

Usage: python bench/scaling_quality.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _measure import log, machine, write_json

from fleetctl.simulation.policies import parse_policies
from fleetctl.simulation.results import FleetResult, RunResult, seconds_text
from fleetctl.simulation.run import simulate
from fleetctl.simulation.scenarios import SCENARIOS
from modules.settings import load_environment

ENVIRONMENT = "prod"
POLICIES = "current,current:no-drain,seed,keda"
SEED = 1


def run_all() -> dict[str, RunResult]:
    environment = load_environment(ENVIRONMENT)
    policies = parse_policies(POLICIES)
    results: dict[str, RunResult] = {}
    for name, scenario in SCENARIOS.items():
        started = time.perf_counter()
        workload = scenario.build(environment, SEED)
        results[name] = simulate(environment, workload, policies, SEED)
        log(f"{name}: {time.perf_counter() - started:.1f} s")
    return results


def _reaction(fleet: FleetResult) -> str:
    reaction = fleet.slowest_reaction
    if reaction is None:
        return "—"
    return f"{seconds_text(reaction.to_launch)} / {seconds_text(reaction.to_first_job)}"


def markdown(results: dict[str, RunResult]) -> str:
    lines = [
        f"`{ENVIRONMENT}` settings, seed {SEED}; scenarios and definitions in README,"
        " *Simulating your traffic*. Reaction: a burst's first message to the first instance"
        " launched / to its first job started (the slowest burst).",
        "",
        "| Scenario | Policy | Fleet | p95 wait | Instance-hours (lower bound) | Efficiency"
        " | Killed by scale-in | Reaction |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, result in results.items():
        for policy, fleets in result.policies.items():
            for worker_type, fleet in fleets.items():
                efficiency = "—" if fleet.efficiency is None else f"{fleet.efficiency:.0%}"
                lines.append(
                    f"| {scenario} | {policy} | {worker_type.value}"
                    f" | {seconds_text(fleet.wait_p95)}"
                    f" | {fleet.instance_hours:.2f} ({fleet.lower_bound_hours:.2f})"
                    f" | {efficiency} | {fleet.killed_by_scale_in} | {_reaction(fleet)} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    first = run_all()
    second = run_all()
    same = all(first[name].to_json() == second[name].to_json() for name in first)
    if not same:
        log("scaling_quality: two runs with the same seed differ")
    killed = {
        f"{name}/{worker_type.value}": fleet.killed_by_scale_in
        for name, result in first.items()
        for worker_type, fleet in result.policies["current"].items()
        if fleet.killed_by_scale_in
    }
    safe = not killed
    if not safe:
        log(f"scaling_quality: jobs killed by scale-in with the drain agent: {killed}")
    print(markdown(first))
    print()
    print(
        f"Deterministic: a second run with the same seed gave {'the same' if same else 'DIFFERENT'}"
        " bytes. Jobs killed by scale-in with the drain agent (current), every scenario and"
        f" fleet: {sum(killed.values())}."
    )
    document: dict[str, Any] = {
        "machine": machine(),
        "benchmark": "scaling_quality",
        "deterministic": same,
        "results": {name: json.loads(result.to_json()) for name, result in first.items()},
        "goals": {"deterministic": same, "no job killed by scale-in with the agent": safe},
    }
    write_json(args.json, document)
    return 0 if same and safe else 1


if __name__ == "__main__":
    sys.exit(main())
