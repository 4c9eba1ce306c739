"""The invocation's sampling loop (``worker_metrics.sampling``) on a simulated clock.

The pure tests drive ``run_invocation`` with a recording ``run_sample``; the moto
tests run the whole handler, its samples spread over the simulated minute. No
test sleeps: the clock moves only when the loop sleeps on it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ASG_NAMES, LocalAws, invoke, set_environment, this_minute
from test_faults import FailingCalls, clients

import lambda_function
from worker_metrics.config import ConfigError, PublisherConfig
from worker_metrics.contract import EnvVar, WorkerType, lambda_environment
from worker_metrics.sampling import (
    SAMPLE_TIME_BUDGET_SECONDS,
    Sample,
    SimulatedClock,
    minimum_timeout_seconds,
    run_invocation,
    samples_per_invocation,
    storage_resolution,
)
from worker_metrics.tick import publish_skipped

T = datetime(2025, 2, 21, 5, 0, tzinfo=UTC)
QUEUE_URL = "https://sqs.ap-northeast-2.amazonaws.com/123456789012"


@dataclass
class Outcome:
    """A sample's result as the loop reads it."""

    at: datetime
    sample: Sample
    queue_depth_published: Collection[WorkerType] = frozenset(WorkerType)
    errors: list[Any] = field(default_factory=list)

    def log_record(self) -> dict[str, Any]:
        return {"sample": self.sample.index}


class Recorder:
    """``run_sample``: records each call (the clock's time, the sample) and checks
    the datums' timestamp is the slot's; ``takes`` seconds of work at some slots."""

    def __init__(
        self,
        clock: SimulatedClock,
        period: int = 10,
        takes: dict[int, float] | None = None,
        publishes: Callable[[Sample], Collection[WorkerType]] = lambda _s: frozenset(WorkerType),
    ) -> None:
        self.clock, self.period, self.takes, self.publishes = clock, period, takes or {}, publishes
        self.calls: list[Outcome] = []

    def __call__(self, timestamp: datetime, sample: Sample) -> Outcome:
        assert timestamp == T + sample.index * timedelta(seconds=self.period)
        outcome = Outcome(self.clock.now(), sample, self.publishes(sample))
        self.calls.append(outcome)
        if sample.index in self.takes:
            self.clock.set(self.clock.now() + timedelta(seconds=self.takes[sample.index]))
        return outcome


@pytest.mark.parametrize(("sample_seconds", "count"), [(10, 6), (30, 2), (60, 1)])
def test_an_invocation_samples_its_minute_on_the_grid(sample_seconds: int, count: int) -> None:
    # GIVEN an invocation that starts on its scheduled minute
    clock = SimulatedClock(T)
    run = Recorder(clock, sample_seconds)
    # WHEN it runs
    result = run_invocation(T, sample_seconds, run, clock=clock)
    # THEN it takes one sample per period until the next minute, sleeping in between
    assert [c.at for c in run.calls] == [
        T + timedelta(seconds=sample_seconds * i) for i in range(count)
    ]
    assert clock.slept == [float(sample_seconds)] * (count - 1)
    assert (len(result.samples), result.skipped, result.ok) == (count, [], True)
    # AND every sample shares the minute's key; only the first runs the extra sources
    assert {c.sample.tick_key for c in run.calls} == {T.isoformat()}
    assert [c.sample.collect_sources for c in run.calls] == [True] + [False] * (count - 1)
    # AND the tracked series is high resolution below 60 s
    expected = 1 if sample_seconds < 60 else None
    assert {c.sample.storage_resolution for c in run.calls} == {expected}


