"""The IAM policies of the deploy and plan roles, generated from the synthesized stacks.

    python scripts/deploy_policy.py [--env prod] [--synth-dir cdktf.out] [--check]

Reads ``<synth-dir>/stacks/{workers,tfstate}-<env>/cdk.tf.json``, collects every
resource and data source, and grants, per Terraform type, the API calls the
AWS provider makes to create, read, update and delete it (``PERMISSIONS``).
Resources are scoped to the ARNs of the names the stack synthesizes (queue,
role, function, rule, alarm, log group, bucket names are literal in the
Terraform JSON); the account is ``*`` because a role's identity policy only
ever acts inside its own account. Only the calls that IAM cannot scope
(``Describe*``, ``sts:GetCallerIdentity``, ...) use ``Resource: "*"``.

Writes ``deploy/deploy-role-policy.json`` (everything ``make deploy`` does) and
``deploy/plan-role-policy.json`` (the read calls ``make plan`` and the drift
report need, plus the state lock). ``--check`` exits 1 when the committed files
differ from what the stacks need now. A Terraform type with no entry in
``PERMISSIONS`` is an error: a new resource cannot ship without its permissions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DIR = ROOT / "deploy"
DEPLOY_POLICY = "deploy-role-policy.json"
PLAN_POLICY = "plan-role-policy.json"
INLINE_POLICY_MAX_CHARS = 10_240
"""IAM quota: all inline policies of one role, whitespace excluded. The documents
are attached inline (``aws iam put-role-policy``); a managed policy would be
limited to 6,144 characters."""

_REF = re.compile(r"^\$\{(?:(data)\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}$")

Doc = Mapping[str, Any]
Config = Mapping[str, Any]


@dataclass(frozen=True)
class Grant:
    """Actions on resource ARN patterns; ``read`` grants also go to the plan role."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    read: bool = False


@dataclass(frozen=True)
class Context:
    """What an ARN needs besides the resource's own config."""

    region: str
    doc: Doc

    def ref(self, value: str) -> Config:
        """The config of the resource a ``${type.id.attr}`` token points at."""
        match = _REF.match(value)
        if not match:
            raise ValueError(f"not a resource reference: {value!r}")
        section = "data" if match.group(1) else "resource"
        return self.doc[section][match.group(2)][match.group(3)]

    def name(self, value: str, key: str) -> str:
        """A literal name, or the ``key`` of the resource a reference points at."""
        return str(value) if not str(value).startswith("${") else str(self.ref(value)[key])


ANY = ("*",)

Rule = Callable[[Context, Config], tuple[Grant, ...]]


