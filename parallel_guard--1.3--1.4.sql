-- parallel_guard 1.3 -> 1.4: what happened last night, and what to do about it.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.4'" to load this file. \quit

-- The history: every role reads its own runs (others' texts hidden), the
-- whole statement, application_name and query_id at the end of the row.
-- A function's OUT columns cannot change in place: view and function are
-- made again as a fresh install makes them.
DROP VIEW parallel_guard.history;
DROP FUNCTION parallel_guard.history_status();
CREATE FUNCTION parallel_guard.history_status(
    OUT run_id pg_catalog.int8,
    OUT started pg_catalog.timestamptz,
    OUT ended pg_catalog.timestamptz,
    OUT pid pg_catalog.int4,
    OUT database pg_catalog.text,
    OUT usename pg_catalog.text,
    OUT statement_kind pg_catalog.text,
    OUT statement pg_catalog.text,
    OUT target pg_catalog.int4,
    OUT min pg_catalog.int4,
    OUT retries pg_catalog.int4,
    OUT attempts pg_catalog.int4,
    OUT planned pg_catalog.int4[],
    OUT launched pg_catalog.int4[],
    OUT achieved_workers pg_catalog.int4,
    OUT verdict pg_catalog.text,
    OUT sqlstate pg_catalog.text,
    OUT row_count pg_catalog.int8,
    OUT guarded_by pg_catalog.text,
    OUT application_name pg_catalog.text,
    OUT query_id pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_history'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_status() IS
'the outcome of recent guarded runs, newest last';

CREATE VIEW parallel_guard.history AS
    SELECT * FROM parallel_guard.history_status() ORDER BY run_id;

REVOKE ALL ON FUNCTION parallel_guard.history_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.history_status() TO PUBLIC;
GRANT SELECT ON parallel_guard.history TO PUBLIC;

-- The launches and the stats: readable by every role.
GRANT EXECUTE ON FUNCTION parallel_guard.history_launches_status() TO PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.history_launches_status() FROM pg_read_all_stats;
GRANT SELECT ON parallel_guard.history_launches TO PUBLIC;
REVOKE ALL ON parallel_guard.history_launches FROM pg_read_all_stats;
GRANT EXECUTE ON FUNCTION parallel_guard.stats_status() TO PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.stats_status() FROM pg_read_all_stats;
GRANT SELECT ON parallel_guard.stats TO PUBLIC;
REVOKE ALL ON parallel_guard.stats FROM pg_read_all_stats;
