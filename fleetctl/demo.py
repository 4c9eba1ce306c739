"""``fleetctl demo``: the whole autoscaling loop on a local, emulated AWS.

The steps (issue 5; ``make demo`` runs 1 and 2 through its prerequisites):

1. setup and ``make lambda`` (the Makefile);
2. synth the environment (``cdktf.out``; synthesized here only if missing);
3. start the local AWS (moto on 127.0.0.1), apply the state bootstrap stack
   (local backend, in the run directory), then ``init`` the worker stack with its
   S3 backend **in the local AWS** (``use_lockfile = true``);
4. ``apply`` the worker stack and print what was deployed, read back with boto3;
5. the loop, one tick per simulated minute: simulated workers consume the
   queues, the deployed Lambda code runs (the handler from the built zip, with
   the function's environment read back from the deployed function), and a
   target-tracking model scales AI and Messaging from the ``BacklogPerInstance``
   datapoints read back from CloudWatch;
6. the verification checks (``fleetctl verify``) and the demo's own checks;
7. ``destroy`` both stacks and stop the local AWS (skipped with ``--keep``).

moto is a control plane only (NOTES §2): schedules never fire, Lambda code does
not run and target tracking is never evaluated. Steps 5's three stand-ins are the
only simulated parts; the clock is simulated too (one tick = one minute, starting
``--clock-offset-minutes`` in the past so that CloudWatch accepts the timestamps),
and it lives only here: the handler gets it as a scheduled event's ``time``.

Output: a live table on stdout, and ``out/demo-<env>.txt`` (the summary) plus
``out/report-<env>.md`` (``fleetctl report``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fleetctl.local_aws import LocalAws, LocalAwsError
from fleetctl.simulation.target_tracking import (
    ScalingDecision,
    TargetTrackingModel,
    TargetTrackingPolicy,
)
from fleetctl.stack_outputs import StackOutputs, StackOutputsError
from fleetctl.terraform import Terraform, TerraformError, copy_stack
from fleetctl.worker_simulator import SimulatedFleet, WorkerSimulator
from fleetctl.zip_handler import ZipHandler, ZipHandlerError
from modules.settings import CONFIG_DIR, EnvironmentSettings, load_environment
from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEPS = 7

LOCALLY_UNSUPPORTED: Mapping[str, str] = {
    "aws_s3_bucket_policy": (
        "its TLS-only Deny (aws:SecureTransport = false) blocks every request to a local "
        "AWS served over plain HTTP on loopback, including Terraform's own state writes"
    ),
    "aws_s3_bucket_lifecycle_configuration": (
        "the provider waits ~55 s for moto to echo the rule back; old state versions "
        "never pile up in a demo"
    ),
}
"""Bootstrap resources the demo does not apply to the local AWS, and why."""


@dataclass(frozen=True)
class Scenario:
    """The simulated work.

    ``burst_per_queue``: messages sent to each queue of a fleet at tick 0.
    ``messages_per_instance``: messages one in-service instance finishes per
    tick (a message is in flight for one tick). Defaults: AI 60 per queue (two
    queues) at 8, Video 12 at 1 (one encode per instance, as the Lambda's
    ``VIDEO_JOBS_PER_INSTANCE``), Messaging 80 at 10. With the local targets
    (20 messages per instance) they scale out in the first minutes and are back
    at zero by about tick 25.
    """

    burst_per_queue: Mapping[WorkerType, int] = field(
        default_factory=lambda: {WorkerType.AI: 60, WorkerType.VIDEO: 12, WorkerType.MESSAGING: 80}
    )
    messages_per_instance: Mapping[WorkerType, int] = field(
        default_factory=lambda: {WorkerType.AI: 8, WorkerType.VIDEO: 1, WorkerType.MESSAGING: 10}
    )


DEFAULT_TICKS = 28
"""Enough for AlarmLow's 15 datapoints plus one-a-minute scale-in after the burst."""

