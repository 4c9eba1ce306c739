"""The invocation's sampling loop: a sample every ``sample_seconds`` until the next invocation.

EventBridge invokes the function once a minute (``rate(1 minute)``). The
invocation for the scheduled minute ``T`` (the event's ``time``) samples on a
fixed grid: slot ``k`` is due at ``T + k * sample_seconds``, for ``k`` from 0 to
``60 / sample_seconds - 1`` (6 slots at 10 s, 2 at 30 s, 1 at 60 s). Each sample
is one ``run_sample`` call (``tick.run_tick``: read, decide with
``plan.plan_tick``, write, publish) whose datums carry the slot's time, so each
period of the tracked series holds one datapoint.

Rules:

* Slot 0 runs as soon as the invocation starts; a later slot waits
  (``clock.sleep``) until it is due, never longer than ``sample_seconds``.
* A slot whose period is over before it could start (the clock is at or past
  the next slot's due time, or ``T + 60`` for the last slot) is **skipped** and
  counted: it is not run late and never stacked behind the previous sample. A
  slow sample therefore costs the slots it overran; an invocation delivered
  after its minute (a retry, a duplicate) skips every slot and writes nothing.
* A slot is also skipped, and the loop stops, when the Lambda has less than
  ``SAMPLE_TIME_BUDGET_SECONDS`` left (``remaining_seconds``).
* Skipped slots go out as ``SamplesSkipped`` with the next sample's datums, or
  through ``publish_skipped`` when no sample follows them.
* ``QueueDepth`` keeps the seed's contract: one standard-resolution datum per
  minute and type, from the invocation's first sample that read the type (a
  later sample retries a type whose queues or publish failed). Extra metric
  sources (the tenant backlog query) run once, with the first sample.
* The Video decision is taken at every sample; all samples share the tick's
  key (``T``), so the scale-in marker limits scale-in to one step per minute
  (``VIDEO_SCALE_IN_STEP``) while scale-out follows each sample.

The loop reads no clock of its own: ``clock`` (``SystemClock`` in the Lambda)
and ``remaining_seconds`` are injected, so tests and the demo drive it on a
simulated clock without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from worker_metrics.contract import (
    INVOCATION_INTERVAL_SECONDS,
    WorkerType,
    check_sample_seconds,
)

SAMPLE_TIME_BUDGET_SECONDS = 5
"""Time kept for one sample (reads, decision, writes, publish: about 0.1 s at a
20 ms AWS round trip, ``bench/lambda_tick.py``). The last sample starts
``60 - sample_seconds`` s after the tick, so the timeout must cover that plus this."""

HIGH_RESOLUTION = 1
"""``StorageResolution`` of a high-resolution datum (1-second precision)."""


def storage_resolution(sample_seconds: int) -> int | None:
    """``StorageResolution`` of the tracked series: 1 below 60 s, else ``None`` (standard)."""
    check_sample_seconds(sample_seconds)
    return HIGH_RESOLUTION if sample_seconds < INVOCATION_INTERVAL_SECONDS else None


def samples_per_invocation(sample_seconds: int) -> int:
    """Slots of one invocation: 6 at 10 s, 2 at 30 s, 1 at 60 s."""
    return INVOCATION_INTERVAL_SECONDS // check_sample_seconds(sample_seconds)


def minimum_timeout_seconds(sample_seconds: int) -> int:
    """The shortest Lambda timeout that fits every sample: the last one starts
    ``60 - sample_seconds`` s after the tick and gets ``SAMPLE_TIME_BUDGET_SECONDS``
    (55 s at 10 s, 35 s at 30 s, 5 s at 60 s).

    Raises ``ValueError`` for a ``sample_seconds`` not in 10, 30, 60.
    """
    check_sample_seconds(sample_seconds)
    return INVOCATION_INTERVAL_SECONDS - sample_seconds + SAMPLE_TIME_BUDGET_SECONDS


class Clock(Protocol):
    """Wall-clock time and waiting, injected into the loop."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (> 0)."""


