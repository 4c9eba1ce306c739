"""What a run measured, per policy and fleet, and how it is printed.

Per fleet and policy (``FleetResult``):

* **wait**: enqueue to the start of the attempt that ran the job to its end
  (``world`` module doc: a retried job waits through its lost attempt and its
  visibility timeout; a job never started counts what it waited by the end of
  the run) — p50, p95, p99 and max, in seconds;
* **completed**, **killed by scale-in** (attempts cut short when the group
  terminated their instance) and the **seconds of killed work**; jobs killed
  by an injected lost instance are counted apart (``killed_by_fault``);
* **instance-hours** (launch to termination, per second) and **cost** from
  ``prices``; **efficiency** = the lower bound / instance-hours, where the
  lower bound is the total job-seconds of the run's jobs / ``jobs_per_instance``:
  the instance time the jobs need, with no boot, no idle and no queueing.
  Efficiency counts the completed jobs' seconds only, so it never exceeds 1.0
  and a policy that leaves work undone cannot look efficient;
* **reaction** to each burst: from its first message to the first instance
  launched after it, and to the first of its jobs started (``None``: none);
* **scale actions** (changes of desired capacity) and **minutes without
  metric data** (minutes in which the scaler got no reading of the fleet);
* the job account: enqueued = completed + running + queued + dead-lettered.

Floats are rounded so that the JSON of a run is the same bytes for the same seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fleetctl.simulation.prices import PRICE_DATE, PRICE_REGION, hourly_price
from fleetctl.simulation.world import FleetWorld, World
from worker_metrics.contract import WorkerType


@dataclass(frozen=True)
class Reaction:
    """Seconds from a burst's first message to the first launch / first job start."""

    burst_at: float
    to_launch: float | None
    to_first_job: float | None


@dataclass(frozen=True)
class FleetResult:
    """One fleet under one policy (module doc)."""

    wait_p50: float
    wait_p95: float
    wait_p99: float
    wait_max: float
    enqueued: int
    completed: int
    running: int
    queued: int
    dead_lettered: int
    killed_by_scale_in: int
    killed_work_seconds: float
    killed_by_fault: int
    instance_hours: float
    cost_usd: float | None
    lower_bound_hours: float
    efficiency: float | None
    reactions: tuple[Reaction, ...]
    scale_actions: int
    minutes_without_data: int
    peak_desired: int
    peak_instances: int

    @property
    def slowest_reaction(self) -> Reaction | None:
        """The burst reacted to last (by first job started), if any."""
        if not self.reactions:
            return None
        return max(
            self.reactions, key=lambda r: math.inf if r.to_first_job is None else r.to_first_job
        )


def _round(value: float, digits: int = 3) -> float:
    return float(round(value, digits))


def _mine(world: World, fleet: FleetWorld) -> np.ndarray:
    return np.asarray(world.fleet_of) == fleet.index


def _done(world: World, mine: np.ndarray) -> np.ndarray:
    return np.frombuffer(bytes(world.completed), dtype=np.uint8)[mine].astype(bool)


def _running_jobs(fleet: FleetWorld) -> list[int]:
    return [job for i in fleet.group.instances.values() for job in i.running]


def _waits(world: World, mine: np.ndarray, done: np.ndarray, running_jobs: list[int]) -> np.ndarray:
    enqueued = np.asarray(world.enqueued_at)[mine]
    started = np.asarray(world.started_at)[mine]
    running = np.zeros(len(world.enqueued_at), dtype=bool)
    running[running_jobs] = True
    served = done | running[mine]
    return np.where(served, started - enqueued, world.horizon - enqueued)


def fleet_waits(world: World, fleet: FleetWorld) -> np.ndarray:
    """Every job of ``fleet``'s wait (s), in enqueue order: enqueue to start for a job
    served (completed or running at the horizon), enqueue to the horizon for one never
    served (its wait so far). ``FleetResult``'s percentiles and the charts' CDF."""
    mine = _mine(world, fleet)
    return _waits(world, mine, _done(world, mine), _running_jobs(fleet))


def fleet_result(world: World, fleet: FleetWorld) -> FleetResult:
    """Measure ``fleet`` after ``world`` ran."""
    mine = _mine(world, fleet)
    enqueued = np.asarray(world.enqueued_at)[mine]
    first = np.asarray(world.first_started_at)[mine]
    done = _done(world, mine)
    durations = np.asarray(world.duration)[mine]
    running_jobs = _running_jobs(fleet)
    waits = _waits(world, mine, done, running_jobs)
    percentiles = np.percentile(waits, [50, 95, 99]) if len(waits) else np.zeros(3)
    hours = fleet.group.instance_seconds / 3600
    slots = fleet.settings.jobs_per_instance
    lower = float(durations.sum()) / slots / 3600
    useful = float(durations[done].sum()) / slots / 3600
    price = hourly_price(fleet.settings.instance_types[0])
    reactions = tuple(_reaction(fleet, burst, enqueued, first) for burst in _bursts(world, fleet))
    queued = len(fleet.queue.visible) + fleet.queue.in_flight - len(running_jobs)
    return FleetResult(
        wait_p50=_round(percentiles[0], 1),
        wait_p95=_round(percentiles[1], 1),
        wait_p99=_round(percentiles[2], 1),
        wait_max=_round(float(waits.max()) if len(waits) else 0.0, 1),
        enqueued=len(enqueued),
        completed=fleet.completed,
        running=len(running_jobs),
        queued=queued,
        dead_lettered=fleet.queue.dead_lettered,
        killed_by_scale_in=fleet.killed["scale_in"],
        killed_work_seconds=_round(fleet.killed_work_seconds["scale_in"], 1),
        killed_by_fault=fleet.killed["fault"],
        instance_hours=_round(hours),
        cost_usd=None if price is None else _round(hours * price, 2),
        lower_bound_hours=_round(lower),
        efficiency=_round(useful / hours) if hours > 0 else None,
        reactions=reactions,
        scale_actions=fleet.group.scale_actions,
        minutes_without_data=len(fleet.missing_minutes),
        peak_desired=fleet.group.peak_desired,
        peak_instances=fleet.group.peak_instances,
    )


