-- parallel_guard 1.2 -> 1.3: statements guarded as written.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.3'" to load this file. \quit

-- With the setting parallel_guard.target above 0, the session's own CREATE
-- TABLE AS, SELECT INTO, materialized views and CREATE INDEX are guarded in
-- its own transaction (no new SQL object: the settings come with the
-- library).  The history says how each run was started: 'run()' or
-- 'parallel_guard.target'.
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
    OUT guarded_by pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_history'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_status() IS
'the outcome of recent guarded runs, newest last';

CREATE VIEW parallel_guard.history AS
    SELECT * FROM parallel_guard.history_status() ORDER BY run_id;

REVOKE ALL ON FUNCTION parallel_guard.history_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.history_status() TO pg_read_all_stats;
GRANT SELECT ON parallel_guard.history TO pg_read_all_stats;
