"""Functional tests of the whole handler against moto: metrics read back from
CloudWatch, desired capacity read back from Auto Scaling."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
from conftest import (
    ASG_NAMES,
    LocalAws,
    invoke,
    scheduled_event,
    set_environment,
    this_minute,
)

import lambda_function
from worker_metrics.contract import Tracking, WorkerType
from worker_metrics.sampling import SimulatedClock
from worker_metrics.tick_result import TickError

SEED_SCHEMA_DIMENSIONS = {
    WorkerType.AI: [{"Name": "WorkerType", "Value": "AI"}],
    WorkerType.VIDEO: [{"Name": "WorkerType", "Value": "Video"}],
    WorkerType.MESSAGING: [{"Name": "WorkerType", "Value": "Messaging"}],
}


def test_publishes_queue_depth_with_the_seed_schema(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN AI with 2 queues: 4 visible + 3 in flight in one, 5 visible in the other
    aws.create_queue(WorkerType.AI, "test-ai-embedding")
    aws.send(WorkerType.AI, 7)
    aws.receive(WorkerType.AI, 3)
    aws.send(WorkerType.AI, 5, queue_index=1)
    # AND Video with 6 visible + 2 in flight, Messaging with 9 visible + 1 in flight
    aws.send(WorkerType.VIDEO, 8)
    aws.receive(WorkerType.VIDEO, 2)
    aws.send(WorkerType.MESSAGING, 10)
    aws.receive(WorkerType.MESSAGING, 1)
    # AND the default sampling: every 10 s, six samples in the invocation
    set_environment(monkeypatch, aws.environment())
    when = this_minute()

    # WHEN the scheduled invocation runs
    record = invoke(clock, when)

    # THEN QueueDepth is in CloudWatch with exactly the seed's name, dimension and unit,
    # one datum in the minute: the seed's `--period 60 --statistics Sum` reads the depth
    listed = aws.cloudwatch.list_metrics(Namespace="Academy/Workers", MetricName="QueueDepth")
    assert sorted(json.dumps(m["Dimensions"]) for m in listed["Metrics"]) == sorted(
        json.dumps(d) for d in SEED_SCHEMA_DIMENSIONS.values()
    )
    expected = {WorkerType.AI: 12.0, WorkerType.VIDEO: 6.0, WorkerType.MESSAGING: 9.0}
    for worker_type, value in expected.items():
        points = aws.statistic("QueueDepth", worker_type, when)
        assert [(p["Maximum"], p["SampleCount"], p["Unit"]) for p in points] == [
            (value, 1.0, "Count")
        ], worker_type
        assert points[0]["Sum"] == value
    # AND BacklogPerInstance = tracked backlog / max(desired, 1) at every sample: AI's
    # QueueDepth; Messaging's 9 visible plus its 1 in flight (track_in_flight by default)
    for worker_type, value in ((WorkerType.AI, 12.0), (WorkerType.MESSAGING, 10.0)):
        (point,) = aws.statistic("BacklogPerInstance", worker_type, when)
        assert (point["Maximum"], point["SampleCount"]) == (value, 6.0)
    # AND nothing failed, so no PublisherErrors series exists
    errors = aws.cloudwatch.list_metrics(Namespace="Academy/Workers", MetricName="PublisherErrors")
    assert errors["Metrics"] == []
    assert [s["queue_depth"] for s in record["samples"]] == [
        {"AI": 12, "Video": 6, "Messaging": 9}
    ] * 6
    assert record["timestamp"] == when.isoformat()
    assert [s["timestamp"] for s in record["samples"]] == [
        (when + timedelta(seconds=10 * i)).isoformat() for i in range(6)
    ]


def test_video_scales_out_at_once_then_in_stepwise(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN 5 visible Video messages, 2 per instance, scale-in step 2, sampled every 10 s
    aws.send(WorkerType.VIDEO, 5)
    set_environment(
        monkeypatch, aws.environment(video_messages_per_instance=2, video_scale_in_step=2)
    )
    minutes = (this_minute() + timedelta(minutes=i) for i in range(10))

    def tick() -> dict:  # type: ignore[type-arg]
        return invoke(clock, next(minutes))

    # WHEN an invocation runs  THEN its first sample takes desired from 0 to ceil(5/2) = 3
    first = tick()["samples"]
    assert aws.desired(WorkerType.VIDEO) == 3
    assert first[0]["video"]["action"] == "scale_out"
    assert first[0]["api_calls"]["autoscaling.SetDesiredCapacity"] == 1
    # AND its later samples, seeing the same backlog, make no ASG write
    assert [s["video"]["action"] for s in first[1:]] == ["unchanged"] * 5

    # WHEN the next minute sees the same backlog  THEN no ASG write is made
    second = tick()["samples"]
    assert {s["video"]["action"] for s in second} == {"unchanged"}
    assert not any(
        kind.startswith("autoscaling.") and kind != "autoscaling.DescribeAutoScalingGroups"
        for sample in second
        for kind in sample["api_calls"]
    )

    # WHEN all 5 messages are taken in flight (5 encodes running, 1 job per instance)
    aws.receive(WorkerType.VIDEO, 5)
    # THEN the in-flight floor holds 5 instances although nothing is visible
    tick()
    assert aws.desired(WorkerType.VIDEO) == 5

    # WHEN the jobs finish  THEN each minute scales in by at most 2, down to 0,
    # however many samples it takes (the scale-in marker keys on the minute)
    purge_in_flight(aws, aws.queue_urls[WorkerType.VIDEO][0])
    observed = []
    for _ in range(3):
        tick()
        observed.append(aws.desired(WorkerType.VIDEO))
    assert observed == [3, 1, 0]


def purge_in_flight(aws: LocalAws, url: str) -> None:
    """Delete every message, in flight or not (the jobs finished)."""
    aws.sqs.purge_queue(QueueUrl=url)


def test_backlog_per_instance_divides_by_in_service_instances(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN Messaging running 4 instances with 10 visible messages
    aws.autoscaling.set_desired_capacity(
        AutoScalingGroupName=ASG_NAMES[WorkerType.MESSAGING], DesiredCapacity=4
    )
    aws.send(WorkerType.MESSAGING, 10)
    set_environment(monkeypatch, aws.environment())
    when = this_minute()
    # WHEN a tick runs
    record = invoke(clock, when)
    # THEN BacklogPerInstance = 10 / 4
    assert record["samples"][0]["in_service"]["Messaging"] == 4
    assert aws.statistic("BacklogPerInstance", WorkerType.MESSAGING, when)[0]["Maximum"] == 2.5


def test_metric_namespace_and_name_overrides_are_honoured(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN METRIC_NAMESPACE / METRIC_NAME overridden
    aws.send(WorkerType.MESSAGING, 2)
    set_environment(monkeypatch, aws.environment())
    monkeypatch.setenv("METRIC_NAMESPACE", "Custom/Queues")
    monkeypatch.setenv("METRIC_NAME", "Backlog")
    when = this_minute()
    # WHEN a tick runs
    lambda_function.lambda_handler(scheduled_event(when), None)
    # THEN the datums are under the overridden names, and none under the defaults
    assert (
        aws.statistic("Backlog", WorkerType.MESSAGING, when, namespace="Custom/Queues")[0][
            "Maximum"
        ]
        == 2.0
    )
    assert aws.cloudwatch.list_metrics(Namespace="Academy/Workers")["Metrics"] == []
    names = {
        m["MetricName"] for m in aws.cloudwatch.list_metrics(Namespace="Custom/Queues")["Metrics"]
    }
    assert names == {"Backlog", "BacklogPerInstance"}


def test_one_json_log_line_per_sample_and_one_per_invocation(
    aws: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clock: SimulatedClock,
) -> None:
    # GIVEN a healthy setup sampled every 30 s
    aws.send(WorkerType.VIDEO, 1)
    set_environment(monkeypatch, aws.environment(sample_seconds=30))
    # WHEN an invocation runs
    with caplog.at_level(logging.INFO, logger="worker_metrics"):
        invoke(clock, this_minute())
    # THEN one JSON line describes each sample: counts, Video decision and reason, calls
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "worker_metrics"]
    assert [line["event"] for line in lines] == ["tick", "tick", "invocation"]
    first, second, summary = lines
    assert (first["sample"], second["sample"]) == (0, 1)
    assert first["queue_depth"] == {"AI": 0, "Video": 1, "Messaging": 0}
    assert first["video"]["desired"] == 1 and "1 waiting" in first["video"]["reason"]
    assert first["api_calls"] == {
        "autoscaling.DescribeAutoScalingGroups": 1,
        "autoscaling.SetDesiredCapacity": 1,
        "cloudwatch.PutMetricData": 1,
        "sqs.GetQueueAttributes": 3,
    }
    assert {"read_queues", "describe_asg", "publish", "total"} <= set(first["durations_ms"])
    # AND the second sample publishes only BacklogPerInstance (QueueDepth is once a minute)
    assert second["datums_published"] == 3
    # AND the invocation's line sums it up
    assert summary["sample_seconds"] == 30
    assert (summary["samples_run"], summary["samples_skipped"], summary["errors"]) == (2, 0, 0)


def test_two_overlapping_invocations_end_in_the_same_state(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN Video at 6 with an empty queue (a scale-in by 1 is due) and AI with work
    aws.autoscaling.set_desired_capacity(
        AutoScalingGroupName=ASG_NAMES[WorkerType.VIDEO], DesiredCapacity=6
    )
    aws.send(WorkerType.AI, 4)
    set_environment(monkeypatch, aws.environment())
    when = this_minute()
    clock.set(when)
    # WHEN two invocations of the same scheduled event run at the same time
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []
    records: list[dict] = []  # type: ignore[type-arg]

    def run() -> None:
        barrier.wait(timeout=10)
        try:
            records.append(lambda_function.lambda_handler(scheduled_event(when), None))
        except BaseException as error:  # collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # THEN both succeed and the state is what one invocation gives: one step down
    assert failures == []
    assert aws.desired(WorkerType.VIDEO) == 5
    # AND the metric series holds the same value twice (same timestamp, same value)
    points = aws.statistic("QueueDepth", WorkerType.AI, when)
    assert points[0]["Maximum"] == 4.0 and points[0]["Sum"] == 4.0 * points[0]["SampleCount"]

    # WHEN the same event is delivered again within its minute (a retry; the
    # clock is at the last slot, where the two invocations left it)
    assert clock.now() == when + timedelta(seconds=50)
    repeat = lambda_function.lambda_handler(scheduled_event(when), None)
    # THEN it runs only the slot still open, and does not step again
    assert (repeat["samples_run"], repeat["skipped_slots"]) == (1, [0, 1, 2, 3, 4])
    assert aws.desired(WorkerType.VIDEO) == 5
    assert {s["video"]["action"] for s in repeat["samples"]} == {"unchanged"}
    # WHEN it is delivered once more after its minute  THEN it skips every slot
    clock.set(when + timedelta(seconds=61))
    late = lambda_function.lambda_handler(scheduled_event(when), None)
    assert (late["samples_run"], late["samples_skipped"]) == (0, 6)
    (skipped,) = aws.cloudwatch.get_metric_statistics(
        Namespace="Academy/Workers",
        MetricName="SamplesSkipped",
        StartTime=when,
        EndTime=when + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    # (the retry's 5, the late delivery's 6, and any slot one of the two overlapping
    # invocations lost to the other, which shares its clock)
    overlapped = sum(r["samples_skipped"] for r in records)
    assert skipped["Sum"] == 11.0 + overlapped
    # WHEN the next minute's invocation runs  THEN it continues from that state
    invoke(clock, when + timedelta(minutes=1))
    assert aws.desired(WorkerType.VIDEO) == 4


def test_video_overrides_narrow_the_asg_bounds(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Video ASG of 0..10, overrides 1..3 and a backlog that wants 8
    aws.send(WorkerType.VIDEO, 8)
    set_environment(monkeypatch, aws.environment(video_min_size=1, video_max_size=3))
    # WHEN a tick runs  THEN desired stops at the overridden max
    lambda_function.lambda_handler(scheduled_event(this_minute()), None)
    assert aws.desired(WorkerType.VIDEO) == 3


def test_invalid_configuration_fails_the_invocation_naming_the_variable(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a malformed Video queue URL
    set_environment(monkeypatch, aws.environment())
    monkeypatch.setenv("VIDEO_QUEUE_URLS", "video-encode")
    # WHEN invoked  THEN it fails at once with the variable's name, touching nothing
    with pytest.raises(ValueError, match=r"^VIDEO_QUEUE_URLS: 'video-encode'"):
        lambda_function.lambda_handler(scheduled_event(this_minute()), None)
    assert aws.cloudwatch.list_metrics()["Metrics"] == []


def test_configuration_is_built_once_per_environment(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a warm container
    set_environment(monkeypatch, aws.environment())
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-00000000-000000000000000000000001")
    first = lambda_function._load()
    # WHEN the runtime sets a new trace id for the next request
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-00000000-000000000000000000000002")
    # THEN the same configuration and clients are reused
    assert lambda_function._load()[1] is first[1]
    # AND a changed variable of ours does rebuild them
    monkeypatch.setenv("VIDEO_SCALE_IN_STEP", "3")
    rebuilt = lambda_function._load()
    assert rebuilt[1] is not first[1] and rebuilt[0].video.scale_in_step == 3


def test_activation_starts_a_tracked_fleet_at_zero_and_then_leaves_it_alone(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN AI at zero (min 0) with 45 messages, and Messaging already at 2 with 90
    aws.send(WorkerType.AI, 45)
    aws.autoscaling.set_desired_capacity(
        AutoScalingGroupName=ASG_NAMES[WorkerType.MESSAGING], DesiredCapacity=2
    )
    aws.send(WorkerType.MESSAGING, 90)
    set_environment(monkeypatch, aws.environment())
    minutes = (this_minute() + timedelta(minutes=i) for i in range(3))

    # WHEN the invocation runs
    first, *rest = invoke(clock, next(minutes))["samples"]

    # THEN its first sample starts AI at what the target implies, ceil(45 / 20) = 3
    assert aws.desired(WorkerType.AI) == 3
    assert first["activation"]["AI"]["applied"] is True
    assert first["activation"]["AI"]["reason"].startswith("activate to 3")
    # AND Messaging (desired 2) is target tracking's: untouched, not in the record
    assert aws.desired(WorkerType.MESSAGING) == 2
    assert "Messaging" not in first["activation"]
    assert first["api_calls"]["autoscaling.SetDesiredCapacity"] == 1

    # WHEN the next samples and minutes see even more AI work, with AI now above zero
    aws.send(WorkerType.AI, 200)
    later = rest + [sample for m in minutes for sample in invoke(clock, m)["samples"]]
    # THEN the Lambda never writes to a tracked fleet again
    assert aws.desired(WorkerType.AI) == 3
    assert all("autoscaling.SetDesiredCapacity" not in r["api_calls"] for r in later)
    assert all(r["activation"] == {} for r in later)


def test_activation_off_leaves_a_fleet_at_zero(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN AI with activation off (a min_size >= 1 fleet) and backlog at zero
    aws.send(WorkerType.AI, 10)
    set_environment(
        monkeypatch, aws.environment(tracking={WorkerType.AI: Tracking(activation_backlog=0)})
    )
    # WHEN the invocation runs
    record = invoke(clock, this_minute())
    # THEN nothing is written, at any sample
    assert aws.desired(WorkerType.AI) == 0
    assert all("autoscaling.SetDesiredCapacity" not in r["api_calls"] for r in record["samples"])


def test_a_failed_publish_of_the_trailing_skips_is_logged_and_fails_the_invocation(
    aws: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clock: SimulatedClock,
) -> None:
    # GIVEN an invocation delivered after its minute (every slot skipped), whose
    # SamplesSkipped cannot be published
    set_environment(monkeypatch, aws.environment())
    failure = TickError(WorkerType.AI, "put_metric_data", "Throttling", "slow down", "ns")
    monkeypatch.setattr(lambda_function, "publish_skipped", lambda *_args: [failure])
    when = this_minute()
    clock.set(when + timedelta(seconds=61))
    # WHEN it runs
    with (
        caplog.at_level(logging.INFO, logger="worker_metrics"),
        pytest.raises(lambda_function.TickFailed),
    ):
        lambda_function.lambda_handler(scheduled_event(when), None)
    # THEN the failure has its error line, before the invocation's line, and fails it
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "worker_metrics"]
    assert [line["event"] for line in lines] == ["publisher_error", "invocation"]
    assert lines[0] == failure.log_record()
