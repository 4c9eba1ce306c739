"""tests/pg.py: a cluster that cannot start says why, and leaves nothing behind."""

from __future__ import annotations

import pytest

from tests import pg
from tests.pg import PostgresCluster, PostgresUnavailable

pytestmark = pytest.mark.postgres


def test_missing_server_binaries_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a machine without the PostgreSQL server binaries
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    # WHEN a cluster is started / THEN the error names the binary and the fix
    with pytest.raises(PostgresUnavailable, match=r"'initdb' not found.*install the PostgreSQL"):
        PostgresCluster().start()


def test_a_server_that_fails_to_start_reports_its_log() -> None:
    # GIVEN a setting the server rejects
    cluster = PostgresCluster(settings={"shared_buffers": "not-a-size"})
    # WHEN it is started
    with pytest.raises(PostgresUnavailable) as caught:
        cluster.start()
    # THEN the message carries pg_ctl's failure and the server log's reason
    assert "pg_ctl start failed" in str(caught.value)
    assert "shared_buffers" in str(caught.value)
    # ... and its temporary folder is gone
    assert cluster.root is not None and not cluster.root.exists()
