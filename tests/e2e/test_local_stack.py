"""End to end on the local AWS: the deployed stack and the handler from the built zip.

The stack is the one ``cdktf deploy`` put there (``deployed``, shared with
``test_users_path.py``, which plans it again afterwards and finally destroys it).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetctl.demo.aws import (
    describe_groups,
    handler_environment,
    read_datapoint,
    scheduled_event,
)
from fleetctl.demo.operator_view import operator_view_checks
from fleetctl.report.stack import SynthesizedStack
from fleetctl.zip_handler import ZipHandler
from tests.e2e.conftest import Deployed
from worker_metrics.contract import (
    DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    DEFAULT_METRIC_NAME,
    WorkerType,
)

pytestmark = [pytest.mark.e2e, pytest.mark.terraform]


def test_zip_handler_publishes_the_contract_and_video_follows_the_backlog(
    deployed: Deployed,
) -> None:
    # GIVEN the handler from the built zip, with the deployed function's environment
    outputs, clients = deployed.outputs, deployed.clients
    video = outputs.fleets[WorkerType.VIDEO]
    environment = handler_environment(clients["lambda"], outputs.function_name, deployed.aws)
    assert environment["VIDEO_ASG_NAME"] == video.asg_name
    sqs = clients["sqs"]
    url = video.queue_urls[0]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "encode"} for i in range(5)]
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    names = {WorkerType.VIDEO: video.asg_name}
    desired: list[int] = []

    with ZipHandler(deployed.lambda_zip, environment) as handler:
        assert handler.handler_file.startswith(str(deployed.lambda_zip.resolve()))
        # WHEN it ticks with 5 encodes waiting
        first = start + timedelta(minutes=1)
        invocation = handler.invoke(scheduled_event(first, outputs.region, "e2e"))
        assert invocation.ok, invocation.error
        desired.append(describe_groups(clients["autoscaling"], names)[WorkerType.VIDEO].desired)

        # AND the workers finish every encode, and it ticks on
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")
            if not messages:
                break
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for minute in range(2, 8):
            invocation = handler.invoke(
                scheduled_event(start + timedelta(minutes=minute), outputs.region, "e2e")
            )
            assert invocation.ok, invocation.error
            group = describe_groups(clients["autoscaling"], names)[WorkerType.VIDEO]
            desired.append(group.desired)

    # THEN Video scaled out to the backlog at once (ceil(5 / messages per instance)
    # of the settings), then in one instance per tick: per minute, though each
    # invocation samples six times
    per_instance = deployed.settings.fleet(WorkerType.VIDEO).target_messages_per_instance
    peak = math.ceil(5 / per_instance)
    assert peak > 1
    assert desired == [*range(peak, -1, -1), *[0] * (7 - peak - 1)]
    # AND the contract's metrics were published for every type, at the event's time
    listed = {
        (m["MetricName"], m["Dimensions"][0]["Value"])
        for m in clients["cloudwatch"].list_metrics(Namespace=outputs.metric_namespace)["Metrics"]
    }
    for worker_type in WorkerType:
        for metric in (DEFAULT_METRIC_NAME, DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME):
            assert (metric, worker_type.value) in listed
    depth = read_datapoint(
        clients["cloudwatch"],
        outputs.metric_namespace,
        outputs.metric_name,
        WorkerType.VIDEO,
        first,
    )
    assert depth == 5
    # The tracked series has a datum per sample (10 s): the first one, before Video
    # scaled out, is 5 visible / max(0 in service, 1)
    per_instance = read_datapoint(
        clients["cloudwatch"],
        outputs.metric_namespace,
        outputs.backlog_per_instance_metric_name,
        WorkerType.VIDEO,
        first,
        period_seconds=10,
    )
    assert per_instance == 5


def test_the_dashboard_and_alarms_read_back_as_synthesized(
    deployed: Deployed, synthesized: Any
) -> None:
    # GIVEN the synthesized local stack, applied (the fixture)
    stack = SynthesizedStack.load(synthesized.outdir, deployed.settings.stack_name)

    # WHEN the demo's checks read the dashboard (GetDashboard) and alarms back
    checks = operator_view_checks(stack, deployed.clients["cloudwatch"])

    # THEN every alarm is there with its threshold, and the body is the synthesized one
    assert [(name, ok) for name, ok, _ in checks] == [
        ("alarms deployed", True),
        ("dashboard academy-local-workers read back", True),
    ], checks
    alarms = len(stack.blocks("aws_cloudwatch_metric_alarm"))
    assert checks[0][2] == f"{alarms}/{alarms} with their thresholds and runbook sections"