DEFAULT_CLOCK_OFFSET_MINUTES = 120
"""The simulated clock starts this far in the past: CloudWatch rejects datapoints
more than 2 hours in the future, and a tick is one simulated minute."""


class DemoError(RuntimeError):
    """A step failed; the message names the step, the call and what to do."""


# --------------------------------------------------------------------------- output


class Progress:
    """Step headers with the elapsed wall time, and a log of step durations."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.durations: list[tuple[str, float]] = []
        self._step_started = self.started
        self._title = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, number: int, title: str) -> None:
        self._finish()
        self._title = f"{number}/{STEPS} {title}"
        self._step_started = time.monotonic()
        say(f"\n[{self._title}]  (elapsed {self.elapsed():5.1f} s)")

    def _finish(self) -> None:
        if self._title:
            self.durations.append((self._title, time.monotonic() - self._step_started))
            self._title = ""

    def close(self) -> None:
        self._finish()


def say(line: str = "") -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------- AWS


def aws_clients(aws: LocalAws) -> dict[str, Any]:
    """boto3 clients on the local AWS (loopback endpoint, dummy credentials)."""
    session = boto3.Session(
        aws_access_key_id=aws.env()["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws.env()["AWS_SECRET_ACCESS_KEY"],
        region_name=aws.region,
    )
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5)
    services = ("autoscaling", "cloudwatch", "events", "lambda", "s3", "sqs")
    return {s: session.client(s, endpoint_url=aws.endpoint, config=config) for s in services}


MAX_BUCKET_PAGES = 100
"""Bound on ListObjectVersions pages when emptying the state bucket (1000 per page)."""


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of ``bucket``; return how many.

    The state bucket is versioned and has no ``force_destroy`` (rightly, for real
    state), so ``destroy`` of the bootstrap stack needs it empty first.
    """
    removed = 0
    for _ in range(MAX_BUCKET_PAGES):
        listing = s3.list_object_versions(Bucket=bucket)
        entries = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for kind in ("Versions", "DeleteMarkers")
            for item in listing.get(kind, [])
        ]
        if not entries:
            return removed
        s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[:1000], "Quiet": True})
        removed += len(entries[:1000])
    raise DemoError(f"{bucket}: still not empty after {MAX_BUCKET_PAGES} pages of deletes")


def deployed_function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    """The deployed function's variables (``GetFunctionConfiguration``)."""
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    if not variables:
        raise DemoError(f"function {function_name} has no environment variables")
    return {str(k): str(v) for k, v in variables.items()}


def handler_environment(lambda_client: Any, function_name: str, aws: LocalAws) -> dict[str, str]:
    """What the Lambda runtime would give the handler: the function's variables,
    plus the local AWS's endpoint and credentials in place of the execution role's."""
    return {
        **deployed_function_environment(lambda_client, function_name),
        **aws.env(),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
    }


def scheduled_event(when: datetime, region: str, rule_name: str) -> dict[str, Any]:
    """An EventBridge scheduled event for ``when`` (the handler reads ``time``)."""
    return {
        "version": "0",
        "id": f"demo-{int(when.timestamp())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule_name}"],
        "detail": {},
    }


@dataclass(frozen=True)
class GroupState:
    desired: int
    in_service: int
    min_size: int
    max_size: int


def describe_groups(
    autoscaling: Any, names: Mapping[WorkerType, str]
) -> dict[WorkerType, GroupState]:
    """Desired and in-service counts of each fleet's ASG (one DescribeAutoScalingGroups)."""
    by_name = {name: worker_type for worker_type, name in names.items()}
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(by_name))
    states = {}
    for group in groups.get("AutoScalingGroups", []):
        worker_type = by_name.get(group["AutoScalingGroupName"])
        if worker_type is None:
            continue
        in_service = sum(
            1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"
        )
        states[worker_type] = GroupState(
            int(group["DesiredCapacity"]), in_service, int(group["MinSize"]), int(group["MaxSize"])
        )
    missing = [t.value for t in names if t not in states]
    if missing:
        raise DemoError(f"DescribeAutoScalingGroups: no group for {', '.join(missing)}")
    return states