def test_a_slow_sample_costs_the_slots_it_overran_and_nothing_is_stacked() -> None:
    # GIVEN sample 1 (at :10) takes 25 s, up to :35
    clock = SimulatedClock(T)
    run = Recorder(clock, takes={1: 25.0})
    # WHEN the invocation runs
    result = run_invocation(T, 10, run, clock=clock)
    # THEN slot 2 (:20, its period over) is skipped, slot 3 runs at once, then the grid again
    assert [c.sample.index for c in run.calls] == [0, 1, 3, 4, 5]
    assert [c.at - T for c in run.calls][2:] == [timedelta(seconds=s) for s in (35, 40, 50)]
    assert result.skipped == [2]
    # AND the skip is published with the next sample, once
    assert [c.sample.skipped_before for c in run.calls] == [0, 0, 1, 0, 0]


def test_a_late_start_skips_the_slots_already_over() -> None:
    # GIVEN the invocation starts 25 s after its minute
    clock = SimulatedClock(T + timedelta(seconds=25))
    run = Recorder(clock)
    # WHEN it runs
    result = run_invocation(T, 10, run, clock=clock)
    # THEN slots 0 and 1 are skipped, slot 2 runs at once and owes every QueueDepth
    assert [c.sample.index for c in run.calls] == [2, 3, 4, 5]
    assert (result.skipped, result.late_by_seconds) == ([0, 1], 25.0)
    assert run.calls[0].sample.queue_depth_types == frozenset(WorkerType)
    assert run.calls[0].sample.collect_sources and run.calls[0].sample.skipped_before == 2


def test_an_invocation_after_its_minute_runs_no_sample_and_publishes_the_skips() -> None:
    # GIVEN a delivery 61 s after its minute (a retry or a duplicate)
    clock = SimulatedClock(T + timedelta(seconds=61))
    run = Recorder(clock)
    published: list[tuple[int, datetime]] = []
    # WHEN it runs
    result = run_invocation(
        T, 10, run, clock=clock, publish_skipped=lambda n, at: published.append((n, at)) or []
    )
    # THEN nothing is sampled or written; the six skips are published on their own
    assert run.calls == [] and result.skipped == [0, 1, 2, 3, 4, 5]
    assert published == [(6, T + timedelta(seconds=50))]


def test_the_loop_stops_when_the_lambda_timeout_is_near() -> None:
    # GIVEN a Lambda with 25 s left at the start (its timeout shorter than the minute)
    clock = SimulatedClock(T)
    deadline = T + timedelta(seconds=25)
    run = Recorder(clock)
    published: list[int] = []
    # WHEN the invocation runs
    result = run_invocation(
        T,
        10,
        run,
        clock=clock,
        remaining_seconds=lambda: (deadline - clock.now()).total_seconds(),
        publish_skipped=lambda n, _at: published.append(n) or [],
    )
    # THEN the samples that fit run (:00, :10, :20 has 5 s left), the rest are counted
    assert [c.sample.index for c in run.calls] == [0, 1, 2]
    assert result.skipped == [3, 4, 5] and published == [3]
    assert f"less than {SAMPLE_TIME_BUDGET_SECONDS} s" in result.stopped


def test_queue_depth_is_owed_until_a_sample_publishes_it() -> None:
    # GIVEN Messaging's QueueDepth fails at the first sample, succeeds at the second
    clock = SimulatedClock(T)

    def publishes(sample: Sample) -> Collection[WorkerType]:
        if sample.index == 0:
            return sample.queue_depth_types - {WorkerType.MESSAGING}
        return sample.queue_depth_types

    run = Recorder(clock, publishes=publishes)
    # WHEN the invocation runs
    run_invocation(T, 10, run, clock=clock)
    # THEN the second sample owes Messaging's only; the later ones owe nothing
    owed = [c.sample.queue_depth_types for c in run.calls]
    assert owed[0] == frozenset(WorkerType)
    assert owed[1] == {WorkerType.MESSAGING}
    assert owed[2:] == [frozenset()] * 4


