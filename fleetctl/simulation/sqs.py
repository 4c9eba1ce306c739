"""SQS as the simulator sees it: visible and in-flight messages, the visibility
timeout, and approximate counts that lag.

One ``FleetQueue`` holds all the queues of a fleet: the Lambda sums a type's
queues anyway, and a worker takes from any of them. Each message keeps its
queue's index for its visibility timeout and the per-queue arrival counts.

Modelled behaviour, and where it comes from:

* **Documented:** a received message is in flight (``NotVisible``) until it is
  deleted or its visibility timeout ends; then it is visible again and counts a
  new receive; after ``max_receive_count`` receives it moves to the dead-letter
  queue.
* **Assumed:** the worker extends the visibility of the message it runs (as a
  consume loop that heartbeats does), so a running job never reappears; when its
  instance dies, the message reappears at the end of its current visibility
  window, ``receive + k * timeout`` for the smallest k that is after the death.
  A message that reappears goes to the front of the visible messages (SQS
  delivers roughly oldest first; standard queues promise no order).
* **Documented, modelled as a pure delay:** the approximate counts may not be
  consistent until at least a minute after producers stop (SQS developer
  guide, "available CloudWatch metrics"). ``LaggedCounts`` returns the counts as
  they were ``lag`` seconds before the read.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

from fleetctl.simulation.engine import Engine, Priority
from worker_metrics.sqs_backlog import QueueCounts


class FleetQueue:
    """The visible and in-flight messages of one fleet's queues.

    ``visibility_timeouts``: per queue index, seconds. ``max_receives``: per
    queue index, the receives before the dead-letter queue.
    """

    def __init__(self, visibility_timeouts: Sequence[int], max_receives: Sequence[int]) -> None:
        self.visible: deque[int] = deque()
        self.in_flight = 0
        self.dead_lettered = 0
        self.visibility_timeouts = tuple(visibility_timeouts)
        self.max_receives = tuple(max_receives)

    def counts(self) -> QueueCounts:
        """The exact counts now."""
        return QueueCounts(visible=len(self.visible), in_flight=self.in_flight)

    def reappears_at(self, queue_index: int, received_at: float, died_at: float) -> float:
        """When a message received at ``received_at`` whose worker died at
        ``died_at`` becomes visible again (see the module doc)."""
        timeout = self.visibility_timeouts[queue_index]
        if timeout <= 0:
            return died_at
        windows = max(1, math.ceil((died_at - received_at) / timeout))
        return received_at + windows * timeout


class LaggedCounts:
    """Counts read every ``period`` seconds (at 0, ``period``, ...), each as it was
    ``lag`` seconds before the read.

    The snapshots are taken by their own chain of events at ``k * period - lag``,
    so a read that is skipped (a publisher outage) does not shift the others.
    """

    def __init__(
        self, engine: Engine, period: float, lag: float, counts: Callable[[], QueueCounts]
    ) -> None:
        if period <= 0 or lag < 0:
            raise ValueError(f"period = {period}, lag = {lag}: need period > 0 and lag >= 0")
        self._engine = engine
        self._period = period
        self._lag = lag
        self._counts = counts
        self._taken: deque[tuple[float, QueueCounts]] = deque()
        first = math.ceil(lag / period)
        initial = counts()
        # Reads before the first snapshot see the state at the start.
        for k in range(first):
            self._taken.append((k * period - lag, initial))
        self._schedule(first)

    def _schedule(self, k: int) -> None:
        self._engine.call_at(
            k * self._period - self._lag, lambda _time: self._take(k), Priority.SNAPSHOT
        )

    def _take(self, k: int) -> None:
        self._taken.append((k * self._period - self._lag, self._counts()))
        self._schedule(k + 1)

    def read(self, now: float) -> QueueCounts:
        """The counts of ``now - lag`` (the latest snapshot at or before it)."""
        wanted = now - self._lag + 1e-9
        latest: QueueCounts | None = None
        while self._taken and self._taken[0][0] <= wanted:
            latest = self._taken.popleft()[1]
        if latest is None:
            raise RuntimeError(f"no snapshot at {now - self._lag:g} s; reads must fall on the grid")
        return latest
