"""The built-in scenarios: each fleet's arrivals (and faults) over a run.

Every scenario reads its sizes from each fleet's ``[fleets.<type>.workload]``
(``burst_messages``, ``rate_per_minute``, ``diurnal_amplitude``, ``boot_seconds``,
``mean_job_seconds``) and spreads a fleet's messages over its queues at random.
Times are seconds from the start of the run; a run begins with every fleet
warm and idle. ``--days N`` sets the run's length for any scenario.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from fleetctl.simulation.errors import InputError
from fleetctl.simulation.faults import Faults, Throttle, Window
from modules.settings import EnvironmentSettings, FleetSettings
from worker_metrics.contract import WorkerType

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
BURST_AT = 10 * MINUTE
"""When the burst scenarios' first message arrives (after 10 quiet minutes)."""
DIURNAL_PEAK_HOUR = 16
"""The diurnal rate peaks at 16:00 and is lowest at 04:00."""


class ScenarioError(InputError):
    """An unknown scenario name."""


@dataclass(frozen=True)
class FleetArrivals:
    """One fleet's messages: sorted ``times`` (s) and each one's ``queue_index``;
    ``bursts``: when each burst began (reaction is measured from these)."""

    times: np.ndarray
    queue_index: np.ndarray
    bursts: tuple[float, ...] = ()


@dataclass(frozen=True)
class Workload:
    """What a scenario or a trace gives the simulator."""

    name: str
    description: str
    horizon: float
    fleets: Mapping[WorkerType, FleetArrivals]
    faults: Faults = field(default_factory=Faults)

    def shifted(self, seconds: float) -> Workload:
        """The same arrivals and bursts ``seconds`` later (the horizon too): a burst
        that lands mid-minute instead of on a publisher's tick. Faults stay put."""
        fleets = {
            t: FleetArrivals(a.times + seconds, a.queue_index, tuple(b + seconds for b in a.bursts))
            for t, a in self.fleets.items()
        }
        return Workload(
            f"{self.name}+{seconds:g}s",
            f"{self.description}, {seconds:g} s later",
            self.horizon + seconds,
            fleets,
            self.faults,
        )


Builder = Callable[
    [FleetSettings, np.random.Generator, float], tuple[np.ndarray, tuple[float, ...]]
]


@dataclass(frozen=True)
class Scenario:
    """A named way to generate arrivals. ``hours``: its default length."""

    name: str
    description: str
    hours: float
    arrivals: Builder
    faults: Callable[[int], Faults] = lambda seed: Faults(seed=seed)

    def build(
        self, environment: EnvironmentSettings, seed: int, days: float | None = None
    ) -> Workload:
        """The arrivals of every fleet, drawn from ``seed`` (one stream per fleet)."""
        horizon = days * DAY if days is not None else self.hours * HOUR
        streams = np.random.SeedSequence([seed, 1]).spawn(len(environment.fleets))
        fleets: dict[WorkerType, FleetArrivals] = {}
        for fleet, stream in zip(environment.fleets, streams, strict=True):
            rng = np.random.Generator(np.random.PCG64(stream))
            times, bursts = self.arrivals(fleet, rng, horizon)
            times = np.sort(times[times < horizon], kind="stable")
            queues = rng.integers(0, len(fleet.queues), len(times))
            fleets[fleet.worker_type] = FleetArrivals(times, queues, bursts)
        return Workload(self.name, self.description, horizon, fleets, self.faults(seed))


def poisson(rate_per_minute: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a Poisson process whose rate is constant within each minute."""
    counts = rng.poisson(np.maximum(rate_per_minute, 0.0))
    starts = np.repeat(np.arange(len(rate_per_minute)) * MINUTE, counts)
    return starts + rng.random(len(starts)) * MINUTE


def _minutes(horizon: float) -> int:
    return max(1, math.ceil(horizon / MINUTE))


def _burst(fleet: FleetSettings, _rng: np.random.Generator, _horizon: float) -> tuple:
    count = fleet.workload.burst_messages
    return np.full(count, BURST_AT), (BURST_AT,)


def _second_burst(fleet: FleetSettings, _rng: np.random.Generator, _horizon: float) -> tuple:
    workload = fleet.workload
    # The second burst lands halfway through the first burst's first jobs.
    second = BURST_AT + workload.boot_seconds + workload.mean_job_seconds / 2
    count = workload.burst_messages
    return np.concatenate([np.full(count, BURST_AT), np.full(count, second)]), (BURST_AT, second)


def _diurnal(fleet: FleetSettings, rng: np.random.Generator, horizon: float) -> tuple:
    workload = fleet.workload
    minutes = np.arange(_minutes(horizon)) * MINUTE + MINUTE / 2
    phase = 2 * np.pi * (minutes / DAY - (DIURNAL_PEAK_HOUR - 6) / 24)
    rate = workload.rate_per_minute * (1 + workload.diurnal_amplitude * np.sin(phase))
    return poisson(rate, rng), ()


def _steady(fleet: FleetSettings, rng: np.random.Generator, horizon: float) -> tuple:
    rate = np.full(_minutes(horizon), float(fleet.workload.rate_per_minute))
    return poisson(rate, rng), ()


def _spike_from_zero(fleet: FleetSettings, rng: np.random.Generator, _horizon: float) -> tuple:
    count = fleet.workload.burst_messages
    return HOUR + rng.random(count) * MINUTE, (HOUR,)


def _trickle(_fleet: FleetSettings, _rng: np.random.Generator, horizon: float) -> tuple:
    return np.arange(5 * MINUTE, horizon, 10 * MINUTE), ()


def _outage(seed: int) -> Faults:
    return Faults(outages=(Window(BURST_AT - MINUTE, BURST_AT + 15 * MINUTE),), seed=seed)


def _throttled(seed: int) -> Faults:
    window = Window(BURST_AT - MINUTE, BURST_AT + 30 * MINUTE)
    return Faults(throttles=(Throttle(window, 0.5),), seed=seed)


SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("burst", "the demo's: burst_messages at once on a warm, idle fleet", 2, _burst),
        Scenario(
            "second-burst",
            "a second burst while the first one's jobs run (halfway through the first jobs)",
            3,
            _second_burst,
        ),
        Scenario(
            "diurnal",
            "a day of Poisson arrivals, rate_per_minute x (1 +/- diurnal_amplitude), peak at 16:00",
            24,
            _diurnal,
        ),
        Scenario(
            "spike-from-zero",
            "a quiet hour, then burst_messages within one minute",
            3,
            _spike_from_zero,
        ),
        Scenario("trickle", "one job every 10 minutes", 6, _trickle),
        Scenario("steady", "Poisson arrivals at rate_per_minute", 6, _steady),
        Scenario(
            "publisher-outage",
            "the burst, with the publisher down from 1 min before it to 15 min after",
            2,
            _burst,
            _outage,
        ),
        Scenario(
            "throttled",
            "the burst, with half the SQS reads throttled from 1 min before it to 30 min after",
            2,
            _burst,
            _throttled,
        ),
    )
}
"""Every built-in scenario by name."""


def scenario(name: str) -> Scenario:
    """The built-in scenario ``name``. Raises ``ScenarioError`` naming the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
