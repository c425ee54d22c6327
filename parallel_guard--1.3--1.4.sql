-- parallel_guard 1.3 -> 1.4: what happened last night, and what to do about it.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.4'" to load this file. \quit

-- run() also returns the run's verdict and its run_id in the history, as
-- two last columns (callers that name columns are unaffected).  A new
-- return type needs DROP and CREATE: the EXECUTE an administrator granted
-- to batch roles is granted again.
DO $update$
DECLARE
  grants text[] := '{}';
  g record;
BEGIN
  FOR g IN
    SELECT a.grantee::pg_catalog.regrole::pg_catalog.text AS grantee, a.is_grantable
    FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
    WHERE p.oid OPERATOR(pg_catalog.=) 'parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval)'::pg_catalog.regprocedure
      AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
      AND a.grantee OPERATOR(pg_catalog.<>) 0
      AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
  LOOP
    grants := grants OPERATOR(pg_catalog.||) pg_catalog.format(
      'GRANT EXECUTE ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) TO %s%s',
      g.grantee, CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  DROP FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval);
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
  REVOKE EXECUTE ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) FROM PUBLIC;
  FOR i IN 1 .. pg_catalog.cardinality(grants) LOOP
    EXECUTE grants[i];
  END LOOP;
END
$update$;

COMMENT ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) IS
'runs one CREATE TABLE AS, SELECT INTO, CREATE or REFRESH MATERIALIZED VIEW or CREATE INDEX in a background worker; an attempt in which any launch of parallel workers gets fewer than target is rolled back and retried';

-- The stats count not_run and not_guarded runs in columns of their own, at
-- the end (a committed not_run run was counted as an error before).
DROP VIEW parallel_guard.stats;
DROP FUNCTION parallel_guard.stats_status();

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

-- Readable by every role (counts only, no statement text).
REVOKE ALL ON FUNCTION parallel_guard.stats_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parallel_guard.stats_status() TO PUBLIC;
GRANT SELECT ON parallel_guard.stats TO PUBLIC;

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

-- The launches: readable by every role (others' labels hidden).
GRANT EXECUTE ON FUNCTION parallel_guard.history_launches_status() TO PUBLIC;
REVOKE ALL ON FUNCTION parallel_guard.history_launches_status() FROM pg_read_all_stats;
GRANT SELECT ON parallel_guard.history_launches TO PUBLIC;
REVOKE ALL ON parallel_guard.history_launches FROM pg_read_all_stats;

-- The queue: priorities (parallel_guard.priority), and per run its statement,
-- application_name, guard worker pid and time waited (new columns at the end).
DROP VIEW parallel_guard.queue;
DROP FUNCTION parallel_guard.queue_status();

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

CREATE VIEW parallel_guard.queue AS
    SELECT * FROM parallel_guard.queue_status() ORDER BY waiting_since;

GRANT SELECT ON parallel_guard.queue TO PUBLIC;
