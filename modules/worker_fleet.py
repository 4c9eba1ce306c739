"""``WorkerFleet``: the launch template, instance role, ASG and termination hook of one worker type.

* Launch template (``WorkerLaunchTemplate``): IMDSv2, encrypted root volume, user
  data that configures the worker and installs the drain agent.
* Instance role: consume the fleet's own queues (receive, delete, change
  visibility: the agent gives messages back on a Spot interruption), heartbeat
  and complete its own ASG's termination hook, and, for a scale-in-protected
  fleet, set and clear its own protection. Nothing else.
* ASG: group metrics on (``GroupInServiceInstances`` feeds the Lambda's
  backlog-per-instance and the dashboards), rolling instance refresh when the
  launch template changes (the ASG names its latest version, so it does
  change), tags propagated to instances, and ``desired_capacity`` ignored after
  creation: the scaler (target tracking or the Lambda) owns it, so
  ``terraform apply`` never undoes a scaling decision.
* Termination hook (``TerminationDrainHook``): a scale-in waits for the agent.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from modules.agent_bundle import AgentBundle, build_agent_bundle
from modules.aws import (
    AutoscalingGroup,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicy,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride,
    AutoscalingGroupTag,
    IamInstanceProfile,
    IamRole,
    IamRolePolicy,
)
from modules.iam import Condition, PolicyDocumentBuilder, assume_role_policy
from modules.settings import FleetSettings
from modules.termination_hook import TerminationDrainHook
from modules.worker_launch_template import WorkerLaunchTemplate
from modules.worker_queue import WorkerQueue
from worker_metrics.contract import DIMENSION_NAME

GROUP_METRICS = (
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
)
"""ASG group metrics published every minute; ``GroupInServiceInstances`` is required."""

INSTANCE_REFRESH_MIN_HEALTHY_PERCENTAGE = 90
"""AWS's default: replace at most 10 % of the fleet at a time."""


