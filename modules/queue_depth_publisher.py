"""``QueueDepthPublisher``: the queue-depth Lambda, its schedule, role, logs and alarms.

Every minute (EventBridge, ``rate(1 minute)`` by default) the Lambda reads each
fleet's queues, publishes ``QueueDepth`` and ``BacklogPerInstance`` per
``WorkerType`` and sets the Video fleet's desired capacity. Its environment is
built from the metric contract, the same module the scaling policies use.

IAM, from grant methods only:

* ``sqs:GetQueueAttributes`` on exactly the fleets' queues;
* ``cloudwatch:PutMetricData`` with ``cloudwatch:namespace`` = the contract's
  namespace (the action has no resource-level permissions);
* ``autoscaling:SetDesiredCapacity`` on the Lambda-controlled ASGs, and on the
  target-tracked ASGs that it activates from zero (``min_size = 0``), no others;
* ``autoscaling:DescribeAutoScalingGroups`` (cannot be resource-scoped);
* ``logs:CreateLogStream``/``logs:PutLogEvents`` on its own log group;
* ``xray:PutTraceSegments``/``xray:PutTelemetryRecords`` (active tracing; X-Ray
  has no resource-level permissions);
* optionally ``secretsmanager:GetSecretValue`` on the tenant-backlog secret and
  the ENI calls Lambda needs inside a VPC.

Reserved concurrency 1: two ticks never overlap, so two decisions on the Video
fleet never race; failed ticks are not retried (the next tick is a minute away),
and a duplicate delivery of one tick scales in once (the Lambda's marker tag,
``autoscaling:CreateOrUpdateTags`` on the Video ASG for that one tag key).
Alarms (``PublisherAlarms``, ``modules/publisher_alarms.py``) fire on Lambda
errors, on missing ``QueueDepth`` data and on a tracked series missing at its
sampling period (missing data is breaching: a silent publisher freezes target
tracking). Each invocation samples every ``publisher.sample_seconds`` until the
next minute, so the timeout (checked by the settings) covers that minute.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from constructs import Construct

from modules.aws import (
    CloudwatchEventRule,
    CloudwatchEventTarget,
    CloudwatchLogGroup,
    IamRole,
    IamRolePolicy,
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionEventInvokeConfig,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
    LambdaPermission,
)
from modules.checkov import suppress
from modules.iam import Condition, PolicyDocumentBuilder, assume_role_policy
from modules.publisher_alarms import PublisherAlarms
from modules.publisher_environment import publisher_environment
from modules.settings import PublisherSettings
from modules.worker_fleet import WorkerFleet
from worker_metrics import contract
from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, WorkerType

HANDLER = "lambda_function.lambda_handler"
"""The seed's module name and the AWS default handler name."""

LONG_LOG_RETENTION_DAYS = 365
"""checkov CKV_AWS_338 asks for at least a year of log retention."""


