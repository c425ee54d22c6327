-- The worker commits on its own transaction.
\set VERBOSITY terse
-- Inside a transaction block: a NOTICE, and the caller's ROLLBACK does not
-- remove the table.
BEGIN;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE tx1 AS SELECT k FROM big WHERE k <= 5', target => 1, min => 0, retries => 1);
ROLLBACK;
SELECT count(*) AS tx1_rows_after_rollback FROM tx1;
-- REPEATABLE READ: a WARNING, and the caller's older snapshot sees no rows.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS snapshot_taken FROM big;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE tx2 AS SELECT k FROM big WHERE k <= 5', target => 1, min => 0, retries => 1);
SELECT count(*) AS tx2_rows_in_old_snapshot FROM tx2;
COMMIT;
SELECT count(*) AS tx2_rows_after_commit FROM tx2;
-- SERIALIZABLE likewise.
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE tx3 AS SELECT k FROM big WHERE k <= 5', target => 1, min => 0, retries => 1);
COMMIT;
SELECT count(*) AS tx3_rows FROM tx3;
-- Autocommit at READ COMMITTED: neither.
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE tx4 AS SELECT k FROM big WHERE k <= 5', target => 1, min => 0, retries => 1);
-- A shortfall error inside a transaction block aborts only the caller's
-- transaction; nothing was committed.
BEGIN;
SET LOCAL max_parallel_workers = 0;
SELECT * FROM parallel_guard.run(
  'CREATE TABLE tx5 AS SELECT k FROM big', target => 2, min => 1, retries => 1);
ROLLBACK;
SELECT to_regclass('tx5') IS NULL AS tx5_absent;
-- Inside a savepoint (psql's ON_ERROR_ROLLBACK and pgjdbc's autosave put
-- every statement in one): the same NOTICE, and ROLLBACK TO SAVEPOINT does
-- not remove the table either.
BEGIN;
SAVEPOINT s;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE tx6 AS SELECT k FROM big WHERE k <= 5', target => 1, min => 0, retries => 1);
ROLLBACK TO SAVEPOINT s;
ROLLBACK;
SELECT count(*) AS tx6_rows_after_rollback FROM tx6;