class WorkerFleet(Construct):
    """The EC2 fleet that serves one ``WorkerType``.

    ``queues`` are the ``WorkerQueue`` constructs it consumes. ``asg`` is the
    Auto Scaling group; pass the fleet itself to the scaling constructs.
    ``tags`` (default none) are propagated to the instances it launches.
    ``agent``: the drain agent its instances run (default: ``worker_agent/``
    as it is in this checkout).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: FleetSettings,
        queues: list[WorkerQueue],
        name_prefix: str,
        region: str,
        tags: Mapping[str, str] | None = None,
        agent: AgentBundle | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not queues:
            raise ValueError(f"fleet {settings.key}: queues is empty")
        self.settings = settings
        self.worker_type = settings.worker_type
        self.queues = list(queues)
        self.name = settings.asg_name(name_prefix)

        role = IamRole(
            self,
            "instance-role",
            name=f"{self.name}-instance",
            assume_role_policy=assume_role_policy(self, "instance-trust", "ec2.amazonaws.com").json,
        )
        profile = IamInstanceProfile(
            self, "instance-profile", name=f"{self.name}-instance", role=role.name
        )

        self.hook_name = f"{self.name}-drain"
        self.launch_template = WorkerLaunchTemplate(
            self,
            settings=settings,
            name=self.name,
            region=region,
            queues=self.queues,
            instance_profile_arn=profile.arn,
            hook_name=self.hook_name,
            agent=agent or build_agent_bundle(),
        )
        template = self.launch_template

        placement: dict[str, list[str]] = (
            {"vpc_zone_identifier": list(settings.subnet_ids)}
            if settings.subnet_ids
            else {"availability_zones": list(settings.availability_zones)}
        )
        launch: dict[str, object]
        if len(settings.instance_types) == 1:
            launch = {
                "launch_template": AutoscalingGroupLaunchTemplate(
                    id=template.id, version=template.version
                )
            }
        else:
            launch = {
                "mixed_instances_policy": AutoscalingGroupMixedInstancesPolicy(
                    launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                        launch_template_specification=AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                            launch_template_id=template.id, version=template.version
                        ),
                        override=[
                            AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(
                                instance_type=t
                            )
                            for t in settings.instance_types
                        ],
                    )
                )
            }
        self.asg = AutoscalingGroup(
            self,
            "asg",
            name=self.name,
            min_size=settings.min_size,
            max_size=settings.max_size,
            # Only the first apply uses this; afterwards the scaler owns it (ignore_changes).
            desired_capacity=settings.min_size,
            default_instance_warmup=settings.instance_warmup_seconds,
            health_check_type="EC2",
            protect_from_scale_in=settings.protect_from_scale_in,
            enabled_metrics=list(GROUP_METRICS),
            metrics_granularity="1Minute",
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=INSTANCE_REFRESH_MIN_HEALTHY_PERCENTAGE,
                    # Protected (busy) Video instances are skipped, not killed mid-encode.
                    scale_in_protected_instances="Wait"
                    if settings.protect_from_scale_in
                    else "Refresh",
                ),
            ),
            tag=[
                AutoscalingGroupTag(key="Name", value=self.name, propagate_at_launch=True),
                AutoscalingGroupTag(
                    key=DIMENSION_NAME, value=self.worker_type.value, propagate_at_launch=True
                ),
                # Provider default_tags do not reach instances launched by an ASG.
                *(
                    AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                    for key, value in sorted((tags or {}).items())
                ),
            ],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
            **placement,  # type: ignore[arg-type]
            **launch,  # type: ignore[arg-type]
        )

        self.termination_hook = TerminationDrainHook(
            self, "termination-hook", asg=self.asg, name=self.hook_name, plan=settings.drain_plan
        )

        policy = PolicyDocumentBuilder()
        for queue in self.queues:
            queue.grant_consume_messages(policy)
        self.termination_hook.grant_drain(policy)
        if settings.protect_from_scale_in:
            # The drain agent clears its own protection when idle, and sets it when the
            # worker claims a job.
            policy.allow(
                "ManageOwnScaleInProtection", ["autoscaling:SetInstanceProtection"], [self.asg.arn]
            )
        IamRolePolicy(
            self,
            "instance-policy",
            name=f"{self.name}-instance",
            role=role.id,
            policy=policy.render(self, "instance-policy-document").json,
        )

    def grant_set_desired_capacity(self, policy: PolicyDocumentBuilder) -> None:
        """Allow ``autoscaling:SetDesiredCapacity`` on this fleet's ASG only."""
        policy.allow("SetDesiredCapacity", ["autoscaling:SetDesiredCapacity"], [self.asg.arn])

    def grant_activation(self, policy: PolicyDocumentBuilder) -> None:
        """Allow ``autoscaling:SetDesiredCapacity`` on this fleet's ASG only, for the
        Lambda's activation from zero (``worker_metrics.activation``). Raises
        ``ValueError`` unless the fleet activates from zero (target-tracked,
        ``min_size = 0``): any other write would fight its scaler."""
        if not self.settings.activates_from_zero:
            raise ValueError(
                f"fleet {self.settings.key}: only a target-tracked fleet with min_size = 0 "
                "is activated from zero by the Lambda"
            )
        policy.allow(
            "ActivateTrackedFleetFromZero", ["autoscaling:SetDesiredCapacity"], [self.asg.arn]
        )

    def grant_tag(self, policy: PolicyDocumentBuilder, tag_key: str) -> None:
        """Allow ``autoscaling:CreateOrUpdateTags`` on this fleet's ASG, for ``tag_key`` only
        (the Lambda's Video scale-in marker; the provider ignores that tag, see
        ``modules/provider.py``)."""
        policy.allow(
            "WriteScaleInMarkerTag",
            ["autoscaling:CreateOrUpdateTags"],
            [self.asg.arn],
            conditions=(Condition("ForAllValues:StringEquals", "aws:TagKeys", (tag_key,)),),
        )