def test_the_loop_rejects_a_naive_time_and_an_unsupported_period() -> None:
    clock = SimulatedClock(T)
    with pytest.raises(ValueError, match="timezone-aware"):
        run_invocation(T.replace(tzinfo=None), 10, Recorder(clock), clock=clock)
    with pytest.raises(ValueError, match=r"sample_seconds = 20: must be one of 10, 30, 60"):
        run_invocation(T, 20, Recorder(clock), clock=clock)


def test_timeout_floor_and_resolution_per_period() -> None:
    # the last sample starts at :50, :30 or :00 and gets the budget of 5 s
    assert [minimum_timeout_seconds(s) for s in (10, 30, 60)] == [55, 35, 5]
    assert [samples_per_invocation(s) for s in (10, 30, 60)] == [6, 2, 1]
    assert [storage_resolution(s) for s in (10, 30, 60)] == [1, 1, None]


@pytest.mark.parametrize("raw", ["15", "0", "ten", "10.0", "-10"])
def test_the_reader_names_an_invalid_sample_seconds(raw: str) -> None:
    # GIVEN a valid environment but for SAMPLE_SECONDS
    environment = lambda_environment(
        queue_urls={t: [f"{QUEUE_URL}/{t.value.lower()}"] for t in WorkerType},
        asg_names=ASG_NAMES,
    )
    environment[EnvVar.SAMPLE_SECONDS] = raw
    # WHEN it is read  THEN the error names the variable, the value and the choices
    with pytest.raises(ConfigError, match=rf"^SAMPLE_SECONDS = '{raw}': must be one of 10, 30, 60"):
        PublisherConfig.from_env(environment)


# --------------------------------------------------------------------------- the handler


