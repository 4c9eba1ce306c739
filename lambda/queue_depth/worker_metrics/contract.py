"""The metric contract: what the queue-depth Lambda publishes, what the scaling
policies consume, and the environment variables that connect the two.

This module is the one source of truth. The Lambda (``worker_metrics``) and the
cdktf stacks (``modules/``) both import it, and a synth test proves that the
Lambda's environment and the target-tracking policies agree on it. It is pure
Python with no dependencies, so it is packaged into the Lambda zip unchanged.

Schema (the seed report, section 1):

* namespace ``Academy/Workers`` (env ``METRIC_NAMESPACE`` overrides it),
* metric ``QueueDepth`` (env ``METRIC_NAME`` overrides it), unit ``Count``,
* one datum per dimension ``WorkerType`` = ``AI`` | ``Video`` | ``Messaging``:
  AI counts visible + in-flight messages over all AI queues, Video and
  Messaging count visible messages.

Additions that fix the old system (README, "Why not the old policies"):

* ``BacklogPerInstance`` (unit ``Count``, same namespace and dimension): the
  type's tracked backlog (``QueueDepth``, plus in-flight messages where
  ``<TYPE>_TRACK_IN_FLIGHT`` says so) divided by ``max(capacity, 1)``, where the
  capacity is the one ``<TYPE>_BACKLOG_DIVISOR`` names (``BacklogDivisor``).
  Target tracking consumes this metric, because a raw queue depth does not
  fall as instances are added.
* Activation from zero (KEDA's split): a tracked fleet whose desired capacity
  is 0 is started by the Lambda once its tracked backlog reaches
  ``<TYPE>_ACTIVATION_BACKLOG``; 1 -> N is target tracking's alone.
* ``PublisherErrors`` (unit ``Count``, dimensions ``WorkerType`` and
  ``Stage``): one datum per failed read, publish or scaling call, so faults are
  visible in metrics as well as logs.

Sampling (``SAMPLE_SECONDS``): each one-minute invocation samples every
``sample_seconds`` (10, 30 or 60). ``QueueDepth`` stays the seed's series: one
standard-resolution datum per minute per ``WorkerType``, so ``--period 60
--statistics Sum`` reads the depth. ``BacklogPerInstance`` is published at every
sample, with ``StorageResolution = 1`` below 60 s, and the target-tracking
policies read it at ``period = sample_seconds``. A sample that would run late
is skipped and counted in ``SamplesSkipped`` (unit ``Count``, no dimension).

The optional per-tenant Video backlog source (``worker_metrics.tenant_backlog``,
enabled by ``BACKLOG_DB_SECRET_ARN``) adds:

* ``VideoBacklog`` (unit ``Count``): videos in status ``UPLOADED`` or
  ``PROCESSING`` in the application database. One datum with ``WorkerType`` =
  ``Video`` (the total), plus one per top-N tenant with the dimensions
  ``WorkerType`` = ``Video`` and ``TenantId``. It is read from PostgreSQL, so it
  is the authoritative backlog next to the SQS-based ``QueueDepth``.
* ``PublisherErrors`` with ``WorkerType`` = ``Video`` and ``Stage`` =
  ``tenant_backlog`` (``TENANT_BACKLOG_STAGE``) when that read fails; the
  error log line names the failed step (``BACKLOG_ERROR_STAGES``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_NAMESPACE = "Academy/Workers"
"""Default CloudWatch namespace (the seed's ``NAMESPACE``)."""

DEFAULT_METRIC_NAME = "QueueDepth"
"""Default name of the raw backlog metric (the seed's ``METRIC_NAME``)."""

DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME = "BacklogPerInstance"
"""Default name of the metric that target tracking consumes."""

ERROR_METRIC_NAME = "PublisherErrors"
"""Count of failed calls per tick, by ``WorkerType`` and ``Stage``."""

DIMENSION_NAME = "WorkerType"
"""The one dimension every QueueDepth / BacklogPerInstance datum carries."""

STAGE_DIMENSION_NAME = "Stage"
"""Second dimension of ``PublisherErrors``: read, publish, scale, ..."""

UNIT = "Count"
"""CloudWatch unit of every metric in this contract."""

VIDEO_BACKLOG_METRIC_NAME = "VideoBacklog"
"""Videos waiting or being encoded, counted in the database (unit ``Count``)."""

TENANT_DIMENSION_NAME = "TenantId"
"""Second dimension of ``VideoBacklog`` datums, only for the top-N tenants."""

DEFAULT_BACKLOG_TOP_TENANTS = 10
"""Tenants with their own ``VideoBacklog`` series (about $0.30 each per month)."""

TENANT_BACKLOG_STAGE = "tenant_backlog"
"""``Stage`` of ``PublisherErrors`` for a failed tenant backlog read (one series)."""

BACKLOG_ERROR_STAGES: tuple[str, ...] = (
    "backlog_secret",
    "backlog_connect",
    "backlog_auth",
    "backlog_timeout",
    "backlog_query",
)
"""Failed steps of a tenant backlog read (``TenantBacklogError.stage``, the
first word of the error log line's message): the secret could not be read or
parsed; the database was unreachable; it rejected the credentials; the query
hit ``statement_timeout`` (or the socket timeout); the database rejected the
query (missing table or column, permissions, a write)."""

SAMPLES_SKIPPED_METRIC_NAME = "SamplesSkipped"
"""Samples an invocation skipped because they would have run late (no dimension)."""

TARGET_TRACKING_STATISTIC = "Average"
"""Statistic the target-tracking policies use (the seed's ``Statistic``)."""


class WorkerType(enum.Enum):
    """The three worker fleets. The value is the ``WorkerType`` dimension value."""

    AI = "AI"
    VIDEO = "Video"
    MESSAGING = "Messaging"

    @classmethod
    def parse(cls, value: str) -> WorkerType:
        """Return the member whose value or name matches ``value`` (case-insensitive).

        Raises ``ValueError`` naming the bad value and the allowed ones.
        """
        for member in cls:
            if value.strip().lower() in (member.value.lower(), member.name.lower()):
                return member
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown worker type {value!r}; expected one of: {allowed}")

    @property
    def env_prefix(self) -> str:
        """Prefix of this type's environment variables, e.g. ``MESSAGING``."""
        return self.name


@dataclass(frozen=True)
class CountingRule:
    """Which SQS counters make up one worker type's ``QueueDepth``.

    ``visible`` is ``ApproximateNumberOfMessages``, ``in_flight`` is
    ``ApproximateNumberOfMessagesNotVisible`` and ``delayed`` is
    ``ApproximateNumberOfMessagesDelayed``.
    """

    in_flight: bool
    delayed: bool = False


COUNTING_RULES: Mapping[WorkerType, CountingRule] = {
    WorkerType.AI: CountingRule(in_flight=True),
    WorkerType.VIDEO: CountingRule(in_flight=False),
    WorkerType.MESSAGING: CountingRule(in_flight=False),
}
"""The seed's rules: AI counts visible + in flight; Video and Messaging visible.

Whether delayed messages count is configurable per type (``<TYPE>_INCLUDE_DELAYED``).
"""

TARGET_TRACKED_TYPES: tuple[WorkerType, ...] = (WorkerType.AI, WorkerType.MESSAGING)
"""Fleets scaled by an EC2 target-tracking policy on ``BacklogPerInstance``."""

LAMBDA_CONTROLLED_TYPES: tuple[WorkerType, ...] = (WorkerType.VIDEO,)
"""Fleets whose desired capacity the Lambda sets directly (no scaling policy)."""


class ErrorStage(enum.Enum):
    """Values of the ``Stage`` dimension of ``PublisherErrors``: which call failed.

    Extra metric sources (``worker_metrics.tick.MetricSource``) use their own
    stage name, e.g. ``tenant_backlog``.
    """

    READ_QUEUE = "read_queue"
    DESCRIBE_ASG = "describe_asg"
    SET_DESIRED_CAPACITY = "set_desired_capacity"
    PUT_METRIC_DATA = "put_metric_data"


VIDEO_SCALE_IN_MARKER_TAG = "worker-metrics:video-scale-in"
"""ASG tag the Lambda writes on the Video ASG just before each scale-in.

Value: ``<tick timestamp ISO 8601> <desired capacity before the scale-in>``. A
repeated run of the same tick (Lambda async retry, duplicate EventBridge
delivery, overlapping invocations) starts from the recorded value, so the
scale-in step is applied once per tick, not once per run. Terraform must not
manage this tag (provider ``ignore_tags`` with this key, or its prefix).
"""

DEFAULT_VIDEO_MESSAGES_PER_INSTANCE = 1.0
"""Visible Video messages one instance takes on when the Lambda scales out."""

DEFAULT_VIDEO_JOBS_PER_INSTANCE = 1
"""Video jobs one instance runs at once; the scale-in floor is in_flight / this."""

DEFAULT_VIDEO_SCALE_IN_STEP = 1
"""At most this many Video instances removed per tick (one invocation: a minute,
whatever the sampling)."""

INVOCATION_INTERVAL_SECONDS = 60
"""The schedule fires every minute; one invocation samples until the next one."""

SAMPLE_SECONDS_CHOICES: tuple[int, ...] = (10, 30, 60)
"""The periods EC2 target tracking accepts for a metric (``Period``: 10, 30 or 60)."""

DEFAULT_SAMPLE_SECONDS = 10
"""Sample every 10 s: the only choice that meets the reaction goals (Video within
15 s, AI and Messaging within 45 s); README, "Sampling", has the figures and the cost."""


SAMPLE_SECONDS_RULE = (
    "must be one of "
    + ", ".join(str(c) for c in SAMPLE_SECONDS_CHOICES)
    + " (the metric periods EC2 target tracking accepts)"
)
"""What is wrong with a ``sample_seconds`` (or a policy period) not in the choices;
every checker words it so, naming its own setting."""


def is_sample_seconds(value: object) -> bool:
    """True if ``value`` is one of ``SAMPLE_SECONDS_CHOICES`` (a whole number, not a bool)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and value in SAMPLE_SECONDS_CHOICES
    )


def check_sample_seconds(sample_seconds: object) -> int:
    """``sample_seconds`` itself if it is one of ``SAMPLE_SECONDS_CHOICES``; else
    ``ValueError`` naming the value and the choices."""
    if not is_sample_seconds(sample_seconds):
        raise ValueError(f"sample_seconds = {sample_seconds!r}: {SAMPLE_SECONDS_RULE}")
    return sample_seconds  # type: ignore[return-value]


class BacklogDivisor(enum.Enum):
    """What ``BacklogPerInstance`` divides a type's tracked backlog by (``<TYPE>_BACKLOG_DIVISOR``).

    ``IN_SERVICE``: ``GroupInServiceInstances``, AWS's SQS example. While new
    instances boot the ratio stays high; if target tracking multiplies it by a
    capacity that includes warming instances, it keeps adding capacity already
    on its way (README, "Sizing decisions": the two readings of warmup).
    ``IN_SERVICE_AND_PENDING``: in service plus launching (``Pending``,
    ``Pending:Wait``, ``Pending:Proceed``).
    ``DESIRED``: the group's desired capacity, the capacity already asked for.
    """

    IN_SERVICE = "in_service"
    IN_SERVICE_AND_PENDING = "in_service_and_pending"
    DESIRED = "desired"


DEFAULT_BACKLOG_DIVISOR = BacklogDivisor.DESIRED
"""The divisor of ``BacklogPerInstance`` (README, "Sizing decisions", has the figures)."""

DEFAULT_TARGET_BACKLOG_PER_INSTANCE = 20.0
"""The seed's ``$TargetMessagesPerInstance``: the target-tracking target value."""

DEFAULT_TRACK_IN_FLIGHT = True
"""The tracked backlog counts in-flight messages (KEDA's ``scaleOnInFlight``): a fleet
is not scaled in, nor to zero, while its last messages are being processed
(kedacore/keda#1663; README, "Sizing decisions")."""

DEFAULT_ACTIVATION_BACKLOG = 1
"""Tracked backlog at which the Lambda starts a tracked fleet that is at zero (KEDA's
``activationQueueLength``, as a threshold reached rather than exceeded)."""


@dataclass(frozen=True)
class Tracking:
    """How one type's tracked metric is computed, and how its fleet leaves zero.

    ``target_backlog_per_instance``: default 20; the target-tracking policy's
    target value (> 0, finite). Activation sizes to ``ceil(backlog / target)``.
    ``divisor``: default ``DEFAULT_BACKLOG_DIVISOR``.
    ``track_in_flight``: default ``True``; add in-flight messages to the
    tracked backlog where ``QueueDepth`` does not count them (AI's already
    does), so a fleet is not scaled in while its last messages are processed.
    ``activation_backlog``: default 1; the tracked backlog at which the Lambda
    sets the desired capacity of a fleet at zero; 0 turns activation off (a
    fleet with ``min_size >= 1`` never is at zero, and gets no IAM grant).

    Raises ``ValueError`` naming the field and the bad value.
    """

    target_backlog_per_instance: float = DEFAULT_TARGET_BACKLOG_PER_INSTANCE
    divisor: BacklogDivisor = DEFAULT_BACKLOG_DIVISOR
    track_in_flight: bool = DEFAULT_TRACK_IN_FLIGHT
    activation_backlog: int = DEFAULT_ACTIVATION_BACKLOG

    def __post_init__(self) -> None:
        target = self.target_backlog_per_instance
        if isinstance(target, bool) or not math.isfinite(target) or target <= 0:
            raise ValueError(
                f"target_backlog_per_instance = {target!r}: must be a finite number greater than 0"
            )
        if not isinstance(self.divisor, BacklogDivisor):
            raise ValueError(f"divisor = {self.divisor!r}: must be a BacklogDivisor")
        activation = self.activation_backlog
        if isinstance(activation, bool) or not isinstance(activation, int) or activation < 0:
            raise ValueError(
                f"activation_backlog = {activation!r}: must be a whole number >= 0 (0: off)"
            )


DEFAULT_API_TIMEOUT_SECONDS = 5.0
"""botocore connect and read timeout per attempt (3 attempts), below the Lambda timeout."""


class EnvVar:
    """Names of the Lambda's environment variables.

    The stack writes them (``lambda_environment``); ``worker_metrics.config``
    reads them. Per-type names are built by the functions below.
    """

    METRIC_NAMESPACE = "METRIC_NAMESPACE"
    METRIC_NAME = "METRIC_NAME"
    BACKLOG_PER_INSTANCE_METRIC_NAME = "BACKLOG_PER_INSTANCE_METRIC_NAME"

    # The optional tenant backlog source (worker_metrics.tenant_backlog). It is on
    # exactly when BACKLOG_DB_SECRET_ARN is set; the others have defaults.
    BACKLOG_DB_SECRET_ARN = "BACKLOG_DB_SECRET_ARN"
    BACKLOG_TOP_TENANTS = "BACKLOG_TOP_TENANTS"
    BACKLOG_STATEMENT_TIMEOUT_MS = "BACKLOG_STATEMENT_TIMEOUT_MS"
    BACKLOG_CONNECT_TIMEOUT_MS = "BACKLOG_CONNECT_TIMEOUT_MS"
    BACKLOG_DB_SSLMODE = "BACKLOG_DB_SSLMODE"
    BACKLOG_STATUSES = "BACKLOG_STATUSES"
    BACKLOG_VIDEO_TABLE = "BACKLOG_VIDEO_TABLE"
    BACKLOG_VIDEO_SESSION_COLUMN = "BACKLOG_VIDEO_SESSION_COLUMN"
    BACKLOG_VIDEO_STATUS_COLUMN = "BACKLOG_VIDEO_STATUS_COLUMN"
    BACKLOG_SESSION_TABLE = "BACKLOG_SESSION_TABLE"
    BACKLOG_SESSION_ID_COLUMN = "BACKLOG_SESSION_ID_COLUMN"
    BACKLOG_SESSION_LECTURE_COLUMN = "BACKLOG_SESSION_LECTURE_COLUMN"
    BACKLOG_LECTURE_TABLE = "BACKLOG_LECTURE_TABLE"
    BACKLOG_LECTURE_ID_COLUMN = "BACKLOG_LECTURE_ID_COLUMN"
    BACKLOG_LECTURE_TENANT_COLUMN = "BACKLOG_LECTURE_TENANT_COLUMN"

    VIDEO_MESSAGES_PER_INSTANCE = "VIDEO_MESSAGES_PER_INSTANCE"
    VIDEO_JOBS_PER_INSTANCE = "VIDEO_JOBS_PER_INSTANCE"
    VIDEO_SCALE_IN_STEP = "VIDEO_SCALE_IN_STEP"
    VIDEO_MIN_SIZE = "VIDEO_MIN_SIZE"
    """Optional: narrows the Video ASG's MinSize for the Lambda's decisions."""
    VIDEO_MAX_SIZE = "VIDEO_MAX_SIZE"
    """Optional: narrows the Video ASG's MaxSize for the Lambda's decisions."""
    API_TIMEOUT_SECONDS = "API_TIMEOUT_SECONDS"
    SAMPLE_SECONDS = "SAMPLE_SECONDS"
    """Seconds between two samples of one invocation: 10, 30 or 60."""

    @staticmethod
    def queue_urls(worker_type: WorkerType) -> str:
        """Comma-separated SQS queue URLs of one type, e.g. ``AI_QUEUE_URLS``."""
        return f"{worker_type.env_prefix}_QUEUE_URLS"

    @staticmethod
    def asg_name(worker_type: WorkerType) -> str:
        """Auto Scaling group name of one type, e.g. ``VIDEO_ASG_NAME``."""
        return f"{worker_type.env_prefix}_ASG_NAME"

    @staticmethod
    def include_delayed(worker_type: WorkerType) -> str:
        """``true``/``false``: count delayed messages too, e.g. ``AI_INCLUDE_DELAYED``."""
        return f"{worker_type.env_prefix}_INCLUDE_DELAYED"

    @staticmethod
    def backlog_divisor(worker_type: WorkerType) -> str:
        """``BacklogDivisor`` value of one type, e.g. ``AI_BACKLOG_DIVISOR``."""
        return f"{worker_type.env_prefix}_BACKLOG_DIVISOR"

    @staticmethod
    def track_in_flight(worker_type: WorkerType) -> str:
        """``true``/``false``: in-flight messages in the tracked backlog, e.g.
        ``MESSAGING_TRACK_IN_FLIGHT``."""
        return f"{worker_type.env_prefix}_TRACK_IN_FLIGHT"

    @staticmethod
    def target_backlog_per_instance(worker_type: WorkerType) -> str:
        """Target value of a tracked type, e.g. ``AI_TARGET_BACKLOG_PER_INSTANCE``."""
        return f"{worker_type.env_prefix}_TARGET_BACKLOG_PER_INSTANCE"

    @staticmethod
    def activation_backlog(worker_type: WorkerType) -> str:
        """Activation threshold of a tracked type (0: off), e.g. ``AI_ACTIVATION_BACKLOG``."""
        return f"{worker_type.env_prefix}_ACTIVATION_BACKLOG"

    @staticmethod
    def per_type_names(worker_type: WorkerType) -> tuple[str, ...]:
        """Every per-type variable of ``worker_type`` (the tracked-only ones for AI and
        Messaging)."""
        names: tuple[str, ...] = (
            EnvVar.queue_urls(worker_type),
            EnvVar.asg_name(worker_type),
            EnvVar.include_delayed(worker_type),
        )
        if worker_type in TARGET_TRACKED_TYPES:
            names += (
                EnvVar.backlog_divisor(worker_type),
                EnvVar.track_in_flight(worker_type),
                EnvVar.target_backlog_per_instance(worker_type),
                EnvVar.activation_backlog(worker_type),
            )
        return names


def dimensions(worker_type: WorkerType) -> list[dict[str, str]]:
    """The CloudWatch dimensions of one type's datum, as the API spells them."""
    return [{"Name": DIMENSION_NAME, "Value": worker_type.value}]


def lambda_environment(
    *,
    queue_urls: Mapping[WorkerType, Sequence[str]],
    asg_names: Mapping[WorkerType, str],
    namespace: str = DEFAULT_NAMESPACE,
    metric_name: str = DEFAULT_METRIC_NAME,
    backlog_per_instance_metric_name: str = DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
    include_delayed: Mapping[WorkerType, bool] | None = None,
    video_messages_per_instance: float = DEFAULT_VIDEO_MESSAGES_PER_INSTANCE,
    video_jobs_per_instance: int = DEFAULT_VIDEO_JOBS_PER_INSTANCE,
    video_scale_in_step: int = DEFAULT_VIDEO_SCALE_IN_STEP,
    video_min_size: int | None = None,
    video_max_size: int | None = None,
    api_timeout_seconds: float = DEFAULT_API_TIMEOUT_SECONDS,
    tracking: Mapping[WorkerType, Tracking] | None = None,
    sample_seconds: int = DEFAULT_SAMPLE_SECONDS,
) -> dict[str, str]:
    """The Lambda's environment, as the stack writes it.

    ``worker_metrics.config.PublisherConfig.from_env`` reads exactly these
    names, so writer and reader share this one definition. Every variable is
    written, defaults included, so a deployed function shows its whole
    configuration.

    ``queue_urls``: every worker type needs at least one URL (the values may be
    Terraform tokens, so their shape is checked by the reader, not here).
    ``asg_names``: every worker type needs its ASG name (BacklogPerInstance
    divides by its in-service instances; Video's desired capacity is set on it).
    ``include_delayed``: default ``False`` for every type.
    ``video_min_size`` / ``video_max_size``: default ``None`` (use the ASG's own
    MinSize/MaxSize); a value can only narrow the ASG's range.
    ``tracking``: default ``Tracking()`` for every type; the target and the
    activation threshold are written for the target-tracked types only.
    ``sample_seconds``: default ``DEFAULT_SAMPLE_SECONDS``; one of
    ``SAMPLE_SECONDS_CHOICES``.

    Raises ``ValueError`` naming the argument and the bad value.
    """
    environment = {
        EnvVar.METRIC_NAMESPACE: namespace,
        EnvVar.METRIC_NAME: metric_name,
        EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME: backlog_per_instance_metric_name,
    }
    for name, value in environment.items():
        if not value:
            raise ValueError(f"{name.lower()} = {value!r}: must not be empty")
    delayed = dict(include_delayed or {})
    for worker_type in WorkerType:
        urls = list(queue_urls.get(worker_type, ()))
        if not urls or not all(urls):
            raise ValueError(f"queue_urls[{worker_type.value}] = {urls!r}: needs at least one URL")
        if not asg_names.get(worker_type):
            raise ValueError(f"asg_names[{worker_type.value}] is missing: every fleet needs one")
        environment[EnvVar.queue_urls(worker_type)] = ",".join(urls)
        environment[EnvVar.asg_name(worker_type)] = asg_names[worker_type]
        environment[EnvVar.include_delayed(worker_type)] = (
            "true" if delayed.get(worker_type, False) else "false"
        )
        spec = (tracking or {}).get(worker_type, Tracking())
        if not isinstance(spec, Tracking):
            raise ValueError(f"tracking[{worker_type.value}] = {spec!r}: must be a Tracking")
        if worker_type in TARGET_TRACKED_TYPES:
            environment[EnvVar.backlog_divisor(worker_type)] = spec.divisor.value
            environment[EnvVar.track_in_flight(worker_type)] = (
                "true" if spec.track_in_flight else "false"
            )
            environment[EnvVar.target_backlog_per_instance(worker_type)] = str(
                spec.target_backlog_per_instance
            )
            environment[EnvVar.activation_backlog(worker_type)] = str(spec.activation_backlog)
    positives: dict[str, float] = {
        "video_messages_per_instance": video_messages_per_instance,
        "api_timeout_seconds": api_timeout_seconds,
    }
    for name, number in positives.items():
        if isinstance(number, bool) or not math.isfinite(number) or number <= 0:
            raise ValueError(f"{name} = {number!r}: must be a finite number greater than 0")
    wholes: dict[str, int] = {
        "video_jobs_per_instance": video_jobs_per_instance,
        "video_scale_in_step": video_scale_in_step,
    }
    for name, count in wholes.items():
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"{name} = {count!r}: must be a whole number greater than 0")
    for name, size in (("video_min_size", video_min_size), ("video_max_size", video_max_size)):
        if size is not None and (isinstance(size, bool) or size < 0):
            raise ValueError(f"{name} = {size!r}: must be a whole number >= 0")
    if (
        video_min_size is not None
        and video_max_size is not None
        and video_min_size > video_max_size
    ):
        raise ValueError(
            f"video_min_size = {video_min_size}: is above video_max_size = {video_max_size}"
        )
    environment[EnvVar.VIDEO_MESSAGES_PER_INSTANCE] = str(video_messages_per_instance)
    environment[EnvVar.VIDEO_JOBS_PER_INSTANCE] = str(video_jobs_per_instance)
    environment[EnvVar.VIDEO_SCALE_IN_STEP] = str(video_scale_in_step)
    environment[EnvVar.API_TIMEOUT_SECONDS] = str(api_timeout_seconds)
    environment[EnvVar.SAMPLE_SECONDS] = str(check_sample_seconds(sample_seconds))
    # Optional overrides are written only when set: an absent variable means
    # "use the ASG's own bound", which an empty string could not say as clearly.
    if video_min_size is not None:
        environment[EnvVar.VIDEO_MIN_SIZE] = str(video_min_size)
    if video_max_size is not None:
        environment[EnvVar.VIDEO_MAX_SIZE] = str(video_max_size)
    return environment
