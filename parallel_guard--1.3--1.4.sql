-- parallel_guard 1.3 -> 1.4: what happened last night, and what to do about it.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.4'" to load this file. \quit

-- The queue: priorities (parallel_guard.priority), and per run its statement,
-- application_name, guard worker pid and time waited (new columns at the end).
DROP VIEW parallel_guard.queue;
DROP FUNCTION parallel_guard.queue_status();

CREATE FUNCTION parallel_guard.queue_status(
    OUT pid pg_catalog.int4,
    OUT database pg_catalog.text,
    OUT usename pg_catalog.text,
    OUT queue_position pg_catalog.int4,
    OUT target pg_catalog.int4,
    OUT workers_held pg_catalog.int4,
    OUT attempt pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT waiting_since pg_catalog.timestamptz,
    OUT reserved_workers pg_catalog.int4,
    OUT priority pg_catalog.int4,
    OUT effective_priority pg_catalog.int4,
    OUT statement pg_catalog.text,
    OUT application_name pg_catalog.text,
    OUT worker_pid pg_catalog.int4,
    OUT waited pg_catalog.interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'parallel_guard_queue'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION parallel_guard.queue_status() IS
'guarded runs now waiting for parallel workers or running, by priority, then first come first served';

CREATE VIEW parallel_guard.queue AS
    SELECT * FROM parallel_guard.queue_status() ORDER BY waiting_since;

GRANT SELECT ON parallel_guard.queue TO PUBLIC;