def _bursts(world: World, fleet: FleetWorld) -> tuple[float, ...]:
    return world.bursts.get(fleet.worker_type, ())


def _reaction(fleet: FleetWorld, burst: float, enqueued: np.ndarray, first: np.ndarray) -> Reaction:
    launches = [t for t in fleet.group.launches if t >= burst]
    to_launch = _round(launches[0] - burst, 1) if launches else None
    later = [b for b in _bursts(fleet.world, fleet) if b > burst]
    window = (enqueued >= burst) & (enqueued < (later[0] if later else math.inf))
    starts = first[window]
    starts = starts[~np.isnan(starts)]
    to_job = _round(float(starts.min()) - burst, 1) if len(starts) else None
    return Reaction(_round(burst, 1), to_launch, to_job)


@dataclass(frozen=True)
class RunResult:
    """Every policy's results of one run, and what the run was."""

    environment: str
    workload: str
    description: str
    seed: int
    horizon_seconds: float
    policies: Mapping[str, Mapping[WorkerType, FleetResult]]
    events: Mapping[str, int]

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, rounded floats)."""
        document: dict[str, Any] = {
            "environment": self.environment,
            "workload": self.workload,
            "description": self.description,
            "seed": self.seed,
            "horizon_seconds": self.horizon_seconds,
            "prices": {"region": PRICE_REGION, "date": PRICE_DATE},
            "events": dict(self.events),
            "policies": {
                name: {t.value: asdict(result) for t, result in fleets.items()}
                for name, fleets in self.policies.items()
            },
        }
        return json.dumps(document, sort_keys=True, indent=2) + "\n"


def seconds_text(value: float | None) -> str:
    """A duration for the tables: ``42 s`` below 10 min, else ``12.5 min``; ``—`` for none."""
    if value is None:
        return "—"
    return f"{value:.0f} s" if value < 600 else f"{value / 60:.1f} min"


COLUMNS = (
    "policy",
    "fleet",
    "wait p50",
    "p95",
    "p99",
    "max",
    "done",
    "killed",
    "killed work",
    "inst-h",
    "cost $",
    "eff.",
    "→launch",
    "→1st job",
    "actions",
    "no data",
)


def table_rows(result: RunResult) -> list[list[str]]:
    """One row per policy and fleet, then the lower bound per fleet."""
    rows: list[list[str]] = []
    for name, fleets in result.policies.items():
        for worker_type, fleet in fleets.items():
            reaction = fleet.slowest_reaction
            rows.append(
                [
                    name,
                    worker_type.value,
                    seconds_text(fleet.wait_p50),
                    seconds_text(fleet.wait_p95),
                    seconds_text(fleet.wait_p99),
                    seconds_text(fleet.wait_max),
                    str(fleet.completed),
                    str(fleet.killed_by_scale_in),
                    seconds_text(fleet.killed_work_seconds) if fleet.killed_by_scale_in else "0 s",
                    f"{fleet.instance_hours:.2f}",
                    "n/a" if fleet.cost_usd is None else f"{fleet.cost_usd:.2f}",
                    "—" if fleet.efficiency is None else f"{fleet.efficiency:.0%}",
                    seconds_text(reaction.to_launch if reaction else None),
                    seconds_text(reaction.to_first_job if reaction else None),
                    str(fleet.scale_actions),
                    f"{fleet.minutes_without_data} min",
                ]
            )
    first = next(iter(result.policies.values()), {})
    for worker_type, fleet in first.items():
        hours = f"{fleet.lower_bound_hours:.2f}"
        rows.append(
            ["lower bound", worker_type.value, *(["—"] * 7), hours, "", "100%", *([""] * 4)]
        )
    return rows


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def text_report(result: RunResult) -> str:
    """The table ``fleetctl simulate`` prints, with its heading and legend."""
    heading = (
        f"{result.workload} on {result.environment} ({result.description}); seed {result.seed}, "
        f"{result.horizon_seconds / 3600:g} h simulated"
    )
    legend = (
        "wait: enqueue -> start of the attempt that ran the job; killed: jobs killed by scale-in; "
        "eff.: completed jobs' instance time / instance-hours; →launch / →1st job: from a "
        "burst's first message "
        f"(slowest burst); cost: on-demand {PRICE_REGION} prices of {PRICE_DATE}"
    )
    return "\n".join([heading, "", render_table(COLUMNS, table_rows(result)), "", legend])
