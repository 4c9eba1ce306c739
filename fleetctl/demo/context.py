"""What the demo's steps share: the run (``RunContext``), the simulated work
(``Scenario``) and the error a failed step raises (``DemoError``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fleetctl.demo.output import Progress
from fleetctl.stack_outputs import StackOutputs
from modules.settings import EnvironmentSettings
from worker_metrics.contract import WorkerType

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: ``main.py``, ``dist/``, ``cdktf.out/`` and ``out/`` live here."""


class DemoError(RuntimeError):
    """A step failed; the message names the step, the call and what to do."""


@dataclass(frozen=True)
class Arrival:
    """Messages sent to each queue of some fleets during a tick, at ``second`` (0..59)
    of its minute: between two of the handler's samples, so the output shows how
    soon a sample reacts."""

    tick: int
    second: int
    per_queue: Mapping[WorkerType, int]


@dataclass(frozen=True)
class Scenario:
    """The simulated work: ``fleetctl simulate``'s ``burst`` scenario on the real queues,
    then later arrivals.

    ``burst_per_queue``: messages sent to each queue of a fleet at tick 0;
    default ``None``: each fleet's ``workload.burst_messages`` spread over its
    queues. The workers (boot, jobs per instance, job durations) follow
    ``[fleets.<type>.workload]`` and ``jobs_per_instance`` (``fleetctl.demo.workers``).
    With the local settings (AI 120 messages of 7.5 s, Video 12 of 60 s,
    Messaging 80 of 6 s, a 60 s boot, targets of 20 messages per instance) the
    fleets scale out in the first minutes and are back at zero by about tick 25.
    ``arrivals``: default 4 Video encodes at 0:25 of tick 10 and 60 AI messages
    per queue at 0:05 of tick 12, both fleets idle at zero by then: with 10-s
    sampling the Lambda starts Video at the sample of 0:30 and activates AI at
    the sample of 0:10, within the minute they arrived in (at 60 s: the next
    minute).
    """

    burst_per_queue: Mapping[WorkerType, int] | None = None
    arrivals: tuple[Arrival, ...] = (
        Arrival(10, 25, {WorkerType.VIDEO: 4}),
        Arrival(12, 5, {WorkerType.AI: 60}),
    )

    def per_queue(self, settings: EnvironmentSettings, worker_type: WorkerType) -> int:
        """Messages of the tick-0 burst to send to each queue of ``worker_type``'s fleet."""
        if self.burst_per_queue is not None:
            return self.burst_per_queue[worker_type]
        fleet = settings.fleet(worker_type)
        return math.ceil(fleet.workload.burst_messages / len(fleet.queues))


@dataclass
class RunContext:
    """What the steps share."""

    settings: EnvironmentSettings
    run_dir: Path
    synth_dir: Path
    zip_path: Path
    ticks: int
    keep: bool
    scenario: Scenario = field(default_factory=Scenario)
    progress: Progress = field(default_factory=Progress)
    outputs: StackOutputs | None = None
    outputs_file: Path | None = None
    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    clock_end: datetime | None = None
