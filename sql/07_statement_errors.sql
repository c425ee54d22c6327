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
-- Where the plain statement fails for several reasons, the guarded one
-- fails for the same one, with the same SQLSTATE: an existing name is
-- checked by the statement itself, in PostgreSQL's own order.
SET client_min_messages = warning;
CREATE TABLE r (s int);
CREATE INDEX r_idx ON r (s);
CREATE TABLE r_copy AS SELECT 1 AS one;
CREATE FUNCTION plain_and_guarded(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plain text; guarded text;
BEGIN
  BEGIN EXECUTE stmt; plain := '00000';
  EXCEPTION WHEN OTHERS THEN plain := SQLSTATE; END;
  BEGIN PERFORM * FROM parallel_guard.run(stmt, target => 1, min => 0, retries => 1); guarded := '00000';
  EXCEPTION WHEN OTHERS THEN guarded := SQLSTATE; END;
  RETURN format('plain %s, guarded %s', plain, guarded);
END $$;
SELECT plain_and_guarded('CREATE INDEX r_idx ON r (s) WITH (not_existing_option = 2)');
SELECT plain_and_guarded('CREATE TABLE r_copy AS SELECT no_such_column FROM big');
SELECT plain_and_guarded('CREATE MATERIALIZED VIEW r_copy AS SELECT k FROM no_such_table');
SELECT plain_and_guarded('CREATE INDEX r_idx ON r (no_such_column)');
SELECT plain_and_guarded('CREATE TABLE r_copy AS SELECT 2 AS two');
RESET client_min_messages;
