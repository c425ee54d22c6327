-- Shared fixture: a table that always gets a 4-worker parallel plan.
-- Settings go on the database so that every later test session (and each
-- guarded worker, which restores its caller's settings) plans the same way.
CREATE TABLE big AS SELECT g AS k, g % 10 AS grp FROM generate_series(1, 200000) AS g;
ALTER TABLE big SET (parallel_workers = 4);
ANALYZE big;
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET parallel_setup_cost = 0', current_database());
  EXECUTE format('ALTER DATABASE %I SET parallel_tuple_cost = 0', current_database());
  EXECUTE format('ALTER DATABASE %I SET min_parallel_table_scan_size = 0', current_database());
  -- Count workers from the Gather only (exact), even on a loaded machine
  -- where the fallback to the lock group after 200 ms could kick in.
  EXECUTE format('ALTER DATABASE %I SET parallel_guard.settle_time = ''10s''', current_database());
END $$;
-- The installed objects.
SELECT extname, extversion, extnamespace::regnamespace FROM pg_extension WHERE extname = 'parallel_guard';
SELECT pg_get_function_identity_arguments('parallel_guard.run'::regproc);
SELECT pg_get_function_result('parallel_guard.run'::regproc);
