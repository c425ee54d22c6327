-- The last attempt below min: SQLSTATE 53000, a DETAIL listing every
-- attempt, and nothing left behind.
SET max_parallel_workers = 1;
\set VERBOSITY terse
\set ON_ERROR_STOP 0
SELECT * FROM parallel_guard.run(
  'CREATE TABLE low AS SELECT grp, count(*) FROM big GROUP BY grp',
  target => 4, min => 2, retries => 2, delay => '0');
-- The error in full (the attempts' NOTICEs carry timings: hide them).
SET client_min_messages = warning;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT * FROM parallel_guard.run(
  'CREATE TABLE low AS SELECT grp, count(*) FROM big GROUP BY grp',
  target => 3, min => 2, retries => 3, delay => '0');
RESET client_min_messages;
\set VERBOSITY terse
-- Rolled back, never dropped: the table does not exist.
SELECT to_regclass('low') IS NULL AS no_table;
-- Caught by SQLSTATE, as a batch script would.
DO $$
BEGIN
  PERFORM * FROM parallel_guard.run('CREATE TABLE low AS SELECT * FROM big', 4, 2, 1, '0');
EXCEPTION WHEN insufficient_resources THEN
  RAISE NOTICE 'caught %', SQLSTATE;
END $$;
SELECT to_regclass('low') IS NULL AS no_table;
