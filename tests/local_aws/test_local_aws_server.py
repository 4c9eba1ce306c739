"""The local AWS: lifecycle, loopback-only, and the two moto fixes of NOTES §2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from fleetctl.local_aws import (
    LOOPBACK,
    LocalAws,
    MotoPatchError,
    patch_delete_marker_dispose,
    patch_describe_policies_shape,
)
from tests.local_aws_support import client, group, local_aws_per_module  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------ starts and answers


def test_answers_sts_and_sqs_on_loopback(aws: LocalAws) -> None:
    # GIVEN a started local AWS
    # WHEN we call STS and SQS through its endpoint
    identity = client(aws, "sts").get_caller_identity()
    sqs = client(aws, "sqs")
    queue_url = sqs.create_queue(QueueName="local-aws-smoke")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]

    # THEN it answers as an AWS account would, on 127.0.0.1 only
    assert identity["Account"] == "123456789012"
    assert attributes["ApproximateNumberOfMessages"] == "1"
    assert aws.endpoint.startswith(f"http://{LOOPBACK}:")


def test_server_listens_on_loopback_only(aws: LocalAws) -> None:
    # GIVEN the server's port
    port = int(aws.endpoint.rsplit(":", 1)[1])

    # WHEN we list the kernel's listening TCP sockets (/proc/net/tcp, hex addresses)
    listeners = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A"  # TCP_LISTEN
    ]

    # THEN the port is bound on 127.0.0.1 (0100007F) and on no other address
    on_port = [address for address in listeners if int(address.split(":")[1], 16) == port]
    assert on_port == [f"0100007F:{port:04X}"]


def test_env_points_every_client_at_loopback_with_dummy_credentials(aws: LocalAws) -> None:
    # WHEN we take the environment for tools
    env = aws.env()

    # THEN it names the endpoint, dummy credentials, the region, and no IMDS lookups
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["AWS_DEFAULT_REGION"] == aws.region
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert LOOPBACK in env["NO_PROXY"].split(",")


# ------------------------------------------------------------------ quirk (a)


def _asg_with_target_tracking(aws: LocalAws, name: str) -> Any:
    return group(aws, name, desired=0, max_size=4)


def _backlog_per_instance_metric(name: str) -> dict[str, Any]:
    return {
        "Metrics": [
            {
                "Id": "backlog",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Workers",
                        "MetricName": "BacklogPerInstance",
                        "Dimensions": [{"Name": "Fleet", "Value": name}],
                    },
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
        ]
    }


def test_describe_policies_returns_enabled_and_no_empty_predictive_config(
    aws: LocalAws,
) -> None:
    # GIVEN an ASG with a target-tracking policy on a customized metric
    autoscaling = _asg_with_target_tracking(aws, "quirk-a-fleet")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="quirk-a-fleet",
        PolicyName="quirk-a-backlog",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "TargetValue": 20.0,
            "CustomizedMetricSpecification": _backlog_per_instance_metric("quirk-a"),
        },
    )

    # WHEN it is described
    (policy,) = autoscaling.describe_policies(AutoScalingGroupName="quirk-a-fleet")[
        "ScalingPolicies"
    ]

    # THEN it carries Enabled=true, as AWS does, and no empty predictive configuration
    assert policy["Enabled"] is True
    assert "PredictiveScalingConfiguration" not in policy
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 20.0


def test_describe_policies_keeps_a_disabled_policy_disabled(aws: LocalAws) -> None:
    # GIVEN a policy put with Enabled=false
    autoscaling = _asg_with_target_tracking(aws, "quirk-a-disabled")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName="quirk-a-disabled",
        PolicyName="quirk-a-disabled-backlog",
        PolicyType="TargetTrackingScaling",
        Enabled=False,
        TargetTrackingConfiguration={
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": _backlog_per_instance_metric("disabled"),
        },
    )

    # WHEN it is described
    (policy,) = autoscaling.describe_policies(AutoScalingGroupName="quirk-a-disabled")[
        "ScalingPolicies"
    ]

    # THEN the flag round-trips
    assert policy["Enabled"] is False


# ------------------------------------------------------------------ quirk (b)


def test_versioned_bucket_with_delete_markers_can_be_emptied_and_deleted(
    aws: LocalAws,
) -> None:
    # GIVEN a versioned state bucket with object versions and delete markers, whose
    # versioning was then suspended (as `terraform destroy` does before the bucket)
    s3 = client(aws, "s3")
    bucket = "quirk-b-tfstate"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for _ in range(2):
        s3.put_object(Bucket=bucket, Key="workers/local.tfstate.tflock", Body=b"{}")
        s3.delete_object(Bucket=bucket, Key="workers/local.tfstate.tflock")
    s3.put_object(Bucket=bucket, Key="workers/local.tfstate", Body=b"v1")
    s3.put_object(Bucket=bucket, Key="workers/local.tfstate", Body=b"v2")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    listing = s3.list_object_versions(Bucket=bucket)
    everything = [
        {"Key": item["Key"], "VersionId": item["VersionId"]}
        for item in listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    ]
    assert len(listing.get("DeleteMarkers", [])) == 2

    # WHEN every version and marker is deleted in one DeleteObjects call
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": everything})

    # THEN nothing fails, nothing is left, and the bucket can be deleted
    assert result.get("Errors", []) == []
    after = s3.list_object_versions(Bucket=bucket)
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# ------------------------------------------------------------------ patch guards


def test_patch_fails_loudly_naming_itself_when_moto_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto whose autoscaling response handler is gone
    from moto.autoscaling import responses

    monkeypatch.delattr(responses.AutoScalingResponse, "put_scaling_policy")

    # WHEN / THEN the patch refuses, and says which patch and why
    with pytest.raises(MotoPatchError, match=r"describe-policies-shape.*put_scaling_policy"):
        patch_describe_policies_shape()


def test_s3_patch_fails_loudly_when_upstream_defines_dispose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto whose delete markers already have dispose()
    from moto.s3 import models

    monkeypatch.setattr(models.FakeDeleteMarker, "dispose", lambda self: None, raising=False)

    # WHEN / THEN the patch refuses rather than silently replace it
    with pytest.raises(MotoPatchError, match=r"delete-marker-dispose.*fixed upstream"):
        patch_delete_marker_dispose()


# ------------------------------------------------------------------ lifecycle


def test_stop_leaves_no_process() -> None:
    # GIVEN a started local AWS
    aws = LocalAws.start()
    assert _pid_alive(aws.pid)

    # WHEN it is stopped (twice: stop is idempotent)
    aws.stop()
    aws.stop()

    # THEN its process is gone and its log deleted
    assert not _pid_alive(aws.pid)
    assert not aws.log_path.exists()


def test_exception_inside_the_block_still_stops_the_server() -> None:
    # GIVEN a with-block that fails
    pid = 0
    with pytest.raises(RuntimeError, match="boom"), LocalAws.start() as aws:
        pid = aws.pid
        raise RuntimeError("boom")

    # THEN the server is gone
    assert pid and not _pid_alive(pid)


def _run_parent(script: str) -> tuple[subprocess.Popen[str], int]:
    """Start a python parent that starts a local AWS and prints the server's pid."""
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line.strip().isdigit(), f"parent did not report a pid: {line!r}"
    return parent, int(line)


