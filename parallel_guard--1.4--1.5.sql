-- parallel_guard 1.4 -> 1.5: one vocabulary.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.5'" to load this file. \quit

-- explain()'s text column "launches" (once, at every rescan, when they run)
-- is now "when_launched": everywhere else "launches" is a count of launches
-- (history_launches.launches, the LOG lines' launches=).  A new result type
-- needs DROP and CREATE; explain() is executable by PUBLIC, as before.
DROP FUNCTION parallel_guard.explain(pg_catalog.text, pg_catalog.int4);

-- A dry run: plans the statement as run() would (this session's settings,
-- the worker settings raised to target) and lists every place that will
-- launch parallel workers, without running it (when_launched: once, at
-- every rescan, when they run).  It takes no worker, so it is not
-- restricted like run().
CREATE FUNCTION parallel_guard.explain(
    sql pg_catalog.text,
    target pg_catalog.int4 DEFAULT 4)
RETURNS TABLE (
    node pg_catalog.text,
    planned_workers pg_catalog.int4,
    counted pg_catalog.text,
    when_launched pg_catalog.text)
AS 'MODULE_PATHNAME', 'parallel_guard_explain'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION parallel_guard.explain(pg_catalog.text, pg_catalog.int4) IS
'plans a statement as parallel_guard.run() would and lists the launches of parallel workers it plans, without running it';

-- The queue view lists runs in the order they are served (it listed them by
-- waiting_since, which priorities made misleading): the runs admitted or
-- between two attempts (no queue_position) first, then the waiting ones by
-- queue_position.  Same columns, so OR REPLACE keeps its privileges.
CREATE OR REPLACE VIEW parallel_guard.queue AS
    SELECT * FROM parallel_guard.queue_status()
    ORDER BY queue_position NULLS FIRST, waiting_since;
