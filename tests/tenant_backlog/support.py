"""Shared pieces of the tenant backlog tests: the seeded data, the database
handle and the helpers for secrets and configuration (fixtures: conftest.py)."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg8000.native

from tests.pg import PostgresCluster
from worker_metrics.tenant_backlog import TenantBacklogConfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text()
MIGRATION_SQL = (ROOT / "sql" / "001_video_backlog_indexes.sql").read_text()
DATABASE = "academy"
READER = "metrics_reader"
BACKLOG_STATUSES = ("UPLOADED", "PROCESSING")
OTHER_STATUSES = ("PENDING", "READY", "FAILED", "DELETED")
REGION = "us-east-1"


@dataclass(frozen=True)
class SeededData:
    """What the fixture inserted, for brute-force expectations."""

    tenant_ids: list[int]
    lecture_tenant: dict[int, int]  # lecture id -> tenant id
    session_lecture: dict[int, int]  # session id -> lecture id
    videos: list[tuple[int, str]]  # (session id, status)

    def expected_per_tenant(self) -> dict[str, int]:
        """The brute-force count: walk every video to its tenant in Python."""
        counts: Counter[str] = Counter()
        for session_id, status in self.videos:
            if status in BACKLOG_STATUSES:
                tenant = self.lecture_tenant[self.session_lecture[session_id]]
                counts[str(tenant)] += 1
        return dict(counts)


@dataclass(frozen=True)
class BacklogDatabase:
    cluster: PostgresCluster
    reader_password: str
    data: SeededData

    def superuser(self) -> Any:
        """A new superuser connection to the test database (caller closes it)."""
        return pg8000.native.Connection(**self.cluster.connect_kwargs(DATABASE))

    def reader(self) -> Any:
        """A new connection as the read-only role (caller closes it)."""
        return pg8000.native.Connection(**self.reader_kwargs())

    def reader_kwargs(self) -> dict[str, Any]:
        return {
            **self.cluster.connect_kwargs(DATABASE),
            "user": READER,
            "password": self.reader_password,
        }

    def secret(self, **overrides: Any) -> dict[str, Any]:
        """The secret's JSON content, as RDS writes it for a managed secret."""
        document = {
            "engine": "postgres",
            "host": self.cluster.host,
            "port": self.cluster.port,
            "dbname": DATABASE,
            "username": READER,
            "password": self.reader_password,
        }
        document.update(overrides)
        return document


def seed(connection: Any, rng: random.Random) -> SeededData:
    """Random but reproducible data: skewed tenants, some without lectures, some
    with lectures but no backlog, and every status present."""
    tenant_ids = list(range(1, 41))
    connection.run(
        "INSERT INTO tenant_tenant (id, name)"
        " SELECT i, 'tenant ' || i FROM unnest(CAST(:ids AS bigint[])) AS i",
        ids=tenant_ids,
    )
    # Tenants 31..40 get no lectures; 21..30 get lectures whose videos are all finished.
    lecture_tenant = {lecture: rng.choice(tenant_ids[:30]) for lecture in range(1, 301)}
    session_lecture = {session: rng.randint(1, 300) for session in range(1, 1501)}
    quiet_tenants = set(tenant_ids[20:30])
    videos: list[tuple[int, str]] = []
    for _ in range(20_000):
        session = rng.randint(1, 1500)
        quiet = lecture_tenant[session_lecture[session]] in quiet_tenants
        if not quiet and rng.random() < 0.03:
            status = rng.choice(BACKLOG_STATUSES)
        else:
            status = rng.choice(OTHER_STATUSES)
        videos.append((session, status))
    connection.run(
        "INSERT INTO lecture_lecture (id, tenant_id, title)"
        " SELECT l, t, 'lecture ' || l FROM unnest(CAST(:l AS bigint[]), CAST(:t AS bigint[]))"
        " AS x(l, t)",
        l=list(lecture_tenant),
        t=list(lecture_tenant.values()),
    )
    connection.run(
        "INSERT INTO lecture_session (id, lecture_id, title)"
        " SELECT s, l, 'session ' || s FROM unnest(CAST(:s AS bigint[]), CAST(:l AS bigint[]))"
        " AS x(s, l)",
        s=list(session_lecture),
        l=list(session_lecture.values()),
    )
    connection.run(
        "INSERT INTO video_video (session_id, status)"
        " SELECT s, st FROM unnest(CAST(:s AS bigint[]), CAST(:st AS text[])) AS x(s, st)",
        s=[session for session, _ in videos],
        st=[status for _, status in videos],
    )
    return SeededData(tenant_ids, lecture_tenant, session_lecture, videos)


def store_secret(client: Any, content: dict[str, Any] | str, name: str = "academy/db") -> str:
    """Create a secret in moto; returns its ARN."""
    text = content if isinstance(content, str) else json.dumps(content)
    return str(client.create_secret(Name=name, SecretString=text)["ARN"])


def config_for(secret_arn: str, **overrides: Any) -> TenantBacklogConfig:
    """The test configuration: no TLS (the throwaway cluster has none)."""
    return TenantBacklogConfig(secret_arn=secret_arn, sslmode="disable", **overrides)
