"""Injectable faults: a publisher outage, throttled SQS reads, a lost instance.

``--fault`` takes one of (times in minutes from the start of the run):

* ``outage:START-END``: the publisher does not run (no datapoints, no Video
  decision) from START to END;
* ``throttle:START-END[:P]`` or ``throttle:TYPE:START-END[:P]``: each
  GetQueueAttributes read (the publisher's and KEDA's) fails with probability P
  (default 1) for every type, or for TYPE; the plan's fault rules then apply
  (no datum for that type, Video left as is);
* ``lose:TYPE:MINUTE``: one in-service instance of TYPE dies; its jobs are
  killed and their messages reappear after their visibility timeout; the group
  replaces it.

Whether a read at a given instant is throttled depends only on the seed, the
type and the instant, so every policy of a run meets the same failed reads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from fleetctl.simulation.errors import InputError
from worker_metrics.contract import WorkerType

_WINDOW = r"(?P<start>\d+(\.\d+)?)-(?P<end>\d+(\.\d+)?)"
_OUTAGE = re.compile(rf"^outage:{_WINDOW}$")
_THROTTLE = re.compile(rf"^throttle:((?P<type>[A-Za-z]+):)?{_WINDOW}(:(?P<p>[0-9.]+))?$")
_LOSE = re.compile(r"^lose:(?P<type>[A-Za-z]+):(?P<at>\d+(\.\d+)?)$")


class FaultError(InputError):
    """A ``--fault`` that cannot be parsed; the message names it."""


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in seconds."""

    start: float
    end: float

    def __contains__(self, time: float) -> bool:
        return self.start <= time < self.end


@dataclass(frozen=True)
class Throttle:
    """Reads of ``worker_type`` (``None``: every type) fail with ``probability`` in ``window``."""

    window: Window
    probability: float = 1.0
    worker_type: WorkerType | None = None


@dataclass(frozen=True)
class Faults:
    """Every fault of a run."""

    outages: tuple[Window, ...] = ()
    throttles: tuple[Throttle, ...] = ()
    lost: tuple[tuple[WorkerType, float], ...] = ()
    seed: int = 0

    def publisher_down(self, time: float) -> bool:
        """True if the publisher does not run at ``time``."""
        return any(time in window for window in self.outages)

    def read_fails(self, worker_type: WorkerType, time: float) -> bool:
        """True if a queue read of ``worker_type`` at ``time`` is throttled."""
        for throttle in self.throttles:
            if time in throttle.window and throttle.worker_type in (None, worker_type):
                if throttle.probability >= 1:
                    return True
                return _uniform(self.seed, worker_type, time) < throttle.probability
        return False

    def merged(self, other: Faults) -> Faults:
        """These faults and ``other``'s (a scenario's plus the command line's)."""
        return Faults(
            self.outages + other.outages,
            self.throttles + other.throttles,
            self.lost + other.lost,
            self.seed,
        )


@dataclass
class _Parsed:
    outages: list[Window] = field(default_factory=list)
    throttles: list[Throttle] = field(default_factory=list)
    lost: list[tuple[WorkerType, float]] = field(default_factory=list)


def parse_faults(texts: list[str], seed: int) -> Faults:
    """``--fault`` values into ``Faults``. Raises ``FaultError`` naming the bad one."""
    parsed = _Parsed()
    for text in texts:
        _parse_one(text.strip(), parsed)
    return Faults(tuple(parsed.outages), tuple(parsed.throttles), tuple(parsed.lost), seed)


def _parse_one(text: str, parsed: _Parsed) -> None:
    try:
        if match := _OUTAGE.match(text):
            parsed.outages.append(_window(match))
        elif match := _THROTTLE.match(text):
            probability = float(match["p"]) if match["p"] else 1.0
            if not 0 < probability <= 1:
                raise FaultError(f"--fault {text!r}: the probability must be in (0, 1]")
            kind = WorkerType.parse(match["type"]) if match["type"] else None
            parsed.throttles.append(Throttle(_window(match), probability, kind))
        elif match := _LOSE.match(text):
            parsed.lost.append((WorkerType.parse(match["type"]), float(match["at"]) * 60))
        else:
            raise FaultError(
                f"--fault {text!r}: expected outage:START-END, throttle:[TYPE:]START-END[:P] "
                "or lose:TYPE:MINUTE (minutes from the start)"
            )
    except FaultError:
        raise
    except ValueError as error:  # an unknown worker type
        raise FaultError(f"--fault {text!r}: {error}") from None


def _window(match: re.Match[str]) -> Window:
    start, end = float(match["start"]) * 60, float(match["end"]) * 60
    if end <= start:
        raise FaultError(f"--fault {match.string!r}: END must be after START")
    return Window(start, end)


def _uniform(seed: int, worker_type: WorkerType, time: float) -> float:
    digest = hashlib.blake2b(f"{seed}:{worker_type.value}:{time:.3f}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64
