-- parallel_guard 1.5: install script (a fresh install; an installed 1.0 to
-- 1.4 is updated by parallel_guard--1.0--1.1.sql, ..., parallel_guard--1.4--1.5.sql,
-- whose result 15_upgrade compares with this one)
\echo Use "CREATE EXTENSION parallel_guard" to load this file. \quit

-- The control file puts every object into schema parallel_guard.  CREATE
-- EXTENSION makes that schema for the installing role, or takes one that
-- exists: refuse a schema another role owns (a database owner could create
-- it before a superuser installs the extension, and would then own the
-- schema the functions of a superuser's extension live in).
DO $$
BEGIN
    IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'parallel_guard')
       IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
    THEN
        RAISE EXCEPTION 'schema "parallel_guard" is not owned by the role installing the extension'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It is owned by role %s; the extension''s functions would live in a schema another role controls.',
                      (SELECT n.nspowner::pg_catalog.regrole FROM pg_catalog.pg_namespace n WHERE n.nspname = 'parallel_guard')),
                  HINT = 'Drop or rename that schema, or create the extension as its owner.';
    END IF;
END
$$;

-- Every name is schema-qualified, so a hostile search_path at install time
-- cannot substitute a type.
CREATE FUNCTION parallel_guard.run(
    sql pg_catalog.text,
    target pg_catalog.int4 DEFAULT 4,
    min pg_catalog.int4 DEFAULT 2,
    retries pg_catalog.int4 DEFAULT 5,
    delay pg_catalog.interval DEFAULT '2 seconds')
RETURNS TABLE (
    achieved_workers pg_catalog.int4,
    attempts pg_catalog.int4,
    target_met pg_catalog.bool,
    planned_workers pg_catalog.int4,
    row_count pg_catalog.int8,
    verdict pg_catalog.text,
    run_id pg_catalog.int8)
AS 'MODULE_PATHNAME', 'parallel_guard_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- No SET search_path clause on purpose: the statement must see the caller's
-- search_path, and the C code resolves no name through it.

COMMENT ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) IS
'runs one CREATE TABLE AS, SELECT INTO, CREATE or REFRESH MATERIALIZED VIEW or CREATE INDEX in a background worker; an attempt in which any launch of parallel workers gets fewer than target is rolled back and retried';

-- Who may call run(): each call occupies a background worker slot and up to
-- `target` parallel workers, so it is not granted to PUBLIC.  The schema is
-- usable by everyone; an administrator grants EXECUTE to the batch roles:
--   GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO batch_role;
GRANT USAGE ON SCHEMA parallel_guard TO PUBLIC;
REVOKE EXECUTE ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) FROM PUBLIC;

