-- test/clients/psql/as_written.sql: a nightly CREATE TABLE AS, guarded as
-- written.
--
-- Run by run.sh next to it (run.sh --as-written [TABLE], which turns the
-- error into an exit code), or by hand:
--   PGUSER=batch_role psql -X -v target_table=daily_summary -f as_written.sql
-- Plain SQL: no parallel_guard.run(), no SET.  The guard comes from the
-- role's settings (../as_written_setup.sql: ALTER ROLE batch_role SET
-- parallel_guard.target = 4).  The job's own transaction drops yesterday's
-- table and creates today's; when the guard fails (SQLSTATE 53000 or 55000),
-- ON_ERROR_STOP ends psql (exit code 3) before COMMIT, the transaction
-- rolls back and yesterday's table stays.
\set ON_ERROR_STOP 1
-- VERBOSITY verbose prints the SQLSTATE: "ERROR:  53000: only 1 parallel ..."
\set VERBOSITY verbose
\if :{?target_table}
\else
  \set target_table daily_summary_psql
\endif

BEGIN;
DROP TABLE IF EXISTS :"target_table";
CREATE TABLE :"target_table" AS
  SELECT k, grp, payload FROM client_demo_src WHERE k % 2 = 0;
-- the tag "SELECT n": n rows
\set rows :ROW_COUNT
COMMIT;

\echo guarded_as_written (psql): table=:target_table rows=:rows
