"""Configuration: the stack's writer (lambda_environment) and the Lambda's reader agree,
and every bad variable is named in the error."""

from __future__ import annotations

import pytest

from worker_metrics.config import ConfigError, PublisherConfig, is_queue_url
from worker_metrics.contract import (
    DEFAULT_BACKLOG_DIVISOR,
    DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    DEFAULT_METRIC_NAME,
    DEFAULT_NAMESPACE,
    BacklogDivisor,
    EnvVar,
    Tracking,
    WorkerType,
    lambda_environment,
)

AWS_URL = "https://sqs.ap-northeast-2.amazonaws.com/123456789012/{}"
URLS = {
    WorkerType.AI: [AWS_URL.format("ai-inference"), AWS_URL.format("ai-embedding")],
    WorkerType.VIDEO: [AWS_URL.format("video-encode")],
    WorkerType.MESSAGING: ["http://127.0.0.1:5000/123456789012/messaging"],
}
ASGS = {t: f"academy-{t.value.lower()}" for t in WorkerType}


def environment(**overrides: str) -> dict[str, str]:
    env = lambda_environment(queue_urls=URLS, asg_names=ASGS)
    env.update(overrides)
    return env


def test_writer_and_reader_round_trip() -> None:
    # GIVEN the environment the stack writes, with every knob set
    env = lambda_environment(
        queue_urls=URLS,
        asg_names=ASGS,
        include_delayed={WorkerType.VIDEO: True},
        video_messages_per_instance=2.5,
        video_jobs_per_instance=2,
        video_scale_in_step=3,
        video_min_size=1,
        video_max_size=6,
        api_timeout_seconds=4,
    )
    # WHEN the Lambda reads it
    config = PublisherConfig.from_env(env)
    # THEN every value arrives unchanged
    assert config.namespace == DEFAULT_NAMESPACE
    assert config.metric_name == DEFAULT_METRIC_NAME
    assert config.backlog_per_instance_metric_name == DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME
    assert config.fleets[WorkerType.AI].queue_urls == tuple(URLS[WorkerType.AI])
    assert config.fleets[WorkerType.VIDEO].include_delayed is True
    assert config.fleets[WorkerType.AI].include_delayed is False
    assert config.fleets[WorkerType.MESSAGING].asg_name == "academy-messaging"
    assert (config.video.messages_per_instance, config.video.jobs_per_instance) == (2.5, 2)
    assert (config.video.scale_in_step, config.video.min_size, config.video.max_size) == (3, 1, 6)
    assert config.api_timeout_seconds == 4
    assert config.queue_count == 4


def test_defaults_when_optional_variables_are_absent() -> None:
    # GIVEN only the required variables
    env = {
        name: value
        for name, value in environment().items()
        if name.endswith(("_QUEUE_URLS", "_ASG_NAME"))
    }
    # WHEN read
    config = PublisherConfig.from_env(env)
    # THEN the seed's defaults and the documented knob defaults apply
    assert (config.namespace, config.metric_name) == ("Academy/Workers", "QueueDepth")
    assert (config.video.messages_per_instance, config.video.scale_in_step) == (1.0, 1)
    assert (config.video.min_size, config.video.max_size) == (None, None)
    # AND the tracked metric and activation defaults (Video's activation is off)
    ai = config.fleets[WorkerType.AI].tracking
    assert (ai.target_backlog_per_instance, ai.divisor, ai.activation_backlog) == (
        20.0,
        DEFAULT_BACKLOG_DIVISOR,
        1,
    )
    assert config.fleets[WorkerType.VIDEO].tracking.activation_backlog == 0


