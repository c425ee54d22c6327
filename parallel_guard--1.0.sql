-- parallel_guard 1.0: install script
\echo Use "CREATE EXTENSION parallel_guard" to load this file. \quit

-- The control file puts every object into schema parallel_guard.

CREATE FUNCTION parallel_guard.run(
    sql text,
    target integer DEFAULT 4,
    min integer DEFAULT 2,
    retries integer DEFAULT 5,
    delay interval DEFAULT '2 seconds')
RETURNS TABLE (
    achieved_workers integer,
    attempts integer,
    target_met boolean,
    planned_workers integer,
    row_count bigint)
AS 'MODULE_PATHNAME', 'parallel_guard_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- No SET search_path clause on purpose: the statement must see the caller's
-- search_path, and the C code resolves no name through it.

COMMENT ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) IS
'runs one CREATE TABLE ... AS in a background worker and retries attempts that launch fewer than target parallel workers';

-- Who may call run(): each call occupies a background worker slot and up to
-- `target` parallel workers, so it is not granted to PUBLIC.  The schema is
-- usable by everyone; an administrator grants EXECUTE to the batch roles:
--   GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO batch_role;
GRANT USAGE ON SCHEMA parallel_guard TO PUBLIC;
REVOKE EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) FROM PUBLIC;
