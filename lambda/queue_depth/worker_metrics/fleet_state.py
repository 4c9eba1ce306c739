"""Reading the fleets' Auto Scaling groups: one DescribeAutoScalingGroups for all.

The tick needs, per ASG, the capacity BacklogPerInstance divides by (in service,
launching or desired, per ``BacklogDivisor``), MinSize/MaxSize/DesiredCapacity
(the Video control's bounds, and activation from zero for the tracked fleets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PAGES = 10
"""Bound on NextToken pages; three names fit in one page of 50."""

PENDING_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed"})
"""Lifecycle states of an instance that is launching (before ``InService``)."""


@dataclass(frozen=True)
class FleetState:
    """One ASG as DescribeAutoScalingGroups reports it.

    ``pending``: default 0; instances launching (``PENDING_STATES``).
    """

    name: str
    min_size: int
    max_size: int
    desired_capacity: int
    in_service: int
    tags: Mapping[str, str] = field(default_factory=dict)
    pending: int = 0

    @classmethod
    def from_group(cls, group: Mapping[str, Any]) -> FleetState:
        """Parse one ``AutoScalingGroups`` item: instances ``InService``, and launching."""
        states = [i.get("LifecycleState") for i in group.get("Instances", [])]
        return cls(
            name=str(group["AutoScalingGroupName"]),
            min_size=int(group["MinSize"]),
            max_size=int(group["MaxSize"]),
            desired_capacity=int(group["DesiredCapacity"]),
            in_service=states.count("InService"),
            tags={str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", [])},
            pending=sum(1 for state in states if state in PENDING_STATES),
        )


def describe_fleets(
    autoscaling: Any,
    names: Iterable[str],
    on_call: Callable[[str], None] = lambda _kind: None,
) -> dict[str, FleetState]:
    """The named ASGs, by name. A name AWS does not know is absent from the result.

    Raises botocore's ``ClientError`` / ``BotoCoreError`` when the call fails;
    the tick turns that into a ``describe_asg`` error for every type.
    """
    wanted = list(dict.fromkeys(names))
    found: dict[str, FleetState] = {}
    token: str | None = None
    for _page in range(MAX_PAGES):
        on_call("autoscaling.DescribeAutoScalingGroups")
        kwargs: dict[str, Any] = {"AutoScalingGroupNames": wanted}
        if token:
            kwargs["NextToken"] = token
        response = autoscaling.describe_auto_scaling_groups(**kwargs)
        for group in response.get("AutoScalingGroups", []):
            state = FleetState.from_group(group)
            found[state.name] = state
        token = response.get("NextToken")
        if not token:
            break
    return found
