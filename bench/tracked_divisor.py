"""The tracked metric's divisor, under both readings of target tracking's warmup.

``BacklogPerInstance`` = tracked backlog / ``max(divisor, 1)``, where the divisor is
the fleet's ``backlog_divisor``: ``desired`` (the capacity already asked for, our
default) or ``in_service`` (AWS's SQS example). Which one sizes well depends on what
target tracking multiplies the metric by during a scale-out while instances warm up,
and AWS's user guide says only that warming instances count "as part of the current
capacity" so that repeated breaches give a single scale activity. The simulator's
target-tracking model (``fleetctl/simulation/target_tracking.py``) takes two readings:

* **aws** (the model's default): the proportional capacity is computed on the
  instances past their warmup, and acted on only above the capacity already asked
  for, ``max(desired, ceil(warmed * metric / target))`` (an AWS engineer's worked
  example on re:Post);
* **other**: on the whole capacity, warming instances included
  (``TargetTrackingPolicy(warming_in_base=True)``): a repeated breach multiplies
  the capacity already asked for.

This runs prod's settings (policy ``current``, 10 s sampling) on ``burst``,
``spike-from-zero``, ``diurnal`` (a day) and ``steady`` (4 h), for each divisor,
each reading, and AI at ``min_size`` 0 (prod) and 1 (a warm fleet), with KEDA's
semantics in the same run as the baseline; each figure is the median over
``--seeds`` seeds (peak: the highest over the seeds). Rows: AI and Messaging p95 wait,
instance-hours and peak desired capacity.

Goals (issue 13): on ``burst``, the default divisor keeps AI's peak within 1.5x of
what the backlog needs (prod's AI ``ceil(burst_messages / target_messages_per_instance)``,
``ceil(100 / 20)`` = 5) under AWS's reading, at min 0 and min 1, and under the other
reading at prod's min 0. The divisor is chosen for its
worst case over both readings: its largest instance-hours ratio to the better
divisor of the same case is printed for each divisor and reading.

Usage: python bench/tracked_divisor.py [--seeds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda" / "queue_depth")]

from _measure import log, write_json  # noqa: E402

from fleetctl.simulation.policies import Current, Keda  # noqa: E402
from fleetctl.simulation.run import simulate  # noqa: E402
from fleetctl.simulation.scenarios import scenario  # noqa: E402
from modules.settings import load_environment  # noqa: E402
from modules.settings.overrides import Override  # noqa: E402
from worker_metrics.contract import WorkerType  # noqa: E402

ENV = "prod"
SCENARIOS = {"burst": None, "spike-from-zero": None, "diurnal": 1.0, "steady": 4 / 24}
"""Scenario -> days (None: the scenario's own length)."""
DIVISORS = ("desired", "in_service")
READINGS = {"aws": False, "other": True}
"""Reading -> ``warming_in_base``."""
AI_MIN_SIZES = (0, 1)
FLEETS = (WorkerType.AI, WorkerType.MESSAGING)
DEFAULT_DIVISOR = "desired"
PEAK_LIMIT = 1.5


def _environment(divisor: str, ai_min: int) -> Any:
    sets = (
        f"fleets.ai.min_size={ai_min}",
        f"fleets.ai.backlog_divisor={divisor}",
        f"fleets.messaging.backlog_divisor={divisor}",
    )
    return load_environment(ENV, overrides=[Override.parse(text) for text in sets])


def _figures(result: Any) -> dict[str, float]:
    return {
        "p95_wait_s": result.wait_p95,
        "instance_hours": result.instance_hours,
        "peak": result.peak_desired,
    }


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """Median p95 wait and instance-hours over the seeds; the highest peak."""
    summary = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    summary["peak"] = max(s["peak"] for s in samples)
    return summary


def measure(seeds: int) -> dict[str, Any]:
    """case key -> fleet -> median figures. Keys: ``scenario|min|divisor|reading``
    and ``scenario|min|keda``."""
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, days in SCENARIOS.items():
        for ai_min in AI_MIN_SIZES:
            for divisor in DIVISORS:
                env = _environment(divisor, ai_min)
                policies: list[Any] = [
                    Current(name=reading, warming_in_base=flag)
                    for reading, flag in READINGS.items()
                ]
                if divisor == DEFAULT_DIVISOR:
                    policies.append(Keda())
                for seed in range(1, seeds + 1):
                    log(f"tracked_divisor: {name}, AI min {ai_min}, {divisor}, seed {seed}")
                    workload = scenario(name).build(env, seed, days)
                    run = simulate(env, workload, policies, seed)
                    for policy, fleets in run.policies.items():
                        key = (
                            f"{name}|{ai_min}|keda"
                            if policy == "keda"
                            else f"{name}|{ai_min}|{divisor}|{policy}"
                        )
                        for worker_type in FLEETS:
                            samples.setdefault(key, {}).setdefault(worker_type.value, []).append(
                                _figures(fleets[worker_type])
                            )
    return {
        key: {fleet: _summary(values) for fleet, values in fleets.items()}
        for key, fleets in samples.items()
    }


def worst_ratios(cases: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per divisor and reading: its largest instance-hours ratio to the better divisor
    of the same case (scenario, AI min, fleet), and where. Key ``divisor|reading``."""
    worst: dict[str, dict[str, Any]] = {}
    for divisor in DIVISORS:
        other = next(d for d in DIVISORS if d != divisor)
        for reading in READINGS:
            ratio, where = 1.0, "nowhere worse"
            for name in SCENARIOS:
                for ai_min in AI_MIN_SIZES:
                    mine = cases[f"{name}|{ai_min}|{divisor}|{reading}"]
                    theirs = cases[f"{name}|{ai_min}|{other}|{reading}"]
                    for fleet in mine:
                        hours = mine[fleet]["instance_hours"]
                        best = min(hours, theirs[fleet]["instance_hours"])
                        if best > 0 and hours / best > ratio:
                            ratio = hours / best
                            where = f"{name}, AI min {ai_min}, {fleet}"
            worst[f"{divisor}|{reading}"] = {"ratio": round(ratio, 2), "where": where}
    return worst


def needed_for_burst() -> int:
    """Instances AI's burst needs at its target: ``ceil(burst_messages / target)``,
    from prod's settings (the divisor and min size the cases vary do not change it)."""
    ai = load_environment(ENV).fleet(WorkerType.AI)
    return math.ceil(ai.workload.burst_messages / ai.target_messages_per_instance)


def goal_rows(cases: dict[str, Any]) -> list[dict[str, Any]]:
    needed = needed_for_burst()
    rows = []
    for ai_min, reading, judged in (
        (0, "aws", True),
        (1, "aws", True),
        (0, "other", True),
        (1, "other", False),
    ):
        peak = cases[f"burst|{ai_min}|{DEFAULT_DIVISOR}|{reading}"]["AI"]["peak"]
        rows.append(
            {
                "item": f"AI burst peak, divisor {DEFAULT_DIVISOR}, min {ai_min}, "
                f"{reading} reading of warmup",
                "goal": f"<= {PEAK_LIMIT:g} x {needed}",
                "measured": f"{peak:g}",
                "ok": (peak <= PEAK_LIMIT * needed) if judged else None,
            }
        )
    return rows


def _cell(figures: dict[str, float]) -> str:
    return (
        f"{figures['p95_wait_s'] / 60:.1f} min | {figures['instance_hours']:.1f} |"
        f" {figures['peak']:g}"
    )


def markdown(data: dict[str, Any]) -> str:
    cases = data["cases"]
    lines = [
        f"prod, policy `current` at 10 s sampling; median of {data['seeds']} seeds;"
        f" {data['seconds']:.0f} s. Cells: p95 wait | instance-hours (medians) |"
        " peak desired (highest).",
        "",
        "| Scenario | AI min | Divisor | Reading | AI | | | Messaging | | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        for ai_min in AI_MIN_SIZES:
            for divisor in DIVISORS:
                for reading in READINGS:
                    case = cases[f"{name}|{ai_min}|{divisor}|{reading}"]
                    lines.append(
                        f"| `{name}` | {ai_min} | {divisor} | {reading} |"
                        f" {_cell(case['AI'])} | {_cell(case['Messaging'])} |"
                    )
            keda = cases[f"{name}|{ai_min}|keda"]
            lines.append(
                f"| `{name}` | {ai_min} | keda | - | {_cell(keda['AI'])} |"
                f" {_cell(keda['Messaging'])} |"
            )
    lines.append("")
    for key, worst in data["worst_ratio"].items():
        divisor, reading = key.split("|")
        lines.append(
            f"- `{divisor}`, {reading} reading: worst instance-hours against the better"
            f" divisor of the same case {worst['ratio']:.2f}x ({worst['where']})"
        )
    for row in data["goal_rows"]:
        verdict = "informative" if row["ok"] is None else ("met" if row["ok"] else "MISSED")
        lines.append(f"- {row['item']}: {row['measured']} (goal {row['goal']}, {verdict})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per case (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    started = time.perf_counter()
    cases = measure(args.seeds)
    rows = goal_rows(cases)
    data = {
        "seeds": args.seeds,
        "cases": cases,
        "worst_ratio": worst_ratios(cases),
        "goal_rows": rows,
        "goals": {row["item"]: row["ok"] for row in rows if row["ok"] is not None},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(markdown(data))
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
