"""The Lambda's configuration: environment variables into frozen dataclasses.

``PublisherConfig.from_env`` reads the names that ``contract.lambda_environment``
writes. A missing or invalid variable raises ``ConfigError`` whose message starts
with the variable's name, so the first failed invocation says what to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from worker_metrics.contract import (
    DEFAULT_API_TIMEOUT_SECONDS,
    DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    DEFAULT_METRIC_NAME,
    DEFAULT_NAMESPACE,
    DEFAULT_SAMPLE_SECONDS,
    DEFAULT_VIDEO_JOBS_PER_INSTANCE,
    DEFAULT_VIDEO_MESSAGES_PER_INSTANCE,
    DEFAULT_VIDEO_SCALE_IN_STEP,
    SAMPLE_SECONDS_RULE,
    TARGET_TRACKED_TYPES,
    BacklogDivisor,
    EnvVar,
    Tracking,
    WorkerType,
    is_sample_seconds,
)

# An AWS queue URL (https://sqs.<region>.amazonaws.com[.cn]/<account>/<name>) or an
# endpoint-style URL on loopback, which is what moto and other local emulators return.
_AWS_QUEUE_URL = re.compile(
    r"^https://sqs\.[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d\.amazonaws\.com(\.cn)?"
    r"/\d{12}/[A-Za-z0-9_-]{1,75}(\.fifo)?$"
)
_LOCAL_QUEUE_URL = re.compile(
    r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?/\d{12}/[A-Za-z0-9_-]{1,75}(\.fifo)?$"
)
# CloudWatch limits namespaces and metric names to 255 printable characters; a
# namespace must not start with "AWS/" (reserved for AWS services).
_METRIC_TEXT = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,254}$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class ConfigError(ValueError):
    """An environment variable is missing or invalid; the message starts with its name."""


def is_queue_url(url: str) -> bool:
    """True if ``url`` is an SQS queue URL (AWS, or a loopback emulator)."""
    return bool(_AWS_QUEUE_URL.match(url) or _LOCAL_QUEUE_URL.match(url))


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required environment variable is missing or empty")
    return value


def _metric_text(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip() or default
    if not _METRIC_TEXT.match(value):
        raise ConfigError(f"{name} = {value!r}: must be 1-255 printable ASCII characters")
    return value


def _boolean(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} = {value!r}: must be 'true' or 'false'")


def _positive_number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} = {raw!r}: must be a number greater than 0") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} = {raw!r}: must be a number greater than 0")
    return value


def _whole_number(environ: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} = {raw!r}: must be a whole number >= {minimum}") from None
    if value < minimum:
        raise ConfigError(f"{name} = {raw!r}: must be a whole number >= {minimum}")
    return value


def _divisor(environ: Mapping[str, str], name: str) -> BacklogDivisor:
    raw = environ.get(name, "").strip()
    if not raw:
        return Tracking().divisor
    try:
        return BacklogDivisor(raw)
    except ValueError:
        allowed = ", ".join(repr(d.value) for d in BacklogDivisor)
        raise ConfigError(f"{name} = {raw!r}: must be one of {allowed}") from None


def tracking_from_env(environ: Mapping[str, str], worker_type: WorkerType) -> Tracking:
    """One type's ``Tracking``: for an untracked type (Video), whose environment has
    no tracking variables, the defaults with activation off. ``ConfigError`` naming
    a bad variable. Public: ``report`` and ``verify`` read a deployed environment
    with it."""
    default = Tracking()
    if worker_type not in TARGET_TRACKED_TYPES:
        return Tracking(activation_backlog=0)
    target = _positive_number(
        environ,
        EnvVar.target_backlog_per_instance(worker_type),
        default.target_backlog_per_instance,
    )
    found = _whole_number(environ, EnvVar.activation_backlog(worker_type), 0)
    activation = default.activation_backlog if found is None else found
    return Tracking(
        target_backlog_per_instance=target,
        divisor=_divisor(environ, EnvVar.backlog_divisor(worker_type)),
        track_in_flight=_boolean(
            environ, EnvVar.track_in_flight(worker_type), default.track_in_flight
        ),
        activation_backlog=activation,
    )


def sample_seconds_from_env(environ: Mapping[str, str]) -> int:
    """``SAMPLE_SECONDS`` (default ``DEFAULT_SAMPLE_SECONDS``); ``ConfigError`` naming it
    for another value. Public: ``report`` and ``verify`` read a deployed environment
    with it."""
    name = EnvVar.SAMPLE_SECONDS
    raw = environ.get(name, "").strip()
    if not raw:
        return DEFAULT_SAMPLE_SECONDS
    if not raw.isdigit() or not is_sample_seconds(int(raw)):
        raise ConfigError(f"{name} = {raw!r}: {SAMPLE_SECONDS_RULE}")
    return int(raw)


@dataclass(frozen=True)
class FleetConfig:
    """One worker type's sources.

    ``queue_urls``: at least one SQS queue URL (``<TYPE>_QUEUE_URLS``, comma-separated).
    ``asg_name``: the fleet's Auto Scaling group (``<TYPE>_ASG_NAME``).
    ``include_delayed``: count delayed messages too (``<TYPE>_INCLUDE_DELAYED``,
    default ``false``).
    ``tracking``: the tracked metric and activation (``<TYPE>_BACKLOG_DIVISOR``,
    ``<TYPE>_TRACK_IN_FLIGHT``; for AI and Messaging also
    ``<TYPE>_TARGET_BACKLOG_PER_INSTANCE`` and ``<TYPE>_ACTIVATION_BACKLOG``);
    default ``Tracking()``. Activation applies to the target-tracked types only
    (the reader sets Video's to 0, off): the Lambda sizes the Video fleet itself.
    """

    worker_type: WorkerType
    queue_urls: tuple[str, ...]
    asg_name: str
    include_delayed: bool = False
    tracking: Tracking = field(default_factory=Tracking)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], worker_type: WorkerType) -> FleetConfig:
        """Read one type's variables. Raises ``ConfigError`` naming the variable."""
        urls_name = EnvVar.queue_urls(worker_type)
        urls = tuple(u.strip() for u in _required(environ, urls_name).split(",") if u.strip())
        for url in urls:
            if not is_queue_url(url):
                raise ConfigError(
                    f"{urls_name}: {url!r} is not an SQS queue URL like "
                    "'https://sqs.<region>.amazonaws.com/<12-digit account>/<queue name>'"
                )
        if len(set(urls)) != len(urls):
            # A duplicate would be counted twice and inflate the backlog.
            raise ConfigError(f"{urls_name}: lists the same queue twice")
        return cls(
            worker_type=worker_type,
            queue_urls=urls,
            asg_name=_required(environ, EnvVar.asg_name(worker_type)),
            include_delayed=_boolean(environ, EnvVar.include_delayed(worker_type)),
            tracking=tracking_from_env(environ, worker_type),
        )


@dataclass(frozen=True)
class VideoControlConfig:
    """How the Lambda sizes the Video fleet.

    ``messages_per_instance``: default 1; visible messages one instance takes on
    (scale out to ``ceil(backlog / messages_per_instance)``).
    ``jobs_per_instance``: default 1; jobs one instance runs at once (desired is
    never below ``ceil(in_flight / jobs_per_instance)``).
    ``scale_in_step``: default 1; instances removed per tick at most.
    ``min_size`` / ``max_size``: default ``None`` (the ASG's own bounds); a value
    only narrows the ASG's range, so SetDesiredCapacity never fails validation.
    """

    messages_per_instance: float = DEFAULT_VIDEO_MESSAGES_PER_INSTANCE
    jobs_per_instance: int = DEFAULT_VIDEO_JOBS_PER_INSTANCE
    scale_in_step: int = DEFAULT_VIDEO_SCALE_IN_STEP
    min_size: int | None = None
    max_size: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> VideoControlConfig:
        """Read the ``VIDEO_*`` knobs. Raises ``ConfigError`` naming the variable."""
        min_size = _whole_number(environ, EnvVar.VIDEO_MIN_SIZE, 0)
        max_size = _whole_number(environ, EnvVar.VIDEO_MAX_SIZE, 0)
        if min_size is not None and max_size is not None and min_size > max_size:
            raise ConfigError(
                f"{EnvVar.VIDEO_MIN_SIZE} = {min_size}: "
                f"is above {EnvVar.VIDEO_MAX_SIZE} = {max_size}"
            )
        return cls(
            messages_per_instance=_positive_number(
                environ, EnvVar.VIDEO_MESSAGES_PER_INSTANCE, DEFAULT_VIDEO_MESSAGES_PER_INSTANCE
            ),
            jobs_per_instance=_whole_number(environ, EnvVar.VIDEO_JOBS_PER_INSTANCE, 1)
            or DEFAULT_VIDEO_JOBS_PER_INSTANCE,
            scale_in_step=_whole_number(environ, EnvVar.VIDEO_SCALE_IN_STEP, 1)
            or DEFAULT_VIDEO_SCALE_IN_STEP,
            min_size=min_size,
            max_size=max_size,
        )


@dataclass(frozen=True)
class PublisherConfig:
    """Everything one tick needs besides the AWS clients.

    ``namespace``: default ``Academy/Workers`` (``METRIC_NAMESPACE``).
    ``metric_name``: default ``QueueDepth`` (``METRIC_NAME``).
    ``backlog_per_instance_metric_name``: default ``BacklogPerInstance``
    (``BACKLOG_PER_INSTANCE_METRIC_NAME``).
    ``fleets``: one ``FleetConfig`` per worker type, all three required.
    ``video``: the Video control knobs.
    ``api_timeout_seconds``: default 5; botocore connect and read timeout.
    ``sample_seconds``: default 10 (``SAMPLE_SECONDS``); one of 10, 30, 60:
    the invocation samples every this many seconds until the next one.
    """

    namespace: str
    metric_name: str
    backlog_per_instance_metric_name: str
    fleets: Mapping[WorkerType, FleetConfig]
    video: VideoControlConfig
    api_timeout_seconds: float = DEFAULT_API_TIMEOUT_SECONDS
    sample_seconds: int = DEFAULT_SAMPLE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PublisherConfig:
        """Read the whole configuration. Raises ``ConfigError`` naming the variable."""
        namespace = _metric_text(environ, EnvVar.METRIC_NAMESPACE, DEFAULT_NAMESPACE)
        if namespace.startswith("AWS/"):
            raise ConfigError(f"{EnvVar.METRIC_NAMESPACE} = {namespace!r}: 'AWS/' is reserved")
        fleets = {t: FleetConfig.from_env(environ, t) for t in WorkerType}
        all_urls = [url for fleet in fleets.values() for url in fleet.queue_urls]
        if len(set(all_urls)) != len(all_urls):
            duplicate = next(u for u in all_urls if all_urls.count(u) > 1)
            owners = [EnvVar.queue_urls(t) for t, f in fleets.items() if duplicate in f.queue_urls]
            raise ConfigError(f"{owners[0]}: {duplicate!r} is also listed in {owners[-1]}")
        return cls(
            namespace=namespace,
            metric_name=_metric_text(environ, EnvVar.METRIC_NAME, DEFAULT_METRIC_NAME),
            backlog_per_instance_metric_name=_metric_text(
                environ,
                EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME,
                DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
            ),
            fleets=fleets,
            video=VideoControlConfig.from_env(environ),
            api_timeout_seconds=_positive_number(
                environ, EnvVar.API_TIMEOUT_SECONDS, DEFAULT_API_TIMEOUT_SECONDS
            ),
            sample_seconds=sample_seconds_from_env(environ),
        )

    @property
    def queue_count(self) -> int:
        """Number of queues read per tick."""
        return sum(len(fleet.queue_urls) for fleet in self.fleets.values())
