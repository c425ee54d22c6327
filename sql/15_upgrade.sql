-- Version 1.0 installs and updates to the current version in place.
\set VERBOSITY terse
DROP EXTENSION parallel_guard;
CREATE EXTENSION parallel_guard VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'parallel_guard';
SELECT to_regclass('parallel_guard.history') IS NULL AS no_history_in_1_0;
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE up1 AS SELECT k FROM big WHERE k <= 10', target => 2, min => 2, retries => 1);
ALTER EXTENSION parallel_guard UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'parallel_guard';
SELECT count(*) >= 0 AS history_readable FROM parallel_guard.history;
-- The objects of an update equal those of a fresh install.
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'parallel_guard')
ORDER BY 1;
DROP EXTENSION parallel_guard;
CREATE EXTENSION parallel_guard;
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'parallel_guard')
ORDER BY 1;
