"""Activation from zero, pure: the only write the Lambda makes on a target-tracked fleet.

KEDA's split: activation (0 -> 1) is the Lambda's, scaling from 1 to N is
target tracking's. AWS documents neither what target tracking computes for a
group with no capacity nor that it leaves zero at all (its proportional rule,
``capacity * metric / target``, is 0 there), so a fleet with ``min_size = 0``
must not depend on it.

The rule, for AI and Messaging:

* the fleet's desired capacity is 0, activation is on
  (``Tracking.activation_backlog`` > 0) and the tracked backlog has reached the
  threshold: desired = ``ceil(backlog / target)``, clamped to the ASG's
  [min, max]. That is what the target implies, so target tracking has nothing
  to correct once the instances are in service;
* otherwise nothing. In particular, never while desired > 0: then the fleet is
  target tracking's alone and the two never fight over desired capacity.

A repeated run of the same tick sees desired > 0 and writes nothing, so the
write is idempotent.
"""

from __future__ import annotations

import math
from fractions import Fraction

from worker_metrics.contract import Tracking
from worker_metrics.fleet_state import FleetState
from worker_metrics.video_capacity import Action, CapacityBounds, Decision, exact


def decide_activation(backlog: int, fleet: FleetState, tracking: Tracking) -> Decision:
    """Whether to start ``fleet`` from zero this tick; a ``Decision`` that changes
    nothing (``UNCHANGED``, with the reason) unless it does.

    ``backlog``: the type's tracked backlog (``tracked_metric.tracked_backlog``).
    Raises ``ValueError`` for a negative ``backlog``.
    """
    if backlog < 0:
        raise ValueError(f"backlog = {backlog}: must be >= 0")
    current = fleet.desired_capacity
    threshold = tracking.activation_backlog
    if current > 0:
        return Decision(current, current, Action.UNCHANGED, f"desired {current}: target tracking's")
    if threshold == 0:
        return Decision(current, current, Action.UNCHANGED, "at zero, activation off")
    if backlog < threshold:
        return Decision(
            current, current, Action.UNCHANGED, f"at zero, backlog {backlog} below {threshold}"
        )
    target = tracking.target_backlog_per_instance
    implied = math.ceil(Fraction(backlog) / exact(target))
    desired = CapacityBounds(fleet.min_size, fleet.max_size).clamp(implied)
    why = (
        f"backlog {backlog} >= activation {threshold} at zero: {backlog} / {target:g} per "
        f"instance -> {implied}; bounds [{fleet.min_size}, {fleet.max_size}]"
    )
    if desired == current:
        return Decision(current, current, Action.UNCHANGED, f"unchanged at {current}: {why}")
    return Decision(desired, current, Action.SCALE_OUT, f"activate to {desired}: {why}")