def read_datapoint(
    cloudwatch: Any, namespace: str, metric: str, worker_type: WorkerType, when: datetime
) -> float | None:
    """The one-minute Average of ``metric`` for ``worker_type`` at ``when``, or None."""
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=contract.dimensions(worker_type),
        StartTime=when,
        EndTime=when + timedelta(seconds=60),
        Period=60,
        Statistics=[contract.TARGET_TRACKING_STATISTIC],
    ).get("Datapoints", [])
    if not points:
        return None
    return float(points[-1][contract.TARGET_TRACKING_STATISTIC])


def deployed_policy(autoscaling: Any, asg_name: str, policy_name: str) -> TargetTrackingPolicy:
    """The model's policy from what is deployed: target and warmup from
    DescribePolicies, bounds from the group, warmup falling back to the group's."""
    policies = autoscaling.describe_policies(
        AutoScalingGroupName=asg_name, PolicyNames=[policy_name]
    ).get("ScalingPolicies", [])
    if not policies:
        raise DemoError(f"DescribePolicies: {asg_name} has no policy {policy_name}")
    policy = policies[0]
    tracking = policy.get("TargetTrackingConfiguration") or {}
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])[
        "AutoScalingGroups"
    ][0]
    warmup = policy.get("EstimatedInstanceWarmup") or group.get("DefaultInstanceWarmup") or 300
    return TargetTrackingPolicy(
        target_value=float(tracking["TargetValue"]),
        min_size=int(group["MinSize"]),
        max_size=int(group["MaxSize"]),
        instance_warmup_seconds=float(warmup),
        disable_scale_in=bool(tracking.get("DisableScaleIn", False)),
    )


# --------------------------------------------------------------------------- steps


@dataclass
class RunContext:
    """What the steps share."""

    settings: EnvironmentSettings
    run_dir: Path
    synth_dir: Path
    zip_path: Path
    ticks: int
    clock_offset_minutes: int
    keep: bool
    scenario: Scenario = field(default_factory=Scenario)
    progress: Progress = field(default_factory=Progress)
    outputs: StackOutputs | None = None
    outputs_file: Path | None = None
    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    clock_end: datetime | None = None


