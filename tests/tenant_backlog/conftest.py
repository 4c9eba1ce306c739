"""Fixtures for the tenant backlog tests: one throwaway PostgreSQL cluster per
session (tests/pg.py) holding a Django-like schema with seeded random data, the
supporting indexes of sql/001_video_backlog_indexes.sql, and a read-only role.

If PostgreSQL cannot start, every test here FAILS with the reason (never skips):
CI must not turn green without having run them.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pg8000.native
import pytest
from moto import mock_aws

from tests.pg import PostgresCluster, PostgresUnavailable
from tests.tenant_backlog.support import (
    DATABASE,
    MIGRATION_SQL,
    REGION,
    SCHEMA_SQL,
    BacklogDatabase,
    seed,
)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A started throwaway cluster; FAILS (not skips) when PostgreSQL cannot start."""
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresUnavailable as error:
        pytest.fail(f"PostgreSQL could not start for the tenant backlog tests: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def backlog_db(pg_cluster: PostgresCluster) -> BacklogDatabase:
    """The Django-like database with seeded data and the migration applied."""
    reader_password = secrets.token_hex(8)
    pg_cluster.psql(f"CREATE DATABASE {DATABASE};")
    pg_cluster.psql(SCHEMA_SQL, DATABASE, variables=[f"reader_password={reader_password}"])
    connection = pg8000.native.Connection(**pg_cluster.connect_kwargs(DATABASE))
    try:
        data = seed(connection, random.Random(20250221))
    finally:
        connection.close()
    pg_cluster.psql("VACUUM ANALYZE;", DATABASE)
    pg_cluster.psql(MIGRATION_SQL, DATABASE)  # the real file, as an operator runs it
    return BacklogDatabase(pg_cluster, reader_password, data)


@pytest.fixture
def secrets_client() -> Iterator[Any]:
    """Secrets Manager in moto."""
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
