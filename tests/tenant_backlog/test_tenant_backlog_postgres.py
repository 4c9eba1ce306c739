"""worker_metrics.tenant_backlog against a real PostgreSQL 15 (throwaway cluster),
with the secret in moto: correctness, read-only, the plan, and the faults."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError

from tests.tenant_backlog.support import (
    BACKLOG_STATUSES,
    BacklogDatabase,
    config_for,
    store_secret,
)
from worker_metrics.tenant_backlog import (
    BacklogSchema,
    TenantBacklogError,
    backlog_sql,
    collect,
    count_backlog,
    read_only_transaction,
)

pytestmark = pytest.mark.postgres


# ---------------------------------------------------------------- correctness
def test_counts_match_a_brute_force_count(backlog_db: BacklogDatabase) -> None:
    # GIVEN seeded random videos in every status, tenants without lectures and
    # tenants whose videos are all finished
    expected = backlog_db.data.expected_per_tenant()
    quiet = {str(t) for t in backlog_db.data.tenant_ids[20:]}
    assert expected and quiet.isdisjoint(expected)
    # WHEN the backlog is counted as the read-only role
    connection = backlog_db.reader()
    try:
        backlog = count_backlog(connection, config_for("arn:aws:test"))
    finally:
        connection.close()
    # THEN every tenant's count equals the Python walk video -> session -> lecture
    assert backlog.per_tenant == expected
    assert backlog.total == sum(expected.values()) and backlog.unattributed == 0
    # ... tenants without backlog do not appear, other statuses are not counted
    assert quiet.isdisjoint(backlog.per_tenant)
    in_backlog = sum(1 for _, s in backlog_db.data.videos if s in BACKLOG_STATUSES)
    assert backlog.total == in_backlog < len(backlog_db.data.videos)


def test_collect_reads_the_secret_and_counts(
    backlog_db: BacklogDatabase, secrets_client: Any
) -> None:
    # GIVEN the credentials of the read-only role in Secrets Manager
    arn = store_secret(secrets_client, backlog_db.secret())
    # WHEN the source collects one reading
    backlog = collect(config_for(arn), secrets_client)
    # THEN it is the brute-force count, and the query time is reported
    assert backlog.per_tenant == backlog_db.data.expected_per_tenant()
    assert backlog.elapsed_ms > 0


def test_a_new_backlog_video_is_counted_for_its_tenant(backlog_db: BacklogDatabase) -> None:
    # GIVEN one more UPLOADED video in a session of a known tenant, uncommitted elsewhere
    data = backlog_db.data
    session = next(iter(data.session_lecture))
    tenant = str(data.lecture_tenant[data.session_lecture[session]])
    writer = backlog_db.superuser()
    reader = backlog_db.reader()
    try:
        before = count_backlog(reader, config_for("arn:aws:test"))
        writer.run("BEGIN")
        writer.run(
            "INSERT INTO video_video (session_id, status) VALUES (:s, 'UPLOADED')", s=session
        )
        # WHEN counted before and after the commit
        uncommitted = count_backlog(reader, config_for("arn:aws:test"))
        writer.run("COMMIT")
        after = count_backlog(reader, config_for("arn:aws:test"))
    finally:
        writer.run("DELETE FROM video_video WHERE id = (SELECT max(id) FROM video_video)")
        writer.close()
        reader.close()
    # THEN only the committed video counts, for its tenant
    assert (uncommitted.total, uncommitted.per_tenant) == (before.total, before.per_tenant)
    assert after.total == before.total + 1
    assert after.per_tenant[tenant] == before.per_tenant.get(tenant, 0) + 1


# ---------------------------------------------------------------- read-only
def test_the_transaction_is_read_only_with_the_timeout(backlog_db: BacklogDatabase) -> None:
    # GIVEN a superuser connection (it could write anywhere)
    connection = backlog_db.superuser()
    try:
        # WHEN inside the source's transaction
        with read_only_transaction(connection, 1234):
            settings = connection.run(
                "SELECT current_setting('transaction_read_only'),"
                " current_setting('statement_timeout'), current_setting('jit')"
            )
        # THEN it is read-only with the configured timeout, and JIT off
        assert settings == [["on", "1234ms", "off"]]
        # ... the settings end with the transaction
        assert connection.run("SELECT current_setting('statement_timeout')") == [["0"]]
        # ... and a write inside it is refused (and rolled back, the session stays usable)
        with (
            pytest.raises(DatabaseError) as caught,
            read_only_transaction(connection, 1234),
        ):
            connection.run("INSERT INTO tenant_tenant (name) VALUES ('sneaky')")
        assert caught.value.args[0]["C"] == "25006"  # read_only_sql_transaction
        assert connection.run("SELECT count(*) FROM tenant_tenant WHERE name = 'sneaky'") == [[0]]
    finally:
        connection.close()


def test_a_write_hidden_in_a_view_is_rejected(backlog_db: BacklogDatabase) -> None:
    # GIVEN a "video table" that is a view calling a function that writes
    admin = backlog_db.superuser()
    admin.run("CREATE TABLE IF NOT EXISTS audit_log (at timestamptz DEFAULT now())")
    admin.run(
        "CREATE OR REPLACE FUNCTION note_read() RETURNS boolean LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO audit_log DEFAULT VALUES; RETURN true; END $$"
    )
    admin.run(
        "CREATE OR REPLACE VIEW video_with_audit AS SELECT * FROM video_video WHERE note_read()"
    )
    config = config_for("arn:aws:test", schema=BacklogSchema(video_table="video_with_audit"))
    try:
        # WHEN the backlog is counted through it, even as a superuser
        with pytest.raises(TenantBacklogError) as caught:
            count_backlog(admin, config)
        # THEN the database refuses the write and nothing was written
        assert caught.value.stage == "backlog_query"
        assert "25006" in str(caught.value)
        assert admin.run("SELECT count(*) FROM audit_log") == [[0]]
    finally:
        admin.run("DROP VIEW video_with_audit")
        admin.run("DROP FUNCTION note_read()")
        admin.run("DROP TABLE audit_log")
        admin.close()


# ---------------------------------------------------------------- the plan
def _plan(connection: Any) -> str:
    with read_only_transaction(connection, 2000):
        rows = connection.run("EXPLAIN (COSTS OFF) " + backlog_sql(config_for("arn:aws:t")))
    return "\n".join(row[0] for row in rows)


def test_the_plan_reads_the_partial_index(backlog_db: BacklogDatabase) -> None:
    # GIVEN the migration's indexes (applied by the fixture)
    connection = backlog_db.reader()
    try:
        # WHEN the query is planned
        plan = _plan(connection)
    finally:
        connection.close()
    # THEN videos come from the partial index, never from a scan of the video table
    # (index-only or bitmap: the planner picks by table size; both read the index)
    assert "Scan using video_video_backlog_session_idx" in plan or (
        "Bitmap Index Scan on video_video_backlog_session_idx" in plan
    ), plan
    assert "Seq Scan on video_video" not in plan, plan
    # ... and the lookups run per backlog row: no hash join over whole tables
    assert "Nested Loop" in plan and "Hash Join" not in plan, plan


def test_without_the_partial_index_the_video_table_is_scanned(
    backlog_db: BacklogDatabase,
) -> None:
    # GIVEN the partial index dropped (inside a transaction that is rolled back)
    admin = backlog_db.superuser()
    try:
        admin.run("BEGIN")
        admin.run("DROP INDEX video_video_backlog_session_idx")
        # WHEN the query is planned
        rows = admin.run("EXPLAIN (COSTS OFF) " + backlog_sql(config_for("arn:aws:t")))
    finally:
        admin.run("ROLLBACK")
        admin.close()
    plan = "\n".join(row[0] for row in rows)
    # THEN the whole video table is read: the index is what bounds the cost
    assert "Seq Scan on video_video" in plan, plan


def test_a_bound_status_parameter_would_miss_the_partial_index(
    backlog_db: BacklogDatabase,
) -> None:
    # GIVEN the same filter with the statuses bound as a parameter (what we avoid)
    connection = backlog_db.reader()
    try:
        connection.run(
            "PREPARE with_param(text[]) AS SELECT count(*) FROM video_video WHERE status = ANY($1)"
        )
        connection.run("SET plan_cache_mode = force_generic_plan")
        # WHEN planned generically (as a driver's prepared statement eventually is)
        rows = connection.run("EXPLAIN (COSTS OFF) EXECUTE with_param('{UPLOADED,PROCESSING}')")
    finally:
        connection.close()
    plan = "\n".join(row[0] for row in rows)
    # THEN the partial index cannot be used: the reason the statuses are literals
    assert "video_video_backlog_session_idx" not in plan


# ---------------------------------------------------------------- faults
def test_database_down_is_a_connect_error(secrets_client: Any, backlog_db: BacklogDatabase) -> None:
    # GIVEN a secret pointing at a closed port on the loopback interface
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    arn = store_secret(secrets_client, backlog_db.secret(port=closed_port))
    # WHEN the source collects / THEN it fails at the connect stage
    with pytest.raises(TenantBacklogError) as caught:
        collect(config_for(arn, connect_timeout_ms=500), secrets_client)
    assert caught.value.stage == "backlog_connect"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_server_that_never_answers_times_out(
    secrets_client: Any, backlog_db: BacklogDatabase, silent_server: int
) -> None:
    # GIVEN a secret pointing at a server that accepts but never answers
    arn = store_secret(secrets_client, backlog_db.secret(port=silent_server))
    # WHEN the source collects with short timeouts
    with pytest.raises(TenantBacklogError) as caught:
        collect(config_for(arn, connect_timeout_ms=200, statement_timeout_ms=100), secrets_client)
    # THEN it gives up at the connect stage, as a socket timeout
    assert caught.value.stage == "backlog_connect"
    assert "timeout" in str(caught.value)


def test_statement_timeout_is_a_timeout_error(
    backlog_db: BacklogDatabase, secrets_client: Any
) -> None:
    # GIVEN a migration-like lock on the video table, held by another session
    arn = store_secret(secrets_client, backlog_db.secret())
    locker = backlog_db.superuser()
    locker.run("BEGIN")
    locker.run("LOCK TABLE video_video IN ACCESS EXCLUSIVE MODE")
    try:
        # WHEN the source collects with a 200 ms statement timeout
        with pytest.raises(TenantBacklogError) as caught:
            collect(config_for(arn, statement_timeout_ms=200), secrets_client)
    finally:
        locker.run("ROLLBACK")
        locker.close()
    # THEN the server cancels it (SQLSTATE 57014) and the stage says timeout
    assert caught.value.stage == "backlog_timeout"
    assert "statement timeout" in str(caught.value)


def test_bad_credentials_are_an_auth_error(
    backlog_db: BacklogDatabase, secrets_client: Any
) -> None:
    # GIVEN a secret with a wrong password
    arn = store_secret(secrets_client, backlog_db.secret(password="not-the-password"))
    # WHEN the source collects
    with pytest.raises(TenantBacklogError) as caught:
        collect(config_for(arn), secrets_client)
    # THEN the stage is auth, and the password is not in the message
    assert caught.value.stage == "backlog_auth"
    assert "28P01" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_a_missing_table_is_a_query_error(backlog_db: BacklogDatabase, secrets_client: Any) -> None:
    # GIVEN a configuration naming a table the database does not have
    arn = store_secret(secrets_client, backlog_db.secret())
    config = config_for(arn, schema=BacklogSchema(video_table="videos_video"))
    # WHEN / THEN the database rejects the query: stage query, SQLSTATE 42P01
    with pytest.raises(TenantBacklogError, match="42P01") as caught:
        collect(config, secrets_client)
    assert caught.value.stage == "backlog_query"


def test_tls_required_but_refused_is_a_connect_error(
    backlog_db: BacklogDatabase, secrets_client: Any
) -> None:
    # GIVEN sslmode=require against the test server, which has no TLS
    arn = store_secret(secrets_client, backlog_db.secret())
    config = config_for(arn).__class__(secret_arn=arn, sslmode="require")
    # WHEN / THEN the connection is refused at the connect stage
    with pytest.raises(TenantBacklogError, match="refuses SSL") as caught:
        collect(config, secrets_client)
    assert caught.value.stage == "backlog_connect"
