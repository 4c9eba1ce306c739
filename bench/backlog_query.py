"""Benchmark of the per-tenant Video backlog query (issue 7, NOTES §5).

Starts its own throwaway PostgreSQL cluster on 127.0.0.1 (tests/pg.py), loads a
Django-like schema with ``generate_series`` (in the database, no client-side
rows), and times, over ``--runs`` runs each (median, min, max):

* ``naive``: the plain 3-table JOIN with ``GROUP BY tenant_id``, as the Django
  ORM writes it, with only Django's own indexes (primary keys and foreign keys),
  no supporting index: the baseline;
* ``ours``: ``tenant_backlog.backlog_sql`` with the indexes of
  ``sql/001_video_backlog_indexes.sql``: the query round trip alone;
* ``naive with our indexes``: the plain JOIN again, to show what the query's
  shape adds to the indexes;
* ``ours, whole read``: ``tenant_backlog.count_backlog``: the read-only
  transaction, SET LOCAL and COMMIT included (four round trips).

Both queries run inside the same read-only transaction with ``jit = off``, so
only the SQL and the indexes differ. Scale ``1``: database ``videos_2m`` with
2 M videos, 200 k sessions, 20 k lectures, 200 tenants, about 0.3 % backlog
(6,000 videos). Scale ``10``: database ``videos_20m``, a copy with 18 M more
finished videos (history), so the same backlog.

The sizes are timed interleaved (2 M, 20 M, 2 M, ...), so load from other
processes on the machine hits both alike. Each row also reports two measures
that such load cannot blur: the CPU time the server backend spent per run
(/proc/<pid>/schedstat, Linux) and the shared buffers its EXPLAIN ANALYZE
touched. Two backlog shapes are measured: ``clustered`` (the newest uploads, whole
sessions, plus stuck videos anywhere: the usual shape) and ``scattered``
(nearly one backlog video per session: the worst case for the lookups).

Usage:
    python bench/backlog_query.py [--scale 1 --scale 10] [--runs 25] [--json PATH]

Goals (issue 7): at most 10 ms median at 2 M videos, at most 1.5x growth from
2 M to 20 M. The exit status is 1 when a goal measured in this run is missed.
Everything stays on the loopback interface; the cluster is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda" / "queue_depth")]

import pg8000.native  # noqa: E402

from tests.pg import PostgresCluster, PostgresUnavailable  # noqa: E402
from worker_metrics.tenant_backlog import (  # noqa: E402
    TenantBacklogConfig,
    backlog_sql,
    count_backlog,
    read_only_transaction,
)

BASE_VIDEOS = 2_000_000
SESSIONS = 200_000
LECTURES = 20_000
TENANTS = 200
BACKLOG_PER_MILLE = 3  # 0.3 % of the 2 M base videos
GOAL_MEDIAN_MS = 10.0
GOAL_GROWTH = 1.5

# A cluster sized for 20 M rows on a 2-core, 24 GB machine; autovacuum is off so it
# does not run during timings (we VACUUM ANALYZE ourselves after each load).
CLUSTER_SETTINGS = {
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "off",
    "max_connections": "10",
}

SCHEMA_SQL = """
CREATE TABLE tenant_tenant (id bigint NOT NULL, name varchar(100) NOT NULL);
CREATE TABLE lecture_lecture (id bigint NOT NULL, tenant_id bigint NOT NULL,
                              title varchar(200) NOT NULL);
CREATE TABLE lecture_session (id bigint NOT NULL, lecture_id bigint NOT NULL,
                              title varchar(200) NOT NULL);
CREATE TABLE video_video (id bigint NOT NULL, session_id bigint NOT NULL,
                          status varchar(20) NOT NULL, file_key varchar(255) NOT NULL,
                          created_at timestamptz NOT NULL);
"""

# Tenants are skewed (a few big ones, a long tail); a lecture's 10 sessions and a
# session's 10 videos are created together, so ids follow upload order.
# Deterministic: hashint8 instead of random().
LOAD_BASE_SQL = f"""
INSERT INTO tenant_tenant SELECT g, 'tenant ' || g FROM generate_series(1, {TENANTS}) g;
INSERT INTO lecture_lecture
    SELECT g, 1 + floor({TENANTS} * power((abs(hashint8(g)) % 1000000) / 1000000.0, 2))::bigint,
           'lecture ' || g
    FROM generate_series(1::bigint, {LECTURES}) g;
