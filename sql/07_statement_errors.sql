-- Errors and notices raised by the statement itself reach the caller with
-- their own SQLSTATE and text, and nothing is left behind.
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
-- The attempt's own NOTICE may or may not come before the error: hide it.
SET client_min_messages = warning;
SELECT * FROM parallel_guard.run('CREATE TABLE e1 AS SELECT k / (k - k) FROM big');
SELECT * FROM parallel_guard.run('CREATE TABLE e2 AS SELECT * FROM no_such_table');
SELECT * FROM parallel_guard.run('CREATE TABLE e3 AS SELECT no_such_column FROM big');
SELECT to_regclass('e1') IS NULL AND to_regclass('e2') IS NULL AND to_regclass('e3') IS NULL
  AS nothing_left;
DO $$
BEGIN
  PERFORM * FROM parallel_guard.run('CREATE TABLE e4 AS SELECT k / 0 FROM big');
EXCEPTION WHEN division_by_zero THEN
  RAISE WARNING 'caught % (%)', SQLSTATE, SQLERRM;
END $$;
-- A WARNING raised by the statement is relayed to the caller (WARNING, so
-- that client_min_messages hides the attempt's own NOTICE, whose order
-- relative to the statement's messages is not fixed).
CREATE FUNCTION say_hello() RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN RAISE WARNING 'hello from the guarded statement'; RETURN 1; END $$;
\set VERBOSITY terse
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE n1 AS SELECT say_hello() AS x', target => 1, min => 0, retries => 1);
RESET client_min_messages;