def _sqs(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:sqs:{ctx.region}:*:{c['name']}",)
    return (
        Grant(("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"), arn, read=True),
        Grant(
            (
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
                "sqs:UntagQueue",
            ),
            arn,
        ),
    )


def _sqs_data(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:sqs:{ctx.region}:*:{c['name']}",)
    return (Grant(("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"), arn, True),)


def _role(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:iam::*:role/{c['name']}",)
    return (
        Grant(
            (
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
            ),
            arn,
            read=True,
        ),
        Grant(
            (
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:PassRole",  # to Lambda and, through the instance profile, to EC2
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
            ),
            arn,
        ),
    )


def _role_policy(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:iam::*:role/{ctx.name(c['role'], 'name')}",)
    return (
        Grant(("iam:GetRolePolicy",), arn, read=True),
        Grant(("iam:DeleteRolePolicy", "iam:PutRolePolicy"), arn),
    )


def _instance_profile(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:iam::*:instance-profile/{c['name']}",)
    return (
        Grant(("iam:GetInstanceProfile",), arn, read=True),
        Grant(
            (
                "iam:AddRoleToInstanceProfile",
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:UntagInstanceProfile",
            ),
            arn,
        ),
    )


def _launch_template(ctx: Context, c: Config) -> tuple[Grant, ...]:
    # Launch template ARNs carry the generated id (lt-...), unknown before creation.
    arn = (f"arn:aws:ec2:{ctx.region}:*:launch-template/*",)
    return (
        Grant(("ec2:DescribeLaunchTemplateVersions", "ec2:DescribeLaunchTemplates"), ANY, True),
        Grant(
            (
                "ec2:CreateLaunchTemplate",
                "ec2:CreateLaunchTemplateVersion",
                "ec2:CreateTags",
                "ec2:DeleteLaunchTemplate",
                "ec2:DeleteLaunchTemplateVersions",
                "ec2:ModifyLaunchTemplate",
            ),
            arn,
        ),
        # Resolving `resolve:ssm:` AMIs and validating image ids.
        Grant(("ec2:DescribeImages",), ANY, True),
    )


def _asg_arn(ctx: Context, name: str) -> str:
    return f"arn:aws:autoscaling:{ctx.region}:*:autoScalingGroup:*:autoScalingGroupName/{name}"


def _asg(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (_asg_arn(ctx, c["name"]),)
    return (
        Grant(
            (
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeInstanceRefreshes",
                "autoscaling:DescribeLifecycleHooks",
                "autoscaling:DescribeLoadBalancerTargetGroups",
                "autoscaling:DescribeLoadBalancers",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTrafficSources",
                "autoscaling:DescribeWarmPool",
            ),
            ANY,
            read=True,
        ),
        Grant(
            (
                "autoscaling:CancelInstanceRefresh",
                "autoscaling:CreateAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:DeleteTags",
                "autoscaling:DisableMetricsCollection",
                "autoscaling:EnableMetricsCollection",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:UpdateAutoScalingGroup",
            ),
            arn,
        ),
        # Creating a group from a launch template checks that the caller may
        # launch what it describes (AWS: "Launch template permissions").
        Grant(
            ("ec2:CreateTags", "ec2:RunInstances"),
            (f"arn:aws:ec2:{ctx.region}:*:*", f"arn:aws:ec2:{ctx.region}::image/*"),
        ),
        Grant(
            ("iam:CreateServiceLinkedRole",),
            (
                "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/"
                "AWSServiceRoleForAutoScaling",
            ),
        ),
    )


def _asg_policy(ctx: Context, c: Config) -> tuple[Grant, ...]:
    # PutScalingPolicy/DeletePolicy authorize against the group.
    arn = (_asg_arn(ctx, ctx.name(c["autoscaling_group_name"], "name")),)
    return (
        Grant(("autoscaling:DescribePolicies",), ANY, True),
        Grant(("autoscaling:DeletePolicy", "autoscaling:PutScalingPolicy"), arn),
    )


def _lifecycle_hook(ctx: Context, c: Config) -> tuple[Grant, ...]:
    # PutLifecycleHook/DeleteLifecycleHook authorize against the group.
    arn = (_asg_arn(ctx, ctx.name(c["autoscaling_group_name"], "name")),)
    return (
        Grant(("autoscaling:DescribeLifecycleHooks",), ANY, True),
        Grant(("autoscaling:DeleteLifecycleHook", "autoscaling:PutLifecycleHook"), arn),
    )


def _log_group(ctx: Context, c: Config) -> tuple[Grant, ...]:
    name = c["name"]
    arn = (
        f"arn:aws:logs:{ctx.region}:*:log-group:{name}",
        f"arn:aws:logs:{ctx.region}:*:log-group:{name}:*",
    )
    return (
        Grant(("logs:DescribeLogGroups",), ANY, True),
        Grant(("logs:ListTagsForResource", "logs:ListTagsLogGroup"), arn, True),
        Grant(
            (
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DeleteRetentionPolicy",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
            ),
            arn,
        ),
    )


def _function_arn(ctx: Context, name: str) -> tuple[str, ...]:
    return (f"arn:aws:lambda:{ctx.region}:*:function:{name}",)


def _lambda(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = _function_arn(ctx, c["function_name"])
    grants = [
        Grant(
            (
                "lambda:GetFunction",
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetPolicy",
                "lambda:GetRuntimeManagementConfig",
                "lambda:ListTags",
                "lambda:ListVersionsByFunction",
            ),
            arn,
            read=True,
        ),
        Grant(
            (
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:DeleteFunctionConcurrency",
                "lambda:PutFunctionConcurrency",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ),
            arn,
        ),
    ]
    if c.get("vpc_config"):
        grants.append(
            Grant(
                (
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                ),
                ANY,
                True,
            )
        )
    return tuple(grants)


def _lambda_permission(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = _function_arn(ctx, ctx.name(c["function_name"], "function_name"))
    return (
        Grant(("lambda:GetPolicy",), arn, True),
        Grant(("lambda:AddPermission", "lambda:RemovePermission"), arn),
    )


def _lambda_invoke_config(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = _function_arn(ctx, ctx.name(c["function_name"], "function_name"))
    return (
        Grant(("lambda:GetFunctionEventInvokeConfig",), arn, True),
        Grant(
            (
                "lambda:DeleteFunctionEventInvokeConfig",
                "lambda:PutFunctionEventInvokeConfig",
                "lambda:UpdateFunctionEventInvokeConfig",
            ),
            arn,
        ),
    )


def _rule_arn(ctx: Context, name: str) -> tuple[str, ...]:
    return (f"arn:aws:events:{ctx.region}:*:rule/{name}",)


def _event_rule(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = _rule_arn(ctx, c["name"])
    return (
        Grant(("events:DescribeRule", "events:ListTagsForResource"), arn, True),
        Grant(
            (
                "events:DeleteRule",
                "events:DisableRule",
                "events:EnableRule",
                "events:PutRule",
                "events:TagResource",
                "events:UntagResource",
            ),
            arn,
        ),
    )


def _event_target(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = _rule_arn(ctx, ctx.name(c["rule"], "name"))
    return (
        Grant(("events:ListTargetsByRule",), arn, True),
        Grant(("events:PutTargets", "events:RemoveTargets"), arn),
    )


def _alarm(ctx: Context, c: Config) -> tuple[Grant, ...]:
    arn = (f"arn:aws:cloudwatch:{ctx.region}:*:alarm:{c['alarm_name']}",)
    return (
        Grant(("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"), arn, True),
        Grant(
            (
                "cloudwatch:DeleteAlarms",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
            ),
            arn,
        ),
    )


def _dashboard(ctx: Context, c: Config) -> tuple[Grant, ...]:
    # Dashboards are global: no region in their ARN.
    arn = (f"arn:aws:cloudwatch::*:dashboard/{c['dashboard_name']}",)
    return (
        Grant(("cloudwatch:GetDashboard",), arn, read=True),
        Grant(("cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard"), arn),
    )


def _bucket_arn(ctx: Context, c: Config) -> tuple[str, ...]:
    return (f"arn:aws:s3:::{ctx.name(c['bucket'], 'bucket')}",)


def _bucket(ctx: Context, c: Config) -> tuple[Grant, ...]:
    # The provider reads every bucket sub-configuration on refresh.
    arn = _bucket_arn(ctx, c)
    return (
        Grant(
            (
                "s3:GetAccelerateConfiguration",
                "s3:GetBucketAcl",
                "s3:GetBucketCORS",
                "s3:GetBucketLocation",
                "s3:GetBucketLogging",
                "s3:GetBucketObjectLockConfiguration",
                "s3:GetBucketPolicy",
                "s3:GetBucketRequestPayment",
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetBucketWebsite",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:GetReplicationConfiguration",
                "s3:ListBucket",
            ),
            arn,
            read=True,
        ),
        Grant(("s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketTagging"), arn),
    )


def _bucket_part(read: tuple[str, ...], write: tuple[str, ...]) -> Rule:
    def rule(ctx: Context, c: Config) -> tuple[Grant, ...]:
        arn = _bucket_arn(ctx, c)
        return (Grant(read, arn, True), Grant(write, arn))

    return rule


PERMISSIONS: dict[str, Rule] = {
    "resource.aws_autoscaling_group": _asg,
    "resource.aws_autoscaling_policy": _asg_policy,
    "resource.aws_cloudwatch_dashboard": _dashboard,
    "resource.aws_autoscaling_lifecycle_hook": _lifecycle_hook,
    "resource.aws_cloudwatch_event_rule": _event_rule,
    "resource.aws_cloudwatch_event_target": _event_target,
    "resource.aws_cloudwatch_log_group": _log_group,
    "resource.aws_cloudwatch_metric_alarm": _alarm,
    "resource.aws_iam_instance_profile": _instance_profile,
    "resource.aws_iam_role": _role,
    "resource.aws_iam_role_policy": _role_policy,
    "resource.aws_lambda_function": _lambda,
    "resource.aws_lambda_function_event_invoke_config": _lambda_invoke_config,
    "resource.aws_lambda_permission": _lambda_permission,
    "resource.aws_launch_template": _launch_template,
    "resource.aws_sqs_queue": _sqs,
    "resource.aws_s3_bucket": _bucket,
    "resource.aws_s3_bucket_lifecycle_configuration": _bucket_part(
        ("s3:GetLifecycleConfiguration",), ("s3:PutLifecycleConfiguration",)
    ),
    "resource.aws_s3_bucket_ownership_controls": _bucket_part(
        ("s3:GetBucketOwnershipControls",),
        ("s3:PutBucketOwnershipControls",),
    ),
    "resource.aws_s3_bucket_policy": _bucket_part(
        ("s3:GetBucketPolicy",), ("s3:DeleteBucketPolicy", "s3:PutBucketPolicy")
    ),
    "resource.aws_s3_bucket_public_access_block": _bucket_part(
        ("s3:GetBucketPublicAccessBlock",), ("s3:PutBucketPublicAccessBlock",)
    ),
    "resource.aws_s3_bucket_server_side_encryption_configuration": _bucket_part(
        ("s3:GetEncryptionConfiguration",), ("s3:PutEncryptionConfiguration",)
    ),
    "resource.aws_s3_bucket_versioning": _bucket_part(
        ("s3:GetBucketVersioning",), ("s3:PutBucketVersioning",)
    ),
    "data.aws_sqs_queue": _sqs_data,
    # Evaluated by Terraform itself: no API call.
    "data.aws_iam_policy_document": lambda ctx, c: (),
}
"""Terraform type (``resource.<type>`` / ``data.<type>``) -> the grants it needs."""


def instances(doc: Doc) -> Iterator[tuple[str, str, Config]]:
    """``(kind, logical id, config)`` for every resource and data source of a stack."""
    for section in ("resource", "data"):
        for tf_type, by_id in sorted(doc.get(section, {}).items()):
            for logical_id, config in sorted(by_id.items()):
                yield f"{section}.{tf_type}", logical_id, config


def stack_grants(doc: Doc, region: str) -> list[Grant]:
    """Every grant one synthesized stack needs. Raises ``KeyError`` naming an unmapped type."""
    ctx = Context(region=region, doc=doc)
    grants = [Grant(("sts:GetCallerIdentity",), ANY, read=True)]  # the provider's account lookup
    for kind, logical_id, config in instances(doc):
        if kind not in PERMISSIONS:
            raise KeyError(
                f"{kind} ({logical_id}): no entry in PERMISSIONS of scripts/deploy_policy.py; "
                "add the API calls the provider makes for it"
            )
        grants.extend(PERMISSIONS[kind](ctx, config))
    backend = doc.get("terraform", {}).get("backend", {}).get("s3")
    if backend:
        bucket, key = backend["bucket"], backend["key"]
        objects = (f"arn:aws:s3:::{bucket}/{key}",)
        lock = (f"arn:aws:s3:::{bucket}/{key}.tflock",)  # use_lockfile: plan takes the lock too
        grants += [
            Grant(("s3:ListBucket",), (f"arn:aws:s3:::{bucket}",), True),
            Grant(("s3:GetObject",), objects + lock, True),
            Grant(("s3:DeleteObject", "s3:PutObject"), lock, True),
            Grant(("s3:PutObject",), objects),
        ]
    return grants


def policy_document(grants: list[Grant], *, read_only: bool) -> dict[str, Any]:
    """Merge grants into one statement per (service, resource set), sorted and stable."""
    merged: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    by_action: dict[str, set[str]] = {}
    for grant in grants:
        if read_only and not grant.read:
            continue
        for action in grant.actions:
            by_action.setdefault(action, set()).update(grant.resources)
    for action, resources in by_action.items():
        scope = ANY if "*" in resources else tuple(sorted(resources))
        merged.setdefault((action.split(":")[0], scope), set()).add(action)
    statements: list[dict[str, Any]] = []
    per_service: dict[str, int] = {}
    for (service, scope), actions in sorted(merged.items()):
        per_service[service] = per_service.get(service, 0) + 1
        statements.append(
            {
                "Sid": f"{service.title().replace('-', '')}{per_service[service]}",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": "*" if scope == ANY else list(scope),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def compact_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against the inline-policy quota (whitespace excluded)."""
    return len(json.dumps(document, separators=(",", ":")))


def region_of(doc: Doc) -> str:
    providers = doc["provider"]["aws"]
    return str(providers[0]["region"])


def build(synth_dir: Path, env: str) -> dict[str, dict[str, Any]]:
    """``{file name: policy document}`` for ``env``'s workers and tfstate stacks."""
    grants: list[Grant] = []
    for stack in (f"workers-{env}", f"tfstate-{env}"):
        path = synth_dir / "stacks" / stack / "cdk.tf.json"
        if not path.is_file():
            if stack.startswith("workers-"):
                raise FileNotFoundError(f"{path}: not synthesized; run `make synth` first")
            continue  # an environment with a local backend has no bootstrap stack
        doc = json.loads(path.read_text())
        grants += stack_grants(doc, region_of(doc))
    return {
        DEPLOY_POLICY: policy_document(grants, read_only=False),
        PLAN_POLICY: policy_document(grants, read_only=True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="prod")
    parser.add_argument("--synth-dir", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--out-dir", type=Path, default=DEPLOY_DIR)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    try:
        documents = build(args.synth_dir, args.env)
    except (FileNotFoundError, KeyError) as err:
        print(f"deploy-policy: {err}", file=sys.stderr)
        return 2
    stale = []
    for name, document in documents.items():
        size = compact_size(document)
        if size > INLINE_POLICY_MAX_CHARS:
            print(f"deploy-policy: {name}: {size} characters, over the quota", file=sys.stderr)
            return 2
        path = args.out_dir / name
        text = render(document)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"deploy-policy: wrote {path} ({size} characters)")
    if stale:
        print(f"deploy-policy: stale {', '.join(stale)}: run `make deploy-policy`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
