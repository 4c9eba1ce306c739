"""Pure units of worker_metrics.tenant_backlog: configuration, SQL text,
datums, log records, and the secret's parsing (Secrets Manager in moto)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.tenant_backlog.support import store_secret
from worker_metrics import contract
from worker_metrics.contract import EnvVar
from worker_metrics.tenant_backlog import (
    BacklogSchema,
    TenantBacklog,
    TenantBacklogConfig,
    TenantBacklogConfigError,
    TenantBacklogError,
    TenantBacklogSource,
    backlog_sql,
    count_backlog,
    log_record,
    metric_datums,
    read_credentials,
    secrets_client_config,
)
from worker_metrics.tick import MetricSource

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:academy/db-AbCdEf"
NOW = datetime(2025, 2, 21, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- from_env
def test_source_is_off_without_a_secret_arn() -> None:
    # GIVEN environments without BACKLOG_DB_SECRET_ARN, or with it empty
    # WHEN / THEN the source is off
    assert TenantBacklogConfig.from_env({}) is None
    assert TenantBacklogConfig.from_env({EnvVar.BACKLOG_DB_SECRET_ARN: " "}) is None


def test_defaults_follow_django_and_the_issue() -> None:
    # GIVEN only the secret ARN
    # WHEN the configuration is read
    config = TenantBacklogConfig.from_env({EnvVar.BACKLOG_DB_SECRET_ARN: ARN})
    # THEN the documented defaults apply
    assert config is not None
    assert (config.top_tenants, config.statement_timeout_ms) == (10, 2000)
    assert (config.connect_timeout_ms, config.sslmode) == (3000, "require")
    assert config.statuses == ("UPLOADED", "PROCESSING")
    assert config.schema == BacklogSchema()
    assert (config.schema.video_table, config.schema.session_table) == (
        "video_video",
        "lecture_session",
    )
    assert config.schema.lecture_table == "lecture_lecture"


def test_every_variable_overrides_its_field() -> None:
    # GIVEN every variable set
    environ = {
        EnvVar.BACKLOG_DB_SECRET_ARN: ARN,
        EnvVar.BACKLOG_TOP_TENANTS: "3",
        EnvVar.BACKLOG_STATEMENT_TIMEOUT_MS: "500",
        EnvVar.BACKLOG_CONNECT_TIMEOUT_MS: "1500",
        EnvVar.BACKLOG_DB_SSLMODE: "verify-full",
        EnvVar.BACKLOG_STATUSES: "QUEUED, ENCODING",
        EnvVar.BACKLOG_VIDEO_TABLE: "media.video",
        EnvVar.BACKLOG_VIDEO_SESSION_COLUMN: "lesson_id",
        EnvVar.BACKLOG_VIDEO_STATUS_COLUMN: "state",
        EnvVar.BACKLOG_SESSION_TABLE: "media.lesson",
        EnvVar.BACKLOG_SESSION_ID_COLUMN: "uid",
        EnvVar.BACKLOG_SESSION_LECTURE_COLUMN: "course_id",
        EnvVar.BACKLOG_LECTURE_TABLE: "media.course",
        EnvVar.BACKLOG_LECTURE_ID_COLUMN: "uid",
        EnvVar.BACKLOG_LECTURE_TENANT_COLUMN: "org_id",
    }
    # WHEN the configuration is read
    config = TenantBacklogConfig.from_env(environ)
    # THEN each value lands in its field
    assert config == TenantBacklogConfig(
        secret_arn=ARN,
        top_tenants=3,
        statement_timeout_ms=500,
        connect_timeout_ms=1500,
        sslmode="verify-full",
        statuses=("QUEUED", "ENCODING"),
        schema=BacklogSchema(
            video_table="media.video",
            video_session_column="lesson_id",
            video_status_column="state",
            session_table="media.lesson",
            session_id_column="uid",
            session_lecture_column="course_id",
            lecture_table="media.course",
            lecture_id_column="uid",
            lecture_tenant_column="org_id",
        ),
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (EnvVar.BACKLOG_TOP_TENANTS, "ten", "is not an integer"),
        (EnvVar.BACKLOG_TOP_TENANTS, "101", "must be 0..100"),
        (EnvVar.BACKLOG_STATEMENT_TIMEOUT_MS, "50", "must be 100..10000"),
        (EnvVar.BACKLOG_CONNECT_TIMEOUT_MS, "60000", "must be 100..10000"),
        (EnvVar.BACKLOG_DB_SSLMODE, "allow", "expected one of"),
        (EnvVar.BACKLOG_STATUSES, "UPLOADED,'; DROP TABLE x; --", "comma-separated"),
        (EnvVar.BACKLOG_VIDEO_TABLE, 'video"; DROP TABLE video_video; --', "not a plain SQL"),
        (EnvVar.BACKLOG_LECTURE_TABLE, "a.b.c", "not a plain SQL"),
        (EnvVar.BACKLOG_LECTURE_TENANT_COLUMN, "tenant.id", "not a plain SQL"),
        (EnvVar.BACKLOG_SESSION_ID_COLUMN, "x" * 64, "not a plain SQL"),
    ],
)
def test_an_invalid_variable_is_named(variable: str, value: str, message: str) -> None:
    # GIVEN one invalid variable
    environ = {EnvVar.BACKLOG_DB_SECRET_ARN: ARN, variable: value}
    # WHEN / THEN the error names the variable and why
    with pytest.raises(TenantBacklogConfigError, match=message) as caught:
        TenantBacklogConfig.from_env(environ)
    assert variable in str(caught.value)


# ---------------------------------------------------------------- SQL text
def test_sql_has_literal_statuses_and_quoted_identifiers() -> None:
    # GIVEN the default configuration
    config = TenantBacklogConfig(secret_arn=ARN)
    # WHEN the SQL is built
    sql = backlog_sql(config)
    # THEN the statuses are literals (a partial index needs them) and names are quoted
    assert "IN ('UPLOADED', 'PROCESSING')" in sql
    assert '"video_video" AS v' in sql and '"lecture_session" AS ses' in sql
    assert not re.search(r"(?<![:\w]):\w|\$\d", sql)  # no bound parameters (:name, $1)
    # ... and the lookups stay per row (LATERAL + LIMIT 1, see backlog_sql)
    assert sql.count("LEFT JOIN LATERAL") == 2 and sql.count("LIMIT 1") == 2


def test_schema_qualified_tables_are_quoted_per_part() -> None:
    # GIVEN a schema-qualified table
    config = TenantBacklogConfig(secret_arn=ARN, schema=BacklogSchema(video_table="app.video"))
    # WHEN / THEN each part is quoted on its own
    assert '"app"."video" AS v' in backlog_sql(config)


# ---------------------------------------------------------------- count (fake)
class RecordingConnection:
    """A fake pg8000 connection that returns fixed rows and records statements."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows
        self.statements: list[str] = []

    def run(self, sql: str, **params: Any) -> Any:
        self.statements.append(sql)
        return self.rows if sql.startswith("SELECT tenant_row") else None

    def close(self) -> None:
        self.statements.append("<close>")


