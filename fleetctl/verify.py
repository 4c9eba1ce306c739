"""``fleetctl verify``: live checks of the deployed metric pipeline.

Names come from the stack's outputs (``fleetctl.stack_outputs``), expectations
from the metric contract; nothing deployed is spelled here. The checks:

1. ``ListMetrics`` shows each ``WorkerType`` series of ``QueueDepth`` and
   ``BacklogPerInstance``;
2. ``GetMetricStatistics`` over the last N minutes at 60 s has datapoints for
   each of them, with no gap longer than ``MAX_GAP_PERIODS`` periods (also at
   the end: a publisher that stopped is a gap);
3. the AI and Messaging ASGs each have exactly one target-tracking policy on
   the contract's series, and Video (Lambda-controlled) has none;
4. the EventBridge rule is ENABLED, runs ``rate(1 minute)`` and targets the function;
5. the function's environment matches the contract and the outputs;
6. the function had no errors (``AWS/Lambda`` ``Errors``, Sum) in the window.

Exit codes: 0 all passed, 1 a check failed, 2 the checks could not run (bad
credentials, unreachable endpoint, unknown environment, outputs missing, or a
check hit an unexpected API error). Credential problems abort the run with one
line naming the cause and the fix; boto3 honours ``AWS_ENDPOINT_URL``, so the
same checks run against the local emulated AWS.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from fleetctl.contract_checks import (
    PublishedSchema,
    dimension_set,
    environment_problems,
    show_dimensions,
)
from fleetctl.stack_outputs import (
    StackOutputs,
    StackOutputsError,
    read_outputs_file,
    read_terraform_outputs,
    stack_dir,
)
from modules.settings import CONFIG_DIR, load_environment
from worker_metrics import contract
from worker_metrics.config import ConfigError, PublisherConfig
from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, TARGET_TRACKED_TYPES, WorkerType

PERIOD_SECONDS = 60
"""The Lambda publishes one datum per type per minute; statistics are read per minute."""

MAX_GAP_PERIODS = 2
"""Longest run of missing one-minute datapoints tolerated (CloudWatch can lag a minute)."""

SCHEDULE_EXPRESSION = "rate(1 minute)"
"""Target tracking evaluates one-minute datapoints and check 2 expects one per minute."""

REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"  # the check could not run


@dataclass(frozen=True)
class CheckResult:
    number: int
    name: str
    status: Status
    detail: str


class CannotVerify(RuntimeError):
    """The checks cannot run at all; the message is one line with the cause and the fix."""


# ------------------------------------------------------------------ credentials

INVALID_CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}
)
EXPIRED_CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_DENIED_ACTION = re.compile(r"perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")


def explain_client_error(error: ClientError, action: str) -> str | None:
    """One line with the cause and the fix for a credential error, else ``None``.

    ``action`` is the IAM action of the failed call (``cloudwatch:ListMetrics``).
    """
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code in INVALID_CREDENTIAL_CODES:
        return (
            f"AWS rejected the credentials ({code} on {action}): the access key does not exist "
            "in this account or the secret key is wrong. Fix: set AWS_PROFILE to a profile of "
            "the deployment account (or export its AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
            "and run again"
        )
    if code in EXPIRED_CREDENTIAL_CODES:
        return (
            f"the AWS session token has expired ({code} on {action}). Fix: run `aws sso login` "
            "(with AWS_PROFILE set to your profile) or refresh the temporary credentials, "
            "and run again"
        )
    if code in ACCESS_DENIED_CODES:
        message = str(error.response.get("Error", {}).get("Message", ""))
        match = _DENIED_ACTION.search(message)
        denied = match.group(1) if match else action
        return (
            f"access denied: the caller may not call {denied} ({code}). Fix: grant `{denied}` "
            "to your role or user, or set AWS_PROFILE to a profile that has it"
        )
    return None


def explain_botocore_error(error: BotoCoreError, action: str) -> str | None:
    """One line with the cause and the fix for a credential/endpoint error, else ``None``."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            f"no AWS credentials found ({type(error).__name__} on {action}). Fix: set AWS_PROFILE "
            "to a configured profile (run `aws sso login` for an SSO profile) or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, TokenRetrievalError | SSOTokenLoadError | UnauthorizedSSOTokenError):
        return (
            f"the SSO session is missing or expired ({type(error).__name__} on {action}). "
            "Fix: run `aws sso login` (with AWS_PROFILE set to your profile) and run again"
        )
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach the AWS endpoint for {action} ({error}). Fix: check the network, "
            "the region, or AWS_ENDPOINT_URL when verifying the local AWS"
        )
    return None


