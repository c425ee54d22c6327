-- One list of verdicts: run()'s result (verdict, run_id), the history and
-- the stats count every run as what it is; a permanent shortfall (the plan
-- asks for fewer than min) is SQLSTATE 55000, a transient one 53000.
\set VERBOSITY terse
SET parallel_guard.delay = 0;
CREATE FUNCTION pg_temp.my_stats() RETURNS SETOF parallel_guard.stats
LANGUAGE sql AS $$
  SELECT * FROM parallel_guard.stats WHERE database = current_database() AND usename = current_user
$$;
-- The counters' changes since the last snapshot, by column.
CREATE TEMP TABLE snap AS SELECT * FROM pg_temp.my_stats();
CREATE FUNCTION pg_temp.changes() RETURNS TABLE (counter text, change numeric)
LANGUAGE sql AS $$
  WITH now AS (SELECT * FROM pg_temp.my_stats()),
  pairs(counter, after, before) AS (
    SELECT c, (SELECT to_jsonb(n) FROM now n) ->> c, (SELECT to_jsonb(s) FROM snap s) ->> c
    FROM unnest(ARRAY['runs_met', 'runs_plan_limited', 'runs_accepted_short', 'runs_below_min',
                      'runs_plan_too_small', 'runs_error', 'runs_cancelled', 'runs_not_run',
                      'runs_not_guarded', 'attempts', 'short_attempts']) AS c)
  SELECT counter, after::numeric - coalesce(before::numeric, 0) FROM pairs
  WHERE after::numeric IS DISTINCT FROM coalesce(before::numeric, 0)
$$;
CREATE FUNCTION pg_temp.take_snapshot() RETURNS void LANGUAGE sql AS $$
  DELETE FROM snap; INSERT INTO snap SELECT * FROM pg_temp.my_stats();
$$;
-- run()'s verdict and run_id are the history's.
SELECT verdict, run_id AS met_id FROM parallel_guard.run(
  'CREATE TABLE v_met AS SELECT k FROM big WHERE k <= 10', target => 4, min => 2, retries => 1)
\gset
SELECT :'verdict' AS verdict, h.verdict AS history_verdict, h.run_id = :met_id AS same_run
FROM parallel_guard.history h WHERE h.run_id = :met_id;
SELECT * FROM pg_temp.changes() ORDER BY 1;
SELECT pg_temp.take_snapshot();
-- An accepted_short attempt launched fewer than target: a short attempt.
SET max_parallel_workers = 2;
SELECT verdict, run_id AS short_id FROM parallel_guard.run(
  'CREATE TABLE v_short AS SELECT k FROM big WHERE k <= 10', target => 4, min => 2, retries => 1)
\gset
SELECT :'verdict' AS verdict, h.verdict AS history_verdict FROM parallel_guard.history h
WHERE h.run_id = :short_id;
SELECT * FROM pg_temp.changes() ORDER BY 1;
SELECT pg_temp.take_snapshot();
RESET max_parallel_workers;
-- Guarded as written: a committed not_run (CREATE TABLE IF NOT EXISTS finds
-- the table) is not an error, and CREATE INDEX CONCURRENTLY is not_guarded.
SET parallel_guard.target = 4;
CREATE TABLE IF NOT EXISTS v_met AS SELECT k FROM big;
CREATE INDEX CONCURRENTLY v_met_k ON v_met (k);
RESET parallel_guard.target;
SELECT verdict, sqlstate FROM parallel_guard.history WHERE run_id > :short_id ORDER BY run_id;
SELECT * FROM pg_temp.changes() ORDER BY 1;
SELECT pg_temp.take_snapshot();
-- The plan asks for fewer than min: 55000 (waiting cannot help), by run()
-- and as written; below min on the last attempt: 53000.
CREATE TABLE v_two AS SELECT g AS k FROM generate_series(1, 50000) AS g;
ALTER TABLE v_two SET (parallel_workers = 2);
ANALYZE v_two;
DO $$
BEGIN
  PERFORM * FROM parallel_guard.run('CREATE TABLE v_p AS SELECT count(*) FROM v_two', 4, 3, 5, '1 hour');
EXCEPTION
  WHEN insufficient_resources THEN RAISE NOTICE 'run(): caught % (transient)', SQLSTATE;
  WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'run(): caught % (permanent)', SQLSTATE;
END $$;
SET parallel_guard.target = 4;
SET parallel_guard.min = 3;
DO $$
BEGIN
  CREATE TABLE v_p AS SELECT count(*) FROM v_two;
EXCEPTION
  WHEN insufficient_resources THEN RAISE NOTICE 'as written: caught % (transient)', SQLSTATE;
  WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'as written: caught % (permanent)', SQLSTATE;
END $$;
RESET parallel_guard.target;
RESET parallel_guard.min;
SET max_parallel_workers = 1;
DO $$
BEGIN
  PERFORM * FROM parallel_guard.run('CREATE TABLE v_p AS SELECT count(*) FROM big', 4, 2, 1, '0');
EXCEPTION
  WHEN insufficient_resources THEN RAISE NOTICE 'run(): caught % (transient)', SQLSTATE;
  WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'run(): caught % (permanent)', SQLSTATE;
END $$;
RESET max_parallel_workers;
SELECT verdict, sqlstate, guarded_by FROM parallel_guard.history
WHERE run_id > :short_id AND verdict IN ('plan_too_small', 'below_min') ORDER BY run_id;
SELECT * FROM pg_temp.changes() ORDER BY 1;
SELECT pg_temp.take_snapshot();
-- A run cancelled (statement_timeout) before its verdict or after: cancelled,
-- and its attempt counted (its NOTICE may come before the cancel or not).
SET client_min_messages = warning;
SET statement_timeout = '300ms';
SELECT * FROM parallel_guard.run(
  'CREATE TABLE v_slow AS SELECT k FROM big WHERE k = 1 AND pg_sleep(3) IS NOT NULL',
  target => 4, min => 2, retries => 1);
RESET statement_timeout;
RESET client_min_messages;
SELECT verdict, sqlstate FROM parallel_guard.history WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history);
SELECT * FROM pg_temp.changes() ORDER BY 1;
SELECT to_regclass('v_slow') IS NULL AS no_table;
-- The update to 1.4 recreates run() (its result has two more columns): the
-- EXECUTE granted to batch roles survives it.
DROP FUNCTION pg_temp.changes(), pg_temp.take_snapshot(), pg_temp.my_stats();
DROP EXTENSION parallel_guard;
CREATE EXTENSION parallel_guard VERSION '1.3';
CREATE ROLE v_batch;
CREATE ROLE "v Batch";
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO v_batch;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO "v Batch" WITH GRANT OPTION;
ALTER EXTENSION parallel_guard UPDATE TO '1.4';
SELECT a.grantee::regrole AS grantee, a.is_grantable
FROM pg_proc p, aclexplode(p.proacl) a
WHERE p.oid = 'parallel_guard.run'::regproc AND a.grantee <> p.proowner ORDER BY a.is_grantable;
SELECT pg_get_function_result('parallel_guard.run'::regproc);
DROP EXTENSION parallel_guard;
DROP ROLE v_batch;
DROP ROLE "v Batch";
CREATE EXTENSION parallel_guard;