def test_tracking_round_trips_per_type() -> None:
    # GIVEN the stack's tracking settings: AI by in service + pending, no activation;
    # Messaging with in-flight messages, target 7.5, activation at 3
    env = lambda_environment(
        queue_urls=URLS,
        asg_names=ASGS,
        tracking={
            WorkerType.AI: Tracking(
                divisor=BacklogDivisor.IN_SERVICE_AND_PENDING, activation_backlog=0
            ),
            WorkerType.MESSAGING: Tracking(
                target_backlog_per_instance=7.5, track_in_flight=True, activation_backlog=3
            ),
        },
    )
    # WHEN the Lambda reads it
    config = PublisherConfig.from_env(env)
    # THEN each type gets exactly its own
    assert config.fleets[WorkerType.AI].tracking == Tracking(
        divisor=BacklogDivisor.IN_SERVICE_AND_PENDING, activation_backlog=0
    )
    assert config.fleets[WorkerType.MESSAGING].tracking == Tracking(
        target_backlog_per_instance=7.5, track_in_flight=True, activation_backlog=3
    )
    # AND the target and the threshold are not written for Video, which has no policy
    assert EnvVar.activation_backlog(WorkerType.VIDEO) not in env
    assert EnvVar.target_backlog_per_instance(WorkerType.VIDEO) not in env


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target_backlog_per_instance": float("nan")}, "target_backlog_per_instance = nan"),
        ({"target_backlog_per_instance": float("inf")}, "target_backlog_per_instance = inf"),
        ({"activation_backlog": 1.5}, "activation_backlog = 1.5: must be a whole number"),
        ({"activation_backlog": -1}, "activation_backlog = -1"),
        ({"divisor": "desired"}, "divisor = 'desired': must be a BacklogDivisor"),
    ],
)
def test_the_writer_rejects_bad_tracking(fields: dict, message: str) -> None:  # type: ignore[type-arg]
    # GIVEN a bad tracking value  WHEN the stack builds it  THEN one error names it
    with pytest.raises(ValueError, match=f"^{message}"):
        Tracking(**fields)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AI_QUEUE_URLS", "", "AI_QUEUE_URLS: required"),
        ("VIDEO_QUEUE_URLS", "not-a-url", "VIDEO_QUEUE_URLS: 'not-a-url' is not an SQS queue URL"),
        (
            "MESSAGING_QUEUE_URLS",
            "https://sqs.ap-northeast-2.amazonaws.com/1234/short-account",
            "MESSAGING_QUEUE_URLS",
        ),
        ("VIDEO_ASG_NAME", "", "VIDEO_ASG_NAME: required"),
        ("AI_INCLUDE_DELAYED", "maybe", "AI_INCLUDE_DELAYED = 'maybe'"),
        ("VIDEO_MESSAGES_PER_INSTANCE", "0", "VIDEO_MESSAGES_PER_INSTANCE = '0'"),
        ("VIDEO_MESSAGES_PER_INSTANCE", "nan", "VIDEO_MESSAGES_PER_INSTANCE = 'nan'"),
        ("VIDEO_JOBS_PER_INSTANCE", "-1", "VIDEO_JOBS_PER_INSTANCE = '-1'"),
        ("VIDEO_SCALE_IN_STEP", "1.5", "VIDEO_SCALE_IN_STEP = '1.5'"),
        ("VIDEO_MAX_SIZE", "-3", "VIDEO_MAX_SIZE = '-3'"),
        ("API_TIMEOUT_SECONDS", "soon", "API_TIMEOUT_SECONDS = 'soon'"),
        ("METRIC_NAMESPACE", "AWS/SQS", "METRIC_NAMESPACE = 'AWS/SQS'"),
        ("METRIC_NAME", "x" * 300, "METRIC_NAME = "),
        ("AI_BACKLOG_DIVISOR", "instances", "AI_BACKLOG_DIVISOR = 'instances': must be one of"),
        ("MESSAGING_TRACK_IN_FLIGHT", "sometimes", "MESSAGING_TRACK_IN_FLIGHT = 'sometimes'"),
        ("AI_TARGET_BACKLOG_PER_INSTANCE", "nan", "AI_TARGET_BACKLOG_PER_INSTANCE = 'nan'"),
        ("MESSAGING_TARGET_BACKLOG_PER_INSTANCE", "0", "MESSAGING_TARGET_BACKLOG_PER_INSTANCE"),
        ("AI_ACTIVATION_BACKLOG", "0.5", "AI_ACTIVATION_BACKLOG = '0.5': must be a whole number"),
        ("MESSAGING_ACTIVATION_BACKLOG", "-1", "MESSAGING_ACTIVATION_BACKLOG = '-1'"),
    ],
)
def test_invalid_variable_is_named(variable: str, value: str, message: str) -> None:
    # GIVEN one bad variable in an otherwise valid environment
    env = environment(**{variable: value})
    # WHEN read  THEN the error starts with that variable's name
    with pytest.raises(ConfigError) as raised:
        PublisherConfig.from_env(env)
    assert str(raised.value).startswith(variable)
    assert message in str(raised.value)


