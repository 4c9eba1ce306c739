"""On the deployed local stack: the drain agent as instances get it, and how a new one rolls out.

Runs before ``test_local_stack.py`` (file order) and changes nothing deployed:
the rollout plan runs on a copy of the working directory, without a lock.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from pathlib import Path

import boto3
import pytest

from fleetctl.terraform import PLAN_CHANGES, Terraform
from modules.agent_bundle import HEREDOC_DELIMITER, build_agent_bundle
from modules.worker_launch_template import USER_DATA_LIMIT_BYTES
from tests.e2e.conftest import Deployed
from worker_metrics.contract import WorkerType

pytestmark = [pytest.mark.e2e, pytest.mark.terraform]


def _user_data(deployed: Deployed, worker_type: WorkerType) -> bytes:
    env = deployed.aws.env()
    ec2 = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=deployed.aws.region,
    ).client("ec2", endpoint_url=deployed.aws.endpoint)
    asg_name = deployed.outputs.fleets[worker_type].asg_name
    version = ec2.describe_launch_template_versions(
        LaunchTemplateName=asg_name, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]
    return base64.b64decode(version["LaunchTemplateData"]["UserData"])


@pytest.mark.parametrize("worker_type", list(WorkerType))
def test_launch_template_carries_the_agent_within_the_user_data_limit(
    deployed: Deployed, worker_type: WorkerType
) -> None:
    # GIVEN the launch template Terraform created, read back from the local AWS
    raw = _user_data(deployed, worker_type)
    # WHEN its user data is unpacked as cloud-init does
    script = gzip.decompress(raw).decode()
    # THEN it fits EC2's limit, names this checkout's agent, and holds the real queue URLs
    assert len(raw) <= USER_DATA_LIMIT_BYTES, f"{len(raw)} bytes of user data"
    bundle = build_agent_bundle()
    assert f"/opt/academy/worker-agent/{bundle.sha256}/worker_agent/core.py" in script
    for item in bundle.files:  # byte for byte, as Terraform evaluated the expression
        assert f"<<'{HEREDOC_DELIMITER}'\n{item.text}{HEREDOC_DELIMITER}\n" in script
        assert f"{item.sha256}  {item.path}" in script
    for url in deployed.outputs.fleets[worker_type].queue_urls:
        assert f"QUEUE_URLS={url}" in script or url in script.split("QUEUE_URLS=")[1].split()[0]
    assert "@@QUEUE_URL" not in script


def test_asg_names_the_version_and_a_new_agent_plans_an_instance_refresh(
    deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN a copy of the deployed working directory (state stays in the local AWS)
    copy = tmp_path / "rollout"
    shutil.copytree(deployed.workers.workdir, copy, symlinks=True)
    document = json.loads((copy / "cdk.tf.json").read_text())
    templates = document["resource"]["aws_launch_template"]
    (video_key,) = [k for k in templates if k.startswith("video-fleet")]
    groups = document["resource"]["aws_autoscaling_group"]
    (video_group,) = [k for k in groups if k.startswith("video-fleet")]
    assert groups[video_group]["launch_template"]["version"] == (
        f"${{aws_launch_template.{video_key}.latest_version}}"
    )
    # WHEN the agent changes (a new sha256 in the Video user data) and Terraform plans
    sha = build_agent_bundle().sha256
    user_data = templates[video_key]["user_data"]
    assert sha in user_data
    templates[video_key]["user_data"] = user_data.replace(sha, "0" * 64)
    (copy / "cdk.tf.json").write_text(json.dumps(document))
    terraform = Terraform(copy, deployed.workers.env)
    plan = terraform.run(
        "plan", "-lock=false", "-detailed-exitcode", "-out=rollout.plan", "-no-color", check=False
    )
    assert plan.returncode == PLAN_CHANGES, plan.stderr[-2000:]
    changes = json.loads(terraform.run("show", "-json", "rollout.plan").stdout)["resource_changes"]
    changed = {c["address"]: c for c in changes if c["change"]["actions"] != ["no-op"]}
    # THEN the template gets a new version and the Video ASG is updated in place to it,
    # which starts an instance refresh (the ASG has an instance_refresh block)
    assert {f"aws_launch_template.{video_key}", f"aws_autoscaling_group.{video_group}"} <= set(
        changed
    )
    # ...nothing is replaced or deleted; the only other entries are the policies that read
    # the ASG's ARN, which Terraform re-reads at apply because the ASG has changes
    for address, change in changed.items():
        assert change["change"]["actions"] in (["update"], ["read"]), address
        if address not in (
            f"aws_launch_template.{video_key}",
            f"aws_autoscaling_group.{video_group}",
        ):
            assert "iam_policy_document" in address or "aws_iam_role_policy" in address, address
    assert changed[f"aws_launch_template.{video_key}"]["change"]["actions"] == ["update"]
    group_change = changed[f"aws_autoscaling_group.{video_group}"]["change"]
    assert group_change["actions"] == ["update"]
    assert group_change["after_unknown"]["launch_template"][0]["version"] is True
    assert group_change["after"]["instance_refresh"][0]["strategy"] == "Rolling"
