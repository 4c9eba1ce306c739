"""Real Terraform against the local AWS: a target-tracking policy shows no drift.

This is the end-to-end proof of the DescribePolicies fix (NOTES §2): without it,
the aws provider 5.100.0 reads ``enabled = false`` and a predictive block back,
and the second plan is never clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetctl.local_aws import LocalAws

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The offline provider mirror (NOTES §1); TF_PROVIDER_MIRROR overrides, as in
# scripts/toolchain.sh.
MIRROR = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
# Shared with the Makefile's TF_PLUGIN_CACHE_DIR, so the 675 MB provider is
# unpacked once, not per test run.
PLUGIN_CACHE = PROJECT_ROOT / ".cache" / "terraform-plugins"
# init + apply + plan take about 25 s on an idle machine; the bound stops a hang.
TERRAFORM_TIMEOUT_SECONDS = 120

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed"),
    pytest.mark.skipif(
        not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir(),
        reason=f"no offline provider mirror at {MIRROR}",
    ),
]


def _configuration(region: str) -> dict[str, Any]:
    """A launch template, an ASG and a backlog-per-instance target-tracking policy."""
    name = "tf-drift"
    return {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}
        },
        "provider": {
            "aws": {
                "region": region,
                "access_key": "test",
                "secret_key": "test",
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": True,
                "s3_use_path_style": True,
            }
        },
        "resource": {
            "aws_launch_template": {
                "this": {
                    "name": f"{name}-lt",
                    "image_id": "ami-12c6146b",
                    "instance_type": "t3.small",
                }
            },
            "aws_autoscaling_group": {
                "this": {
                    "name": name,
                    "min_size": 0,
                    "max_size": 4,
                    "availability_zones": [f"{region}a"],
                    # min_size 0: nothing to wait for, so skip the provider's waiter.
                    "wait_for_capacity_timeout": "0",
                    "metrics_granularity": "1Minute",
                    "enabled_metrics": ["GroupInServiceInstances"],
                    "launch_template": {
                        "id": "${aws_launch_template.this.id}",
                        "version": "$Latest",
                    },
                }
            },
            "aws_autoscaling_policy": {
                "this": {
                    "name": f"{name}-backlog-per-instance",
                    "autoscaling_group_name": "${aws_autoscaling_group.this.name}",
                    "policy_type": "TargetTrackingScaling",
                    "estimated_instance_warmup": 60,
                    "target_tracking_configuration": {
                        "target_value": 20,
                        "customized_metric_specification": {
                            "metrics": [
                                {
                                    "id": "backlog",
                                    "return_data": False,
                                    "metric_stat": {
                                        "stat": "Sum",
                                        "metric": {
                                            "namespace": "AWS/SQS",
                                            "metric_name": "ApproximateNumberOfMessagesVisible",
                                            "dimensions": {
                                                "name": "QueueName",
                                                "value": "tf-drift-queue",
                                            },
                                        },
                                    },
                                },
                                {
                                    "id": "in_service",
                                    "return_data": False,
                                    "metric_stat": {
                                        "stat": "Average",
                                        "metric": {
                                            "namespace": "AWS/AutoScaling",
                                            "metric_name": "GroupInServiceInstances",
                                            "dimensions": {
                                                "name": "AutoScalingGroupName",
                                                "value": name,
                                            },
                                        },
                                    },
                                },
                                {
                                    "id": "backlog_per_instance",
                                    "label": "backlog per instance",
                                    "expression": "backlog / in_service",
                                    "return_data": True,
                                },
                            ]
                        },
                    },
                }
            },
        },
    }


@pytest.fixture
def terraform_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        f'plugin_cache_dir = "{PLUGIN_CACHE}"\n'
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n'
        '    include = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    with LocalAws.start() as aws:
        yield {
            **os.environ,
            **aws.env(),
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }


def _terraform(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", f"-chdir={workdir}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TERRAFORM_TIMEOUT_SECONDS,
    )


def test_second_plan_after_apply_shows_no_drift(
    tmp_path: Path, terraform_env: dict[str, str]
) -> None:
    # GIVEN a configuration with a target-tracking policy on metric math
    workdir = tmp_path / "stack"
    workdir.mkdir()
    region = terraform_env["AWS_DEFAULT_REGION"]
    (workdir / "main.tf.json").write_text(json.dumps(_configuration(region), indent=2))
    started = time.monotonic()
    init = _terraform(workdir, terraform_env, "init", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr

    # WHEN it is applied to the local AWS and planned again
    apply = _terraform(workdir, terraform_env, "apply", "-auto-approve", "-no-color")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    plan = _terraform(workdir, terraform_env, "plan", "-detailed-exitcode", "-no-color")

    # THEN the plan is clean (0 = no changes, 2 = drift)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # (No destroy: the fixture stops the whole local AWS, state and all.)
    print(f"init + apply + plan took {time.monotonic() - started:.1f} s")
