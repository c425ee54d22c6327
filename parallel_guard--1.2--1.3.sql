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

-- Guarded statements, the queue, the history and the stats need the library
-- loaded when each session starts; say so now rather than let a setting
-- such as parallel_guard.target do nothing.
DO $$
BEGIN
  IF NOT EXISTS (
      SELECT FROM pg_catalog.unnest(pg_catalog.string_to_array(
               pg_catalog.current_setting('shared_preload_libraries') OPERATOR(pg_catalog.||) ','
               OPERATOR(pg_catalog.||) pg_catalog.current_setting('session_preload_libraries'),
               ',')) AS l(name)
      WHERE pg_catalog.btrim(l.name) OPERATOR(pg_catalog.=)
            ANY (ARRAY['parallel_guard', '$libdir/parallel_guard']))
  THEN
    RAISE WARNING 'parallel_guard is not in shared_preload_libraries'
      USING DETAIL = 'Without it, guarded runs do not queue, the history and the stats stay empty, '
                     'and parallel_guard.target guards nothing in a session that has not loaded '
                     'the library.',
            HINT = 'Add parallel_guard to shared_preload_libraries and restart the server.';
  END IF;
END $$;
