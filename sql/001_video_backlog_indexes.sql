-- Supporting indexes for the per-tenant Video backlog query
-- (lambda/queue_depth/worker_metrics/tenant_backlog.py, backlog_sql).
--
-- 1. A partial index over the backlog only: a few thousand entries, whatever
--    the size of the video history, so the query's cost follows the backlog
--    (NOTES §5). The query counts videos by session_id straight from it (an
--    index-only scan: the predicate's column need not be in the index when the
--    query's WHERE matches the predicate).
-- 2. Covering indexes on the session and lecture primary keys, so the query's
--    one-row lookups (session -> lecture, lecture -> tenant) are index-only
--    probes that never visit the table: about half the time of a primary-key
--    probe plus a heap fetch (bench/backlog_query.py). Sessions and lectures
--    change rarely, so their pages stay all-visible and the probes stay
--    index-only. They are small: one entry per session / lecture.
--
-- The statuses must stay LITERALS, in the index and in the query: the planner
-- uses a partial index only when it can prove the query's WHERE implies the
-- index predicate, and it cannot with bound parameters ($1). If BACKLOG_STATUSES
-- is changed, change this predicate with it.
--
-- Table and column names are the Django defaults the Lambda assumes
-- (video_video.session_id/status, lecture_session.id/lecture_id,
-- lecture_lecture.id/tenant_id); adjust them together with the BACKLOG_*
-- variables if the app uses others.
--
-- CONCURRENTLY: no write lock on video_video while the index builds. It cannot
-- run inside a transaction block: run this file with `psql -f` (autocommit), or
-- from Django with a non-atomic migration (sql/README.md). If a concurrent
-- build fails it leaves an INVALID index behind; IF NOT EXISTS would then skip
-- it, so check pg_index.indisvalid and DROP INDEX CONCURRENTLY it first.

CREATE INDEX CONCURRENTLY IF NOT EXISTS video_video_backlog_session_idx
    ON video_video (session_id)
    WHERE status IN ('UPLOADED', 'PROCESSING');

CREATE INDEX CONCURRENTLY IF NOT EXISTS lecture_session_backlog_lookup_idx
    ON lecture_session (id) INCLUDE (lecture_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS lecture_lecture_backlog_lookup_idx
    ON lecture_lecture (id) INCLUDE (tenant_id);

-- Fresh statistics, so the planner sees how few rows the predicate selects.
ANALYZE video_video;
