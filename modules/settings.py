"""Per-environment settings: ``config/<env>.toml`` loaded into frozen dataclasses.

Every field has a documented default. Each dataclass validates itself in
``__post_init__`` and raises ``ValueError`` naming the field and the value;
``load_environment`` re-raises it as ``SettingsError`` prefixed with the file
and the setting's path (``config/prod.toml: fleets.ai.max_size = 1 ...``), so
a bad setting fails at synth time, before any Terraform is written.

No cdktf import here: settings load in milliseconds and the CLI and the tests
reuse them without paying for the jsii runtime.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from worker_metrics.contract import LAMBDA_CONTROLLED_TYPES, WorkerType

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
"""Where ``config/<env>.toml`` files live."""

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}(\.fifo)?$")
_RATE = re.compile(r"^rate\((1 minute|([2-9]|[1-9]\d+) minutes|1 hour|([2-9]|[1-9]\d+) hours)\)$")
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_AMI = re.compile(r"^(ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_./-]+)$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_ENDPOINT = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$")


class SettingsError(ValueError):
    """A setting is invalid; the message names the file, the setting and the value."""


def _fail(name: str, value: object, why: str) -> None:
    raise ValueError(f"{name} = {value!r}: {why}")


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        _fail(name, value, "must be a number greater than 0")


def _non_negative_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(name, value, "must be a whole number >= 0")


@dataclass(frozen=True)
class QueueSettings:
    """One SQS queue of a fleet.

    ``name``: the queue name, unique across all fleets of the environment.
    ``existing``: default ``False``; ``True`` imports a queue that already exists
    (looked up by name) instead of creating it, e.g. the queues of the old
    PowerShell-managed setup.
    ``visibility_timeout_seconds``: default 900 (15 min), longer than a job runs.
    ``max_receive_count``: default 5 receives before a message moves to the DLQ.
    ``message_retention_seconds``: default 1,209,600 (14 days, the SQS maximum).
    """

    name: str
    existing: bool = False
    visibility_timeout_seconds: int = 900
    max_receive_count: int = 5
    message_retention_seconds: int = 1_209_600

    def __post_init__(self) -> None:
        if not _QUEUE_NAME.match(self.name):
            _fail("name", self.name, "must be 1-80 letters, digits, '-' or '_' (SQS queue name)")
        if not 0 <= self.visibility_timeout_seconds <= 43_200:
            _fail("visibility_timeout_seconds", self.visibility_timeout_seconds, "must be 0..43200")
        if not 1 <= self.max_receive_count <= 1000:
            _fail("max_receive_count", self.max_receive_count, "must be 1..1000")
        if not 60 <= self.message_retention_seconds <= 1_209_600:
            _fail(
                "message_retention_seconds", self.message_retention_seconds, "must be 60..1209600"
            )


@dataclass(frozen=True)
class FleetSettings:
    """One worker fleet (launch template + ASG) and its queues.

    ``worker_type``: which ``WorkerType`` it serves; AI and Messaging get a
    target-tracking policy, Video is driven by the Lambda.
    ``queues``: at least one; a type may have several.
    ``instance_types``: default ``("t3.medium",)``; more than one enables a
    mixed-instances policy.
    ``ami``: default the Amazon Linux 2023 SSM public parameter; an ``ami-...``
    id or ``resolve:ssm:<parameter>``.
    ``subnet_ids`` / ``availability_zones``: where instances run; exactly one
    of the two must be given.
    ``min_size``: default 0; ``max_size``: default 10.
    ``target_messages_per_instance``: default 20 (the seed's
    ``$TargetMessagesPerInstance``): acceptable latency / seconds per message.
    For Video it is the messages one instance takes on when the Lambda scales out.
    ``instance_warmup_seconds``: default 300; seconds before a new instance's
    metrics count (ASG ``default_instance_warmup``, policy warmup).
    ``protect_from_scale_in``: default ``False``. Video only: new instances start
    protected and the worker removes its own protection when idle; the ASG then
    never terminates a busy encoder, but an instance that dies with protection
    on must be cleaned up by the worker or an operator.
    ``volume_size_gb``: default 30, root EBS volume, encrypted.
    ``user_data_extra``: default empty; shell lines appended to the rendered user data.
    """

    worker_type: WorkerType
    queues: tuple[QueueSettings, ...]
    instance_types: tuple[str, ...] = ("t3.medium",)
    ami: str = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    min_size: int = 0
    max_size: int = 10
    target_messages_per_instance: float = 20
    instance_warmup_seconds: int = 300
    protect_from_scale_in: bool = False
    volume_size_gb: int = 30
    user_data_extra: str = ""

    def __post_init__(self) -> None:
        if not self.queues:
            _fail("queues", [], "needs at least one queue")
        if not self.instance_types:
            _fail("instance_types", [], "needs at least one instance type")
        for instance_type in self.instance_types:
            if not _INSTANCE_TYPE.match(instance_type):
                _fail(
                    "instance_types", instance_type, "is not an EC2 instance type like 't3.medium'"
                )
        if not _AMI.match(self.ami):
            _fail("ami", self.ami, "must be an 'ami-...' id or 'resolve:ssm:/<parameter>'")
        if bool(self.subnet_ids) == bool(self.availability_zones):
            _fail(
                "subnet_ids",
                list(self.subnet_ids),
                "give exactly one of subnet_ids or availability_zones",
            )
        for subnet in self.subnet_ids:
            if not _SUBNET.match(subnet):
                _fail("subnet_ids", subnet, "is not a subnet id like 'subnet-0abc12345'")
        _non_negative_int("min_size", self.min_size)
        _non_negative_int("max_size", self.max_size)
        if self.max_size < self.min_size:
            _fail("max_size", self.max_size, f"is less than min_size = {self.min_size}")
        if self.max_size == 0:
            _fail("max_size", 0, "must be at least 1, or the fleet can never run")
        _positive("target_messages_per_instance", self.target_messages_per_instance)
        if not 0 <= self.instance_warmup_seconds <= 3600:
            _fail("instance_warmup_seconds", self.instance_warmup_seconds, "must be 0..3600")
        if self.protect_from_scale_in and self.worker_type not in LAMBDA_CONTROLLED_TYPES:
            _fail(
                "protect_from_scale_in",
                True,
                "only a Lambda-controlled fleet (Video) may protect instances from scale-in; "
                "target tracking could then never scale in",
            )
        if not 8 <= self.volume_size_gb <= 16_384:
            _fail("volume_size_gb", self.volume_size_gb, "must be 8..16384")

    @property
    def key(self) -> str:
        """Lower-case key of this fleet in the settings file and in resource names."""
        return self.worker_type.name.lower()


@dataclass(frozen=True)
class TenantBacklogSettings:
    """Optional per-tenant Video backlog source (PostgreSQL). Off when absent.

    ``secret_arn``: Secrets Manager secret with the database credentials (JSON:
    host, port, dbname, username, password); the Lambda reads it at run time.
    ``subnet_ids`` / ``security_group_ids``: VPC placement of the Lambda, so it
    can reach the database; both or neither.
    ``top_tenants``: default 10; tenants that get their own CloudWatch series
    (about $0.30 per series per month).
    ``statement_timeout_ms``: default 2000.
    """

    secret_arn: str
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    top_tenants: int = 10
    statement_timeout_ms: int = 2000

    def __post_init__(self) -> None:
        if not _SECRET_ARN.match(self.secret_arn):
            _fail("secret_arn", self.secret_arn, "is not a Secrets Manager secret ARN")
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            _fail(
                "subnet_ids",
                list(self.subnet_ids),
                "give subnet_ids and security_group_ids together",
            )
        for subnet in self.subnet_ids:
            if not _SUBNET.match(subnet):
                _fail("subnet_ids", subnet, "is not a subnet id")
        for group in self.security_group_ids:
            if not _SECURITY_GROUP.match(group):
                _fail("security_group_ids", group, "is not a security group id")
        if not 0 <= self.top_tenants <= 100:
            _fail("top_tenants", self.top_tenants, "must be 0..100")
        if not 100 <= self.statement_timeout_ms <= 10_000:
            _fail("statement_timeout_ms", self.statement_timeout_ms, "must be 100..10000")


@dataclass(frozen=True)
class PublisherSettings:
    """The queue-depth Lambda.

    ``memory_mb``: default 256. ``timeout_seconds``: default 30 (the AWS API
    timeouts inside stay below it). ``schedule``: default ``rate(1 minute)``
    (the seed's period; target tracking evaluates one-minute datapoints).
    ``log_retention_days``: default 30. ``runtime``: default ``python3.12``.
    ``architecture``: default ``arm64``.
    ``video_scale_in_step``: default 1 instance per tick at most.
    ``video_jobs_per_instance``: default 1; in-flight Video messages one
    instance runs at once (the scale-in floor is in_flight / this).
    ``alarm_topic_arns``: default none; SNS topics notified by the alarms.
    ``tenant_backlog``: default off.
    """

    memory_mb: int = 256
    timeout_seconds: int = 30
    schedule: str = "rate(1 minute)"
    log_retention_days: int = 30
    runtime: str = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    video_scale_in_step: int = 1
    video_jobs_per_instance: int = 1
    alarm_topic_arns: tuple[str, ...] = ()
    tenant_backlog: TenantBacklogSettings | None = None

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10_240:
            _fail("memory_mb", self.memory_mb, "must be 128..10240")
        if not 5 <= self.timeout_seconds <= 60:
            _fail(
                "timeout_seconds",
                self.timeout_seconds,
                "must be 5..60: a tick must finish before the next one starts",
            )
        if not (_RATE.match(self.schedule) or _CRON.match(self.schedule)):
            _fail(
                "schedule", self.schedule, "must be 'rate(N minute[s]|hour[s])' or 'cron(6 fields)'"
            )
        if self.log_retention_days not in _LOG_RETENTION_DAYS:
            _fail(
                "log_retention_days",
                self.log_retention_days,
                f"must be one of CloudWatch's values {sorted(_LOG_RETENTION_DAYS)}",
            )
        if not re.match(r"^python3\.\d+$", self.runtime):
            _fail("runtime", self.runtime, "must be a Python Lambda runtime like 'python3.12'")
        if self.architecture not in ("arm64", "x86_64"):
            _fail("architecture", self.architecture, "must be 'arm64' or 'x86_64'")
        _positive("video_scale_in_step", self.video_scale_in_step)
        _positive("video_jobs_per_instance", self.video_jobs_per_instance)
        for arn in self.alarm_topic_arns:
            if not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$", arn):
                _fail("alarm_topic_arns", arn, "is not an SNS topic ARN")


_LOG_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)


@dataclass(frozen=True)
class BackendSettings:
    """Where Terraform state lives.

    ``kind``: ``local`` (a file next to the stack; synth and validate need no
    AWS) or ``s3`` (default for real environments: native S3 locking with
    ``use_lockfile``, encryption on). ``bucket``/``key``/``region``: required
    for ``s3``; region defaults to the environment's region.
    """

    kind: Literal["local", "s3"] = "local"
    bucket: str = ""
    key: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("local", "s3"):
            _fail("kind", self.kind, "must be 'local' or 's3'")
        if self.kind == "s3":
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", self.bucket):
                _fail("bucket", self.bucket, "must be an S3 bucket name")
            if not self.key or self.key.startswith("/"):
                _fail("key", self.key, "must be a relative object key like 'workers/prod.tfstate'")
            if self.region and not _REGION.match(self.region):
                _fail("region", self.region, "is not an AWS region like 'ap-northeast-2'")


@dataclass(frozen=True)
class EnvironmentSettings:
    """One deployable environment (``local``, ``dev``, ``prod``, ...).

    ``name``: the file's stem. ``region``: default ``ap-northeast-2``.
    ``name_prefix``: every resource name starts with it (e.g. ``academy-prod``).
    ``fleets``: one per worker type, all three required: the published contract
    has a datum per type, and every published type must have a consumer.
    ``emulated``: default ``False``; ``True`` targets a local emulated AWS
    (the ``local`` environment): dummy credentials, no account checks,
    path-style S3. ``local_endpoint``: default none; its loopback URL, else the
    provider and backend honour ``AWS_ENDPOINT_URL`` as usual.
    """

    name: str
    name_prefix: str
    fleets: tuple[FleetSettings, ...]
    region: str = "ap-northeast-2"
    publisher: PublisherSettings = field(default_factory=PublisherSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    tags: Mapping[str, str] = field(default_factory=dict)
    emulated: bool = False
    local_endpoint: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9-]*$", self.name):
            _fail("name", self.name, "must be lower-case letters, digits and '-'")
        if not _REGION.match(self.region):
            _fail("region", self.region, "is not an AWS region like 'ap-northeast-2'")
        if not _NAME_PREFIX.match(self.name_prefix):
            _fail("name_prefix", self.name_prefix, "must be 3-32 lower-case letters, digits or '-'")
        types = [fleet.worker_type for fleet in self.fleets]
        missing = [t.value for t in WorkerType if t not in types]
        if missing:
            _fail(
                "fleets",
                sorted(t.value for t in types),
                f"missing worker type(s): {', '.join(missing)}",
            )
        seen: dict[str, str] = {}
        for fleet in self.fleets:
            for queue in fleet.queues:
                if queue.name in seen:
                    _fail(
                        f"fleets.{fleet.key}.queues",
                        queue.name,
                        f"is already a queue of fleets.{seen[queue.name]}; "
                        "a queue belongs to one fleet",
                    )
                seen[queue.name] = fleet.key
        if self.local_endpoint is not None and not self.emulated:
            _fail("local_endpoint", self.local_endpoint, "needs emulated = true")
        if self.local_endpoint is not None and not _ENDPOINT.match(self.local_endpoint):
            _fail(
                "local_endpoint",
                self.local_endpoint,
                "must be a loopback URL like 'http://127.0.0.1:4566'",
            )
        for key, value in self.tags.items():
            if not key or len(key) > 128 or len(str(value)) > 256:
                _fail(f"tags.{key}", value, "tag keys are 1-128 and values 0-256 characters")

    def fleet(self, worker_type: WorkerType) -> FleetSettings:
        """The fleet that serves ``worker_type``."""
        return next(f for f in self.fleets if f.worker_type is worker_type)

    @property
    def stack_name(self) -> str:
        """Name of this environment's worker stack (``workers-<env>``)."""
        return f"workers-{self.name}"

    @property
    def bootstrap_stack_name(self) -> str:
        """Name of this environment's state-bucket bootstrap stack (``tfstate-<env>``)."""
        return f"tfstate-{self.name}"


# ------------------------------------------------------------------ loading


def _build(cls: type, raw: Mapping[str, Any], path: str, **extra: Any) -> Any:
    """Build dataclass ``cls`` from a TOML table; unknown keys and bad values
    raise ``ValueError`` with the dotted setting path."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(
            f"{path}{unknown[0]}: unknown setting (known: {', '.join(sorted(names - set(extra)))})"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    try:
        return cls(**values, **extra)
    except TypeError as err:  # a required setting is missing
        missing = re.findall(r"'(\w+)'", str(err))
        raise ValueError(
            f"{path}{missing[0] if missing else ''}: required setting is missing"
        ) from err
    except ValueError as err:
        raise ValueError(f"{path}{err}") from err


def parse_environment(name: str, raw: Mapping[str, Any]) -> EnvironmentSettings:
    """Build ``EnvironmentSettings`` from a parsed TOML document (no file I/O)."""
    raw = dict(raw)
    fleets = []
    for key, fleet_raw in dict(raw.pop("fleets", {})).items():
        try:
            worker_type = WorkerType.parse(key)
        except ValueError as err:
            raise ValueError(f"fleets.{key}: {err}") from err
        fleet_raw = dict(fleet_raw)
        queues = tuple(
            _build(QueueSettings, q, f"fleets.{key}.queues[{i}].")
            for i, q in enumerate(fleet_raw.pop("queues", []))
        )
        fleets.append(
            _build(
                FleetSettings, fleet_raw, f"fleets.{key}.", worker_type=worker_type, queues=queues
            )
        )
    publisher_raw = dict(raw.pop("publisher", {}))
    tenant_raw = publisher_raw.pop("tenant_backlog", None)
    tenant = (
        _build(TenantBacklogSettings, tenant_raw, "publisher.tenant_backlog.")
        if tenant_raw
        else None
    )
    publisher = _build(PublisherSettings, publisher_raw, "publisher.", tenant_backlog=tenant)
    backend = _build(BackendSettings, raw.pop("backend", {}), "backend.")
    tags = {str(k): str(v) for k, v in dict(raw.pop("tags", {})).items()}
    return _build(
        EnvironmentSettings,
        raw,
        "",
        name=name,
        fleets=tuple(fleets),
        publisher=publisher,
        backend=backend,
        tags=tags,
    )


def load_environment(name: str, config_dir: Path = CONFIG_DIR) -> EnvironmentSettings:
    """Load ``<config_dir>/<name>.toml``.

    Raises ``SettingsError`` naming the file, the setting and the value.
    """
    path = config_dir / f"{name}.toml"
    shown = path.relative_to(config_dir.parent) if path.is_relative_to(config_dir.parent) else path
    if not path.is_file():
        known = ", ".join(available_environments(config_dir)) or "none"
        raise SettingsError(f"{shown}: no such environment {name!r} (known: {known})")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{shown}: not valid TOML: {err}") from err
    try:
        return parse_environment(name, raw)
    except ValueError as err:
        raise SettingsError(f"{shown}: {err}") from err


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the environments that have a settings file, sorted."""
    return sorted(p.stem for p in config_dir.glob("*.toml"))