-- The queue of guarded runs (needs parallel_guard in shared_preload_libraries;
-- an error otherwise), with the workers each run holds reserved, its priority,
-- statement, application_name, guard worker and time waited.  Like
-- pg_stat_activity, readable by everyone; another role's statement and
-- application_name only with the privileges of pg_read_all_stats.
CREATE FUNCTION parallel_guard.queue_status(
    OUT pid pg_catalog.int4,
    OUT database pg_catalog.text,
    OUT usename pg_catalog.text,
    OUT queue_position pg_catalog.int4,
    OUT target pg_catalog.int4,
    OUT workers_held pg_catalog.int4,
    OUT attempt pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT waiting_since pg_catalog.timestamptz,
    OUT reserved_workers pg_catalog.int4,
    OUT priority pg_catalog.int4,
    OUT effective_priority pg_catalog.int4,
    OUT statement pg_catalog.text,
    OUT application_name pg_catalog.text,
    OUT worker_pid pg_catalog.int4,
    OUT waited pg_catalog.interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_queue'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.queue_status() IS
'guarded runs now waiting for parallel workers or running, by priority, then first come first served';

-- In the order runs are served: the runs admitted or between two attempts
-- (no queue_position) first, then the waiting ones by queue_position.
CREATE VIEW parallel_guard.queue AS
    SELECT * FROM parallel_guard.queue_status()
    ORDER BY queue_position NULLS FIRST, waiting_since;

GRANT SELECT ON parallel_guard.queue TO PUBLIC;

-- The history of recent guarded runs.
-- Kept in shared memory (parallel_guard.history_size entries; needs
-- parallel_guard in shared_preload_libraries, an error otherwise) and saved
-- under pg_stat/, so that it survives restarts and crashes.  statement is
-- the whole text (up to parallel_guard.history_statement_size bytes).
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

CREATE FUNCTION parallel_guard.history_reset()
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'parallel_guard_history_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.history_reset() IS
'forgets every run kept in the history';

-- Readable by every role, as pg_stat_statements is: the texts of other
-- roles' runs (statement, application_name, launch sites, query_id) are
-- hidden unless the reader is a superuser or has the privileges of
-- pg_read_all_stats.  Clearing it is for superusers.
REVOKE ALL ON FUNCTION parallel_guard.history_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.history_status() TO PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.history_reset() FROM PUBLIC;
GRANT SELECT ON parallel_guard.history TO PUBLIC;

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
GRANT EXECUTE ON FUNCTION parallel_guard.history_launches_status() TO PUBLIC;
GRANT SELECT ON parallel_guard.history_launches TO PUBLIC;

-- A dry run: plans the statement as run() would (this session's settings,
-- the worker settings raised to target) and lists every place that will
-- launch parallel workers, without running it (when_launched: once, at
-- every rescan, when they run).  It takes no worker, so it is not
-- restricted like run().
CREATE FUNCTION parallel_guard.explain(
    sql pg_catalog.text,
    target pg_catalog.int4 DEFAULT 4)
RETURNS TABLE (
    node pg_catalog.text,
    planned_workers pg_catalog.int4,
    counted pg_catalog.text,
    when_launched pg_catalog.text)
AS 'MODULE_PATHNAME', 'parallel_guard_explain'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION parallel_guard.explain(pg_catalog.text, pg_catalog.int4) IS
'plans a statement as parallel_guard.run() would and lists the launches of parallel workers it plans, without running it';

-- Cumulative statistics per database and role (needs parallel_guard in
-- shared_preload_libraries; an error otherwise), saved under pg_stat/ like
-- the history, until parallel_guard.stats_reset().
CREATE FUNCTION parallel_guard.stats_status(
    OUT database pg_catalog.text,
    OUT usename pg_catalog.text,
    OUT runs_met pg_catalog.int8,
    OUT runs_plan_limited pg_catalog.int8,
    OUT runs_accepted_short pg_catalog.int8,
    OUT runs_below_min pg_catalog.int8,
    OUT runs_plan_too_small pg_catalog.int8,
    OUT runs_error pg_catalog.int8,
    OUT runs_cancelled pg_catalog.int8,
    OUT attempts pg_catalog.int8,
    OUT short_attempts pg_catalog.int8,
    OUT queued_ms pg_catalog.float8,
    OUT ordinary_launches_held_back pg_catalog.int8,
    OUT ordinary_workers_withheld pg_catalog.int8,
    OUT stats_reset pg_catalog.timestamptz,
    OUT runs_not_run pg_catalog.int8,
    OUT runs_not_guarded pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.stats_status() IS
'cumulative counts of guarded runs and of ordinary parallel launches held back, per database and role';

CREATE VIEW parallel_guard.stats AS
    SELECT * FROM parallel_guard.stats_status();

CREATE FUNCTION parallel_guard.stats_reset()
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'parallel_guard_stats_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.stats_reset() IS
'sets every counter of parallel_guard.stats back to zero';

-- Readable by every role (counts only, no statement text); resetting is
-- for superusers.
REVOKE ALL ON FUNCTION parallel_guard.stats_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.stats_status() TO PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.stats_reset() FROM PUBLIC;
GRANT SELECT ON parallel_guard.stats TO PUBLIC;

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
    RAISE WARNING 'parallel_guard is not in "shared_preload_libraries"'
      USING DETAIL = 'Without it, guarded runs neither queue nor leave a history, the views queue, history and stats raise an error, '
                     'and parallel_guard.target guards nothing in a session that has not loaded '
                     'the library.',
            HINT = 'Add parallel_guard to "shared_preload_libraries" and restart the server.';
  END IF;
END $$;