def test_rows_without_a_tenant_count_in_the_total_only() -> None:
    # GIVEN rows for two tenants and videos whose session has no lecture (NULL tenant)
    connection = RecordingConnection([[7, 5], [None, 2], [12, 1]])
    # WHEN the backlog is counted
    backlog = count_backlog(connection, TenantBacklogConfig(secret_arn=ARN))
    # THEN the total includes them, no tenant does
    assert backlog.total == 8 and backlog.unattributed == 2
    assert backlog.per_tenant == {"7": 5, "12": 1}
    # ... and it ran in a committed read-only transaction
    assert connection.statements[0] == "START TRANSACTION READ ONLY"
    assert "statement_timeout" in connection.statements[1]
    assert connection.statements[-1] == "COMMIT"


# ---------------------------------------------------------------- datums, logs
def test_datums_are_the_total_then_the_top_tenants() -> None:
    # GIVEN a backlog over four tenants, two of them tied
    backlog = TenantBacklog(total=20, per_tenant={"a": 3, "b": 9, "c": 3, "d": 5})
    # WHEN datums are built for the top 3
    datums = metric_datums(backlog, top_n=3, timestamp=NOW)
    # THEN the first is the total with WorkerType=Video only, as the contract names it
    video = {"Name": contract.DIMENSION_NAME, "Value": contract.WorkerType.VIDEO.value}
    assert datums[0] == {
        "MetricName": contract.VIDEO_BACKLOG_METRIC_NAME,
        "Dimensions": [video],
        "Value": 20.0,
        "Timestamp": NOW,
        "Unit": contract.UNIT,
    }
    # ... then the largest tenants, ties broken by id, with a TenantId dimension
    tenants = [(d["Dimensions"][1]["Value"], d["Value"]) for d in datums[1:]]
    assert tenants == [("b", 9.0), ("d", 5.0), ("a", 3.0)]
    assert all(d["Dimensions"][0] == video for d in datums)
    assert {d["Dimensions"][1]["Name"] for d in datums[1:]} == {contract.TENANT_DIMENSION_NAME}


def test_top_zero_publishes_the_total_only() -> None:
    # GIVEN a backlog and top_n = 0 / WHEN datums are built / THEN only the total
    backlog = TenantBacklog(total=4, per_tenant={"a": 4})
    assert len(metric_datums(backlog, top_n=0, timestamp=NOW)) == 1


