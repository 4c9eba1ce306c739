"""The tracked metric, pure: each type's ``BacklogPerInstance`` from what a tick read.

``BacklogPerInstance = tracked backlog / max(capacity, 1)``:

* the **tracked backlog** is the type's ``QueueDepth`` (the seed's, unchanged),
  plus its in-flight messages when ``Tracking.track_in_flight`` is set and the
  seed's counting rule does not count them already (AI's does). Counting them
  keeps a fleet from scaling in while its last messages are being processed
  (KEDA's ``scaleOnInFlight``, kedacore/keda#1663);
* the **capacity** is the one ``Tracking.divisor`` names (``BacklogDivisor``):
  in service, in service plus launching, or desired.

Why the divisor matters: target tracking sets ``ceil(capacity * metric /
target)``, and during scale-out warming instances count "as part of the
current capacity" (EC2 Auto Scaling user guide, "default instance warmup"),
which reads two ways. If the capacity multiplied is the instances past their
warmup (AWS's explanation), the in-service divisor gives the backlog itself.
If it includes the warming instances, a metric divided by in-service instances
stays high while they boot, the product exceeds the backlog, and each period
in alarm asks for more: a 100-message burst with a 240 s boot runs to max
size. Divided by the capacity already asked for, the product never exceeds the
backlog under either reading, which is why it is the default. README, "Sizing
decisions", has the simulator's figures for each divisor and reading.

``max(..., 1)``: a fleet at zero still reports its whole backlog (dashboards,
the activation threshold's reference); activation, not target tracking, takes a
fleet out of zero (``worker_metrics.activation``).
"""

from __future__ import annotations

from worker_metrics.contract import BacklogDivisor, CountingRule, Tracking
from worker_metrics.fleet_state import FleetState
from worker_metrics.sqs_backlog import QueueCounts


def tracked_backlog(
    queue_depth: int, counts: QueueCounts, rule: CountingRule, tracking: Tracking
) -> int:
    """The numerator of ``BacklogPerInstance``: ``queue_depth``, plus ``counts.in_flight``
    when ``tracking.track_in_flight`` and ``rule`` does not count them already."""
    if tracking.track_in_flight and not rule.in_flight:
        return queue_depth + counts.in_flight
    return queue_depth


def divisor_capacity(fleet: FleetState, divisor: BacklogDivisor) -> int:
    """The capacity ``divisor`` names, read from ``fleet`` (may be 0)."""
    if divisor is BacklogDivisor.IN_SERVICE:
        return fleet.in_service
    if divisor is BacklogDivisor.IN_SERVICE_AND_PENDING:
        return fleet.in_service + fleet.pending
    return fleet.desired_capacity


def backlog_per_instance(backlog: int, fleet: FleetState, divisor: BacklogDivisor) -> float:
    """``backlog / max(capacity, 1)`` with the capacity ``divisor`` names."""
    return backlog / max(divisor_capacity(fleet, divisor), 1)
