-- The outcome of recent guarded runs, kept in shared memory (and saved under
-- pg_stat/: t/170_durable_history.pl restarts the server).
\set VERBOSITY terse
\set SHOW_CONTEXT never
SELECT parallel_guard.history_reset();
SELECT count(*) FROM parallel_guard.history;
SET application_name = 'regress_14_history';
SELECT achieved_workers FROM parallel_guard.run(
  E'CREATE TABLE h1 AS\n  SELECT k FROM big WHERE k <= 100', target => 4, min => 2, retries => 2, delay => '0');
SET max_parallel_workers = 2;
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE h2 AS SELECT k FROM big WHERE k <= 100', target => 4, min => 2, retries => 3, delay => '0');
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE h3 AS SELECT k FROM big WHERE k <= 100', target => 4, min => 3, retries => 2, delay => '0');
RESET max_parallel_workers;
-- The statement's error comes in the leader 0.2 s after the launch (above
-- the Gather), so its attempt has had its verdict by then on any server.
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE h4 AS SELECT count(*) / length(pg_sleep(0.2)::text) FROM big', target => 1, min => 0, retries => 1);
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE INDEX big_h_idx ON big (k)', target => 4, min => 0, retries => 1);
DROP INDEX big_h_idx;
SELECT run_id > 0 AS has_id, ended >= started AS ordered, pid = pg_backend_pid() AS same_pid,
       database = current_database() AS same_db, usename = current_user AS same_user,
       statement_kind, statement, target, min, retries, attempts, planned, launched,
       achieved_workers, verdict, sqlstate, row_count,
       application_name, query_id IS NULL AS no_query_id
FROM parallel_guard.history ORDER BY run_id;
RESET application_name;
-- Readable by every role; the texts of another role's runs are hidden unless
-- the reader has the privileges of pg_read_all_stats.  Cleared by superusers
-- only.
CREATE ROLE regress_pg_stats IN ROLE pg_read_all_stats;
CREATE ROLE regress_pg_nobody;
SET ROLE regress_pg_stats;
SELECT count(*), count(*) FILTER (WHERE statement LIKE 'CREATE%') AS texts
FROM parallel_guard.history;
SELECT parallel_guard.history_reset();
SET ROLE regress_pg_nobody;
SELECT DISTINCT statement, application_name, query_id FROM parallel_guard.history;
SELECT DISTINCT node FROM parallel_guard.history_launches;
SELECT count(*) > 0 AS stats_rows FROM parallel_guard.stats;
SELECT parallel_guard.stats_reset();
RESET ROLE;
DROP ROLE regress_pg_stats, regress_pg_nobody;
SELECT parallel_guard.history_reset();
SELECT count(*) FROM parallel_guard.history;
