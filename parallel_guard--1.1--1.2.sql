-- parallel_guard 1.1 -> 1.2: every launch of a statement, and a dry run
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.2'" to load this file. \quit

-- One row per place of a statement that launched parallel workers (each
-- Gather / Gather Merge, each index build), per attempt, for the runs kept
-- in parallel_guard.history.  Readable like the history.
CREATE FUNCTION parallel_guard.history_launches_status(
    OUT run_id pg_catalog.int8,
    OUT attempt pg_catalog.int4,
    OUT node pg_catalog.text,
    OUT planned pg_catalog.int4,
    OUT launches pg_catalog.int4,
    OUT fewest_launched pg_catalog.int4)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_history_launches'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_launches_status() IS
'each launch site of each attempt of the runs kept in the history';

CREATE VIEW parallel_guard.history_launches AS
    SELECT * FROM parallel_guard.history_launches_status() ORDER BY run_id, attempt;

REVOKE ALL ON FUNCTION parallel_guard.history_launches_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.history_launches_status() TO pg_read_all_stats;
GRANT SELECT ON parallel_guard.history_launches TO pg_read_all_stats;

-- A dry run: plans the statement as run() would (this session's settings,
-- the worker settings raised to target) and lists every place that will
-- launch parallel workers, without running it.  It takes no worker, so it
-- is not restricted like run().
CREATE FUNCTION parallel_guard.explain(
    sql pg_catalog.text,
    target pg_catalog.int4 DEFAULT 4)
RETURNS TABLE (
    node pg_catalog.text,
    planned_workers pg_catalog.int4,
    counted pg_catalog.text,
    launches pg_catalog.text)
AS 'MODULE_PATHNAME', 'parallel_guard_explain'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION parallel_guard.explain(pg_catalog.text, pg_catalog.int4) IS
'plans a statement as parallel_guard.run() would and lists the launches of parallel workers it plans, without running it';

-- run() guards every launch of parallel workers of any accepted statement.
COMMENT ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) IS
'runs one CREATE TABLE AS, SELECT INTO, CREATE or REFRESH MATERIALIZED VIEW or CREATE INDEX in a background worker; an attempt in which any launch of parallel workers gets fewer than target is rolled back and retried';
