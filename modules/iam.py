"""IAM policy documents built from statements, never from handwritten JSON.

``PolicyDocumentBuilder`` collects statements from grant methods
(``WorkerQueue.grant_read_attributes`` ...) and renders them as an
``aws_iam_policy_document`` data source, which Terraform evaluates locally
(no API call). It refuses wildcard actions, and it refuses ``Resource: "*"``
unless the action is one that IAM cannot scope to a resource
(``UNSCOPABLE_ACTIONS``), so least privilege is checked when the stack is
built, not in review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct

from modules.aws import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)

UNSCOPABLE_ACTIONS: dict[str, str] = {
    "autoscaling:DescribeAutoScalingGroups": (
        "Describe* calls do not support resource-level permissions"
    ),
    "cloudwatch:PutMetricData": (
        "no resource-level permissions; scoped by the cloudwatch:namespace condition"
    ),
    "ec2:CreateNetworkInterface": "Lambda VPC access: ENIs are created before their ARN exists",
    "ec2:DescribeNetworkInterfaces": "Describe* calls do not support resource-level permissions",
    "ec2:DeleteNetworkInterface": "Lambda VPC access: ENI ids are not known in advance",
    "ec2:AssignPrivateIpAddresses": "Lambda VPC access: ENI ids are not known in advance",
    "ec2:UnassignPrivateIpAddresses": "Lambda VPC access: ENI ids are not known in advance",
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions for sending traces",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions for sending traces",
}
"""Actions that may use ``Resource: "*"``, each with the reason (AWS service
authorization reference). Nothing else may."""


@dataclass(frozen=True)
class Condition:
    """One IAM condition, e.g. ``Condition("StringEquals", "cloudwatch:namespace", ("A/B",))``."""

    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One Allow statement. ``resources`` may hold Terraform tokens (ARNs)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError(f"statement {self.sid}: actions is empty")
        for action in self.actions:
            if "*" in action:
                raise ValueError(f"statement {self.sid}: wildcard action {action!r} is not allowed")
        if not self.resources:
            raise ValueError(f"statement {self.sid}: resources is empty")
        if "*" in self.resources:
            scoped = [a for a in self.actions if a not in UNSCOPABLE_ACTIONS]
            if scoped:
                raise ValueError(
                    f"statement {self.sid}: Resource '*' with {scoped[0]!r}, which can be "
                    "scoped to a resource ARN"
                )


@dataclass
class PolicyDocumentBuilder:
    """Collects statements; ``render`` turns them into a policy document."""

    statements: list[Statement] = field(default_factory=list)

    def allow(
        self,
        sid: str,
        actions: list[str] | tuple[str, ...],
        resources: list[str] | tuple[str, ...],
        conditions: tuple[Condition, ...] = (),
    ) -> None:
        """Add an Allow statement (validated: no wildcard actions, scoped resources).

        A second grant with the same ``sid``, actions and conditions adds its
        resources to the first statement (several queues -> one statement);
        the same ``sid`` with other actions is an error.
        """
        statement = Statement(sid, tuple(actions), tuple(resources), conditions)
        for index, existing in enumerate(self.statements):
            if existing.sid != sid:
                continue
            if (existing.actions, existing.conditions) != (statement.actions, statement.conditions):
                raise ValueError(f"statement {sid}: same Sid with other actions or conditions")
            merged = existing.resources + tuple(r for r in resources if r not in existing.resources)
            self.statements[index] = Statement(sid, existing.actions, merged, existing.conditions)
            return
        self.statements.append(statement)

    def render(self, scope: Construct, construct_id: str) -> DataAwsIamPolicyDocument:
        """The statements as an ``aws_iam_policy_document`` data source."""
        if not self.statements:
            raise ValueError(f"policy {construct_id}: no statements")
        return DataAwsIamPolicyDocument(
            scope,
            construct_id,
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid=s.sid,
                    effect="Allow",
                    actions=list(s.actions),
                    resources=list(s.resources),
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test=c.test, variable=c.variable, values=list(c.values)
                        )
                        for c in s.conditions
                    ]
                    or None,
                )
                for s in self.statements
            ],
        )


def assume_role_policy(
    scope: Construct, construct_id: str, service: str
) -> DataAwsIamPolicyDocument:
    """Trust policy that lets one AWS service (e.g. ``lambda.amazonaws.com``) assume a role."""
    return DataAwsIamPolicyDocument(
        scope,
        construct_id,
        statement=[
            DataAwsIamPolicyDocumentStatement(
                effect="Allow",
                actions=["sts:AssumeRole"],
                principals=[
                    DataAwsIamPolicyDocumentStatementPrincipals(
                        type="Service", identifiers=[service]
                    )
                ],
            )
        ],
    )