def ensure_synthesized(context: RunContext) -> tuple[Path, Path]:
    """Step 2: the synthesized worker and bootstrap stacks (synth only when missing)."""
    settings = context.settings
    workers = context.synth_dir / "stacks" / settings.stack_name
    bootstrap = context.synth_dir / "stacks" / settings.bootstrap_stack_name
    if (workers / "cdk.tf.json").is_file() and (bootstrap / "cdk.tf.json").is_file():
        say(f"  using {workers} and {bootstrap} (`make synth` keeps them current)")
        return workers, bootstrap
    say(f"  synthesizing {settings.name} (python main.py, WORKER_ENVS={settings.name})")
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "main.py")],
        cwd=PROJECT_ROOT,
        env={**os.environ, "WORKER_ENVS": settings.name, "CDKTF_OUTDIR": str(context.synth_dir)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not (workers / "cdk.tf.json").is_file():
        raise DemoError(f"synth failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return workers, bootstrap


def bootstrap_targets(terraform: Terraform) -> tuple[list[str], list[str]]:
    """(addresses to apply, skipped types) of the bootstrap stack (LOCALLY_UNSUPPORTED)."""
    targets, skipped = [], []
    for resource_type, resources in sorted(terraform.resources.items()):
        if resource_type in LOCALLY_UNSUPPORTED:
            skipped.append(resource_type)
            continue
        targets += [f"{resource_type}.{name}" for name in sorted(resources)]
    return targets, skipped


def deploy(
    context: RunContext, aws: LocalAws, workers_src: Path, bootstrap_src: Path
) -> tuple[Terraform, Terraform]:
    """Steps 3 and 4 (Terraform): bootstrap the state bucket, init on S3, apply."""
    settings = context.settings
    stacks = context.run_dir / "stacks"
    env = {**aws.env(), "AWS_ENDPOINT_URL_S3": aws.endpoint}
    bootstrap = Terraform(copy_stack(bootstrap_src, stacks / settings.bootstrap_stack_name), env)
    workers = Terraform(copy_stack(workers_src, stacks / settings.stack_name), env)

    bootstrap.init()
    targets, skipped = bootstrap_targets(bootstrap)
    for resource_type in skipped:
        say(f"  not applied locally: {resource_type}: {LOCALLY_UNSUPPORTED[resource_type]}")
    applied = bootstrap.apply(targets=targets)
    say(
        f"  state bucket {settings.backend.bucket}: {len(targets)} resources "
        f"in {applied.seconds:.1f} s (local backend: {bootstrap.workdir})"
    )
    init = workers.init()
    say(
        f"  {settings.stack_name}: backend s3://{settings.backend.bucket}/{settings.backend.key} "
        f"at {aws.endpoint}, use_lockfile = true ({init.seconds:.1f} s)"
    )

    context.progress.step(4, f"apply {settings.stack_name} and read back the inventory")
    applied = workers.apply()
    counts = [line for line in applied.stdout.splitlines() if line.startswith("Apply complete")]
    say(f"  {counts[-1] if counts else 'applied'} ({applied.seconds:.1f} s)")
    raw = workers.outputs()
    context.outputs_file = context.run_dir / f"outputs-{settings.name}.json"
    context.outputs_file.write_text(json.dumps(raw, indent=2) + "\n")
    try:
        context.outputs = StackOutputs.from_mapping(raw, settings.stack_name)
    except StackOutputsError as error:
        raise DemoError(f"stack outputs: {error}") from None
    return bootstrap, workers


def print_inventory(clients: Mapping[str, Any], outputs: StackOutputs) -> None:
    """Step 4's inventory: fleets, policies, function and schedule, as AWS reports them."""
    autoscaling = clients["autoscaling"]
    names = {t: f.asg_name for t, f in outputs.fleets.items()}
    groups = describe_groups(autoscaling, names)
    for worker_type, fleet in outputs.fleets.items():
        group = groups[worker_type]
        policies = autoscaling.describe_policies(AutoScalingGroupName=fleet.asg_name).get(
            "ScalingPolicies", []
        )
        if policies:
            shown = []
            for policy in policies:
                tracking = policy.get("TargetTrackingConfiguration") or {}
                metric = (tracking.get("CustomizedMetricSpecification") or {}).get("MetricName")
                shown.append(
                    f"{policy['PolicyName']} ({policy['PolicyType']}, "
                    f"{metric} target {tracking.get('TargetValue', 0):g})"
                )
            control = "; ".join(shown)
        else:
            control = "no policy: desired capacity set by the Lambda"
        say(
            f"  fleet {worker_type.value:<9} {fleet.asg_name}  min {group.min_size} "
            f"max {group.max_size} desired {group.desired}  queues {len(fleet.queue_urls)}"
        )
        say(f"        {control}")
    function = clients["lambda"].get_function_configuration(FunctionName=outputs.function_name)
    variables = (function.get("Environment") or {}).get("Variables") or {}
    say(
        f"  function {function['FunctionName']}  {function.get('Runtime')} "
        f"{function.get('Handler')}  {len(variables)} environment variables"
    )
    rule = clients["events"].describe_rule(Name=outputs.schedule_rule_name)
    targets = clients["events"].list_targets_by_rule(Rule=outputs.schedule_rule_name)["Targets"]
    say(
        f"  schedule {rule['Name']}  {rule.get('ScheduleExpression')} {rule.get('State')} "
        f"-> {', '.join(t['Arn'].rsplit(':', 1)[-1] for t in targets) or 'no target'}"
    )


# --------------------------------------------------------------------------- loop


@dataclass
class FleetTrace:
    """Per-fleet totals for the summary."""

    peak_desired: int = 0
    final_desired: int = 0
    final_in_service: int = 0
    enqueued: int = 0
    completed: int = 0
    scale_outs: int = 0
    scale_ins: int = 0


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def run_loop(
    context: RunContext, aws: LocalAws, clients: Mapping[str, Any]
) -> dict[WorkerType, FleetTrace]:
    """Step 5: tick the simulated minute ``context.ticks`` times."""
    outputs = context.outputs
    assert outputs is not None  # set by deploy()
    autoscaling, cloudwatch = clients["autoscaling"], clients["cloudwatch"]
    names = {t: f.asg_name for t, f in outputs.fleets.items()}
    scenario = context.scenario
    simulator = WorkerSimulator(
        clients["sqs"],
        {
            t: SimulatedFleet(t, f.queue_urls, scenario.messages_per_instance[t])
            for t, f in outputs.fleets.items()
        },
    )
    models = {
        t: TargetTrackingModel(
            deployed_policy(autoscaling, names[t], outputs.fleets[t].scaling_policy)
        )
        for t in TARGET_TRACKED_TYPES
    }
    for worker_type, model in models.items():
        policy = model.policy
        say(
            f"  model {worker_type.value}: {outputs.backlog_per_instance_metric_name} target "
            f"{policy.target_value:g}, warmup {policy.instance_warmup_seconds:g} s, "
            f"size {policy.min_size}..{policy.max_size}"
        )
    traces = {t: FleetTrace() for t in WorkerType}
    for worker_type in WorkerType:
        traces[worker_type].enqueued = simulator.enqueue(
            worker_type, scenario.burst_per_queue[worker_type]
        )
    say(
        "  burst: "
        + ", ".join(f"{t.value} {traces[t].enqueued}" for t in WorkerType)
        + " messages; workers take "
        + ", ".join(f"{t.value} {scenario.messages_per_instance[t]}" for t in WorkerType)
        + " per instance per minute"
    )
    environment = handler_environment(clients["lambda"], outputs.function_name, aws)
    log_path = context.run_dir / "lambda.log"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    clock_start = now - timedelta(minutes=context.clock_offset_minutes)
    say(
        f"  handler: lambda_function.lambda_handler from {context.zip_path.name}, "
        f"{len(environment)} variables from GetFunctionConfiguration + local AWS; log {log_path}"
    )
    say(f"  simulated clock: 1 tick = 1 minute from {clock_start:%H:%M}Z\n")
    header = "  tick  time  " + "".join(f"| {t.value:<19}" for t in WorkerType)
    say(header)
    say("              " + "| depth  fly  des/in  " * len(WorkerType))
    last_kind: dict[WorkerType, str] = {}
    with ZipHandler(context.zip_path, environment, log_path=log_path) as handler:
        groups = describe_groups(autoscaling, names)
        for tick in range(1, context.ticks + 1):
            when = clock_start + timedelta(minutes=tick)
            steps = simulator.step({t: g.in_service for t, g in groups.items()})
            for worker_type, step in steps.items():
                traces[worker_type].completed += step.completed
            invocation = handler.invoke(
                scheduled_event(when, outputs.region, outputs.schedule_rule_name)
            )
            record = invocation.result or {}
            notes: list[str] = []
            if not invocation.ok:
                context.problems.append(f"tick {tick}: the handler failed: {invocation.error}")
                notes.append(f"handler FAILED: {invocation.error}")
            video = record.get("video") or {}
            if video.get("action") not in (None, "unchanged", "skipped"):
                notes.append(f"Video: Lambda {video['action']}: {video.get('reason', '')}")
            groups = describe_groups(autoscaling, names)
            for worker_type, model in models.items():
                metric = read_datapoint(
                    cloudwatch,
                    outputs.metric_namespace,
                    outputs.backlog_per_instance_metric_name,
                    worker_type,
                    when,
                )
                decision: ScalingDecision = model.evaluate(
                    tick * 60.0, metric, groups[worker_type].in_service
                )
                if decision.desired is not None:
                    autoscaling.set_desired_capacity(
                        AutoScalingGroupName=names[worker_type],
                        DesiredCapacity=decision.desired,
                        HonorCooldown=False,
                    )
                if decision.changed or _reason_kind(decision.reason) != last_kind.get(worker_type):
                    notes.append(f"{worker_type.value}: {decision.reason}")
                last_kind[worker_type] = _reason_kind(decision.reason)
            groups = describe_groups(autoscaling, names)
            depth = record.get("queue_depth") or {}
            cells = []
            for worker_type in WorkerType:
                group, trace = groups[worker_type], traces[worker_type]
                previous = trace.final_desired
                if group.desired > previous:
                    trace.scale_outs += 1
                elif group.desired < previous:
                    trace.scale_ins += 1
                trace.peak_desired = max(trace.peak_desired, group.desired)
                trace.final_desired, trace.final_in_service = group.desired, group.in_service
                cells.append(
                    f"| {depth.get(worker_type.value, '-')!s:>5} {steps[worker_type].in_flight:>4}"
                    f"  {group.desired:>2}/{group.in_service:<2}  "
                )
            say(f"  {tick:>4}  {when:%H:%M} " + "".join(cells))
            for note in notes:
                say(f"               ↳ {note}")
        context.clock_end = clock_start + timedelta(minutes=context.ticks + 1)
    return traces


# --------------------------------------------------------------------------- checks


def own_checks(
    context: RunContext, clients: Mapping[str, Any], traces: Mapping[WorkerType, FleetTrace]
) -> list[tuple[str, bool, str]]:
    """The demo's own checks: every fleet went out and back in, queues drained,
    the handler never failed."""
    outputs = context.outputs
    assert outputs is not None
    checks = []
    for worker_type, trace in traces.items():
        fleet = outputs.fleets[worker_type]
        group = describe_groups(clients["autoscaling"], {worker_type: fleet.asg_name})[worker_type]
        ok = trace.peak_desired > group.min_size and trace.final_desired == group.min_size
        checks.append(
            (
                f"{worker_type.value} scaled out and back in",
                ok,
                f"peak {trace.peak_desired}, final {trace.final_desired} (min {group.min_size})",
            )
        )
        left = 0
        for url in fleet.queue_urls:
            attributes = clients["sqs"].get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            left += sum(int(v) for v in attributes.values())
        checks.append(
            (
                f"{worker_type.value} queues drained",
                left == 0,
                f"{trace.completed}/{trace.enqueued} processed, {left} left",
            )
        )
    failures = [p for p in context.problems if "handler failed" in p]
    checks.append(
        (
            "handler ran every tick",
            not failures,
            f"{context.ticks} invocations, {len(failures)} failed",
        )
    )
    return checks


def run_verify(context: RunContext) -> int:
    """``fleetctl verify`` on the simulated window (its ``now`` is the clock's end)."""
    from fleetctl import verify

    args = argparse.Namespace(
        env=context.settings.name,
        region=None,
        minutes=max(5, min(context.ticks, 1440)),
        json=False,
        outputs=context.outputs_file,
        synth_dir=context.synth_dir,
        config_dir=CONFIG_DIR,
    )
    return verify.run(args, now=context.clock_end)


def run_report(context: RunContext, out_dir: Path) -> int:
    """``fleetctl report`` into ``out/report-<env>.md``."""
    from fleetctl import report

    args = argparse.Namespace(
        env=context.settings.name,
        format="md",
        out=out_dir / f"report-{context.settings.name}.md",
        synth_dir=context.synth_dir,
        minutes=30,
        config_dir=CONFIG_DIR,
    )
    return report.run(args)


# --------------------------------------------------------------------------- main


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ (verify builds its boto3 session from it), restore after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def demo(context: RunContext, out_dir: Path) -> int:
    """Steps 2-7. Returns the exit code."""
    progress = context.progress
    settings = context.settings
    progress.step(2, f"synth {settings.name}")
    workers_src, bootstrap_src = ensure_synthesized(context)

    progress.step(3, "start the local AWS, bootstrap the state bucket, init on S3")
    context.run_dir.mkdir(parents=True, exist_ok=True)
    state_file = context.run_dir / "local-aws.json"
    aws = LocalAws.start(
        region=settings.region,
        die_with_parent=not context.keep,
        log_path=context.run_dir / "local-aws.log",
    )
    say(f"  local AWS (moto) at {aws.endpoint}, pid {aws.pid}, region {aws.region}")
    destroyed = False
    try:
        if context.keep:
            aws.write_state(state_file)
        bootstrap, workers = deploy(context, aws, workers_src, bootstrap_src)
        assert context.outputs is not None
        clients = aws_clients(aws)
        print_inventory(clients, context.outputs)

        progress.step(5, f"the loop: {context.ticks} ticks of one simulated minute")
        traces = run_loop(context, aws, clients)

        progress.step(6, "verification")
        checks = own_checks(context, clients, traces)
        with _environment(aws.env()):
            verify_code = run_verify(context)
        report_code = run_report(context, out_dir)
        checks.append(("fleetctl verify", verify_code == 0, f"exit {verify_code}"))
        checks.append(("fleetctl report (no drift)", report_code == 0, f"exit {report_code}"))
        for name, ok, detail in checks:
            say(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")

        if context.keep:
            progress.step(7, "keep: the local AWS stays up")
        else:
            progress.step(7, "destroy both stacks, stop the local AWS")
            # No refresh: the state was written by our own apply minutes ago, and the
            # only out-of-band changes (desired capacity, the Video marker tag) are on
            # resources being deleted anyway.
            destroyed_workers = workers.destroy(refresh=False)
            say(f"  {settings.stack_name} destroyed ({destroyed_workers.seconds:.1f} s)")
            removed = empty_bucket(aws_clients(aws)["s3"], settings.backend.bucket)
            say(f"  emptied the state bucket ({removed} object versions and delete markers)")
            destroyed_bootstrap = bootstrap.destroy()
            say(
                f"  {settings.bootstrap_stack_name} destroyed ({destroyed_bootstrap.seconds:.1f} s)"
            )
            destroyed = True
    finally:
        if not context.keep:
            aws.stop()
            say(f"  local AWS stopped (pid {aws.pid})" if destroyed else "  local AWS stopped")
    progress.close()
    write_summary(context, traces, checks, out_dir, state_file if context.keep else None)
    return 0 if all(ok for _, ok, _ in checks) else 1


def write_summary(
    context: RunContext,
    traces: Mapping[WorkerType, FleetTrace],
    checks: list[tuple[str, bool, str]],
    out_dir: Path,
    state_file: Path | None,
) -> None:
    lines = [
        f"make demo ENV={context.settings.name}: "
        f"{'PASS' if all(ok for _, ok, _ in checks) else 'FAIL'} "
        f"in {context.progress.elapsed():.1f} s wall",
        "",
        "steps:",
        *(f"  {title:<62} {seconds:6.1f} s" for title, seconds in context.progress.durations),
        "",
        "fleets:",
        *(
            f"  {t.value:<9} enqueued {tr.enqueued:>4}  processed {tr.completed:>4}  "
            f"peak desired {tr.peak_desired:>2}  final {tr.final_desired}/{tr.final_in_service}"
            f"  ({tr.scale_outs} scale-outs, {tr.scale_ins} scale-ins)"
            for t, tr in traces.items()
        ),
        "",
        "checks:",
        *(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}" for name, ok, detail in checks),
    ]
    if state_file is not None:
        lines += [
            "",
            "--keep: the local AWS is still running. Point the tools at it:",
            f'  eval "$(python -m fleetctl.local_aws env --state-file {state_file})"',
            f"  make plan ENV={context.settings.name}",
            f"  python -m fleetctl.local_aws stop --state-file {state_file}   # when done",
        ]
    text = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / f"demo-{context.settings.name}.txt"
    summary.write_text(text)
    say("\n" + text + f"(summary: {summary}; report: {out_dir}/report-{context.settings.name}.md)")


# --------------------------------------------------------------------------- CLI

HELP = "deploy the stack to a local emulated AWS, scale out and in, tear down"
DESCRIPTION = (__doc__ or HELP).split("\n\n")[0]
EPILOG = """\
examples:
  make demo                                  # setup, lambda, synth, validate, then this
  fleetctl demo --env local
  fleetctl demo --env local --ticks 40
  fleetctl demo --env local --keep           # leave the local AWS running afterwards

exit codes: 0 every check passed, 1 a check failed, 2 a step could not run.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="an emulated environment (default local)")
    parser.add_argument(
        "--ticks",
        type=int,
        default=DEFAULT_TICKS,
        help=f"simulated minutes to run the loop (default {DEFAULT_TICKS})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack and the local AWS running, and print how to reach them",
    )
    parser.add_argument(
        "--clock-offset-minutes",
        type=int,
        default=DEFAULT_CLOCK_OFFSET_MINUTES,
        help=f"start of the simulated clock, minutes ago (default {DEFAULT_CLOCK_OFFSET_MINUTES})",
    )
    parser.add_argument("--synth-dir", type=Path, default=PROJECT_ROOT / "cdktf.out")
    parser.add_argument(
        "--zip", type=Path, default=PROJECT_ROOT / "dist" / "queue_depth_lambda.zip"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "out")


def run(args: argparse.Namespace) -> int:
    settings = load_environment(args.env, CONFIG_DIR)  # SettingsError: handled by the CLI
    if not settings.emulated:
        print(
            f"demo: config/{settings.name}.toml has emulated = false; the demo deploys only "
            "to the local emulated AWS (try --env local)",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.ticks <= 240:
        print(f"demo: --ticks {args.ticks}: must be 1..240", file=sys.stderr)
        return 2
    if not args.ticks + 1 <= args.clock_offset_minutes <= 14 * 24 * 60:
        print(
            f"demo: --clock-offset-minutes {args.clock_offset_minutes}: must be between "
            f"--ticks + 1 ({args.ticks + 1}) and two weeks (CloudWatch's accepted window)",
            file=sys.stderr,
        )
        return 2
    if settings.backend.kind != "s3":
        print(f"demo: {settings.name} has no s3 backend to bootstrap", file=sys.stderr)
        return 2
    if not args.zip.is_file():
        print(f"demo: {args.zip} is missing; run `make lambda`", file=sys.stderr)
        return 2
    context = RunContext(
        settings=settings,
        run_dir=args.out / f"demo-{settings.name}",
        synth_dir=args.synth_dir,
        zip_path=args.zip,
        ticks=args.ticks,
        clock_offset_minutes=args.clock_offset_minutes,
        keep=args.keep,
    )
    say(
        f"demo {settings.name}: the worker stack on a local emulated AWS "
        f"(1/{STEPS} setup and `make lambda`: done by make)"
    )
    try:
        return demo(context, args.out)
    except (DemoError, TerraformError, LocalAwsError, ZipHandlerError) as error:
        print(f"\ndemo: {error}", file=sys.stderr)
    except ClientError as error:
        print(
            f"\ndemo: {error.operation_name} failed: {error.response.get('Error', {})}",
            file=sys.stderr,
        )
    except BotoCoreError as error:
        print(f"\ndemo: {type(error).__name__}: {error}", file=sys.stderr)
    print(
        f"demo: failed after {context.progress.elapsed():.1f} s; logs in {context.run_dir}",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleetctl.demo",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