class Aws:
    """The four clients, with every call mapped to ``CannotVerify`` on a credential error."""

    SERVICES = ("cloudwatch", "autoscaling", "events", "lambda")

    def __init__(self, clients: Mapping[str, Any]) -> None:
        missing = [s for s in self.SERVICES if s not in clients]
        if missing:
            raise ValueError(f"clients: missing {', '.join(missing)}")
        self.clients = dict(clients)

    @classmethod
    def from_session(cls, session: boto3.Session) -> Aws:
        """Clients with short timeouts and standard retries (a check should not hang)."""
        config = Config(
            connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}
        )
        return cls({service: session.client(service, config=config) for service in cls.SERVICES})

    def call(self, service: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """``clients[service].<method>(**kwargs)``; raises ``CannotVerify`` for
        credential and endpoint errors, re-raises any other botocore error."""
        client = self.clients[service]
        operation = client.meta.method_to_api_mapping.get(method, method)
        action = f"{client.meta.service_model.service_name}:{operation}"
        try:
            response: dict[str, Any] = getattr(client, method)(**kwargs)
        except ClientError as error:
            explained = explain_client_error(error, action)
            if explained:
                raise CannotVerify(explained) from None
            raise
        except BotoCoreError as error:
            explained = explain_botocore_error(error, action)
            if explained:
                raise CannotVerify(explained) from None
            raise
        return response

    def pages(self, service: str, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of ``response[key]`` over ``NextToken`` pages."""
        token: str | None = None
        while True:
            response = self.call(
                service, method, **kwargs, **({"NextToken": token} if token else {})
            )
            yield from response.get(key, [])
            token = response.get("NextToken")
            if not token:
                return


# ------------------------------------------------------------------ checks


@dataclass(frozen=True)
class Window:
    """The time window of checks 2 and 6."""

    end: datetime
    minutes: int

    @property
    def start(self) -> datetime:
        return self.end - timedelta(minutes=self.minutes)


def _contract_schema() -> PublishedSchema:
    """What the Lambda must publish: the contract's names, for every worker type."""
    return PublishedSchema(
        namespace=contract.DEFAULT_NAMESPACE,
        metric_name=contract.DEFAULT_METRIC_NAME,
        backlog_per_instance_metric_name=contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
        worker_types=tuple(WorkerType),
        tenant_backlog=False,
    )


def _published_metric_names(outputs: StackOutputs) -> tuple[str, str]:
    return outputs.metric_name, outputs.backlog_per_instance_metric_name


def check_list_metrics(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    missing: list[str] = []
    found = 0
    for metric in _published_metric_names(outputs):
        listed = {
            dimension_set((d["Name"], d["Value"]) for d in m.get("Dimensions", []))
            for m in aws.pages(
                "cloudwatch",
                "list_metrics",
                "Metrics",
                Namespace=outputs.metric_namespace,
                MetricName=metric,
            )
        }
        for worker_type in WorkerType:
            if dimension_set([(contract.DIMENSION_NAME, worker_type.value)]) in listed:
                found += 1
            else:
                missing.append(f"{metric} {contract.DIMENSION_NAME}={worker_type.value}")
    if missing:
        return Status.FAIL, (
            f"not listed in {outputs.metric_namespace}: {', '.join(missing)} "
            "(a new series can take up to 15 minutes to appear)"
        )
    return Status.PASS, f"{found} series listed in {outputs.metric_namespace}"


def largest_gap(timestamps: Sequence[datetime], end: datetime, period: int = PERIOD_SECONDS) -> int:
    """Longest run of missing periods between sorted datapoints and after the last one."""
    gaps = [
        int((later - earlier).total_seconds() // period) - 1
        for earlier, later in zip(timestamps, [*timestamps[1:], end], strict=True)
    ]
    return max([0, *gaps])


def check_datapoints(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    problems: list[str] = []
    counts: list[int] = []
    worst = 0
    for metric in _published_metric_names(outputs):
        for worker_type in WorkerType:
            points = aws.call(
                "cloudwatch",
                "get_metric_statistics",
                Namespace=outputs.metric_namespace,
                MetricName=metric,
                Dimensions=contract.dimensions(worker_type),
                StartTime=window.start,
                EndTime=window.end,
                Period=PERIOD_SECONDS,
                Statistics=["SampleCount"],
            ).get("Datapoints", [])
            series = f"{metric} {contract.DIMENSION_NAME}={worker_type.value}"
            if not points:
                problems.append(f"{series}: no datapoints")
                continue
            stamps = sorted(p["Timestamp"].astimezone(UTC) for p in points)
            gap = largest_gap(stamps, window.end)
            worst = max(worst, gap)
            counts.append(len(stamps))
            if gap > MAX_GAP_PERIODS:
                problems.append(
                    f"{series}: {gap} missing minutes in a row (last datum {stamps[-1]:%H:%M}Z)"
                )
    if problems:
        return Status.FAIL, f"last {window.minutes} min at {PERIOD_SECONDS} s: " + "; ".join(
            problems
        )
    return Status.PASS, (
        f"last {window.minutes} min at {PERIOD_SECONDS} s: {len(counts)} series, "
        f"{min(counts)}-{max(counts)} datapoints each, largest gap {worst} period(s)"
    )


def _consumed(policy: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``[(namespace, metric, dimensions, statistic)]`` of a target-tracking policy."""
    config = policy.get("TargetTrackingConfiguration") or {}
    spec = config.get("CustomizedMetricSpecification") or {}
    found = []
    if spec.get("MetricName"):
        dims = dimension_set((d["Name"], d["Value"]) for d in spec.get("Dimensions", []))
        found.append(
            (
                spec.get("Namespace", ""),
                spec["MetricName"],
                show_dimensions(dims),
                spec.get("Statistic", ""),
            )
        )
    for query in spec.get("Metrics", []) or []:
        stat = query.get("MetricStat") or {}
        metric = stat.get("Metric") or {}
        if metric.get("MetricName"):
            dims = dimension_set((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
            found.append(
                (
                    metric.get("Namespace", ""),
                    metric["MetricName"],
                    show_dimensions(dims),
                    stat.get("Stat", ""),
                )
            )
    predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    if predefined:
        found.append(("AWS/EC2", predefined, "(predefined)", ""))
    return found


def check_policies(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    schema = _contract_schema()
    names = [fleet.asg_name for fleet in outputs.fleets.values()]
    groups = {
        g["AutoScalingGroupName"]
        for g in aws.pages(
            "autoscaling",
            "describe_auto_scaling_groups",
            "AutoScalingGroups",
            AutoScalingGroupNames=names,
        )
    }
    problems: list[str] = []
    summary: list[str] = []
    for worker_type, fleet in outputs.fleets.items():
        if fleet.asg_name not in groups:
            problems.append(f"{worker_type.value}: ASG {fleet.asg_name} does not exist")
            continue
        policies = list(
            aws.pages(
                "autoscaling",
                "describe_policies",
                "ScalingPolicies",
                AutoScalingGroupName=fleet.asg_name,
            )
        )
        if worker_type in LAMBDA_CONTROLLED_TYPES:
            if policies:
                listed = ", ".join(p["PolicyName"] for p in policies)
                problems.append(
                    f"{worker_type.value} is Lambda-controlled but {fleet.asg_name} "
                    f"has policies: {listed}"
                )
            else:
                summary.append(f"{worker_type.value}: no policy")
            continue
        if worker_type not in TARGET_TRACKED_TYPES:
            continue
        expected = schema.tracked_series(worker_type)
        want = (
            expected.namespace,
            expected.metric_name,
            show_dimensions(expected.dimensions),
            contract.TARGET_TRACKING_STATISTIC,
        )
        if len(policies) != 1:
            problems.append(
                f"{worker_type.value}: {fleet.asg_name} has {len(policies)} policies, "
                "expected exactly 1"
            )
            continue
        policy = policies[0]
        consumed = _consumed(policy)
        if policy.get("PolicyType") != "TargetTrackingScaling":
            problems.append(
                f"{worker_type.value}: {policy['PolicyName']} is "
                f"{policy.get('PolicyType')}, not TargetTrackingScaling"
            )
        elif consumed != [want]:
            shown = "; ".join(" ".join(c) for c in consumed) or "nothing"
            problems.append(
                f"{worker_type.value}: {policy['PolicyName']} consumes {shown}; "
                f"the contract says {' '.join(want)}"
            )
        elif fleet.scaling_policy and policy["PolicyName"] != fleet.scaling_policy:
            problems.append(
                f"{worker_type.value}: policy is {policy['PolicyName']}, "
                f"the outputs say {fleet.scaling_policy}"
            )
        else:
            target = (policy.get("TargetTrackingConfiguration") or {}).get("TargetValue")
            summary.append(f"{worker_type.value}: {expected.metric_name} target {target:g}")
    if problems:
        return Status.FAIL, "; ".join(problems)
    return Status.PASS, "; ".join(summary)


def _function_configuration(aws: Aws, outputs: StackOutputs) -> dict[str, Any] | None:
    try:
        return aws.call("lambda", "get_function_configuration", FunctionName=outputs.function_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def check_schedule(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    try:
        rule = aws.call("events", "describe_rule", Name=outputs.schedule_rule_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return Status.FAIL, f"rule {outputs.schedule_rule_name} does not exist"
        raise
    problems = []
    if rule.get("State") != "ENABLED":
        problems.append(f"rule {outputs.schedule_rule_name} is {rule.get('State')}, not ENABLED")
    if rule.get("ScheduleExpression") != SCHEDULE_EXPRESSION:
        problems.append(
            f"schedule is {rule.get('ScheduleExpression')!r}, not {SCHEDULE_EXPRESSION!r}"
        )
    targets = [
        t.get("Arn", "")
        for t in aws.pages(
            "events", "list_targets_by_rule", "Targets", Rule=outputs.schedule_rule_name
        )
    ]
    function = _function_configuration(aws, outputs)
    function_arn = function.get("FunctionArn", "") if function else ""
    if function is None:
        problems.append(f"the target function {outputs.function_name} does not exist")
    elif not any(
        # A qualified ARN (":alias" or ":version") still invokes this function.
        arn == function_arn or arn.startswith(f"{function_arn}:")
        for arn in targets
    ):
        problems.append(
            f"no target is function {outputs.function_name} "
            f"(targets: {', '.join(targets) or 'none'})"
        )
    if problems:
        return Status.FAIL, "; ".join(problems)
    return (
        Status.PASS,
        f"{outputs.schedule_rule_name}: ENABLED, {SCHEDULE_EXPRESSION} -> {outputs.function_name}",
    )


def check_environment(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    function = _function_configuration(aws, outputs)
    if function is None:
        return Status.FAIL, f"function {outputs.function_name} does not exist"
    environment = (function.get("Environment") or {}).get("Variables") or {}
    problems = environment_problems(environment)
    for worker_type, fleet in outputs.fleets.items():
        asg_name = environment.get(contract.EnvVar.asg_name(worker_type))
        if asg_name and asg_name != fleet.asg_name:
            problems.append(
                f"{contract.EnvVar.asg_name(worker_type)} = {asg_name!r}, "
                f"the stack's ASG is {fleet.asg_name!r}"
            )
        urls = environment.get(contract.EnvVar.queue_urls(worker_type))
        if urls and fleet.queue_urls and urls.split(",") != list(fleet.queue_urls):
            problems.append(
                f"{contract.EnvVar.queue_urls(worker_type)} = {urls!r}, "
                f"the stack's queues are {','.join(fleet.queue_urls)!r}"
            )
    for name, value in (
        (contract.EnvVar.METRIC_NAMESPACE, outputs.metric_namespace),
        (contract.EnvVar.METRIC_NAME, outputs.metric_name),
        (
            contract.EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME,
            outputs.backlog_per_instance_metric_name,
        ),
    ):
        if environment.get(name, value) != value:
            problems.append(f"{name} = {environment[name]!r}, the stack's output is {value!r}")
    if not problems:
        try:
            PublisherConfig.from_env(environment)
        except ConfigError as error:
            problems.append(f"the Lambda would reject it: {error}")
    if problems:
        return Status.FAIL, "; ".join(problems)
    return Status.PASS, f"{len(environment)} variables match the contract"


def check_lambda_errors(aws: Aws, outputs: StackOutputs, window: Window) -> tuple[Status, str]:
    points = aws.call(
        "cloudwatch",
        "get_metric_statistics",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": outputs.function_name}],
        StartTime=window.start,
        EndTime=window.end,
        Period=PERIOD_SECONDS,
        Statistics=["Sum"],
    ).get("Datapoints", [])
    failing = sorted(
        (p["Timestamp"].astimezone(UTC), p["Sum"]) for p in points if p.get("Sum", 0) > 0
    )
    if failing:
        total = sum(value for _, value in failing)
        return Status.FAIL, (
            f"{total:g} error(s) in the last {window.minutes} min, "
            f"last at {failing[-1][0]:%H:%M}Z; see log group {outputs.log_group_name}"
        )
    return Status.PASS, f"no errors in the last {window.minutes} min"


Check = Callable[[Aws, StackOutputs, Window], tuple[Status, str]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("metrics listed", check_list_metrics),
    ("datapoints without gaps", check_datapoints),
    ("scaling policies", check_policies),
    ("schedule", check_schedule),
    ("function environment", check_environment),
    ("function errors", check_lambda_errors),
)


def run_checks(aws: Aws, outputs: StackOutputs, window: Window) -> list[CheckResult]:
    """Run every check. Raises ``CannotVerify`` on a credential or endpoint error;
    any other API error makes that one check ``ERROR`` and the others still run."""
    results = []
    for number, (name, check) in enumerate(CHECKS, start=1):
        try:
            status, detail = check(aws, outputs, window)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            status, detail = (
                Status.ERROR,
                f"{error.operation_name} failed: {code}: "
                f"{error.response.get('Error', {}).get('Message', '')}",
            )
        except BotoCoreError as error:
            status, detail = Status.ERROR, f"{type(error).__name__}: {error}"
        results.append(CheckResult(number, name, status, detail))
    return results


def exit_code(results: Sequence[CheckResult]) -> int:
    """1 if a check failed, else 2 if one could not run, else 0."""
    if any(r.status is Status.FAIL for r in results):
        return EXIT_FAILED
    if any(r.status is Status.ERROR for r in results):
        return EXIT_NOT_RUN
    return EXIT_OK


def format_table(results: Sequence[CheckResult]) -> str:
    """A fixed-width table: number, check, status, detail."""
    rows = [("#", "check", "status", "detail")] + [
        (str(r.number), r.name, r.status.value, r.detail) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in rows
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI

HELP = "check the deployed metric pipeline live (exit 0 ok, 1 failed, 2 could not run)"
DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else HELP
EPILOG = """\
examples:
  fleetctl verify --env prod
  fleetctl verify --env prod --minutes 60 --json
  AWS_PROFILE=academy-prod fleetctl verify --env prod --region ap-northeast-2
  # against the local AWS (the endpoint comes from AWS_ENDPOINT_URL):
  fleetctl verify --env local --outputs out/outputs-local.json

checks: 1 ListMetrics per WorkerType, 2 datapoints without gaps > 2 minutes,
3 AI/Messaging policies on the contract (Video none), 4 rule ENABLED rate(1 minute)
-> function, 5 function environment = contract, 6 no AWS/Lambda Errors.
Names come from `terraform output -json` of cdktf.out/stacks/workers-<env>, or --outputs.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment name: config/<env>.toml")
    parser.add_argument(
        "--region", help="AWS region (default: the stack's output, else the settings)"
    )
    parser.add_argument(
        "--minutes", type=int, default=30, help="window of checks 2 and 6 (default 30)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--outputs",
        type=Path,
        help="stack outputs JSON (terraform output -json, cdktf --outputs-file)",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=Path("cdktf.out"),
        help="where the stacks are (default cdktf.out)",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path(os.environ.get("WORKER_CONFIG_DIR", CONFIG_DIR)),
        help="settings directory (default: config/, or WORKER_CONFIG_DIR)",
    )


def run(args: argparse.Namespace, *, aws: Aws | None = None, now: datetime | None = None) -> int:
    """Run ``verify`` for parsed ``args``. ``aws`` and ``now`` are for tests."""
    if not 5 <= args.minutes <= 1440:
        print(f"verify: --minutes {args.minutes}: must be 5..1440", file=sys.stderr)
        return EXIT_NOT_RUN
    settings = load_environment(args.env, args.config_dir)  # SettingsError: handled by the CLI
    if args.region is not None and not REGION_PATTERN.match(args.region):
        print(
            f"verify: --region {args.region!r} is not an AWS region like 'ap-northeast-2'",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    try:
        outputs = (
            read_outputs_file(args.outputs, settings.stack_name)
            if args.outputs
            else read_terraform_outputs(
                stack_dir(args.synth_dir, settings.stack_name), settings.stack_name
            )
        )
    except StackOutputsError as error:
        print(f"verify: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    region = args.region or outputs.region or settings.region
    if not REGION_PATTERN.match(region):
        print(
            f"verify: region {region!r} (from the stack outputs) is not an AWS region",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    window = Window(end=now or datetime.now(UTC), minutes=args.minutes)
    try:
        if aws is None:
            aws = Aws.from_session(boto3.Session(region_name=region))
        results = run_checks(aws, outputs, window)
    except ProfileNotFound as error:
        print(
            f"verify: {error}. Fix: set AWS_PROFILE to a profile in ~/.aws/config "
            "(`aws configure list-profiles`)",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    except NoRegionError:
        print("verify: no AWS region. Fix: pass --region", file=sys.stderr)
        return EXIT_NOT_RUN
    except CannotVerify as error:
        print(f"verify: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    code = exit_code(results)
    if args.json:
        document = {
            "env": settings.name,
            "stack": settings.stack_name,
            "region": region,
            "window_minutes": window.minutes,
            "checks": [{**asdict(r), "status": r.status.value} for r in results],
            "exit_code": code,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"verify {settings.stack_name} in {region} (last {window.minutes} min)")
        print(format_table(results))
    return code
