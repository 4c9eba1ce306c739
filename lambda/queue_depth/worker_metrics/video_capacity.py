"""Video fleet sizing: the pure decision behind the seed's ``set_video_worker_desired``.

The Video ASG has no scaling policy; the Lambda sets its desired capacity. It
sizes for the work running **plus** the work waiting, as Buildkite's agent
scaler does (``ceil((scheduled + running) / agents per instance)``, NOTES §6).
Sizing for the waiting work alone would leave a burst that arrives while the
fleet is busy waiting for running encodes to end (3 encodes running, 4 new
uploads: 4 instances instead of 7, and the new videos wait up to an hour).

With ``r`` jobs running (Video's in-flight messages), ``w`` waiting (Video's
QueueDepth), ``J = jobs_per_instance`` (the worker's concurrency) and
``M = messages_per_instance`` (waiting messages one instance is sized for):

1. needed = ``ceil(r / J + w / M)``, computed exactly (fractions, no float
   rounding). Running work occupies ``r / J`` instances and waiting work needs
   ``w / M`` more; adding the fractions before rounding lets waiting work fill
   the free slots of busy instances (``J`` = 2, one job running, one waiting:
   one instance, not two). With ``M = J`` this is Buildkite's rule. ``M > J``
   trades latency for cost: each new instance takes ``M`` waiting jobs and runs
   them ``J`` at a time. ``M < J`` leaves spare slots on new instances.
2. floor = ``ceil(r / J)``, capped at max: lowering desired terminates
   instances, and a running encode must not be killed.
3. clamp to [min, max].
4. scale out at once, within the tick (a burst gets its instances now); scale in
   by at most ``scale_in_step`` per tick and never below the floor, because SQS
   counts lag by about a minute and a short dip must not drain the fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction


@dataclass(frozen=True)
class CapacityBounds:
    """The range desired capacity may take (ASG ``MinSize``..``MaxSize``)."""

    min_size: int
    max_size: int

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError(f"min_size = {self.min_size}: must be >= 0")
        if self.max_size < self.min_size:
            raise ValueError(f"max_size = {self.max_size}: is below min_size = {self.min_size}")

    def clamp(self, value: int) -> int:
        """``value`` limited to [min_size, max_size]."""
        return max(self.min_size, min(self.max_size, value))

    def narrowed(self, min_size: int | None, max_size: int | None) -> CapacityBounds:
        """These bounds narrowed by optional overrides; never wider than the ASG's.

        An override outside the ASG's range is clamped into it, so the result is
        always a valid SetDesiredCapacity range.
        """
        low = self.clamp(min_size) if min_size is not None else self.min_size
        high = self.clamp(max_size) if max_size is not None else self.max_size
        return CapacityBounds(min(low, high), high)


class Action(Enum):
    """What a decision does to the fleet."""

    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Decision:
    """The desired capacity to set, and why (for the tick's log line)."""

    desired: int
    previous: int
    action: Action
    reason: str

    @property
    def changes(self) -> bool:
        """True if the ASG must be written (desired differs from the current value)."""
        return self.desired != self.previous


def decide_video_capacity(
    *,
    backlog: int,
    in_flight: int,
    current_desired: int,
    bounds: CapacityBounds,
    messages_per_instance: float,
    jobs_per_instance: int,
    scale_in_step: int,
) -> Decision:
    """Desired Video capacity for this tick (see the module docstring for the rules).

    ``backlog``: Video's QueueDepth (visible, plus delayed if configured): the
    jobs waiting.
    ``in_flight``: Video messages being processed (NotVisible): the jobs running.
    ``current_desired``: the ASG's DesiredCapacity now.
    Raises ``ValueError`` for a non-positive or non-finite ``messages_per_instance``,
    ``jobs_per_instance`` or ``scale_in_step``, or a negative count.
    """
    if not (messages_per_instance > 0 and math.isfinite(messages_per_instance)):
        raise ValueError(
            f"messages_per_instance = {messages_per_instance}: must be a finite number > 0"
        )
    if jobs_per_instance <= 0:
        raise ValueError(f"jobs_per_instance = {jobs_per_instance}: must be > 0")
    if scale_in_step <= 0:
        raise ValueError(f"scale_in_step = {scale_in_step}: must be > 0")
    if min(backlog, in_flight, current_desired) < 0:
        raise ValueError(
            f"counts must be >= 0: backlog={backlog} in_flight={in_flight} "
            f"current_desired={current_desired}"
        )

    running = Fraction(in_flight, jobs_per_instance)
    wanted = math.ceil(running + backlog / exact(messages_per_instance))
    floor = min(math.ceil(running), bounds.max_size)
    target = bounds.clamp(max(wanted, floor))
    why = (
        f"{in_flight} running / {jobs_per_instance} per instance + {backlog} waiting / "
        f"{messages_per_instance:g} per instance -> {wanted}; floor {floor} for the running "
        f"jobs; bounds [{bounds.min_size}, {bounds.max_size}]"
    )

    if target > current_desired:
        return Decision(target, current_desired, Action.SCALE_OUT, f"scale out to {target}: {why}")
    if target == current_desired:
        return Decision(target, current_desired, Action.UNCHANGED, f"unchanged at {target}: {why}")
    # Scale in gradually; a current value above max (bounds just lowered) still
    # steps down, but never stays above max.
    stepped = min(max(target, current_desired - scale_in_step), bounds.max_size)
    if stepped == current_desired:
        return Decision(
            stepped, current_desired, Action.UNCHANGED, f"unchanged at {stepped}: {why}"
        )
    return Decision(
        stepped,
        current_desired,
        Action.SCALE_IN,
        f"scale in to {stepped} (target {target}, at most {scale_in_step} per tick): {why}",
    )


def exact(number: float) -> Fraction:
    """``number`` as the fraction its decimal form says (``0.1`` -> 1/10, not the
    nearest binary float), so ``ceil`` does not round 3.0000000000000004 up to 4."""
    return Fraction(repr(number))
