"""Steps 2 to 4 of the demo: synthesize if needed, bootstrap the state bucket,
init the worker stack on its S3 backend, apply it, and print the inventory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetctl.demo.aws import describe_groups
from fleetctl.demo.context import PROJECT_ROOT, DemoError, RunContext
from fleetctl.demo.output import say
from fleetctl.local_aws import LocalAws
from fleetctl.stack_outputs import StackOutputs, StackOutputsError
from fleetctl.terraform import Run, Terraform, copy_stack

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


def terraform_env(aws: LocalAws) -> dict[str, str]:
    """What Terraform needs to reach ``aws``: its endpoint, dummy credentials and region,
    plus the S3 endpoint for the backend."""
    return {**aws.env(), "AWS_ENDPOINT_URL_S3": aws.endpoint}


@dataclass(frozen=True)
class BootstrappedState:
    """The applied state bootstrap stack: its Terraform, what was applied and skipped."""

    terraform: Terraform
    targets: list[str]
    skipped: list[str]
    applied: Run


def bootstrap_state_bucket(
    env: Mapping[str, str], bootstrap_src: Path, workdir: Path
) -> BootstrappedState:
    """Apply the state bootstrap stack (a copy of ``bootstrap_src`` in ``workdir``) to the
    local AWS, without the ``LOCALLY_UNSUPPORTED`` resources; its state stays local.

    ``env``: ``terraform_env(aws)``. Raises ``TerraformError`` if init or apply fails.
    """
    bootstrap = Terraform(copy_stack(bootstrap_src, workdir), env)
    bootstrap.init()
    targets, skipped = bootstrap_targets(bootstrap)
    applied = bootstrap.apply(targets=targets)
    return BootstrappedState(bootstrap, targets, skipped, applied)


def deploy(
    context: RunContext, aws: LocalAws, workers_src: Path, bootstrap_src: Path
) -> tuple[Terraform, Terraform]:
    """Steps 3 and 4 (Terraform): bootstrap the state bucket, init on S3, apply."""
    settings = context.settings
    stacks = context.run_dir / "stacks"
    env = terraform_env(aws)
    state = bootstrap_state_bucket(env, bootstrap_src, stacks / settings.bootstrap_stack_name)
    bootstrap = state.terraform
    workers = Terraform(copy_stack(workers_src, stacks / settings.stack_name), env)
    for resource_type in state.skipped:
        say(f"  not applied locally: {resource_type}: {LOCALLY_UNSUPPORTED[resource_type]}")
    say(
        f"  state bucket {settings.backend.bucket}: {len(state.targets)} resources "
        f"in {state.applied.seconds:.1f} s (local backend: {bootstrap.workdir})"
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
