-- parallel_guard 1.0: install script
\echo Use "CREATE EXTENSION parallel_guard" to load this file. \quit

-- The control file puts every object into schema parallel_guard.  CREATE
-- EXTENSION makes that schema for the installing role, or takes one that
-- exists: refuse a schema another role owns (a database owner could create
-- it before a superuser installs the extension, and would then own the
-- schema the functions of a superuser's extension live in).
DO $$
BEGIN
    IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'parallel_guard')
       IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
    THEN
        RAISE EXCEPTION 'schema "parallel_guard" is not owned by the role installing the extension'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It is owned by role %s; the extension''s functions would live in a schema another role controls.',
                      (SELECT n.nspowner::pg_catalog.regrole FROM pg_catalog.pg_namespace n WHERE n.nspname = 'parallel_guard')),
                  HINT = 'Drop or rename that schema, or create the extension as its owner.';
    END IF;
END
$$;

-- Every name is schema-qualified, so a hostile search_path at install time
-- cannot substitute a type.
CREATE FUNCTION parallel_guard.run(
    sql pg_catalog.text,
    target pg_catalog.int4 DEFAULT 4,
    min pg_catalog.int4 DEFAULT 2,
    retries pg_catalog.int4 DEFAULT 5,
    delay pg_catalog.interval DEFAULT '2 seconds')
RETURNS TABLE (
    achieved_workers pg_catalog.int4,
    attempts pg_catalog.int4,
    target_met pg_catalog.bool,
    planned_workers pg_catalog.int4,
    row_count pg_catalog.int8)
AS 'MODULE_PATHNAME', 'parallel_guard_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- No SET search_path clause on purpose: the statement must see the caller's
-- search_path, and the C code resolves no name through it.

COMMENT ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) IS
'runs one CREATE TABLE ... AS in a background worker and retries attempts that launch fewer than target parallel workers';

-- Who may call run(): each call occupies a background worker slot and up to
-- `target` parallel workers, so it is not granted to PUBLIC.  The schema is
-- usable by everyone; an administrator grants EXECUTE to the batch roles:
--   GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO batch_role;
GRANT USAGE ON SCHEMA parallel_guard TO PUBLIC;
REVOKE EXECUTE ON FUNCTION parallel_guard.run(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.interval) FROM PUBLIC;

-- The queue of guarded runs (needs parallel_guard in shared_preload_libraries;
-- empty otherwise).  Like pg_stat_activity, readable by everyone.
CREATE FUNCTION parallel_guard.queue_status(
    OUT pid pg_catalog.int4,
    OUT database pg_catalog.text,
    OUT usename pg_catalog.text,
    OUT queue_position pg_catalog.int4,
    OUT target pg_catalog.int4,
    OUT workers_held pg_catalog.int4,
    OUT attempt pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT waiting_since pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_queue'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.queue_status() IS
'guarded runs now waiting for parallel workers or running, first come first served';

CREATE VIEW parallel_guard.queue AS
    SELECT * FROM parallel_guard.queue_status() ORDER BY waiting_since;

GRANT SELECT ON parallel_guard.queue TO PUBLIC;
