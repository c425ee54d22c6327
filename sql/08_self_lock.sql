-- A caller that holds a lock the statement needs would wait for itself
-- forever; the watcher sees its worker blocked by its own caller and fails
-- the call at once instead of hanging, with SQLSTATE 55000: not 40P01,
-- which frameworks retry, since a retry of the same transaction closes the
-- same cycle.
\set VERBOSITY terse
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
BEGIN;
LOCK TABLE big IN ACCESS EXCLUSIVE MODE;
SELECT * FROM parallel_guard.run('CREATE TABLE self_locked AS SELECT count(*) FROM big');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
LOCK TABLE big IN SHARE MODE;  -- does not conflict with reading: runs
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE share_locked AS SELECT count(*) FROM big', target => 1, min => 1, retries => 1)
  \gset
\echo :achieved_workers :row_count
COMMIT;
SELECT to_regclass('self_locked') IS NULL AS not_created, count(*) AS share_locked_rows FROM share_locked;
-- The caller's lock_timeout is honoured by the worker.
BEGIN;
LOCK TABLE big IN ACCESS EXCLUSIVE MODE;
SET LOCAL lock_timeout = '10ms';
SELECT * FROM parallel_guard.run('CREATE TABLE lock_timed_out AS SELECT count(*) FROM big');
ROLLBACK;
-- Nothing the calls started holds a lock (only their backends and big are
-- looked at: autovacuum may lock other tables meanwhile).
SELECT count(*) FROM pg_locks
WHERE pid <> pg_backend_pid()
  AND (relation = 'big'::regclass
       OR pid IN (SELECT pid FROM pg_stat_activity
                  WHERE backend_type IN ('parallel_guard', 'parallel worker')));
