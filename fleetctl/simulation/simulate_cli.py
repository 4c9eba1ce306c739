"""``fleetctl simulate``: how well would these settings size the fleets on this traffic?

Runs a built-in scenario or a recorded trace through the simulator
(``fleetctl.simulation``) under each policy, and prints one row per policy and
fleet: wait percentiles, jobs done and killed, instance-hours, cost,
efficiency against the lower bound, reaction and scale actions. ``--out DIR``
adds an HTML report with charts and the charts as PNG. ``--recommend --slo``
searches the cheapest target that meets a wait SLO (exit 1 if none does).
Exit 0, or 2 with one line for bad input (unknown scenario or policy, a
malformed trace row, an unknown or invalid ``--set``, an impossible SLO).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from fleetctl.simulation.errors import InputError
from fleetctl.simulation.faults import Faults, parse_faults
from fleetctl.simulation.policies import NO_DRAIN, parse_policies
from fleetctl.simulation.recommend import Slo, recommend
from fleetctl.simulation.recommend import render as render_recommendation
from fleetctl.simulation.results import text_report
from fleetctl.simulation.run import simulate
from fleetctl.simulation.scenarios import DAY, SCENARIOS, Workload, scenario
from fleetctl.simulation.trace import read_trace
from fleetctl.simulation.world import World
from modules.settings import EnvironmentSettings, available_environments, load_environment
from modules.settings.overrides import Override, OverrideError

if TYPE_CHECKING:
    from fleetctl.simulation.report.charts import Chart

HELP = "Simulate the fleets on a scenario or a trace and compare scaling policies"
DESCRIPTION = __doc__ or ""
EPILOG = """examples:
  fleetctl simulate --env prod --scenario burst
  fleetctl simulate --env prod --scenario diurnal --days 7 --policy current,keda
  fleetctl simulate --env prod --trace traffic.csv --set fleets.ai.target_messages_per_instance=10
  fleetctl simulate --env prod --scenario burst --set fleets.ai.workload.boot_seconds=300 --json
  fleetctl simulate --env prod --scenario steady --fault lose:ai:30 --fault outage:40-55
  fleetctl simulate --env prod --scenario steady --no-drain
  fleetctl simulate --env prod --scenario burst --out out/simulation
  fleetctl simulate --env prod --scenario diurnal --recommend --slo 'ai:p95_wait<=120s'

scenarios:
""" + "\n".join(f"  {s.name:<17} {s.description}" for s in SCENARIOS.values())

PROGRESS_MIN_SECONDS = 2 * DAY
"""Runs at least this long (simulated) show a progress bar on stderr."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", required=True, help=f"one of {', '.join(available_environments())}"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenario", help="a built-in scenario (listed below)")
    source.add_argument("--trace", type=Path, help="a CSV of timestamp,queue,count (README)")
    parser.add_argument(
        "--policy",
        default="current,seed,keda",
        help="comma-separated: current, current:no-drain, seed, keda, static:N "
        "(default: current,seed,keda)",
    )
    parser.add_argument(
        "--no-drain",
        action="store_true",
        help="also run current:no-drain, the deployed stack without its termination hooks "
        "and drain agents (what scale-in costs without them)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="override a setting before validation, e.g. fleets.ai.workload.boot_seconds=300",
    )
    parser.add_argument(
        "--days", type=float, help="length of the run in days (default: the scenario's)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="outage:START-END, throttle:[TYPE:]START-END[:P] or lose:TYPE:MINUTE (minutes)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--recommend",
        action="store_true",
        help="search the cheapest target_messages_per_instance that meets each --slo",
    )
    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="TYPE:METRIC<=LIMIT",
        help="with --recommend: e.g. 'ai:p95_wait<=120s' (p50/p95/p99/max_wait; s or min)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write DIR/simulation.html and one PNG chart per policy and fleet",
    )


def load_workload(args: argparse.Namespace) -> tuple[EnvironmentSettings, Workload]:
    """The environment (with ``--set``) and the workload the arguments name."""
    overrides = [Override.parse(text) for text in args.set]
    environment = load_environment(args.env, overrides=overrides)
    if args.days is not None and not 0 < args.days <= 366:
        raise InputError(f"--days {args.days:g}: must be more than 0 and at most 366")
    if args.trace is not None:
        workload = read_trace(args.trace, environment, args.seed, args.days)
    else:
        workload = scenario(args.scenario).build(environment, args.seed, args.days)
    return environment, workload


def run_recommend(
    args: argparse.Namespace, environment: EnvironmentSettings, workload: Workload, faults: Faults
) -> int:
    """``--recommend``: one search per ``--slo``; exit 0 if each found a target, else 1."""
    if not (args.recommend and args.slo):
        raise InputError("--recommend needs at least one --slo, and --slo needs --recommend")
    slos = [Slo.parse(text) for text in args.slo]
    base = [Override.parse(text) for text in args.set]
    found = True
    for number, slo in enumerate(slos):
        key = f"fleets.{environment.fleet(slo.worker_type).key}.target_messages_per_instance"

        def load(target: float | None, key: str = key) -> EnvironmentSettings:
            extra = [] if target is None else [Override(key, target)]
            return load_environment(args.env, overrides=[*base, *extra])

        recommendation = recommend(load, workload, slo, args.seed, faults)
        print(("\n" if number else "") + render_recommendation(recommendation, workload, args.env))
        found = found and recommendation.best is not None
    return 0 if found else 1


class ProgressBar:
    """A one-line bar on ``stream``: redrawn in place on a terminal, else a line per quarter."""

    def __init__(self, stream: TextIO, policies: int) -> None:
        self.stream = stream
        self.policies = policies
        self.done = 0
        self._shown = -1
        self._current = ""

    def __call__(self, policy: str, fraction: float) -> None:
        if policy != self._current:
            if self._current:
                self.done += 1
            self._current = policy
        overall = (self.done + min(fraction, 1.0)) / self.policies
        step = int(overall * (40 if self.stream.isatty() else 4))
        if step == self._shown:
            return
        self._shown = step
        bar = "#" * int(overall * 30)
        line = f"simulating {policy:<10} [{bar:<30}] {overall:4.0%}"
        if self.stream.isatty():
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty() and self._shown >= 0:
            self.stream.write("\n")


def run(args: argparse.Namespace) -> int:
    try:
        environment, workload = load_workload(args)
        policies = parse_policies(args.policy)
        if args.no_drain and NO_DRAIN not in [p.name for p in policies]:
            policies += parse_policies(NO_DRAIN)
        faults = parse_faults(args.fault, args.seed)
        if args.recommend or args.slo:
            return run_recommend(args, environment, workload, faults)
    except (InputError, OverrideError) as error:
        print(f"fleetctl simulate: {error}", file=sys.stderr)
        return 2
    long_run = workload.horizon >= PROGRESS_MIN_SECONDS
    bar = ProgressBar(sys.stderr, len(policies)) if long_run else None
    charts: list[Chart] = []
    on_world = None
    if args.out is not None:
        from fleetctl.simulation.report.charts import world_charts  # matplotlib: only for --out

        def on_world(policy: str, world: World) -> None:
            charts.extend(world_charts(policy, world))

    result = simulate(environment, workload, policies, args.seed, faults, bar, on_world)
    if bar is not None:
        bar.close()
    print(result.to_json() if args.json else text_report(result), end="" if args.json else "\n")
    if args.out is not None:
        from fleetctl.simulation.report.html import write_report

        written = write_report(result, charts, args.out)
        print(f"wrote {written[0]} and {len(written) - 1} PNG charts", file=sys.stderr)
    return 0
