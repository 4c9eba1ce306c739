"""``WorkerFleet``: launch template, instance role and Auto Scaling group of one worker type.

* Launch template: IMDSv2 required (hop limit 1), encrypted gp3 root volume,
  user data rendered from ``templates/user_data.sh.j2`` with the fleet's queues.
* Instance role: consume the fleet's own queues; a scale-in-protected fleet may
  also clear its own protection. Nothing else.
* ASG: group metrics on (``GroupInServiceInstances`` feeds the Lambda's
  backlog-per-instance and the dashboards), rolling instance refresh when the
  launch template changes, tags propagated to instances, and
  ``desired_capacity`` ignored after creation: the scaler (target tracking or
  the Lambda) owns it, so ``terraform apply`` never undoes a scaling decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from cdktf import Fn, TerraformResourceLifecycle
from constructs import Construct

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
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateTagSpecifications,
)
from modules.iam import Condition, PolicyDocumentBuilder, assume_role_policy
from modules.settings import FleetSettings
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

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # renders a shell script, not HTML
)


class WorkerFleet(Construct):
    """The EC2 fleet that serves one ``WorkerType``.

    ``queues`` are the ``WorkerQueue`` constructs it consumes. ``asg`` is the
    Auto Scaling group; pass the fleet itself to the scaling constructs.
    ``tags`` (default none) are propagated to the instances it launches.
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
    ) -> None:
        super().__init__(scope, construct_id)
        if not queues:
            raise ValueError(f"fleet {settings.key}: queues is empty")
        self.settings = settings
        self.worker_type = settings.worker_type
        self.queues = list(queues)
        self.name = f"{name_prefix}-{settings.key}-workers"

        role = IamRole(
            self,
            "instance-role",
            name=f"{self.name}-instance",
            assume_role_policy=assume_role_policy(self, "instance-trust", "ec2.amazonaws.com").json,
        )
        profile = IamInstanceProfile(
            self, "instance-profile", name=f"{self.name}-instance", role=role.name
        )

        template = LaunchTemplate(
            self,
            "launch-template",
            name=self.name,
            image_id=settings.ami,
            instance_type=settings.instance_types[0],
            update_default_version=True,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile.arn),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                http_put_response_hop_limit=1,
                instance_metadata_tags="enabled",
            ),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name="/dev/xvda",
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        encrypted="true",
                        volume_type="gp3",
                        volume_size=settings.volume_size_gb,
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                LaunchTemplateTagSpecifications(
                    resource_type=kind,
                    tags={"Name": self.name, DIMENSION_NAME: self.worker_type.value},
                )
                for kind in ("instance", "volume")
            ],
            user_data=Fn.base64encode(
                _TEMPLATES.get_template("user_data.sh.j2").render(
                    worker_type=self.worker_type.value,
                    region=region,
                    queue_urls=[q.url for q in self.queues],
                    asg_name=self.name,
                    protect_from_scale_in=settings.protect_from_scale_in,
                    extra=settings.user_data_extra,
                )
            ),
        )

        placement: dict[str, list[str]] = (
            {"vpc_zone_identifier": list(settings.subnet_ids)}
            if settings.subnet_ids
            else {"availability_zones": list(settings.availability_zones)}
        )
        launch: dict[str, object]
        if len(settings.instance_types) == 1:
            launch = {
                "launch_template": AutoscalingGroupLaunchTemplate(id=template.id, version="$Latest")
            }
        else:
            launch = {
                "mixed_instances_policy": AutoscalingGroupMixedInstancesPolicy(
                    launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                        launch_template_specification=AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                            launch_template_id=template.id, version="$Latest"
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

        policy = PolicyDocumentBuilder()
        for queue in self.queues:
            queue.grant_consume_messages(policy)
        if settings.protect_from_scale_in:
            # The worker clears its own protection when idle, and sets it when it takes a job.
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
