"""Optional metric source: the Video backlog per tenant, read from PostgreSQL.

A video reaches its tenant only through video -> session -> lecture
(``session__lecture__tenant_id``, seed report §3), and the backlog is the videos
in status ``UPLOADED`` or ``PROCESSING``. This module counts them in ONE query,
per tenant, and turns the result into CloudWatch datums and one log record.

Interface (the tick calls these; nothing here touches SQS, the ASGs or
CloudWatch, so a failure here cannot disturb the SQS metrics or Video control):

* ``TenantBacklogConfig.from_env(environ)``: ``None`` when
  ``BACKLOG_DB_SECRET_ARN`` is unset (source off); raises
  ``TenantBacklogConfigError`` naming a bad variable.
* ``collect(config, secrets_client)``: secret -> connect -> count -> close.
  Returns a ``TenantBacklog``; raises ``TenantBacklogError`` whose ``stage`` is
  one of ``contract.BACKLOG_ERROR_STAGES``.
* ``metric_datums(backlog, top_n, timestamp)``: the total plus the
  top-N tenants, for ``put_metric_data``.
* ``log_record(backlog)``: the per-tenant counts, one structured record per tick.
* ``TenantBacklogSource``: all of the above as the tick's ``MetricSource``.

The query (``backlog_sql``) has the statuses as SQL literals, because a partial
index ``... WHERE status IN ('UPLOADED','PROCESSING')`` is only used when the
query's predicate is literally implied by it; a bound parameter never is. It
counts videos by session first (a few thousand rows read from the partial
index), and only then looks up session -> lecture -> tenant, one primary-key
probe per backlog session and lecture, so its cost follows the backlog, not the
size of the tables (sql/001_video_backlog_indexes.sql, NOTES §5).
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pg8000.native
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pg8000.exceptions import Error as Pg8000Error

from worker_metrics.contract import (
    BACKLOG_ERROR_STAGES,
    DEFAULT_BACKLOG_TOP_TENANTS,
    DIMENSION_NAME,
    TENANT_DIMENSION_NAME,
    UNIT,
    VIDEO_BACKLOG_METRIC_NAME,
    EnvVar,
    WorkerType,
)

STAGE_SECRET, STAGE_CONNECT, STAGE_AUTH, STAGE_TIMEOUT, STAGE_QUERY = BACKLOG_ERROR_STAGES

APPLICATION_NAME = "worker-metrics-tenant-backlog"
"""``application_name`` of our sessions, so a DBA can find them in pg_stat_activity."""

SSL_MODES = ("disable", "prefer", "require", "verify-full")
"""``BACKLOG_DB_SSLMODE`` values, as libpq names them. ``require`` encrypts
without verifying the certificate; ``verify-full`` verifies it against the
system trust store plus ``sslrootcert`` from the secret, when given."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_STATUS = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_SQLSTATE_QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request)
_SQLSTATE_AUTH_CLASS = "28"  # invalid_authorization_specification, invalid_password


class TenantBacklogConfigError(ValueError):
    """An environment variable of this source is invalid; the message names it."""


class TenantBacklogError(RuntimeError):
    """Reading the backlog failed. ``stage`` is one of ``BACKLOG_ERROR_STAGES``.

    The message never contains the password or the secret's content.
    """

    def __init__(self, stage: str, message: str) -> None:
        if stage not in BACKLOG_ERROR_STAGES:
            raise ValueError(f"unknown tenant backlog stage {stage!r}")
        super().__init__(f"{stage}: {message}")
        self.stage = stage


