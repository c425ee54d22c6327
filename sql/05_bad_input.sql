-- Bad input: a clear error with a SQLSTATE, and nothing changes.
-- try_sql() runs one statement and shows the SQLSTATE and message it raised.
CREATE FUNCTION try_sql(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE existing AS SELECT 1 AS x;
-- NULL and empty SQL.
SELECT try_sql($$ SELECT parallel_guard.run(NULL) $$);
SELECT try_sql($$ SELECT parallel_guard.run('') $$);
SELECT try_sql($$ SELECT parallel_guard.run('  -- only a comment') $$);
-- Not exactly one statement of a supported kind (13_statement_kinds has
-- the supported ones).
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a1 AS SELECT 1; CREATE TABLE a2 AS SELECT 2') $$);
SELECT try_sql($$ SELECT parallel_guard.run('SELECT 1') $$);
SELECT try_sql($$ SELECT parallel_guard.run('DROP TABLE existing') $$);
SELECT try_sql($$ SELECT parallel_guard.run('INSERT INTO existing SELECT 2') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a3 (x int)') $$);
SELECT try_sql($$ SELECT parallel_guard.run('UPDATE existing SET x = 2') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE INDEX CONCURRENTLY a5 ON existing (x)') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a6 AS SELECT 1 WITH NO DATA') $$);
PREPARE q AS SELECT 1;
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a7 AS EXECUTE q') $$);
-- Temporary tables: the worker's temporary schema would vanish with it.
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TEMP TABLE a9 AS SELECT 1') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE pg_temp.a10 AS SELECT 1') $$);
-- An existing table is never dropped or touched, IF NOT EXISTS or not.
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE existing AS SELECT 2 AS x') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE IF NOT EXISTS existing AS SELECT 2 AS x') $$);
SELECT * FROM existing;
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE no_such_schema.a11 AS SELECT 1') $$);
-- Arguments out of range.
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', target => 0) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', min => -1) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', target => 2, min => 3) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', retries => 0) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', delay => '-1 s') $$);
-- A delay of a million years in microseconds overflows 64 bits: its sign
-- must not flip (070_fuzz runs the positive ones).
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', delay => '-1000000 years') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', delay => '-178000000 years') $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', target => NULL) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', min => NULL) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', retries => NULL) $$);
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', delay => NULL) $$);
-- A target the server can never reach: max_worker_processes is 16 here and
-- the guard's own worker takes one slot.
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a12 AS SELECT 1', target => 16, min => 1) $$);
-- Read-only transactions are refused.
BEGIN READ ONLY;
SELECT try_sql($$ SELECT parallel_guard.run('CREATE TABLE a13 AS SELECT 1') $$);
ROLLBACK;
-- In full: errors point into the guarded text, with DETAIL and HINT.
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
SELECT * FROM parallel_guard.run('CREATE TABLE a8 AS SELEC 1');
SELECT * FROM parallel_guard.run('CREATE TEMP TABLE a9 AS SELECT 1');
SELECT * FROM parallel_guard.run('CREATE TABLE existing AS SELECT 2 AS x');
SELECT * FROM parallel_guard.run('CREATE TABLE a12 AS SELECT 1', retries => 0);
SELECT * FROM parallel_guard.run('CREATE TABLE a12 AS SELECT 1', target => 16, min => 1);
-- Refusals: a short primary message, the reason in the DETAIL, an action
-- in the HINT; the DETAIL's count agrees with its noun.
SELECT * FROM parallel_guard.run('CREATE TABLE a1 AS SELECT 1; CREATE TABLE a2 AS SELECT 2');
SELECT * FROM parallel_guard.run('SELECT 1');
SELECT * FROM parallel_guard.run('CREATE INDEX CONCURRENTLY a5 ON existing (x)');
SELECT * FROM parallel_guard.run('CREATE TABLE a6 AS SELECT 1 WITH NO DATA');
-- Nothing was created.
SELECT count(*) FROM pg_class WHERE relname ~ '^a[0-9]+$';
