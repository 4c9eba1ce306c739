"""The discrete-event engine: a simulated clock in seconds and one event heap.

An event is ``(time, priority, sequence, kind, a, b)``: at equal times the lower
priority runs first (``Priority``), then the earlier scheduled; ``sequence``
makes the order total, so a run is deterministic. ``kind`` indexes the handler
registered with ``register``; ``a`` and ``b`` are its two arguments (no
per-event closure or object is allocated on the hot paths).

Arrivals come from one sorted array instead of the heap (``run``'s
``arrivals``): with a million jobs this halves the heap traffic. The engine
never reads the wall clock and never sleeps.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any

Handler = Callable[[Any, Any], None]


class Priority(IntEnum):
    """Order of events at the same instant."""

    WORLD = 0
    """Arrivals, job ends, boots, messages visible again: the state changes first."""
    SNAPSHOT = 1
    """Approximate-count snapshots see the state of their instant."""
    ACT_BEFORE_READ = 2
    """An alarm that acts before the tick of the same instant reads (an option)."""
    READ = 3
    """Publisher ticks and scaler polls read the state."""
    EVALUATE = 4
    """Alarm evaluations act on the period that just closed, after the tick read."""
    RECORD = 5
    """The chart recorder sees the result of the instant."""


class Engine:
    """The clock and the heap. ``now`` is the current simulated time (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events = 0
        self._heap: list[tuple[float, int, int, int, Any, Any]] = []
        self._sequence = itertools.count()
        self._handlers: list[Handler] = []
        self._call = self.register(lambda function, argument: function(argument))

    def register(self, handler: Handler) -> int:
        """Register ``handler(a, b)``; returns the ``kind`` to schedule it with."""
        self._handlers.append(handler)
        return len(self._handlers) - 1

    def at(
        self, time: float, kind: int, a: Any = None, b: Any = None, priority: int = Priority.WORLD
    ) -> None:
        """Run handler ``kind`` with ``(a, b)`` at ``time`` (never before ``now``)."""
        heapq.heappush(
            self._heap, (max(time, self.now), priority, next(self._sequence), kind, a, b)
        )

    def call_at(
        self, time: float, function: Callable[[float], None], priority: int = Priority.READ
    ) -> None:
        """Run ``function(time)`` at ``time``: for the rare events (ticks, polls)."""
        self.at(time, self._call, function, time, priority)

    def pending(self, kind: int) -> list[tuple[Any, Any]]:
        """The ``(a, b)`` of every event of ``kind`` still to run (for checks)."""
        return [(a, b) for _t, _p, _s, k, a, b in self._heap if k == kind]

    def run(
        self,
        until: float,
        arrivals: Sequence[float] = (),
        on_arrival: Callable[[int], None] | None = None,
        progress: Callable[[float], None] | None = None,
        progress_every: int = 200_000,
    ) -> None:
        """Process events up to and including ``until``.

        ``arrivals``: sorted times; ``on_arrival(index)`` runs at each, before
        heap events of the same instant. ``progress(now)`` is called every
        ``progress_every`` events.
        """
        heap = self._heap
        handlers = self._handlers
        pop = heapq.heappop
        count = len(arrivals)
        index = 0
        next_arrival = arrivals[0] if count else float("inf")
        processed = 0
        while True:
            next_event = heap[0][0] if heap else float("inf")
            if next_arrival <= next_event:
                if next_arrival > until:
                    break
                self.now = next_arrival
                assert on_arrival is not None
                on_arrival(index)
                index += 1
                next_arrival = arrivals[index] if index < count else float("inf")
            else:
                if next_event > until:
                    break
                time, _priority, _sequence, kind, a, b = pop(heap)
                self.now = time
                handlers[kind](a, b)
            processed += 1
            if progress is not None and processed % progress_every == 0:
                progress(self.now)
        self.now = until
        self.events += processed
