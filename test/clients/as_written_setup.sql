-- test/clients/as_written_setup.sql: what a DBA does once so that a batch
-- role's CREATE TABLE AS statements are guarded as written, with no change
-- to the job's code (GuardedAsWritten.java, guarded_as_written.py,
-- psql/as_written.sql).  Run it as a superuser in the job's database, where
-- the extension is created and the library preloaded
-- (shared_preload_libraries = 'parallel_guard'):
--   psql -X -f as_written_setup.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- The sample source of the examples: 200k rows whose scans get 4 workers.
CREATE TABLE IF NOT EXISTS client_demo_src AS
  SELECT g AS k, g % 10 AS grp, md5(g::text) AS payload
  FROM generate_series(1, 200000) AS g;
ALTER TABLE client_demo_src SET (parallel_workers = 4);
ANALYZE client_demo_src;

-- The batch job's role.  A guarded statement needs EXECUTE on
-- parallel_guard.run() (without it: SQLSTATE 42501).
DO $$
BEGIN
  CREATE ROLE batch_role LOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval)
  TO batch_role;
GRANT CREATE ON SCHEMA public TO batch_role;
GRANT SELECT ON client_demo_src TO batch_role;

-- The guard: every CREATE TABLE AS, SELECT INTO, materialized view and
-- CREATE INDEX of batch_role's sessions must get 4 parallel workers (at
-- least parallel_guard.min = 2 on the last of parallel_guard.retries = 5
-- attempts, 2 s apart), else it fails with SQLSTATE 53000 (55000 when the
-- plan itself asks for fewer than parallel_guard.min: a retry cannot help).
ALTER ROLE batch_role SET parallel_guard.target = 4;

-- For the demo only: plan in parallel even for this small table.
ALTER ROLE batch_role SET parallel_setup_cost = 0;
ALTER ROLE batch_role SET parallel_tuple_cost = 0;
ALTER ROLE batch_role SET min_parallel_table_scan_size = 0;