class QueueDepthPublisher(Construct):
    """The queue-depth Lambda for ``fleets`` (one per ``WorkerType``).

    ``lambda_zip``: the package built by ``make lambda``; its sha256 becomes
    ``source_code_hash`` so a code change redeploys and nothing else does.
    Raises ``ValueError`` when a worker type has no fleet or the zip is missing.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PublisherSettings,
        fleets: list[WorkerFleet],
        name_prefix: str,
        lambda_zip: Path,
        namespace: str = contract.DEFAULT_NAMESPACE,
        metric_name: str = contract.DEFAULT_METRIC_NAME,
        backlog_per_instance_metric_name: str = contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    ) -> None:
        super().__init__(scope, construct_id)
        by_type = {fleet.worker_type: fleet for fleet in fleets}
        missing = [t.value for t in WorkerType if t not in by_type]
        if missing:
            raise ValueError(f"fleets: no fleet for worker type(s) {', '.join(missing)}")
        if not lambda_zip.is_file():
            raise ValueError(
                f"lambda_zip = {str(lambda_zip)!r}: not found; run `make lambda` first"
            )
        self.settings = settings
        self.fleets = by_type
        self.namespace = namespace
        self.metric_name = metric_name
        self.backlog_per_instance_metric_name = backlog_per_instance_metric_name
        self.function_name = f"{name_prefix}-queue-depth"

        # Every resource is created in this construct's own scope, alarms included: the
        # construct path is the Terraform address, so a new level would replace them all.
        self.log_group = self._log_group()
        self.policy = self._grants(fleets)
        self.role = IamRole(
            self,
            "role",
            name=self.function_name,
            assume_role_policy=assume_role_policy(self, "trust", "lambda.amazonaws.com").json,
        )
        role_policy = IamRolePolicy(
            self,
            "role-policy",
            name=self.function_name,
            role=self.role.id,
            policy=self.policy.render(self, "policy-document").json,
        )
        self.environment = self._environment()
        self.function = self._function(lambda_zip, role_policy)
        self.schedule = self._schedule()
        alarms = PublisherAlarms(
            self,
            function=self.function,
            name_prefix=self.function_name,
            namespace=namespace,
            metric_name=metric_name,
            tracked_metric_name=backlog_per_instance_metric_name,
            tracked_period_seconds=settings.sample_seconds,
            actions=settings.alarm_topic_arns,
        )
        self.errors_alarm = alarms.errors_alarm
        self.missing_data_alarms = alarms.missing_data_alarms
        self.tracked_missing_data_alarms = alarms.tracked_missing_data_alarms

    def _log_group(self) -> CloudwatchLogGroup:
        """``/aws/lambda/<function>`` with ``publisher.log_retention_days``."""
        log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=f"/aws/lambda/{self.function_name}",
            retention_in_days=self.settings.log_retention_days,
        )
        suppress(
            log_group,
            "CKV_AWS_158",
            "Tick logs hold queue depths and capacity decisions, no personal or secret data; "
            "CloudWatch Logs encrypts them at rest with its own key. A customer-managed KMS key "
            "would add a key policy for the logs service and cost without protecting anything.",
        )
        if self.settings.log_retention_days < LONG_LOG_RETENTION_DAYS:
            suppress(
                log_group,
                "CKV_AWS_338",
                f"Retention is publisher.log_retention_days = {self.settings.log_retention_days} "
                "of this environment: operational tick logs, not an audit trail (CloudTrail "
                "records every scaling call). Set it to 365 or more and this skip goes away.",
            )
        return log_group

    def _grants(self, fleets: list[WorkerFleet]) -> PolicyDocumentBuilder:
        """The function's permissions, as listed in the module docstring: the grant
        methods of ``fleets`` and their queues, plus the statements no construct owns."""
        policy = PolicyDocumentBuilder()
        for fleet in fleets:
            for queue in fleet.queues:
                queue.grant_read_attributes(policy)
        policy.allow(
            "PutMetricDataInOwnNamespace",
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions=(Condition("StringEquals", "cloudwatch:namespace", (self.namespace,)),),
        )
        policy.allow("DescribeAutoScalingGroups", ["autoscaling:DescribeAutoScalingGroups"], ["*"])
        for worker_type in LAMBDA_CONTROLLED_TYPES:
            self.fleets[worker_type].grant_set_desired_capacity(policy)
            self.fleets[worker_type].grant_tag(policy, contract.VIDEO_SCALE_IN_MARKER_TAG)
        for fleet in fleets:
            if fleet.settings.activates_from_zero:
                fleet.grant_activation(policy)
        policy.allow("SendTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
        policy.allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{self.log_group.arn}:*"],
        )
        tenant = self.settings.tenant_backlog
        if tenant is not None:
            policy.allow(
                "ReadBacklogDatabaseSecret", ["secretsmanager:GetSecretValue"], [tenant.secret_arn]
            )
            if tenant.subnet_ids:
                policy.allow(
                    "LambdaVpcNetworkInterfaces",
                    [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    ["*"],
                )
        return policy

    def _function(self, lambda_zip: Path, role_policy: IamRolePolicy) -> LambdaFunction:
        """The function from ``lambda_zip``, reserved concurrency 1, no retries.

        ``role_policy``: the role's policy, which must exist before the first tick.
        """
        settings = self.settings
        tenant = settings.tenant_backlog
        in_vpc = tenant is not None and bool(tenant.subnet_ids)
        asset = TerraformAsset(self, "package", path=str(lambda_zip.resolve()), type=AssetType.FILE)
        function = LambdaFunction(
            self,
            "function",
            function_name=self.function_name,
            description=(
                "Publishes QueueDepth/BacklogPerInstance per WorkerType and drives the Video fleet"
            ),
            role=self.role.arn,
            handler=HANDLER,
            runtime=settings.runtime,
            architectures=[settings.architecture],
            memory_size=settings.memory_mb,
            timeout=settings.timeout_seconds,
            reserved_concurrent_executions=1,
            filename=asset.path,
            source_code_hash=base64.b64encode(
                hashlib.sha256(lambda_zip.read_bytes()).digest()
            ).decode(),
            environment=LambdaFunctionEnvironment(variables=self.environment),
            # Active tracing: a slow tick (SQS, PutMetricData, the backlog query) shows
            # where its time went. Costs cents at one trace a minute.
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            vpc_config=(
                LambdaFunctionVpcConfig(
                    subnet_ids=list(tenant.subnet_ids),
                    security_group_ids=list(tenant.security_group_ids),
                )
                if tenant is not None and tenant.subnet_ids
                else None
            ),
            # The log group must exist (with its retention) before the first invocation
            # creates it implicitly with infinite retention; the policy before the first tick.
            depends_on=[self.log_group, role_policy],
        )
        self._suppress_function_findings(function, in_vpc=in_vpc)

        # A failed tick is not retried: the next scheduled tick, a minute later, reads
        # fresh state, whereas a retry would arrive late and overlap it.
        LambdaFunctionEventInvokeConfig(
            self,
            "no-retries",
            function_name=function.function_name,
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=60,
        )
        return function

    def _schedule(self) -> CloudwatchEventRule:
        """The EventBridge rule (``publisher.schedule``), its target and the permission
        for EventBridge to invoke the function."""
        schedule = CloudwatchEventRule(
            self,
            "schedule",
            name=self.function_name,
            description="Tick of the queue-depth Lambda",
            schedule_expression=self.settings.schedule,
        )
        CloudwatchEventTarget(
            self,
            "schedule-target",
            rule=schedule.name,
            arn=self.function.arn,
            target_id="queue-depth",
        )
        LambdaPermission(
            self,
            "schedule-permission",
            statement_id="AllowEventBridgeSchedule",
            action="lambda:InvokeFunction",
            function_name=self.function.function_name,
            principal="events.amazonaws.com",
            source_arn=schedule.arn,
        )
        return schedule

    @staticmethod
    def _suppress_function_findings(function: LambdaFunction, *, in_vpc: bool) -> None:
        """checkov findings on ``function`` that do not apply, each with its reason."""
        suppress(
            function,
            "CKV_AWS_116",
            "EventBridge invokes it asynchronously once a minute; a failed tick must not be "
            "replayed later from a dead-letter queue (its queue depths and Video decision would "
            "be stale), the next tick supersedes it, and the errors alarm reports the failure.",
        )
        if not in_vpc:
            suppress(
                function,
                "CKV_AWS_117",
                "It only calls AWS APIs (SQS, CloudWatch, Auto Scaling) and reaches no private "
                "resource; with a tenant-backlog database configured it does run in that VPC.",
            )
        suppress(
            function,
            "CKV_AWS_272",
            "Code signing needs packages in S3 signed by AWS Signer; this zip is built "
            "reproducibly by `make lambda` in the same pipeline and pinned by "
            "source_code_hash, so a changed package is a visible plan diff.",
        )
        suppress(
            function,
            "CKV_AWS_173",
            "The environment holds queue URLs, ASG names and metric names only, no secrets "
            "(the database password comes from Secrets Manager at run time); Lambda encrypts "
            "it at rest with its service key.",
        )

    def _environment(self) -> dict[str, str]:
        """The Lambda's environment (``publisher_environment``, shared with the simulator)."""
        return publisher_environment(
            self.settings,
            {t: fleet.settings for t, fleet in self.fleets.items()},
            queue_urls={t: [q.url for q in fleet.queues] for t, fleet in self.fleets.items()},
            asg_names={t: fleet.asg.name for t, fleet in self.fleets.items()},
            namespace=self.namespace,
            metric_name=self.metric_name,
            backlog_per_instance_metric_name=self.backlog_per_instance_metric_name,
        )
