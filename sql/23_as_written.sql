-- Statements guarded as written: parallel_guard.target guards the session's
-- own CREATE TABLE AS, SELECT INTO, materialized views and CREATE INDEX, in
-- its own transaction, returning the plain command tag.
\set VERBOSITY terse
SET parallel_guard.delay = 0;
-- At 0 (the default) nothing is guarded: no NOTICE, no history row.
SELECT parallel_guard.history_reset();
CREATE TABLE aw_plain AS SELECT grp, count(*) FROM big GROUP BY grp;
SELECT count(*) AS guarded FROM parallel_guard.history;
CREATE TABLE aw_daily AS SELECT 'yesterday'::text AS v;
SET parallel_guard.target = 4;
-- The command tag and row count of the plain statement.
CREATE TABLE aw1 AS SELECT grp, count(*) FROM big GROUP BY grp;
SELECT * INTO aw_into FROM big WHERE k <= 1000;
CREATE MATERIALIZED VIEW aw_mv AS SELECT k, grp FROM big;
ALTER MATERIALIZED VIEW aw_mv SET (parallel_workers = 4);
CREATE UNIQUE INDEX aw_mv_k ON aw_mv (k);
REFRESH MATERIALIZED VIEW aw_mv;
REFRESH MATERIALIZED VIEW CONCURRENTLY aw_mv;
CREATE INDEX aw_big_k ON big (k);
DROP INDEX aw_big_k;
-- Not guarded: CREATE INDEX CONCURRENTLY cannot run in a subtransaction.
CREATE INDEX CONCURRENTLY aw_big_grp ON big (grp);
DROP INDEX aw_big_grp;
SELECT statement_kind, attempts, launched, verdict, sqlstate FROM parallel_guard.history ORDER BY run_id;
-- A shortfall is retried and accepted at min, with the rows of the last attempt.
SET max_parallel_workers = 2;
SET parallel_guard.retries = 3;
CREATE TABLE aw2 AS SELECT grp, count(*) FROM big GROUP BY grp;
SELECT count(*) FROM aw2;
-- Below min on the last attempt: 53000, and nothing is left.
SET parallel_guard.min = 3;
CREATE TABLE aw3 AS SELECT grp, count(*) FROM big GROUP BY grp;
SELECT to_regclass('aw3');
CREATE INDEX aw_big_k3 ON big (k);
SELECT to_regclass('aw_big_k3');
-- min set above target: 22023.
SET parallel_guard.min = 5;
CREATE TABLE aw4 AS SELECT 1;
RESET parallel_guard.min;
RESET max_parallel_workers;
-- In the caller's transaction: a later statement reads the table, ROLLBACK
-- removes it, and a failed guard keeps yesterday's table.
BEGIN;
CREATE TABLE aw5 AS SELECT k FROM big WHERE k <= 10;
SELECT count(*) FROM aw5;
ROLLBACK;
SELECT to_regclass('aw5');
SET max_parallel_workers = 1;
BEGIN;
DROP TABLE IF EXISTS aw_daily;
CREATE TABLE aw_daily AS SELECT grp::text AS v FROM big GROUP BY grp;
COMMIT;
SELECT v FROM aw_daily;
RESET max_parallel_workers;
-- The transaction's own rows, temporary tables, and a temporary table that
-- shadows a permanent one are read as by the plain statement.  Temporary
-- tables are never scanned in parallel: with min 0, such a plan is accepted.
-- With min 2 it fails, as the same statement would with run().
CREATE TABLE aw_serial AS SELECT 1 AS one;
SET parallel_guard.min = 0;
CREATE TEMP TABLE aw_tmp AS SELECT k FROM big WHERE k <= 5;
CREATE TABLE aw_shadow (k int);
INSERT INTO aw_shadow VALUES (1);
CREATE TEMP TABLE aw_shadow AS SELECT k FROM big WHERE k <= 3;
BEGIN;
INSERT INTO aw_tmp VALUES (1000000);
CREATE TABLE aw6 AS SELECT count(*) AS n, max(k) AS top FROM aw_tmp;
CREATE TABLE aw7 AS SELECT count(*) AS n FROM aw_shadow;
COMMIT;
SELECT * FROM aw6;
SELECT * FROM aw7;
RESET parallel_guard.min;
-- A prepared statement with parameters, and CREATE TABLE ... AS EXECUTE.
PREPARE aw_q(int) AS SELECT grp, count(*) FROM big WHERE k <= $1 GROUP BY grp;
CREATE TABLE aw8 AS EXECUTE aw_q(5000);
SELECT sum(count) FROM aw8;
-- Inside a PL/pgSQL function (with its parameter), a DO block and a
-- procedure that commits between two guarded statements.
CREATE FUNCTION aw_fn(lim int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  CREATE TABLE aw9 AS SELECT k FROM big WHERE k <= lim;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
SELECT aw_fn(777);
DO $$ BEGIN CREATE TABLE aw10 AS SELECT grp, count(*) FROM big GROUP BY grp; END $$;
CREATE PROCEDURE aw_proc() LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE aw11 AS SELECT grp, count(*) FROM big GROUP BY grp;
  COMMIT;
  CREATE TABLE aw12 AS SELECT grp, count(*) FROM big GROUP BY grp;
END $$;
CALL aw_proc();
SELECT (SELECT count(*) FROM aw9) AS aw9, (SELECT count(*) FROM aw10) AS aw10,
       (SELECT count(*) FROM aw11) AS aw11, (SELECT count(*) FROM aw12) AS aw12;
-- How each run was started.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run('CREATE TABLE aw_run AS SELECT k FROM big WHERE k <= 10',
  target => 4, min => 2, retries => 1);
SELECT statement, guarded_by, pid = pg_backend_pid() AS own_pid, verdict, row_count
  FROM parallel_guard.history
  WHERE statement LIKE '%aw9%' OR statement LIKE '%aw12%' OR statement LIKE '%aw_run%'
  ORDER BY run_id;
-- A role that may not execute parallel_guard.run() gets no guarded statement.
CREATE ROLE aw_nobody;
GRANT CREATE ON SCHEMA public TO aw_nobody;
GRANT SELECT ON big TO aw_nobody;
SET ROLE aw_nobody;
CREATE TABLE aw13 AS SELECT k FROM big WHERE k <= 10;
SET parallel_guard.target = 0;
CREATE TABLE aw13 AS SELECT k FROM big WHERE k <= 10;
RESET ROLE;
DROP TABLE aw13;
REVOKE ALL ON SCHEMA public FROM aw_nobody;
REVOKE ALL ON big FROM aw_nobody;
DROP ROLE aw_nobody;
RESET parallel_guard.target;
RESET parallel_guard.retries;
RESET parallel_guard.delay;