class SystemClock:
    """The real clock: ``datetime.now(UTC)`` and ``time.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Sample:
    """A sample's place in its invocation: what ``tick.run_tick`` needs besides the time.

    ``index``: the slot, 0 for the first. ``tick_key``: the invocation's scheduled
    minute in ISO 8601, shared by its samples (the Video scale-in marker's key).
    ``queue_depth_types``: the types whose once-a-minute ``QueueDepth`` datum is
    still owed. ``collect_sources``: run the extra metric sources (first sample
    only). ``skipped_before``: slots skipped since the previous sample, published
    as ``SamplesSkipped``. ``storage_resolution``: of ``BacklogPerInstance``.
    """

    index: int
    tick_key: str
    queue_depth_types: frozenset[WorkerType] = frozenset(WorkerType)
    collect_sources: bool = True
    skipped_before: int = 0
    storage_resolution: int | None = None

    @classmethod
    def single(cls, timestamp: datetime) -> Sample:
        """A tick that is its invocation's only sample (``sample_seconds = 60``)."""
        return cls(0, timestamp.isoformat())


class SampleResult(Protocol):
    """What the loop reads back from a sample (``tick.TickResult``)."""

    @property
    def errors(self) -> Sequence[Any]: ...

    @property
    def queue_depth_published(self) -> Collection[WorkerType]: ...

    def log_record(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=SampleResult)


@dataclass
class InvocationResult:
    """One invocation: its samples, the slots it skipped, and why it stopped early.

    ``late_by_seconds``: how long after its scheduled minute it started.
    ``skipped``: the skipped slots' indexes. ``errors``: every sample's failures,
    plus a failed ``publish_skipped``.
    """

    timestamp: datetime
    sample_seconds: int
    late_by_seconds: float
    samples: list[SampleResult] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    stopped: str = ""
    extra_errors: list[Any] = field(default_factory=list)

    @property
    def errors(self) -> list[Any]:
        """Every failure of the invocation, in order."""
        return [e for s in self.samples for e in s.errors] + self.extra_errors

    @property
    def ok(self) -> bool:
        """True if nothing failed (a skipped slot is counted, not a failure)."""
        return not self.errors

    def log_record(self) -> dict[str, Any]:
        """The invocation's JSON log line (each sample writes its own ``tick`` line)."""
        return {
            "event": "invocation",
            "timestamp": self.timestamp.isoformat(),
            "sample_seconds": self.sample_seconds,
            "late_by_seconds": round(self.late_by_seconds, 3),
            "samples_run": len(self.samples),
            "samples_skipped": len(self.skipped),
            "skipped_slots": list(self.skipped),
            "stopped": self.stopped,
            "errors": len(self.errors),
        }

    def record(self) -> dict[str, Any]:
        """The handler's return value: the log line plus every sample's record."""
        return {**self.log_record(), "samples": [s.log_record() for s in self.samples]}


def run_invocation(
    tick_time: datetime,
    sample_seconds: int,
    run_sample: Callable[[datetime, Sample], R],
    *,
    clock: Clock,
    remaining_seconds: Callable[[], float] | None = None,
    publish_skipped: Callable[[int, datetime], Sequence[Any]] | None = None,
    on_sample: Callable[[R], None] | None = None,
) -> InvocationResult:
    """Sample the minute of ``tick_time`` (timezone-aware) every ``sample_seconds``.

    ``run_sample(timestamp, sample)``: one sample at the slot's time.
    ``remaining_seconds``: default ``None`` (no limit); the Lambda's time left.
    ``publish_skipped(count, timestamp)``: publishes ``SamplesSkipped`` for slots
    no later sample carried; returns its failures. ``on_sample``: called with
    each sample's result as soon as it ends (the handler logs it there, so a
    timeout mid-invocation still leaves the earlier samples' lines).

    Raises ``ValueError`` for a naive ``tick_time`` or a ``sample_seconds`` not
    in 10, 30, 60. Whatever ``run_sample`` raises propagates.
    """
    if tick_time.tzinfo is None:
        raise ValueError("tick_time must be timezone-aware (UTC)")
    slots = samples_per_invocation(sample_seconds)
    period = timedelta(seconds=sample_seconds)
    resolution = storage_resolution(sample_seconds)
    started = clock.now()
    result = InvocationResult(
        tick_time, sample_seconds, max((started - tick_time).total_seconds(), 0.0)
    )
    owed = frozenset(WorkerType)
    pending_skips = 0
    for index in range(slots):
        due = tick_time + index * period
        now = clock.now()
        if index > 0 and now < due:
            clock.sleep(min((due - now).total_seconds(), float(sample_seconds)))
            now = clock.now()
        if now >= due + period:
            result.skipped.append(index)
            pending_skips += 1
            continue
        if remaining_seconds is not None and remaining_seconds() < SAMPLE_TIME_BUDGET_SECONDS:
            result.skipped.extend(range(index, slots))
            pending_skips += slots - index
            result.stopped = (
                f"less than {SAMPLE_TIME_BUDGET_SECONDS} s of the Lambda timeout left "
                f"at slot {index}"
            )
            break
        sample = Sample(
            index=index,
            tick_key=tick_time.isoformat(),
            queue_depth_types=owed,
            collect_sources=not result.samples,
            skipped_before=pending_skips,
            storage_resolution=resolution,
        )
        outcome = run_sample(due, sample)
        pending_skips = 0
        owed = owed - frozenset(outcome.queue_depth_published)
        result.samples.append(outcome)
        if on_sample is not None:
            on_sample(outcome)
    if pending_skips and publish_skipped is not None:
        last_skipped = tick_time + result.skipped[-1] * period
        result.extra_errors.extend(publish_skipped(pending_skips, last_skipped))
    return result


class SimulatedClock:
    """A clock that moves only when slept on: for tests, the demo and the simulator.

    ``start``: the time ``now()`` returns until the first ``sleep`` (timezone-aware).
    ``on_sleep(since, until)``: default none; called after each sleep with the
    simulated interval, so a caller can move its world forward (send messages,
    finish jobs) between two samples.
    """

    def __init__(
        self,
        start: datetime,
        on_sleep: Callable[[datetime, datetime], None] | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self._now = start
        self.on_sleep = on_sleep
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        since = self._now
        self._now = since + timedelta(seconds=seconds)
        self.slept.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(since, self._now)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (e.g. the next scheduled minute); never backwards."""
        if when < self._now:
            raise ValueError(f"the clock cannot go back from {self._now} to {when}")
        self._now = when
