"""The built package is complete: the handler imported FROM THE ZIP runs a tick.

The zip is built by ``scripts/build_lambda.py`` (what ``make lambda`` runs) into
a temporary directory, so the test checks the current sources. The handler runs
in a fresh, isolated interpreter (``python -I``) with only the zip prepended to
``sys.path``; boto3 comes from the environment, as the Lambda runtime provides it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUN_FROM_ZIP = textwrap.dedent(
    """
    import json, os, sys
    zip_path = sys.argv[1]
    sys.path.insert(0, zip_path)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="ap-northeast-2", MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)

    import boto3
    from moto import mock_aws

    with mock_aws():
        from datetime import datetime, timezone

        import lambda_function
        import worker_metrics.tick
        from worker_metrics.contract import WorkerType, lambda_environment
        from worker_metrics.sampling import SimulatedClock

        when = datetime(2025, 2, 21, 5, 0, tzinfo=timezone.utc)
        lambda_function.clock = SimulatedClock(when)  # the minute's six samples, no waiting

        sqs = boto3.client("sqs")
        ec2 = boto3.client("ec2")
        autoscaling = boto3.client("autoscaling")
        cloudwatch = boto3.client("cloudwatch")
        urls, asgs = {}, {}
        for t in WorkerType:
            name = "zip-" + t.value.lower()
            urls[t] = [sqs.create_queue(QueueName=name)["QueueUrl"]]
            ec2.create_launch_template(
                LaunchTemplateName=name + "-lt",
                LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
            )
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=0, MaxSize=5, DesiredCapacity=0,
                LaunchTemplate={"LaunchTemplateName": name + "-lt", "Version": "$Latest"},
                AvailabilityZones=["ap-northeast-2a"],
            )
            asgs[t] = name
        sqs.send_message(QueueUrl=urls[WorkerType.VIDEO][0], MessageBody="encode")
        os.environ.update(lambda_environment(queue_urls=urls, asg_names=asgs))

        record = lambda_function.lambda_handler(
            {"time": "2025-02-21T05:00:00Z", "detail-type": "Scheduled Event"}, None
        )
        metrics = cloudwatch.list_metrics(Namespace="Academy/Workers")["Metrics"]
        desired = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[asgs[WorkerType.VIDEO]]
        )["AutoScalingGroups"][0]["DesiredCapacity"]
        print(json.dumps({
            "handler_file": lambda_function.__file__,
            "core_file": worker_metrics.tick.__file__,
            "slept": lambda_function.clock.slept,
            "record": record,
            "metrics": sorted(
                m["MetricName"] + ":" + m["Dimensions"][0]["Value"] for m in metrics
            ),
            "video_desired": desired,
        }))
    """
)


def test_handler_runs_from_the_built_zip(tmp_path: Path) -> None:
    # GIVEN the package built the way `make lambda` builds it
    package = tmp_path / "queue_depth_lambda.zip"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_lambda.py"), "--out", str(package)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert "lambda_function.py" in names  # the handler sits at the zip root
    assert "worker_metrics/contract.py" in names

    # WHEN a fresh isolated interpreter imports the handler from the zip and runs a tick
    script = tmp_path / "run_from_zip.py"
    script.write_text(RUN_FROM_ZIP)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(package)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    # THEN the code really came from the zip, not from the source tree
    assert outcome["handler_file"].startswith(str(package) + "/")
    assert outcome["core_file"].startswith(str(package) + "/")
    # AND the tick published every series and scaled Video out of zero
    assert outcome["metrics"] == sorted(
        f"{metric}:{worker_type}"
        for metric in ("QueueDepth", "BacklogPerInstance")
        for worker_type in ("AI", "Video", "Messaging")
    )
    samples = outcome["record"]["samples"]
    assert samples[0]["queue_depth"] == {"AI": 0, "Video": 1, "Messaging": 0}
    assert outcome["record"]["timestamp"] == "2025-02-21T05:00:00+00:00"
    # AND it sampled every 10 s (the default) until the next minute
    assert len(samples) == 6 and outcome["slept"] == [10.0] * 5
    assert outcome["video_desired"] == 1