@pytest.mark.parametrize(
    ("sent", "exit_code"),
    # An uncaught KeyboardInterrupt ends Python by re-raising SIGINT on itself.
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)],
    ids=["SIGTERM", "Ctrl-C"],
)
def test_a_signal_to_the_parent_stops_the_server(sent: signal.Signals, exit_code: int) -> None:
    # GIVEN a parent python inside `with LocalAws.start()`
    parent, server_pid = _run_parent(
        """
        import time
        from fleetctl.local_aws import LocalAws
        with LocalAws.start() as aws:
            print(aws.pid, flush=True)
            time.sleep(60)
        """
    )
    assert _pid_alive(server_pid)

    # WHEN the parent gets SIGTERM, or SIGINT as from Ctrl-C (KeyboardInterrupt)
    parent.send_signal(sent)
    # (stop() may take SIGTERM's 10 s and SIGKILL's 10 s on a loaded machine)
    parent.wait(timeout=30)

    # THEN it unwinds through the with-block and the server is gone too
    assert parent.returncode == exit_code
    assert _wait_gone(server_pid)


def test_sigkill_of_the_parent_still_stops_the_server() -> None:
    # GIVEN a parent python that cannot clean up (SIGKILL runs no handler)
    parent, server_pid = _run_parent(
        """
        import time
        from fleetctl.local_aws import LocalAws
        aws = LocalAws.start()
        print(aws.pid, flush=True)
        time.sleep(60)
        """
    )

    # WHEN the parent is killed
    parent.kill()
    parent.wait(timeout=15)

    # THEN the server notices and exits on its own
    assert _wait_gone(server_pid)


def test_detached_start_env_and_stop_by_state_file(tmp_path: Path) -> None:
    # GIVEN a local AWS started detached (the demo's --keep)
    state_file = tmp_path / "local-aws.json"
    command = [sys.executable, "-m", "fleetctl.local_aws"]
    subprocess.run([*command, "start", "--state-file", str(state_file)], check=True, timeout=60)
    aws = LocalAws.attach(state_file)
    try:
        # WHEN tools ask for its environment
        exports = subprocess.run(
            [*command, "env", "--state-file", str(state_file)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

        # THEN they get its endpoint, and it outlived the process that started it
        assert f"export AWS_ENDPOINT_URL='{aws.endpoint}'" in exports
        assert client(aws, "sts").get_caller_identity()["Account"] == "123456789012"
    finally:
        # WHEN it is stopped through the state file
        subprocess.run([*command, "stop", "--state-file", str(state_file)], check=True)

    # THEN it is gone, and so is the state file
    assert _wait_gone(aws.pid)
    assert not state_file.exists()
