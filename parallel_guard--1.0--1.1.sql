-- parallel_guard 1.0 -> 1.1: the history of recent guarded runs
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.1'" to load this file. \quit

-- Kept in shared memory (parallel_guard.history_size entries; needs
-- parallel_guard in shared_preload_libraries, empty otherwise).
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
    OUT row_count pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_history'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_status() IS
'the outcome of recent guarded runs, newest last';

CREATE VIEW parallel_guard.history AS
    SELECT * FROM parallel_guard.history_status() ORDER BY run_id;

CREATE FUNCTION parallel_guard.history_reset()
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'parallel_guard_history_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_reset() IS
'forgets every run kept in the history';

-- Statement texts of every user: readable as pg_stat_statements' are, by
-- superusers and pg_read_all_stats; clearing it is for superusers.
REVOKE ALL ON FUNCTION parallel_guard.history_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.history_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.history_status() TO pg_read_all_stats;
GRANT SELECT ON parallel_guard.history TO pg_read_all_stats;