def test_missing_variable_is_named() -> None:
    # GIVEN the Video ASG variable absent altogether
    env = environment()
    del env[EnvVar.asg_name(WorkerType.VIDEO)]
    # THEN the error names it
    with pytest.raises(ConfigError, match=r"^VIDEO_ASG_NAME: required"):
        PublisherConfig.from_env(env)


def test_min_above_max_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"^VIDEO_MIN_SIZE = 5: is above VIDEO_MAX_SIZE = 2"):
        PublisherConfig.from_env(environment(VIDEO_MIN_SIZE="5", VIDEO_MAX_SIZE="2"))


def test_a_queue_in_two_fleets_is_rejected() -> None:
    # GIVEN the Video queue listed under Messaging too: it would be counted twice
    shared = URLS[WorkerType.VIDEO][0]
    env = environment(MESSAGING_QUEUE_URLS=f"{URLS[WorkerType.MESSAGING][0]},{shared}")
    with pytest.raises(ConfigError, match="is also listed in"):
        PublisherConfig.from_env(env)


def test_queue_url_shapes() -> None:
    assert is_queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo")
    assert is_queue_url("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs")
    assert is_queue_url("http://localhost:4566/000000000000/jobs")
    assert not is_queue_url("http://example.com/123456789012/jobs")
    assert not is_queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/")


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("queue_urls[Video]", {"queue_urls": {**URLS, WorkerType.VIDEO: []}}),
        ("asg_names[AI]", {"asg_names": {WorkerType.VIDEO: "v", WorkerType.MESSAGING: "m"}}),
        ("video_scale_in_step", {"video_scale_in_step": 0}),
        ("video_min_size", {"video_min_size": 4, "video_max_size": 2}),
    ],
)
def test_writer_rejects_bad_arguments(argument: str, kwargs: dict) -> None:  # type: ignore[type-arg]
    # GIVEN a bad argument to the stack-side writer  THEN the ValueError names it
    arguments = {"queue_urls": URLS, "asg_names": ASGS, **kwargs}
    with pytest.raises(ValueError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        lambda_environment(**arguments)


def test_writer_writes_every_variable_name_the_reader_knows() -> None:
    # GIVEN the writer's output with both optional overrides set
    env = lambda_environment(queue_urls=URLS, asg_names=ASGS, video_min_size=0, video_max_size=3)
    # THEN it holds every name the queue-depth reader reads, and only EnvVar names
    reader_names = {
        EnvVar.METRIC_NAMESPACE,
        EnvVar.METRIC_NAME,
        EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME,
        EnvVar.VIDEO_MESSAGES_PER_INSTANCE,
        EnvVar.VIDEO_JOBS_PER_INSTANCE,
        EnvVar.VIDEO_SCALE_IN_STEP,
        EnvVar.VIDEO_MIN_SIZE,
        EnvVar.VIDEO_MAX_SIZE,
        EnvVar.API_TIMEOUT_SECONDS,
    } | {name for t in WorkerType for name in EnvVar.per_type_names(t)}
    constants = {v for k, v in vars(EnvVar).items() if k.isupper()}
    assert reader_names <= set(env)
    assert set(env) <= constants | reader_names


@pytest.mark.parametrize(
    ("argument", "value", "says"),
    [
        ("video_messages_per_instance", float("nan"), "finite number"),
        ("api_timeout_seconds", float("inf"), "finite number"),
        ("video_jobs_per_instance", 1.5, "whole number"),
        ("video_scale_in_step", 0.5, "whole number"),
    ],
)
def test_the_writer_rejects_non_finite_and_fractional_knobs(
    argument: str, value: float, says: str
) -> None:
    # GIVEN a knob that is NaN, infinite, or a fraction where a count is needed
    # WHEN the stack writes the environment THEN it fails naming the knob and the value
    with pytest.raises(ValueError, match=rf"^{argument} = {value!r}: must be a {says}"):
        lambda_environment(queue_urls=URLS, asg_names=ASGS, **{argument: value})


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
def test_the_reader_rejects_non_finite_numbers(raw: str) -> None:
    # GIVEN a deployed environment edited by hand to NaN or infinity
    # WHEN the Lambda reads it THEN the error names the variable
    with pytest.raises(ConfigError, match=rf"^{EnvVar.VIDEO_MESSAGES_PER_INSTANCE} = '{raw}'"):
        PublisherConfig.from_env(environment(**{EnvVar.VIDEO_MESSAGES_PER_INSTANCE: raw}))
