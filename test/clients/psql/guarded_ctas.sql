-- test/clients/psql/guarded_ctas.sql: a nightly CREATE TABLE AS, guarded.
--
-- Run by run.sh next to it (which turns the error into an exit code), or by
-- hand:
--   psql -X -v target_table=daily_summary -f guarded_ctas.sql
--   psql -X -v target_table=daily_summary -v force_shortfall=1 -f guarded_ctas.sql
--   psql -X -v target_table=daily_summary -v force_plan_too_small=1 -f guarded_ctas.sql
-- Connection settings come from the usual PGHOST, PGPORT, PGUSER, PGDATABASE.
-- The caller needs EXECUTE on parallel_guard.run() (a superuser has it).
--
-- ON_ERROR_STOP makes psql stop at the first error and exit with code 3, so
-- a guard that cannot get its workers (SQLSTATE 53000, worth retrying later)
-- or whose plan asks for fewer than min (SQLSTATE 55000, not) fails the job.
\set ON_ERROR_STOP 1
-- VERBOSITY verbose prints the SQLSTATE: "ERROR:  53000: only 1 parallel ..."
\set VERBOSITY verbose
\if :{?target_table}
\else
  \set target_table daily_summary_psql
\endif
\if :{?force_shortfall}
\else
  \set force_shortfall 0
\endif
\if :{?force_plan_too_small}
\else
  \set force_plan_too_small 0
\endif

-- The sample source: 200k rows whose scans are planned with 4 workers (1 to
-- simulate a plan that asks for fewer than min: SQLSTATE 55000).
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS client_demo_src AS
  SELECT g AS k, g % 10 AS grp, md5(g::text) AS payload
  FROM generate_series(1, 200000) AS g;
\if :force_plan_too_small
  ALTER TABLE client_demo_src SET (parallel_workers = 1);
\else
  ALTER TABLE client_demo_src SET (parallel_workers = 4);
\endif
ANALYZE client_demo_src;
-- run() commits on its own: today's table is built under a new name and
-- replaces yesterday's only once it is there, so a failed night keeps
-- yesterday's table.  A _new left by a swap that never ran is ours to drop.
\set new_table :target_table '_new'
DROP TABLE IF EXISTS :"new_table";
RESET client_min_messages;

-- Plan in parallel even for this small table.  The guarded statement runs
-- with the caller's settings.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;

\if :force_shortfall
  -- Simulate a busy pool: this session may use one parallel worker only, and
  -- the single attempt needs two.  The guard fails with SQLSTATE 53000.
  SET max_parallel_workers = 1;
  \set min 2
  \set retries 1
\else
  \set min 2
  \set retries 5
\endif

-- run_id is NULL without the library in shared_preload_libraries (no history).
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       coalesce(run_id::text, '') AS run_id
FROM parallel_guard.run(
       format('CREATE TABLE %I AS SELECT k, grp, payload FROM client_demo_src WHERE k %% 2 = 0',
              :'new_table'),
       target => 4, min => :min, retries => :retries, delay => '2 seconds')
\gset

-- Today's table replaces yesterday's in one transaction.
BEGIN;
DROP TABLE IF EXISTS :"target_table";
ALTER TABLE :"new_table" RENAME TO :"target_table";
COMMIT;

\echo guarded_ctas (psql): table=:target_table achieved_workers=:achieved_workers attempts=:attempts target_met=:target_met planned_workers=:planned_workers row_count=:row_count verdict=:verdict run_id=:run_id