INSERT INTO lecture_session
    SELECT g, 1 + (g - 1) / {SESSIONS // LECTURES}, 'session ' || g
    FROM generate_series(1::bigint, {SESSIONS}) g;
INSERT INTO video_video
    SELECT g, 1 + (g - 1) / {BASE_VIDEOS // SESSIONS},
           CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'READY' END,
           'videos/' || g || '.mp4',
           timestamptz '2024-01-01' + g * interval '1 second'
    FROM generate_series(1::bigint, {BASE_VIDEOS}) g;
"""

# Where the backlog (UPLOADED/PROCESSING, about 6,000 videos) lies.
# clustered: the newest 5,000 uploads (whole sessions, as a lecturer uploads them)
#   plus about 1,000 videos stuck anywhere in the history: the usual shape.
# scattered: 0.3 % of the 2 M base videos picked by hash, nearly one per session:
#   the worst case for the session -> lecture lookups.
BACKLOG_PREDICATES = {
    "clustered": f"(id > {BASE_VIDEOS - 5000} AND id <= {BASE_VIDEOS})"
    f" OR (id <= {BASE_VIDEOS} AND abs(hashint8(id * 31)) % 2000 = 0)",
    "scattered": f"id <= {BASE_VIDEOS} AND abs(hashint8(-id)) % 1000 < {BACKLOG_PER_MILLE}",
}


def set_backlog_sql(kind: str) -> str:
    """Put the backlog where ``kind`` says; every other video is finished."""
    return f"""
UPDATE video_video SET status = CASE WHEN id % 50 = 0 THEN 'FAILED' ELSE 'READY' END
    WHERE status IN ('UPLOADED', 'PROCESSING');
UPDATE video_video SET status = CASE WHEN id % 2 = 0 THEN 'UPLOADED' ELSE 'PROCESSING' END
    WHERE {BACKLOG_PREDICATES[kind]};
"""


# Django's own indexes: primary keys and one index per ForeignKey.
DJANGO_INDEXES_SQL = """
ALTER TABLE tenant_tenant ADD PRIMARY KEY (id);
ALTER TABLE lecture_lecture ADD PRIMARY KEY (id);
ALTER TABLE lecture_session ADD PRIMARY KEY (id);
ALTER TABLE video_video ADD PRIMARY KEY (id);
CREATE INDEX lecture_lecture_tenant_id ON lecture_lecture (tenant_id);
CREATE INDEX lecture_session_lecture_id ON lecture_session (lecture_id);
CREATE INDEX video_video_session_id ON video_video (session_id);
"""


def history_sql(first_id: int, count: int) -> str:
    """Finished videos only: the backlog stays what it was."""
    return f"""
INSERT INTO video_video
    SELECT g, 1 + abs(hashint8(g)) % {SESSIONS},
           CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'READY' END,
           'videos/' || g || '.mp4',
           timestamptz '2020-01-01' + (g % 100000000) * interval '1 second'
    FROM generate_series({first_id}::bigint, {first_id + count - 1}) g;
"""


NAIVE_SQL = """
SELECT l.tenant_id, COUNT(*) AS videos
FROM video_video v
JOIN lecture_session s ON s.id = v.session_id
JOIN lecture_lecture l ON l.id = s.lecture_id
WHERE v.status IN ('UPLOADED', 'PROCESSING')
GROUP BY l.tenant_id
"""

PARTIAL_INDEX_SQL = (ROOT / "sql" / "001_video_backlog_indexes.sql").read_text()
DROP_OUR_INDEXES_SQL = """
DROP INDEX video_video_backlog_session_idx;
DROP INDEX lecture_session_backlog_lookup_idx;
DROP INDEX lecture_lecture_backlog_lookup_idx;
"""
CALIBRATION_SQL = "SELECT count(*) FROM generate_series(1, 1000000)"


def summary(samples: list[float], cpu_ms: list[float] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "runs": len(samples),
        "median_ms": round(statistics.median(samples), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
    }
    if cpu_ms:
        result["backend_cpu_median_ms"] = round(statistics.median(cpu_ms), 3)
    return result


def backend_cpu_ms(pid: int) -> float:
    """CPU time a server backend has used so far (Linux /proc/<pid>/schedstat, ns).

    Unlike wall time, it does not include the time the backend waited for a
    CPU, so other jobs on the machine do not inflate it: on an idle machine a
    cached, CPU-bound query takes about this long."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e6


def interleaved(
    fns: dict[str, tuple[Callable[[], Any], int]], runs: int, warmup: int = 3
) -> dict[str, dict[str, Any]]:
    """Time each function ``runs`` times, alternating between them, so a load
    burst from another process hits every variant alike. Each function comes
    with the pid of the backend it runs on, whose CPU time is measured too."""
    for _ in range(warmup):
        for fn, _pid in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, (fn, pid) in fns.items():
            cpu_before = backend_cpu_ms(pid)
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1000.0)
            cpu[name].append(backend_cpu_ms(pid) - cpu_before)
    return {name: summary(samples[name], cpu[name]) for name in fns}


def in_read_only(con: Any, sql: str) -> Callable[[], Any]:
    def run() -> Any:
        with read_only_transaction(con, 600_000):
            return con.run(sql)

    return run


def explain(con: Any, sql: str) -> tuple[str, int]:
    """EXPLAIN ANALYZE text and its shared-buffer accesses (a load-independent
    measure of the work done)."""
    with read_only_transaction(con, 600_000):
        rows = con.run("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + sql)
    text = "\n".join(row[0] for row in rows)
    first_buffers = next((line for line in text.splitlines() if "Buffers: shared" in line), "")
    hits = sum(
        int(part.split("=")[1])
        for part in first_buffers.split("shared", 1)[-1].split()
        if "=" in part and part.split("=")[1].isdigit()
    )
    return text, hits


def backlog_count(con: Any) -> int:
    rows = con.run("SELECT count(*) FROM video_video WHERE status IN ('UPLOADED', 'PROCESSING')")
    return int(rows[0][0])


def check_correct(con: Any, config: TenantBacklogConfig) -> None:
    """Our reading equals the naive query's (same data, same transaction kind)."""
    reading = count_backlog(con, config)
    expected = {str(tenant): int(videos) for tenant, videos in con.run(NAIVE_SQL)}
    if reading.per_tenant != expected or reading.total != backlog_count(con):
        raise AssertionError("backlog_sql disagrees with the naive query")


@dataclass
class Database:
    """One loaded database (one size) and an open connection to it."""

    name: str
    videos: int
    con: Any

    @property
    def pid(self) -> int:
        """The server backend serving ``con``."""
        return int(self.con.run("SELECT pg_backend_pid()")[0][0])


def measure(
    cluster: PostgresCluster, databases: list[Database], runs: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Every timing, each phase interleaved over the databases (sizes)."""
    config = TenantBacklogConfig(secret_arn="arn:aws:secretsmanager:bench", sslmode="disable")
    ours_sql = backlog_sql(config)
    rows: list[dict[str, Any]] = []

    def phase(backlog: str, queries: dict[str, Callable[[Database], Callable[[], Any]]]) -> None:
        timings = interleaved(
            {
                f"{db.name}/{q}": (make(db), db.pid)
                for db in databases
                for q, make in queries.items()
            },
            runs,
        )
        for db in databases:
            for query in queries:
                row = {"videos": db.videos, "backlog": backlog, "query": query}
                row.update(timings[f"{db.name}/{query}"])
                sql = NAIVE_SQL if query.startswith("naive") else ours_sql
                row["plan"], row["buffers"] = explain(db.con, sql)
                rows.append(row)

    sizes = {db.name: backlog_count(db.con) for db in databases}
    label = "clustered, " + " / ".join(f"{n:,}" for n in sizes.values())
    log(f"naive x{runs}, no supporting index, interleaved over {list(sizes)}")
    phase(label, {"naive": lambda db: in_read_only(db.con, NAIVE_SQL)})
    log("creating our indexes (sql/001_video_backlog_indexes.sql)")
    for db in databases:
        cluster.psql(PARTIAL_INDEX_SQL, database=db.name)
        check_correct(db.con, config)
    log(f"ours x{runs}, clustered backlog")
    phase(
        label,
        {
            "ours": lambda db: in_read_only(db.con, ours_sql),
            "ours_whole_read": lambda db: lambda: count_backlog(db.con, config),
            "naive_with_index": lambda db: in_read_only(db.con, NAIVE_SQL),
        },
    )
    log("moving the backlog: scattered")
    for db in databases:
        cluster.psql(set_backlog_sql("scattered"), database=db.name)
        cluster.psql("VACUUM ANALYZE video_video;", database=db.name)
        check_correct(db.con, config)
    label = "scattered, " + " / ".join(f"{backlog_count(db.con):,}" for db in databases)
    log(f"ours x{runs}, scattered backlog")
    phase(
        label,
        {
            "ours": lambda db: in_read_only(db.con, ours_sql),
            "naive_with_index": lambda db: in_read_only(db.con, NAIVE_SQL),
        },
    )
    return rows


QUERY_LABELS = {
    "naive": "naive 3-table JOIN, Django indexes only (baseline)",
    "naive_with_index": "naive 3-table JOIN, with our indexes",
    "ours": "**ours**: backlog_sql, with our indexes",
    "ours_whole_read": "ours, whole read (BEGIN READ ONLY, set_config, query, COMMIT)",
}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| videos | backlog | query | median ms | min ms | max ms | backend CPU ms (median) "
        "| runs | buffers |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (not r["backlog"].startswith("clustered"), r["videos"])):
        lines.append(
            f"| {r['videos']:,} | {r['backlog'].split(',')[0]} | {QUERY_LABELS[r['query']]} "
            f"| {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | {r['backend_cpu_median_ms']} "
            f"| {r['runs']} | {r['buffers']} |"
        )
    return "\n".join(lines)


def ours_median(rows: list[dict[str, Any]], videos: int, key: str = "median_ms") -> float | None:
    for r in rows:
        if r["videos"] == videos and r["query"] == "ours" and r["backlog"].startswith("clustered"):
            return float(r[key])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--scale",
        type=int,
        action="append",
        choices=(1, 10),
        help="1 = 2 M videos, 10 = 20 M (same backlog); repeatable; default: both",
    )
    parser.add_argument("--runs", type=int, default=25, help="timed runs per query (>= 20)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--plans", action="store_true", help="print the EXPLAIN ANALYZE plans")
    args = parser.parse_args(argv)
    scales = sorted(set(args.scale or [1, 10]))
    if args.runs < 20:
        parser.error("--runs must be at least 20")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # A SIGTERM (timeout, Ctrl-C in a pipeline) must still stop the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[dict[str, Any]] = []
    calibration: dict[str, Any] = {}
    started = time.monotonic()
    try:
        with PostgresCluster(settings=CLUSTER_SETTINGS) as cluster:
            log(f"cluster on 127.0.0.1:{cluster.port}; loading {BASE_VIDEOS:,} videos")
            cluster.psql("CREATE DATABASE videos_2m;")
            cluster.psql(
                SCHEMA_SQL + LOAD_BASE_SQL + DJANGO_INDEXES_SQL + set_backlog_sql("clustered"),
                database="videos_2m",
            )
            cluster.psql("VACUUM ANALYZE;", database="videos_2m")
            names = []
            if 10 in scales:
                log(f"copying it and appending {9 * BASE_VIDEOS:,} finished videos (history)")
                cluster.psql("CREATE DATABASE videos_20m TEMPLATE videos_2m;")
                cluster.psql(history_sql(BASE_VIDEOS + 1, 9 * BASE_VIDEOS), database="videos_20m")
                cluster.psql("VACUUM ANALYZE;", database="videos_20m")
                names.append(("videos_20m", 10 * BASE_VIDEOS))
            if 1 in scales:
                names.insert(0, ("videos_2m", BASE_VIDEOS))
            databases = [
                Database(name, videos, pg8000.native.Connection(**cluster.connect_kwargs(name)))
                for name, videos in names
            ]
            try:
                probe = databases[0].con
                calibration = summary([timed_once(probe, CALIBRATION_SQL) for _ in range(5)])
                log(f"CPU calibration (count 1 M generated rows): {calibration['median_ms']} ms")
                rows = measure(cluster, databases, args.runs, log)
            finally:
                for db in databases:
                    db.con.close()
    except PostgresUnavailable as error:
        print(f"bench: PostgreSQL failed: {error}", file=sys.stderr)
        return 2
    print(markdown(rows))
    print(
        f"\nload average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())};"
        f" CPU calibration (count 1 M generated rows): {calibration.get('median_ms')} ms"
    )
    verdicts = []
    base, big = ours_median(rows, BASE_VIDEOS), ours_median(rows, BASE_VIDEOS * 10)
    if base is not None:
        verdict = "met" if base <= GOAL_MEDIAN_MS else "MISSED"
        verdicts.append(f"ours at 2 M, clustered: {base} ms (goal <= {GOAL_MEDIAN_MS}): {verdict}")
    base_cpu = ours_median(rows, BASE_VIDEOS, "backend_cpu_median_ms")
    if base_cpu is not None:
        verdict = "met" if base_cpu <= GOAL_MEDIAN_MS else "MISSED"
        verdicts.append(
            f"ours at 2 M, clustered, backend CPU time:"
            f" {base_cpu} ms (goal <= {GOAL_MEDIAN_MS}): {verdict}"
        )
    if base is not None and big is not None:
        growth = big / base
        verdict = "met" if growth <= GOAL_GROWTH else "MISSED"
        verdicts.append(f"growth 2 M -> 20 M: {growth:.2f}x (goal <= {GOAL_GROWTH}x): {verdict}")
    print("\n" + "\n".join(verdicts))
    if args.plans:
        for r in rows:
            print(f"\n### {r['query']}, {r['videos']:,} videos, {r['backlog']}")
            print(f"```\n{r['plan']}\n```")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "elapsed_s": round(time.monotonic() - started, 1),
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "calibration_1m_rows_ms": calibration,
            "goals": verdicts,
            "rows": rows,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any("MISSED" in verdict for verdict in verdicts) else 0


def timed_once(con: Any, sql: str) -> float:
    started = time.perf_counter()
    con.run(sql)
    return (time.perf_counter() - started) * 1000.0


if __name__ == "__main__":
    sys.exit(main())
