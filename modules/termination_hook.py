"""``TerminationDrainHook``: a fleet's ``autoscaling:EC2_INSTANCE_TERMINATING`` lifecycle hook.

A separate ``aws_autoscaling_lifecycle_hook`` rather than the ASG's
``initial_lifecycle_hook``: the latter only applies when the group is created
(an imported prod group would never get it), and changing it replaces the whole
group in provider 5.x. A termination hook applies when an instance terminates,
so instances launched before the hook existed are covered too.

The ASG holds each terminating instance in ``Terminating:Wait`` until the drain
agent on it completes the action with ``CONTINUE`` (no job left), heartbeating
while jobs run; if no agent answers, after ``heartbeat_timeout_seconds`` the
ASG goes on with ``default_result`` (``modules.settings.drain``).
"""

from __future__ import annotations

from constructs import Construct

from modules.aws import AutoscalingGroup, AutoscalingLifecycleHook
from modules.iam import PolicyDocumentBuilder
from modules.settings.drain import TERMINATING_TRANSITION as TERMINATING
from modules.settings.drain import DrainPlan


class TerminationDrainHook(Construct):
    """The termination hook ``name`` of ``asg``, configured by ``plan``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asg: AutoscalingGroup,
        name: str,
        plan: DrainPlan,
    ) -> None:
        super().__init__(scope, construct_id)
        self.asg = asg
        self.name = name
        self.plan = plan
        self.hook = AutoscalingLifecycleHook(
            self,
            "hook",
            name=name,
            autoscaling_group_name=asg.name,
            lifecycle_transition=TERMINATING,
            heartbeat_timeout=plan.heartbeat_timeout_seconds,
            default_result=plan.default_result,
        )

    def grant_drain(self, policy: PolicyDocumentBuilder) -> None:
        """Allow ``autoscaling:RecordLifecycleActionHeartbeat`` and
        ``autoscaling:CompleteLifecycleAction`` on this hook's ASG only (the instance role)."""
        policy.allow(
            "DrainOwnTermination",
            ["autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:CompleteLifecycleAction"],
            [self.asg.arn],
        )
