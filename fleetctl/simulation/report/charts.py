"""Charts of one run, per policy and fleet, as PNG bytes (matplotlib, Agg backend).

Each figure has three panels: arrivals per minute and the backlog (visible and
in flight) over time; desired and in-service capacity over time; the CDF of
the wait. The wait CDF is drawn from 1,001 quantiles, so a week of a million
jobs draws as fast as an hour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from fleetctl.simulation.results import fleet_waits
from fleetctl.simulation.world import World
from worker_metrics.contract import WorkerType

QUANTILES = np.linspace(0.0, 1.0, 1001)
"""Points of the wait CDF."""

# No timestamp or version in the PNG, so a run's files are the same bytes every time.
_PNG_METADATA = {"Software": None}


def _hours_or_minutes(horizon: float) -> tuple[float, str]:
    return (3600.0, "hours") if horizon > 6 * 3600 else (60.0, "minutes")


def fleet_figure(world: World, worker_type: WorkerType, policy: str) -> bytes:
    """The PNG of ``worker_type``'s fleet under ``policy``."""
    fleet = world.fleets[worker_type]
    series = fleet.series
    unit, label = _hours_or_minutes(world.horizon)
    time = np.asarray(series.time) / unit
    figure, (load, capacity, cdf) = plt.subplots(3, 1, figsize=(9, 9), constrained_layout=True)
    figure.suptitle(f"{worker_type.value} — {policy}")

    load.step(time, series.arrivals, where="post", label="arrivals / min", color="tab:gray")
    load.plot(time, series.visible, label="visible", color="tab:blue")
    load.plot(time, series.in_flight, label="in flight", color="tab:orange")
    load.set_ylabel("messages")
    load.set_xlabel(label)
    load.legend(loc="upper right")
    load.grid(alpha=0.3)

    capacity.step(time, series.desired, where="post", label="desired", color="tab:red")
    capacity.step(time, series.in_service, where="post", label="in service", color="tab:green")
    capacity.set_ylabel("instances")
    capacity.set_xlabel(label)
    capacity.legend(loc="upper right")
    capacity.grid(alpha=0.3)

    waits = fleet_waits(world, fleet)
    if len(waits):
        cdf.plot(np.quantile(waits, QUANTILES), QUANTILES, color="tab:purple")
    cdf.set_xlabel("wait (s): enqueue to start of the attempt that ran the job")
    cdf.set_ylabel("fraction of jobs")
    cdf.set_ylim(0, 1.01)
    cdf.grid(alpha=0.3)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata=_PNG_METADATA)
    plt.close(figure)
    return buffer.getvalue()


def file_name(policy: str, worker_type: WorkerType) -> str:
    """``<policy>-<fleet>.png``, safe on every filesystem (``static:4`` -> ``static-4``)."""
    return f"{policy.replace(':', '-')}-{worker_type.name.lower()}.png"


@dataclass(frozen=True)
class Chart:
    """One policy's figure of one fleet."""

    policy: str
    worker_type: WorkerType
    file_name: str
    png: bytes


def world_charts(policy: str, world: World) -> list[Chart]:
    """The charts of every fleet of ``world`` under ``policy``."""
    return [
        Chart(policy, t, file_name(policy, t), fleet_figure(world, t, policy)) for t in world.fleets
    ]