def test_log_record_has_every_tenant_largest_first() -> None:
    # GIVEN a backlog with more tenants than the top N
    backlog = TenantBacklog(total=10, per_tenant={"x": 1, "y": 6, "z": 3}, elapsed_ms=1.5)
    # WHEN the log record is built
    record = log_record(backlog)
    # THEN it carries all of them, in descending order, with the total
    assert list(record["tenants"].items()) == [("y", 6), ("z", 3), ("x", 1)]
    assert record["total"] == 10 and record["tenant_count"] == 3
    assert record["metric"] == contract.VIDEO_BACKLOG_METRIC_NAME


def test_the_source_logs_one_record_and_returns_the_datums(
    secrets_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the tick's source over a fake database with two tenants
    arn = store_secret(
        secrets_client, {"host": "db", "dbname": "app", "username": "u", "password": "p"}
    )
    config = TenantBacklogConfig(secret_arn=arn, top_tenants=1)
    connection = RecordingConnection([[1, 4], [2, 6]])
    source = TenantBacklogSource(
        config, secrets_client, logging.getLogger("test.tenant_backlog"), lambda c, k: connection
    )
    plugged = MetricSource(contract.TENANT_BACKLOG_STAGE, contract.WorkerType.VIDEO, source.collect)
    # WHEN the tick collects it
    with caplog.at_level(logging.INFO, logger="test.tenant_backlog"):
        datums = plugged.collect(NOW)
    # THEN the datums are the total and the top tenant
    assert [(d["Value"], len(d["Dimensions"])) for d in datums] == [(10.0, 1), (6.0, 2)]
    # ... one JSON record carries every tenant, and the connection was closed
    (record,) = [json.loads(r.getMessage()) for r in caplog.records]
    assert record["tenants"] == {"2": 6, "1": 4} and record["total"] == 10
    assert connection.statements[-1] == "<close>"


def test_every_stage_is_in_the_contract() -> None:
    # GIVEN / WHEN an unknown stage is used / THEN it is refused
    with pytest.raises(ValueError, match="unknown tenant backlog stage"):
        TenantBacklogError("somewhere", "x")


# ---------------------------------------------------------------- secret
def test_credentials_come_from_an_rds_style_secret(secrets_client: Any) -> None:
    # GIVEN a secret as RDS writes it (port as text is accepted too)
    arn = store_secret(
        secrets_client,
        {"host": "db", "port": "6543", "dbname": "app", "username": "u", "password": "pw"},
    )
    # WHEN it is read
    credentials = read_credentials(secrets_client, arn)
    # THEN every field is there, and the password stays out of repr
    assert (credentials.host, credentials.port, credentials.database) == ("db", 6543, "app")
    assert (credentials.username, credentials.password) == ("u", "pw")
    assert "pw" not in repr(credentials)


def test_database_key_and_default_port_are_accepted(secrets_client: Any) -> None:
    # GIVEN a secret with "database" instead of "dbname" and no port
    arn = store_secret(
        secrets_client, {"host": "db", "database": "app", "username": "u", "password": "p"}
    )
    # WHEN / THEN the database is found and the port defaults to 5432
    credentials = read_credentials(secrets_client, arn)
    assert (credentials.database, credentials.port) == ("app", 5432)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not a JSON object"),
        ('["a list"]', "is not a JSON object"),
        ('{"host": "db", "password": "s3cr3t-value"}', "lacks dbname, username"),
        (
            '{"host": "db", "port": "x", "dbname": "d", "username": "u", "password": "p"}',
            "non-numeric port",
        ),
    ],
)
def test_a_malformed_secret_is_a_secret_error(
    secrets_client: Any, content: str, message: str
) -> None:
    # GIVEN a secret that is not usable
    arn = store_secret(secrets_client, content)
    # WHEN it is read / THEN the stage is backlog_secret and no value leaks
    with pytest.raises(TenantBacklogError, match=message) as caught:
        read_credentials(secrets_client, arn)
    assert caught.value.stage == "backlog_secret"
    assert "s3cr3t-value" not in str(caught.value)


def test_a_missing_secret_is_a_secret_error(secrets_client: Any) -> None:
    # GIVEN an ARN with no secret behind it
    # WHEN it is read / THEN the API error code is reported under backlog_secret
    with pytest.raises(TenantBacklogError, match="ResourceNotFoundException") as caught:
        read_credentials(secrets_client, ARN)
    assert caught.value.stage == "backlog_secret"


def test_the_secrets_client_gives_up_quickly() -> None:
    # GIVEN / WHEN the source's botocore settings
    config = secrets_client_config()
    # THEN one call is bounded: 2 attempts of at most 1 s connect + 2 s read
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"max_attempts": 2, "mode": "standard"}
