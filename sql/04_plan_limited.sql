-- The plan itself asks for fewer workers than target: retrying cannot help,
-- so the guard says so on the first attempt and does not retry.
\set VERBOSITY terse
CREATE TABLE mid AS SELECT g AS k FROM generate_series(1, 50000) AS g;
ALTER TABLE mid SET (parallel_workers = 2);
ANALYZE mid;
-- Planned 2 >= min 2: accepted at once, target_met false.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run(
  'CREATE TABLE p1 AS SELECT count(*) FROM mid',
  target => 4, min => 2, retries => 5, delay => '1 hour');
-- Planned 2 < min 3: an error at once, not after 5 attempts.
SET client_min_messages = warning;
\set VERBOSITY default
SELECT * FROM parallel_guard.run(
  'CREATE TABLE p2 AS SELECT count(*) FROM mid',
  target => 4, min => 3, retries => 5, delay => '1 hour');
RESET client_min_messages;
\set VERBOSITY terse
SELECT to_regclass('p2') IS NULL AS no_table;
-- No parallel plan at all (a parallel-unsafe function): planned 0.
CREATE FUNCTION unsafe_id(int) RETURNS int LANGUAGE sql PARALLEL UNSAFE AS 'SELECT $1';
SELECT * FROM parallel_guard.run(
  'CREATE TABLE p3 AS SELECT unsafe_id(k) FROM big WHERE k <= 3',
  target => 4, min => 1, retries => 5, delay => '1 hour');
SELECT to_regclass('p3') IS NULL AS no_table;
-- ... accepted when min is 0.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run(
  'CREATE TABLE p4 AS SELECT unsafe_id(k) FROM big WHERE k <= 3',
  target => 4, min => 0, retries => 5, delay => '1 hour');
SELECT count(*) FROM p4;