# ---------------------------------------------------------------------- config
@dataclass(frozen=True)
class BacklogSchema:
    """Where the backlog lives. Defaults follow Django's ``<app_label>_<model>``
    table names and ``<field>_id`` foreign-key columns:

    * ``video_table``: default ``video_video`` (app ``video``, model ``Video``;
      the seed's ``apps/support/video/models.py``), with ``video_session_column``
      default ``session_id`` and ``video_status_column`` default ``status``;
    * ``session_table``: default ``lecture_session`` (model ``Session`` in app
      ``lecture``), ``session_id_column`` default ``id``,
      ``session_lecture_column`` default ``lecture_id``;
    * ``lecture_table``: default ``lecture_lecture``, ``lecture_id_column``
      default ``id``, ``lecture_tenant_column`` default ``tenant_id``.

    Tables may be schema-qualified (``app.video_video``). Every name must match
    ``[A-Za-z_][A-Za-z0-9_]{0,62}`` and is double-quoted in the SQL, so it is
    case-sensitive (Django's names are lower case).
    """

    video_table: str = "video_video"
    video_session_column: str = "session_id"
    video_status_column: str = "status"
    session_table: str = "lecture_session"
    session_id_column: str = "id"
    session_lecture_column: str = "lecture_id"
    lecture_table: str = "lecture_lecture"
    lecture_id_column: str = "id"
    lecture_tenant_column: str = "tenant_id"

    def __post_init__(self) -> None:
        for name, env in _SCHEMA_ENV.items():
            value = getattr(self, name)
            parts = value.split(".") if name.endswith("_table") else [value]
            if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
                raise TenantBacklogConfigError(
                    f"{env}={value!r} is not a plain SQL identifier "
                    "([A-Za-z_][A-Za-z0-9_]{0,62}, tables may be schema.table)"
                )


_SCHEMA_ENV: Mapping[str, str] = {
    "video_table": EnvVar.BACKLOG_VIDEO_TABLE,
    "video_session_column": EnvVar.BACKLOG_VIDEO_SESSION_COLUMN,
    "video_status_column": EnvVar.BACKLOG_VIDEO_STATUS_COLUMN,
    "session_table": EnvVar.BACKLOG_SESSION_TABLE,
    "session_id_column": EnvVar.BACKLOG_SESSION_ID_COLUMN,
    "session_lecture_column": EnvVar.BACKLOG_SESSION_LECTURE_COLUMN,
    "lecture_table": EnvVar.BACKLOG_LECTURE_TABLE,
    "lecture_id_column": EnvVar.BACKLOG_LECTURE_ID_COLUMN,
    "lecture_tenant_column": EnvVar.BACKLOG_LECTURE_TENANT_COLUMN,
}


