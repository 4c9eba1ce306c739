"""Traffic traces: the CSV ``fleetctl simulate --trace`` replays and ``fleetctl trace
pull`` writes.

The format (UTF-8, a header line, then one row per queue and minute)::

    timestamp,queue,count
    2026-01-05T09:00:00Z,academy-ai-inference,12
    2026-01-05T09:00:00Z,academy-messaging,340

* ``timestamp``: ISO 8601; without a zone it is UTC. The row counts the
  messages sent to ``queue`` in the minute that starts there (CloudWatch's
  ``AWS/SQS NumberOfMessagesSent``, ``Sum`` per 60 s); the simulator spreads them
  uniformly at random over that minute.
* ``queue``: a queue name of the environment (``fleets.<type>.queues``); it
  decides the fleet.
* ``count``: a whole number >= 0.

Rows may come in any order; two rows of the same queue and minute add up. The
run starts at the first row's minute and lasts to the last row's minute plus
``TAIL_SECONDS`` (so the fleets can drain), unless ``--days`` sets it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fleetctl.simulation.errors import InputError
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.scenarios import DAY, MINUTE, FleetArrivals, Workload
from modules.settings import EnvironmentSettings
from worker_metrics.contract import WorkerType

HEADER = ("timestamp", "queue", "count")
TAIL_SECONDS = 3600.0
"""Simulated time after the last row, for the fleets to drain and scale in."""


class TraceError(InputError):
    """A trace that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class TraceRow:
    """One row: ``count`` messages sent to ``queue`` in the minute from ``timestamp``."""

    timestamp: datetime
    queue: str
    count: int


def format_rows(rows: Iterable[TraceRow]) -> str:
    """The CSV text of ``rows`` (header included), sorted by time then queue."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in sorted(rows, key=lambda r: (r.timestamp, r.queue)):
        stamp = row.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([stamp, row.queue, row.count])
    return out.getvalue()


def parse_rows(text: str, source: str, queues: Iterable[str]) -> list[TraceRow]:
    """Parse the CSV ``text``. Raises ``TraceError`` naming ``source`` and the line."""
    known = set(queues)
    lines = text.splitlines()
    if not lines or tuple(c.strip() for c in next(csv.reader([lines[0]]))) != HEADER:
        raise TraceError(f"{source} line 1: the header must be {','.join(HEADER)}")
    rows: list[TraceRow] = []
    for number, fields in enumerate(csv.reader(lines[1:]), start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        where = f"{source} line {number}"
        if len(fields) != len(HEADER):
            raise TraceError(
                f"{where}: expected 3 fields (timestamp,queue,count), got {len(fields)}"
            )
        stamp, queue, count = (f.strip() for f in fields)
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            raise TraceError(f"{where}: timestamp {stamp!r} is not ISO 8601") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if queue not in known:
            raise TraceError(
                f"{where}: queue {queue!r} is not a queue of this environment "
                f"(known: {', '.join(sorted(known))})"
            )
        if not count.isdigit():
            raise TraceError(f"{where}: count {count!r} is not a whole number >= 0")
        rows.append(TraceRow(moment, queue, int(count)))
    if not rows:
        raise TraceError(f"{source}: no rows after the header")
    return rows


def read_trace(
    path: Path, environment: EnvironmentSettings, seed: int, days: float | None = None
) -> Workload:
    """The workload of the trace at ``path`` for ``environment``. Raises ``TraceError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(f"{path}: cannot be read ({error})") from None
    owner = {
        queue.name: (fleet.worker_type, index)
        for fleet in environment.fleets
        for index, queue in enumerate(fleet.queues)
    }
    rows = parse_rows(text, str(path), owner)
    return trace_workload(rows, owner, environment, seed, days, name=f"trace {path.name}")


def trace_workload(
    rows: list[TraceRow],
    owner: Mapping[str, tuple[WorkerType, int]],
    environment: EnvironmentSettings,
    seed: int,
    days: float | None,
    name: str,
) -> Workload:
    """Arrivals from ``rows``: each row's messages uniform over its minute."""
    start = min(r.timestamp for r in rows).replace(second=0, microsecond=0)
    offsets = [(r.timestamp - start).total_seconds() for r in rows]
    last = max(offsets) + MINUTE
    horizon = days * DAY if days is not None else math.ceil(last / MINUTE) * MINUTE + TAIL_SECONDS
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 4])))
    times: dict[WorkerType, list[np.ndarray]] = {f.worker_type: [] for f in environment.fleets}
    queues: dict[WorkerType, list[np.ndarray]] = {f.worker_type: [] for f in environment.fleets}
    for row, offset in zip(rows, offsets, strict=True):
        worker_type, index = owner[row.queue]
        times[worker_type].append(offset + rng.random(row.count) * MINUTE)
        queues[worker_type].append(np.full(row.count, index, dtype=np.int64))
    fleets: dict[WorkerType, FleetArrivals] = {}
    for worker_type in times:
        all_times = np.concatenate(times[worker_type]) if times[worker_type] else np.zeros(0)
        all_queues = (
            np.concatenate(queues[worker_type])
            if queues[worker_type]
            else np.zeros(0, dtype=np.int64)
        )
        keep = all_times < horizon
        order = np.argsort(all_times[keep], kind="stable")
        fleets[worker_type] = FleetArrivals(all_times[keep][order], all_queues[keep][order])
    description = f"{sum(r.count for r in rows)} messages from {start:%Y-%m-%d %H:%M} UTC"
    return Workload(name, description, horizon, fleets, Faults(seed=seed))
