"""Faults never become a scale-in: failed types are not published, errors are
counted in PublisherErrors and logged, and the invocation fails at the end."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import ASG_NAMES, LocalAws, scheduled_event, set_environment, this_minute

import lambda_function
from worker_metrics.config import PublisherConfig
from worker_metrics.contract import VIDEO_SCALE_IN_MARKER_TAG, WorkerType
from worker_metrics.plan import scale_in_marker
from worker_metrics.publish import datum
from worker_metrics.tick import (
    AwsClients,
    MetricSource,
    TickFailed,
    TickResult,
    run_tick,
)


class FailingCalls:
    """A real (moto) client whose ``operation`` raises an AWS error when ``when`` holds.

    Stands in for throttling, access denied or an outage of one call, which
    moto cannot produce on demand.
    """

    def __init__(
        self,
        client: Any,
        operation: str,
        code: str,
        when: Callable[[dict[str, Any]], bool] = lambda _kwargs: True,
    ) -> None:
        self._client, self._operation, self._code, self._when = client, operation, code, when

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != self._operation:
            return real

        def call(**kwargs: Any) -> Any:
            if self._when(kwargs):
                raise ClientError(
                    {
                        "Error": {"Code": self._code, "Message": f"injected {self._code}"},
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    name,
                )
            return real(**kwargs)

        return call


def clients(aws: LocalAws, **replaced: Any) -> AwsClients:
    parts = {"sqs": aws.sqs, "autoscaling": aws.autoscaling, "cloudwatch": aws.cloudwatch}
    return AwsClients(**{**parts, **replaced})


def tick(
    aws: LocalAws, when: datetime, sources: tuple[MetricSource, ...] = (), **replaced: Any
) -> TickResult:
    config = PublisherConfig.from_env(aws.environment())
    return run_tick(config, clients(aws, **replaced), when, sources)


def error_count(aws: LocalAws, worker_type: WorkerType, stage: str, when: datetime) -> float:
    points = aws.statistic("PublisherErrors", worker_type, when, extra_dimensions={"Stage": stage})
    return sum(p["Sum"] for p in points)


def test_missing_queue_skips_only_its_type_and_fails_the_invocation(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN backlog in every type, then the Messaging queue is deleted
    aws.send(WorkerType.AI, 2)
    aws.send(WorkerType.VIDEO, 1)
    # (one sample per invocation: the fault rules of a tick; test_sampling covers many)
    set_environment(monkeypatch, aws.environment(sample_seconds=60))
    aws.sqs.delete_queue(QueueUrl=aws.queue_urls[WorkerType.MESSAGING][0])
    when = this_minute()

    # WHEN the handler runs
    with (
        caplog.at_level(logging.INFO, logger="worker_metrics"),
        pytest.raises(TickFailed, match="Messaging/read_queue") as raised,
    ):
        lambda_function.lambda_handler(scheduled_event(when), None)

    # THEN AI and Video are published and Video was still scaled
    assert aws.statistic("QueueDepth", WorkerType.AI, when)[0]["Maximum"] == 2.0
    assert aws.statistic("QueueDepth", WorkerType.VIDEO, when)[0]["Maximum"] == 1.0
    assert aws.desired(WorkerType.VIDEO) == 1
    # AND Messaging is absent, not 0, in both metrics
    assert aws.statistic("QueueDepth", WorkerType.MESSAGING, when) == []
    assert aws.statistic("BacklogPerInstance", WorkerType.MESSAGING, when) == []
    # AND the failure is counted and logged as structured JSON
    assert error_count(aws, WorkerType.MESSAGING, "read_queue", when) == 1.0
    errors = [json.loads(r.getMessage()) for r in caplog.records if r.levelno == logging.ERROR]
    assert [(e["worker_type"], e["stage"]) for e in errors] == [("Messaging", "read_queue")]
    assert "NonExistentQueue" in errors[0]["error_code"]
    (sample,) = raised.value.result.samples
    assert sample.queue_depth == {WorkerType.AI: 2, WorkerType.VIDEO: 1}


def test_throttled_video_read_leaves_the_video_fleet_alone(aws: LocalAws) -> None:
    # GIVEN Video at 4 instances with an empty queue (a scale-in would be due)
    aws.autoscaling.set_desired_capacity(
        AutoScalingGroupName=ASG_NAMES[WorkerType.VIDEO], DesiredCapacity=4
    )
    video_url = aws.queue_urls[WorkerType.VIDEO][0]
    throttled = FailingCalls(
        aws.sqs, "get_queue_attributes", "RequestThrottled", lambda kw: kw["QueueUrl"] == video_url
    )
    when = this_minute()
    # WHEN the Video queue read is throttled
    result = tick(aws, when, sqs=throttled)
    # THEN the fleet is not touched: a failed read is not an empty queue
    assert aws.desired(WorkerType.VIDEO) == 4
    assert result.video.decision is None and "could not be read" in result.video.skipped
    assert "autoscaling.SetDesiredCapacity" not in result.api_calls
    # AND Video is not published, the others are, the error is counted
    assert set(result.queue_depth) == {WorkerType.AI, WorkerType.MESSAGING}
    assert aws.statistic("QueueDepth", WorkerType.VIDEO, when) == []
    assert error_count(aws, WorkerType.VIDEO, "read_queue", when) == 1.0
    assert [(e.error_code, e.resource) for e in result.errors] == [("RequestThrottled", video_url)]


def test_one_failed_queue_of_several_hides_the_whole_type(aws: LocalAws) -> None:
    # GIVEN AI with two queues, 5 messages in the readable one
    second = aws.create_queue(WorkerType.AI, "test-ai-second")
    aws.send(WorkerType.AI, 5)
    denied = FailingCalls(
        aws.sqs, "get_queue_attributes", "AccessDenied", lambda kw: kw["QueueUrl"] == second
    )
    # WHEN the other AI queue is unreadable
    result = tick(aws, this_minute(), sqs=denied)
    # THEN AI is not published as a partial 5
    assert WorkerType.AI not in result.queue_depth
    assert WorkerType.AI not in result.backlog_per_instance


def test_put_metric_data_failure_is_counted_and_the_tick_fails(aws: LocalAws) -> None:
    # GIVEN CloudWatch rejects the tick's payload, but accepts the small error report
    aws.send(WorkerType.VIDEO, 2)
    rejecting = FailingCalls(
        aws.cloudwatch,
        "put_metric_data",
        "InternalServiceError",
        lambda kw: any(d["MetricName"] == "QueueDepth" for d in kw["MetricData"]),
    )
    when = this_minute()
    # WHEN the tick runs
    result = tick(aws, when, cloudwatch=rejecting)
    # THEN each type's put failure is recorded and published by the follow-up call
    assert sorted(e.worker_type.value for e in result.errors) == ["AI", "Messaging", "Video"]
    assert {e.stage for e in result.errors} == {"put_metric_data"}
    assert result.api_calls["cloudwatch.PutMetricData"] == 2
    assert error_count(aws, WorkerType.AI, "put_metric_data", when) == 1.0
    assert aws.statistic("QueueDepth", WorkerType.AI, when) == []
    # AND the Video decision was still carried out (it does not depend on CloudWatch)
    assert aws.desired(WorkerType.VIDEO) == 2


def test_put_metric_data_failure_with_stubber(aws: LocalAws) -> None:
    # GIVEN a separate CloudWatch client whose every call is throttled (botocore Stubber)
    cloudwatch = boto3.client("cloudwatch", region_name="ap-northeast-2")
    with Stubber(cloudwatch) as stubber:
        stubber.add_client_error("put_metric_data", "Throttling", http_status_code=400)
        stubber.add_client_error("put_metric_data", "Throttling", http_status_code=400)
        # WHEN the tick runs
        result = tick(aws, this_minute(), cloudwatch=cloudwatch)
        # THEN both calls were made (payload, then error report) and the tick failed
        stubber.assert_no_pending_responses()
    assert not result.ok
    assert {(e.stage, e.error_code) for e in result.errors} == {("put_metric_data", "Throttling")}
    assert result.datums_published == 0


def test_set_desired_capacity_failure_is_counted_and_fails_the_invocation(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Video backlog and an ASG that refuses SetDesiredCapacity
    aws.send(WorkerType.VIDEO, 3)
    set_environment(monkeypatch, aws.environment(sample_seconds=60))
    refusing = FailingCalls(aws.autoscaling, "set_desired_capacity", "ScalingActivityInProgress")
    # The handler builds its clients once per environment; swap in the refusing one.
    monkeypatch.setattr(lambda_function, "_cached", None)
    monkeypatch.setattr(
        lambda_function, "build_clients", lambda _config: clients(aws, autoscaling=refusing)
    )
    when = this_minute()
    # WHEN the handler runs  THEN it raises after publishing
    with pytest.raises(TickFailed, match="Video/set_desired_capacity"):
        lambda_function.lambda_handler(scheduled_event(when), None)
    assert aws.desired(WorkerType.VIDEO) == 0
    assert aws.statistic("QueueDepth", WorkerType.VIDEO, when)[0]["Maximum"] == 3.0
    assert error_count(aws, WorkerType.VIDEO, "set_desired_capacity", when) == 1.0


def test_failed_scale_in_marker_means_no_scale_in(aws: LocalAws) -> None:
    # GIVEN Video at 3 with nothing to do, and tagging denied
    aws.autoscaling.set_desired_capacity(
        AutoScalingGroupName=ASG_NAMES[WorkerType.VIDEO], DesiredCapacity=3
    )
    denied = FailingCalls(aws.autoscaling, "create_or_update_tags", "AccessDenied")
    # WHEN the tick wants to scale in
    result = tick(aws, this_minute(), autoscaling=denied)
    # THEN it does not (the marker guards against double steps), and says so
    assert aws.desired(WorkerType.VIDEO) == 3
    assert [(e.stage, e.error_code) for e in result.errors] == [
        ("set_desired_capacity", "AccessDenied")
    ]


def test_describe_asg_failure_keeps_queue_depth_but_not_backlog_per_instance(
    aws: LocalAws,
) -> None:
    # GIVEN DescribeAutoScalingGroups fails
    aws.send(WorkerType.AI, 4)
    failing = FailingCalls(aws.autoscaling, "describe_auto_scaling_groups", "Throttling")
    when = this_minute()
    # WHEN the tick runs
    result = tick(aws, when, autoscaling=failing)
    # THEN QueueDepth is published, BacklogPerInstance is not (no data: no scale-in)
    assert aws.statistic("QueueDepth", WorkerType.AI, when)[0]["Maximum"] == 4.0
    assert aws.statistic("BacklogPerInstance", WorkerType.AI, when) == []
    assert result.backlog_per_instance == {}
    assert result.video.decision is None
    assert {(e.worker_type, e.stage) for e in result.errors} == {
        (t, "describe_asg") for t in WorkerType
    }


def test_unknown_asg_is_an_error_for_its_type_only(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Messaging ASG name points at nothing
    aws.autoscaling.delete_auto_scaling_group(
        AutoScalingGroupName=ASG_NAMES[WorkerType.MESSAGING], ForceDelete=True
    )
    result = tick(aws, this_minute())
    # THEN only Messaging loses BacklogPerInstance
    assert set(result.backlog_per_instance) == {WorkerType.AI, WorkerType.VIDEO}
    assert [(e.worker_type, e.error_code) for e in result.errors] == [
        (WorkerType.MESSAGING, "AutoScalingGroupNotFound")
    ]


def test_extra_source_failure_is_isolated(aws: LocalAws) -> None:
    # GIVEN two extra sources, one of which raises
    when = this_minute()

    def broken(_when: datetime) -> list[dict[str, Any]]:
        raise ConnectionError("database unreachable")

    def working(at: datetime) -> list[dict[str, Any]]:
        return [datum("VideoBacklog", WorkerType.VIDEO, 7, at)]

    sources = (
        MetricSource("tenant_backlog", WorkerType.VIDEO, broken),
        MetricSource("other_source", WorkerType.VIDEO, working),
    )
    # WHEN the tick runs
    result = tick(aws, when, sources)
    # THEN the working source and the tick's own metrics are published in one call
    assert aws.statistic("VideoBacklog", WorkerType.VIDEO, when)[0]["Maximum"] == 7.0
    assert aws.statistic("QueueDepth", WorkerType.AI, when)[0]["Maximum"] == 0.0
    assert result.api_calls["cloudwatch.PutMetricData"] == 1
    # AND the broken one is counted under its own stage
    stages = [(e.stage, e.error_code) for e in result.errors]
    assert stages == [("tenant_backlog", "ConnectionError")]
    assert error_count(aws, WorkerType.VIDEO, "tenant_backlog", when) == 1.0


def test_scale_in_marker_parsing() -> None:
    tick_key = datetime(2025, 2, 21, 5, 0, tzinfo=UTC).isoformat()
    assert scale_in_marker(f"{tick_key} 6", tick_key) == 6
    assert scale_in_marker("2025-02-21T04:59:00+00:00 6", tick_key) is None  # another tick
    assert scale_in_marker(f"{tick_key} six", tick_key) is None
    assert scale_in_marker("", tick_key) is None
    assert VIDEO_SCALE_IN_MARKER_TAG.startswith("worker-metrics:")


def test_a_refused_activation_is_counted_for_its_type_and_the_rest_goes_on(
    aws: LocalAws,
) -> None:
    # GIVEN Messaging at zero with work, Video with work, and SetDesiredCapacity refused
    # on the Messaging ASG only (an IAM grant missing, say)
    aws.send(WorkerType.MESSAGING, 5)
    aws.send(WorkerType.VIDEO, 2)
    refusing = FailingCalls(
        aws.autoscaling,
        "set_desired_capacity",
        "AccessDenied",
        lambda kw: kw["AutoScalingGroupName"] == ASG_NAMES[WorkerType.MESSAGING],
    )
    when = this_minute()
    # WHEN the tick runs
    result = tick(aws, when, autoscaling=refusing)
    # THEN Messaging stays at zero, the failure is a Messaging set_desired_capacity error
    assert aws.desired(WorkerType.MESSAGING) == 0
    outcome = result.activation[WorkerType.MESSAGING]
    assert outcome.applied is False and outcome.decision is not None
    assert [(e.worker_type, e.stage) for e in result.errors] == [
        (WorkerType.MESSAGING, "set_desired_capacity")
    ]
    assert error_count(aws, WorkerType.MESSAGING, "set_desired_capacity", when) == 1.0
    # AND the Video decision and the metrics still happened
    assert aws.desired(WorkerType.VIDEO) == 2 and result.video.applied
    assert aws.statistic("QueueDepth", WorkerType.MESSAGING, when)[0]["Maximum"] == 5.0


def test_activation_is_made_even_when_the_video_queue_is_unreadable(aws: LocalAws) -> None:
    # GIVEN AI at zero with work and the Video queue throttled
    aws.send(WorkerType.AI, 30)
    video_url = aws.queue_urls[WorkerType.VIDEO][0]
    throttled = FailingCalls(
        aws.sqs, "get_queue_attributes", "RequestThrottled", lambda kw: kw["QueueUrl"] == video_url
    )
    # WHEN the tick runs
    result = tick(aws, this_minute(), sqs=throttled)
    # THEN Video is left alone but AI is started: ceil(30 / 20) = 2
    assert result.video.decision is None
    assert aws.desired(WorkerType.AI) == 2
