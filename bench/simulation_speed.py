"""Speed of ``fleetctl simulate``: a simulated week of prod (three fleets, diurnal).

Runs the real command, ``fleetctl simulate --env prod --scenario diurnal --days 7
--policy current --json``, in a fresh process ``--runs`` times (wall time
includes the interpreter start and imports), and reads the jobs and events it
simulated from its JSON. Goals: at least 1 M jobs, at most 60 s.

Two baselines of the same run, for ratios:

* the same command for one simulated day: week / (7 x day) shows whether the
  cost grows linearly with simulated time;
* a bare ``heapq`` loop pushing and popping as many events as the week had,
  in the same interpreter kind: simulator events/s over bare-heap events/s is
  the price of the simulation's own logic per event.

Usage: python bench/simulation_speed.py [--runs 5] [--json PATH]
"""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
import time
from typing import Any

from _measure import (
    ROOT,
    VENV_PYTHON,
    bench_arguments,
    log,
    machine,
    stats,
    stats_dict,
    stats_text,
    toolchain_env,
    write_json,
)

GOAL_SECONDS = 60.0
GOAL_JOBS = 1_000_000
COMMAND = ["-m", "fleetctl", "simulate", "--env", "prod", "--scenario", "diurnal"]


def run_once(days: int) -> tuple[float, dict[str, Any]]:
    command = [str(VENV_PYTHON), *COMMAND, "--days", str(days), "--policy", "current", "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=toolchain_env(), capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def bare_heap(events: int) -> float:
    """Seconds to push and pop ``events`` tuples shaped like the engine's through heapq."""
    heap: list[tuple[float, int, int, int, None, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    started = time.perf_counter()
    # Keep the heap about as small as the simulator's (hundreds of pending events).
    for sequence in range(events):
        push(heap, (sequence * 0.6 + (sequence % 97), 0, sequence, 1, None, sequence))
        if len(heap) > 256:
            pop(heap)
    while heap:
        pop(heap)
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, Any]:
    week: list[float] = []
    day: list[float] = []
    document: dict[str, Any] = {}
    for index in range(runs):
        seconds, document = run_once(7)
        week.append(seconds)
        log(f"week #{index + 1}: {seconds:.2f} s")
        seconds, _ = run_once(1)
        day.append(seconds)
        log(f"day #{index + 1}: {seconds:.2f} s")
    fleets = document["policies"]["current"]
    jobs = sum(f["enqueued"] for f in fleets.values())
    events = int(document["events"]["current"])
    heap = [bare_heap(events) for _ in range(runs)]
    week_s, day_s, heap_s = stats(week), stats(day), stats(heap)
    return {
        "benchmark": "simulation_speed",
        "runs": runs,
        "jobs": jobs,
        "events": events,
        "week_wall_s": stats_dict(week),
        "day_wall_s": stats_dict(day),
        "bare_heap_s": stats_dict(heap),
        "events_per_s": round(events / week_s.median),
        "bare_heap_events_per_s": round(events / heap_s.median),
        "ratio_week_over_7_days": round(week_s.median / (7 * day_s.median), 2),
        "ratio_heap_over_simulator_speed": round(week_s.median / heap_s.median, 1),
        "goals": {
            "jobs_ge_1m": jobs >= GOAL_JOBS,
            "week_le_60s": week_s.median <= GOAL_SECONDS,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"`fleetctl simulate --env prod --scenario diurnal --days 7 --policy current`:"
            f" {result['jobs']:,} jobs, {result['events']:,} events (fresh process each run,"
            " imports included).",
            "",
            "| Run | Wall time, median (min-max) | Events/s |",
            "|---|---|---|",
            f"| simulated week | {stats_text(result['week_wall_s'])} |"
            f" {result['events_per_s']:,} |",
            f"| simulated day (baseline) | {stats_text(result['day_wall_s'])} | |",
            "| bare `heapq` loop, same event count (baseline) |"
            f" {stats_text(result['bare_heap_s'])} |"
            f" {result['bare_heap_events_per_s']:,} |",
            "",
            f"Week / (7 x day): **{result['ratio_week_over_7_days']:.2f}** (1.0 = linear in"
            " simulated time; below 1, the fixed start-up cost is amortized). Simulator wall"
            f" / bare heap: **{result['ratio_heap_over_simulator_speed']:.1f}x** (the"
            " simulation's own work per event, on top of the heap).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, "timed runs of each command", argv)
    result = {"machine": machine(), **measure(args.runs)}
    print(markdown(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