@dataclass(frozen=True)
class TenantBacklogConfig:
    """The tenant backlog source, read from the environment by ``from_env``.

    * ``secret_arn``: ``BACKLOG_DB_SECRET_ARN``; the source is on when it is set.
    * ``top_tenants``: ``BACKLOG_TOP_TENANTS``, default 10, 0..100; tenants
      with their own ``VideoBacklog`` series (about $0.30 per series per month).
    * ``statement_timeout_ms``: ``BACKLOG_STATEMENT_TIMEOUT_MS``, default 2000,
      100..10000; ``SET LOCAL statement_timeout`` of the read.
    * ``connect_timeout_ms``: ``BACKLOG_CONNECT_TIMEOUT_MS``, default 3000,
      100..10000. The socket timeout is connect + statement timeout, so the
      server cancels a slow query (a clean SQLSTATE 57014) before the socket
      gives up.
    * ``sslmode``: ``BACKLOG_DB_SSLMODE``, default ``require``; see ``SSL_MODES``.
    * ``statuses``: ``BACKLOG_STATUSES``, comma-separated, default
      ``UPLOADED,PROCESSING``. They become SQL literals; they must be exactly
      the partial index's statuses, or the index is not used.
    * ``schema``: table and column names, ``BACKLOG_*_TABLE`` / ``*_COLUMN``;
      see ``BacklogSchema``.
    """

    secret_arn: str
    top_tenants: int = DEFAULT_BACKLOG_TOP_TENANTS
    statement_timeout_ms: int = 2000
    connect_timeout_ms: int = 3000
    sslmode: str = "require"
    statuses: tuple[str, ...] = ("UPLOADED", "PROCESSING")
    schema: BacklogSchema = field(default_factory=BacklogSchema)

    def __post_init__(self) -> None:
        if not self.secret_arn.startswith("arn:"):
            _bad(EnvVar.BACKLOG_DB_SECRET_ARN, self.secret_arn, "must be a secret ARN")
        _check_range(EnvVar.BACKLOG_TOP_TENANTS, self.top_tenants, 0, 100)
        _check_range(EnvVar.BACKLOG_STATEMENT_TIMEOUT_MS, self.statement_timeout_ms, 100, 10_000)
        _check_range(EnvVar.BACKLOG_CONNECT_TIMEOUT_MS, self.connect_timeout_ms, 100, 10_000)
        if self.sslmode not in SSL_MODES:
            _bad(EnvVar.BACKLOG_DB_SSLMODE, self.sslmode, f"expected one of {', '.join(SSL_MODES)}")
        if not self.statuses or not all(_STATUS.match(status) for status in self.statuses):
            _bad(
                EnvVar.BACKLOG_STATUSES,
                ",".join(self.statuses),
                "must be a comma-separated list of [A-Za-z0-9_]{1,64}",
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TenantBacklogConfig | None:
        """The source's configuration, or ``None`` when ``BACKLOG_DB_SECRET_ARN``
        is unset or empty. Raises ``TenantBacklogConfigError`` naming the first
        invalid variable."""
        secret_arn = environ.get(EnvVar.BACKLOG_DB_SECRET_ARN, "").strip()
        if not secret_arn:
            return None
        defaults = cls(secret_arn=secret_arn)
        schema_values = {
            name: environ[env].strip() for name, env in _SCHEMA_ENV.items() if environ.get(env)
        }
        statuses = environ.get(EnvVar.BACKLOG_STATUSES)
        return cls(
            secret_arn=secret_arn,
            top_tenants=_int_env(environ, EnvVar.BACKLOG_TOP_TENANTS, defaults.top_tenants),
            statement_timeout_ms=_int_env(
                environ, EnvVar.BACKLOG_STATEMENT_TIMEOUT_MS, defaults.statement_timeout_ms
            ),
            connect_timeout_ms=_int_env(
                environ, EnvVar.BACKLOG_CONNECT_TIMEOUT_MS, defaults.connect_timeout_ms
            ),
            sslmode=environ.get(EnvVar.BACKLOG_DB_SSLMODE, defaults.sslmode).strip().lower(),
            statuses=(
                tuple(part.strip() for part in statuses.split(","))
                if statuses
                else defaults.statuses
            ),
            schema=BacklogSchema(**schema_values),
        )


def _bad(env: str, value: object, reason: str) -> None:
    raise TenantBacklogConfigError(f"{env}={value!r} {reason}")


def _check_range(env: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        _bad(env, value, f"must be {low}..{high}")


def _int_env(environ: Mapping[str, str], env: str, default: int) -> int:
    raw = environ.get(env, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise TenantBacklogConfigError(f"{env}={raw!r} is not an integer") from None


# ---------------------------------------------------------------- credentials
def secrets_client_config() -> Config:
    """botocore settings for the Secrets Manager client of this source.

    Tighter than the tick's clients: 1 s to connect, 2 s to read, 2 attempts,
    so a hung endpoint costs this optional source about 6 s at most and cannot
    push the tick's own PutMetricData past the Lambda timeout.
    """
    return Config(
        connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}
    )


@dataclass(frozen=True)
class DatabaseCredentials:
    """The secret's content. The password is kept out of ``repr``.

    ``sslrootcert``: optional PEM text (e.g. the RDS CA bundle) for
    ``verify-full``.
    """

    host: str
    port: int
    database: str
    username: str
    password: str = field(repr=False)
    sslrootcert: str | None = field(default=None, repr=False)


def read_credentials(secrets_client: Any, secret_arn: str) -> DatabaseCredentials:
    """Read the database credentials from Secrets Manager.

    The secret's ``SecretString`` is JSON with ``host``, ``username``,
    ``password``, ``dbname`` (or ``database``) and optionally ``port`` (default
    5432) and ``sslrootcert``: the format RDS writes for a managed secret.
    Credentials never come from the environment or Terraform state.

    Raises ``TenantBacklogError(stage="backlog_secret")`` when the call fails or
    the content is not such JSON (naming the missing keys, never the values).
    """
    try:
        response = secrets_client.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise TenantBacklogError(
            STAGE_SECRET, f"GetSecretValue on {secret_arn} failed: {code}"
        ) from error
    except BotoCoreError as error:  # endpoint unreachable, no credentials, ...
        code = type(error).__name__
        raise TenantBacklogError(
            STAGE_SECRET, f"GetSecretValue on {secret_arn} failed: {code}"
        ) from error
    raw = response.get("SecretString")
    try:
        document = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise TenantBacklogError(STAGE_SECRET, f"secret {secret_arn} is not a JSON object")
    database = document.get("dbname", document.get("database"))
    missing = [key for key in ("host", "username", "password") if not document.get(key)]
    if not database:
        missing.append("dbname")
    if missing:
        raise TenantBacklogError(
            STAGE_SECRET, f"secret {secret_arn} lacks {', '.join(sorted(missing))}"
        )
    try:
        port = int(document.get("port", 5432))
    except (TypeError, ValueError):
        raise TenantBacklogError(
            STAGE_SECRET, f"secret {secret_arn} has a non-numeric port"
        ) from None
    return DatabaseCredentials(
        host=str(document["host"]),
        port=port,
        database=str(database),
        username=str(document["username"]),
        password=str(document["password"]),
        sslrootcert=document.get("sslrootcert") or None,
    )


# ------------------------------------------------------------------ the query
class SqlConnection(Protocol):
    """The part of ``pg8000.native.Connection`` this module uses."""

    def run(self, sql: str, **params: Any) -> Any: ...

    def close(self) -> None: ...


def _quote(identifier: str) -> str:
    # Validated by BacklogSchema already; quoting keeps reserved words harmless.
    return ".".join(f'"{part}"' for part in identifier.split("."))


def backlog_sql(config: TenantBacklogConfig) -> str:
    """The per-tenant backlog query for this configuration (one statement).

    Returns rows ``(tenant_id, videos)``; ``tenant_id`` is NULL for backlog
    videos whose session or lecture row is missing (counted in the total only).

    Shape, innermost first; every step is bounded by the backlog:

    1. ``per_session``: backlog videos counted by session, read from the partial
       index alone (statuses as literals, so the index matches);
    2. one primary-key lookup per backlog session for its lecture, then the
       counts summed by lecture;
    3. one primary-key lookup per backlog lecture for its tenant, then summed by
       tenant.

    The lookups are ``LATERAL (... LIMIT 1)`` subqueries on purpose: the
    ``LIMIT`` stops the planner from flattening them into a hash join that
    reads the whole session and lecture tables. It estimates the backlog's
    sessions from whole-table statistics and then prefers those scans, which
    cost 3-5x more here and grow with the tables (bench/backlog_query.py).
    With the covering indexes of sql/001_video_backlog_indexes.sql each lookup
    is an index-only probe of a few microseconds.
    """
    s = config.schema
    statuses = ", ".join(f"'{status}'" for status in config.statuses)  # validated literals
    session_of_video = f"v.{_quote(s.video_session_column)}"
    return f"""SELECT tenant_row.tenant_id, SUM(per_lecture.videos)::bigint AS videos
FROM (
    SELECT session_row.lecture_id, SUM(per_session.videos) AS videos
    FROM (
        SELECT {session_of_video} AS session_id, COUNT(*) AS videos
        FROM {_quote(s.video_table)} AS v
        WHERE v.{_quote(s.video_status_column)} IN ({statuses})
        GROUP BY {session_of_video}
    ) AS per_session
    LEFT JOIN LATERAL (
        SELECT ses.{_quote(s.session_lecture_column)} AS lecture_id
        FROM {_quote(s.session_table)} AS ses
        WHERE ses.{_quote(s.session_id_column)} = per_session.session_id
        LIMIT 1
    ) AS session_row ON true
    GROUP BY session_row.lecture_id
) AS per_lecture
LEFT JOIN LATERAL (
    SELECT lec.{_quote(s.lecture_tenant_column)} AS tenant_id
    FROM {_quote(s.lecture_table)} AS lec
    WHERE lec.{_quote(s.lecture_id_column)} = per_lecture.lecture_id
    LIMIT 1
) AS tenant_row ON true
GROUP BY tenant_row.tenant_id"""


@dataclass(frozen=True)
class TenantBacklog:
    """One reading. ``total``: all backlog videos. ``per_tenant``: tenant id
    (as text) -> backlog videos, only tenants with a backlog. ``unattributed``:
    backlog videos whose session or lecture row is missing (in ``total``, in no
    tenant). ``elapsed_ms``: time of the query round trip."""

    total: int
    per_tenant: Mapping[str, int]
    unattributed: int = 0
    elapsed_ms: float = 0.0

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest tenants, by count then id, descending count."""
        ranked = sorted(self.per_tenant.items(), key=lambda item: (-item[1], item[0]))
        return ranked[: max(n, 0)]


@contextmanager
def read_only_transaction(connection: SqlConnection, statement_timeout_ms: int) -> Iterator[None]:
    """``START TRANSACTION READ ONLY`` with a transaction-local statement timeout.

    The settings are transaction-local (``set_config(..., true)``, the function
    form of ``SET LOCAL``, both in one round trip), so a pooled or reused
    session keeps its own. JIT is off locally: compiling costs tens of
    milliseconds, more than this query runs. Commits on success, rolls back on
    error.
    """
    connection.run("START TRANSACTION READ ONLY")
    try:
        connection.run(
            "SELECT set_config('statement_timeout', :timeout, true),"
            " set_config('jit', 'off', true)",
            timeout=str(int(statement_timeout_ms)),
        )
        yield
    except BaseException:
        with suppress(Pg8000Error, OSError):  # the error being raised is the one that matters
            connection.run("ROLLBACK")
        raise
    connection.run("COMMIT")


def count_backlog(connection: SqlConnection, config: TenantBacklogConfig) -> TenantBacklog:
    """Run ``backlog_sql`` once in a read-only transaction; see ``TenantBacklog``.

    Raises ``TenantBacklogError`` with stage ``backlog_timeout`` (statement or
    socket timeout), ``backlog_query`` (rejected: missing table, permissions,
    a write attempted) or ``backlog_connect`` (connection lost).
    """
    sql = backlog_sql(config)
    try:
        with read_only_transaction(connection, config.statement_timeout_ms):
            started = time.perf_counter()
            rows = connection.run(sql) or []
            elapsed_ms = (time.perf_counter() - started) * 1000.0
    except (Pg8000Error, OSError) as error:
        raise _classify(error, during_connect=False) from error
    per_tenant: dict[str, int] = {}
    unattributed = 0
    for tenant_id, videos in rows:
        if tenant_id is None:
            unattributed += int(videos)
        else:
            per_tenant[str(tenant_id)] = int(videos)
    return TenantBacklog(
        total=sum(per_tenant.values()) + unattributed,
        per_tenant=per_tenant,
        unattributed=unattributed,
        elapsed_ms=round(elapsed_ms, 3),
    )


def _sqlstate(error: BaseException) -> str | None:
    if error.args and isinstance(error.args[0], dict):
        code = error.args[0].get("C")
        return str(code) if code else None
    return None


def _pg_message(error: BaseException) -> str:
    if error.args and isinstance(error.args[0], dict):
        return str(error.args[0].get("M", error))
    return str(error)


def _classify(error: BaseException, during_connect: bool) -> TenantBacklogError:
    """Map a pg8000/socket error to a stage. pg8000 raises ``DatabaseError``
    with the server's fields (``C`` is the SQLSTATE) and ``InterfaceError`` for
    socket problems, chained to the ``OSError``/``TimeoutError``."""
    if isinstance(error, TenantBacklogError):
        return error
    code = _sqlstate(error)
    cause = error.__cause__ or error.__context__
    if code == _SQLSTATE_QUERY_CANCELED:
        return TenantBacklogError(STAGE_TIMEOUT, f"query cancelled: {_pg_message(error)}")
    if code is not None and code.startswith(_SQLSTATE_AUTH_CLASS):
        return TenantBacklogError(STAGE_AUTH, f"{code} {_pg_message(error)}")
    if code is not None:
        stage = STAGE_CONNECT if during_connect else STAGE_QUERY
        return TenantBacklogError(stage, f"{code} {_pg_message(error)}")
    if isinstance(error, TimeoutError) or isinstance(cause, TimeoutError):
        stage = STAGE_CONNECT if during_connect else STAGE_TIMEOUT
        return TenantBacklogError(stage, f"socket timeout: {error}")
    return TenantBacklogError(STAGE_CONNECT, f"{type(error).__name__}: {error}")


# ------------------------------------------------------------------ collect
Connect = Callable[[DatabaseCredentials, TenantBacklogConfig], SqlConnection]


def ssl_context_for(config: TenantBacklogConfig, credentials: DatabaseCredentials) -> Any:
    """pg8000's ``ssl_context`` for ``config.sslmode``: ``False`` (disable),
    ``None`` (prefer), ``True`` (require: encrypted, unverified) or a verifying
    ``ssl.SSLContext`` (verify-full)."""
    if config.sslmode == "disable":
        return False
    if config.sslmode == "prefer":
        return None
    if config.sslmode == "require":
        return True
    context = ssl.create_default_context()
    if credentials.sslrootcert:
        context.load_verify_locations(cadata=credentials.sslrootcert)
    return context


def connect_pg8000(credentials: DatabaseCredentials, config: TenantBacklogConfig) -> SqlConnection:
    """Open a ``pg8000.native.Connection`` with the configured timeouts and TLS."""
    connection: SqlConnection = pg8000.native.Connection(
        user=credentials.username,
        password=credentials.password,
        host=credentials.host,
        port=credentials.port,
        database=credentials.database,
        timeout=(config.connect_timeout_ms + config.statement_timeout_ms) / 1000.0,
        ssl_context=ssl_context_for(config, credentials),
        application_name=APPLICATION_NAME,
    )
    return connection


def collect(
    config: TenantBacklogConfig,
    secrets_client: Any,
    connect: Connect = connect_pg8000,
) -> TenantBacklog:
    """Read the secret, connect, count, close: one reading per call.

    Raises ``TenantBacklogError``: ``backlog_secret``, ``backlog_connect``
    (unreachable, refused, TLS, unknown database), ``backlog_auth`` (bad
    credentials), ``backlog_timeout``, ``backlog_query``.
    """
    credentials = read_credentials(secrets_client, config.secret_arn)
    try:
        connection = connect(credentials, config)
    except (Pg8000Error, OSError) as error:
        raise _classify(error, during_connect=True) from error
    try:
        return count_backlog(connection, config)
    finally:
        with suppress(Pg8000Error, OSError):  # closing a broken socket may fail
            connection.close()


# ------------------------------------------------------------------ output
def metric_datums(backlog: TenantBacklog, top_n: int, timestamp: datetime) -> list[dict[str, Any]]:
    """``VideoBacklog`` datums: the total (``WorkerType=Video``), then one per
    top-N tenant (``WorkerType=Video``, ``TenantId``), largest first.

    The namespace is not part of a datum: ``put_metric_data`` takes it once, the
    same as for the SQS metrics. A tenant without backlog gets no datum (its
    series has a gap, not a zero).
    """
    video = {"Name": DIMENSION_NAME, "Value": WorkerType.VIDEO.value}
    datums: list[dict[str, Any]] = [
        {
            "MetricName": VIDEO_BACKLOG_METRIC_NAME,
            "Dimensions": [dict(video)],
            "Value": float(backlog.total),
            "Timestamp": timestamp,
            "Unit": UNIT,
        }
    ]
    for tenant_id, videos in backlog.top(top_n):
        datums.append(
            {
                "MetricName": VIDEO_BACKLOG_METRIC_NAME,
                "Dimensions": [dict(video), {"Name": TENANT_DIMENSION_NAME, "Value": tenant_id}],
                "Value": float(videos),
                "Timestamp": timestamp,
                "Unit": UNIT,
            }
        )
    return datums


def log_record(backlog: TenantBacklog) -> dict[str, Any]:
    """One structured record per tick with every tenant's count (largest first).

    Only tenants with a backlog appear, so the record stays small (CloudWatch
    Logs takes events up to 256 KB: about ten thousand tenants at once).
    """
    tenants = backlog.top(len(backlog.per_tenant))
    return {
        "event": "tenant_backlog",
        "metric": VIDEO_BACKLOG_METRIC_NAME,
        "total": backlog.total,
        "unattributed": backlog.unattributed,
        "tenant_count": len(tenants),
        "tenants": dict(tenants),
        "query_ms": backlog.elapsed_ms,
    }


@dataclass(frozen=True)
class TenantBacklogSource:
    """The tick's extra metric source (``worker_metrics.tick.MetricSource``).

    ``collect(timestamp)`` reads one backlog, logs ``log_record`` as one JSON
    line through ``logger``, and returns ``metric_datums`` for the tick's
    PutMetricData call. A failure raises ``TenantBacklogError``; the tick then
    records it under its source stage (``contract.TENANT_BACKLOG_STAGE``),
    publishes ``PublisherErrors`` and carries on with the SQS metrics and the
    Video control. The secret is read on every tick (about 43,000 calls, about
    $0.22 a month), so a rotated password is picked up at the next tick.
    """

    config: TenantBacklogConfig
    secrets_client: Any
    logger: logging.Logger
    connect: Connect = connect_pg8000

    def collect(self, timestamp: datetime) -> list[dict[str, Any]]:
        backlog = collect(self.config, self.secrets_client, self.connect)
        self.logger.info(json.dumps(log_record(backlog), sort_keys=False))
        return metric_datums(backlog, self.config.top_tenants, timestamp)