def test_a_burst_mid_minute_scales_video_at_the_next_sample(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN an idle Video fleet, and 4 encodes arriving at :23 of the minute
    set_environment(monkeypatch, aws.environment())
    when = this_minute()

    def arrive(since: datetime, until: datetime) -> None:
        if since < when + timedelta(seconds=23) <= until:
            aws.send(WorkerType.VIDEO, 4)

    clock.on_sleep = arrive
    # WHEN the invocation samples its minute every 10 s
    record = invoke(clock, when)
    # THEN the sample at :30 scales Video out, 7 s after the burst, within the minute
    actions = [(s["timestamp"], s["video"]["action"]) for s in record["samples"]]
    assert [a for _t, a in actions] == ["unchanged"] * 3 + ["scale_out"] + ["unchanged"] * 2
    assert actions[3][0] == (when + timedelta(seconds=30)).isoformat()
    assert aws.desired(WorkerType.VIDEO) == 4
    # AND the minute's QueueDepth is still the one datum of its first sample (0)
    (point,) = aws.statistic("QueueDepth", WorkerType.VIDEO, when)
    assert (point["SampleCount"], point["Sum"]) == (1.0, 0.0)


class Recording:
    """A client that records the ``PutMetricData`` payloads it forwards."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.datums: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != "put_metric_data":
            return real

        def call(**kwargs: Any) -> Any:
            self.datums.extend(kwargs["MetricData"])
            return real(**kwargs)

        return call


@pytest.mark.parametrize(("sample_seconds", "resolution"), [(10, 1), (30, 1), (60, None)])
def test_only_the_tracked_series_is_high_resolution(
    aws: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    clock: SimulatedClock,
    sample_seconds: int,
    resolution: int | None,
) -> None:
    # GIVEN the handler's CloudWatch client recorded
    set_environment(monkeypatch, aws.environment(sample_seconds=sample_seconds))
    recording = Recording(aws.cloudwatch)
    monkeypatch.setattr(lambda_function, "_cached", None)
    monkeypatch.setattr(
        lambda_function, "build_clients", lambda _config: clients(aws, cloudwatch=recording)
    )
    # WHEN an invocation runs
    invoke(clock, this_minute())
    # THEN BacklogPerInstance goes out at every sample, at high resolution below 60 s
    samples = 60 // sample_seconds
    tracked = [d for d in recording.datums if d["MetricName"] == "BacklogPerInstance"]
    assert len(tracked) == 3 * samples
    assert {d.get("StorageResolution") for d in tracked} == {resolution}
    # AND QueueDepth once per type, standard resolution: the seed's datum unchanged
    depth = [d for d in recording.datums if d["MetricName"] == "QueueDepth"]
    assert len(depth) == 3 and all("StorageResolution" not in d for d in depth)


def test_a_type_unread_at_the_first_sample_gets_its_queue_depth_from_the_next(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN Messaging has 7 messages and its first read of the minute is throttled
    aws.send(WorkerType.MESSAGING, 7)
    set_environment(monkeypatch, aws.environment(sample_seconds=30))
    url = aws.queue_urls[WorkerType.MESSAGING][0]
    reads = {"count": 0}

    def first_read(kwargs: dict[str, Any]) -> bool:
        if kwargs["QueueUrl"] != url:
            return False
        reads["count"] += 1
        return reads["count"] == 1

    throttled = FailingCalls(aws.sqs, "get_queue_attributes", "RequestThrottled", first_read)
    monkeypatch.setattr(lambda_function, "_cached", None)
    monkeypatch.setattr(
        lambda_function, "build_clients", lambda _config: clients(aws, sqs=throttled)
    )
    when = this_minute()
    # WHEN the invocation runs  THEN it fails (the throttle is counted) ...
    with pytest.raises(lambda_function.TickFailed, match="Messaging/read_queue"):
        invoke(clock, when)
    # ... but the minute still has exactly one Messaging QueueDepth, from the :30 sample
    (point,) = aws.statistic("QueueDepth", WorkerType.MESSAGING, when)
    assert (point["SampleCount"], point["Sum"]) == (1.0, 7.0)


def test_a_short_lambda_timeout_stops_the_loop_and_counts_the_rest(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    # GIVEN a Lambda context with 30 s left at the start
    set_environment(monkeypatch, aws.environment())
    when = this_minute()
    clock.set(when)
    deadline = when + timedelta(seconds=30)

    class Context:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return int((deadline - clock.now()).total_seconds() * 1000)

    # WHEN the invocation runs
    record = invoke(clock, when, Context())
    # THEN it samples while a sample fits (:00 to :20), counts the rest and does not fail
    assert (record["samples_run"], record["skipped_slots"]) == (3, [3, 4, 5])
    skipped = aws.cloudwatch.get_metric_statistics(
        Namespace="Academy/Workers",
        MetricName="SamplesSkipped",
        StartTime=when,
        EndTime=when + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in skipped] == [3.0]


def test_the_writer_checks_sample_seconds_and_writes_the_default() -> None:
    urls = {t: [f"{QUEUE_URL}/{t.value.lower()}"] for t in WorkerType}
    # WHEN the stack writes the environment without a choice  THEN 10 s, the default
    assert lambda_environment(queue_urls=urls, asg_names=ASG_NAMES)["SAMPLE_SECONDS"] == "10"
    # AND a period target tracking does not accept is refused, named
    with pytest.raises(ValueError, match=r"^sample_seconds = 20: must be one of 10, 30, 60"):
        lambda_environment(queue_urls=urls, asg_names=ASG_NAMES, sample_seconds=20)


def test_a_failed_publish_of_the_trailing_skips_is_an_error_of_every_type(
    aws: LocalAws,
) -> None:
    # GIVEN CloudWatch throttling PutMetricData
    config = PublisherConfig.from_env(aws.environment())
    throttled = FailingCalls(aws.cloudwatch, "put_metric_data", "Throttling")
    # WHEN the skips no sample carried are published on their own
    errors = publish_skipped(config, clients(aws, cloudwatch=throttled), 3, T)
    # THEN the failure is recorded for every type (the metric has no WorkerType)
    assert [(e.worker_type, e.stage, e.error_code) for e in errors] == [
        (t, "put_metric_data", "Throttling") for t in WorkerType
    ]
