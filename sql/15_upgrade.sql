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
-- The history (new in 1.1) shows the run made under 1.0: the library kept it.
SELECT count(*) AS up1_runs_in_history FROM parallel_guard.history WHERE statement LIKE '%up1%';
-- The objects of an update equal those of a fresh install, which runs its
-- own script (parallel_guard--1.5.sql): the same objects, definitions
-- (function signatures, attributes and bodies; view queries), privileges
-- and comments.
CREATE FUNCTION pg_temp.extension_objects() RETURNS TABLE (object text, definition text)
LANGUAGE sql AS $$
SELECT pg_describe_object(d.classid, d.objid, 0),
       CASE d.classid
         WHEN 'pg_proc'::regclass THEN
           (SELECT md5(pg_get_functiondef(p.oid)) || ' acl=' || coalesce(p.proacl::text, '-')
            FROM pg_proc p WHERE p.oid = d.objid)
         WHEN 'pg_class'::regclass THEN
           (SELECT md5(coalesce(pg_get_viewdef(c.oid), '')) || ' kind=' || c.relkind::text
                   || ' acl=' || coalesce(c.relacl::text, '-')
            FROM pg_class c WHERE c.oid = d.objid)
         ELSE ''
       END || ' comment=' || coalesce(md5(obj_description(d.objid, d.classid::regclass::name)), '-')
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.classid <> 'pg_type'::regclass -- the views' row types: members from 17 on
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'parallel_guard')
$$;
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.extension_objects();
SELECT object FROM updated ORDER BY 1;
DROP EXTENSION parallel_guard;
CREATE EXTENSION parallel_guard;
SELECT extversion FROM pg_extension WHERE extname = 'parallel_guard';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_objects();
SELECT count(*) AS objects FROM fresh;
-- Differences either way (none expected).
(SELECT 'only after the update' AS side, * FROM updated EXCEPT SELECT 'only after the update', * FROM fresh)
UNION ALL
(SELECT 'only in a fresh install', * FROM fresh EXCEPT SELECT 'only in a fresh install', * FROM updated)
ORDER BY 1, 2;
-- Every earlier version (not only 1.0) updates in place to the same objects
-- as a fresh install: one row per version, 0 differences each.
CREATE FUNCTION pg_temp.update_differences(from_version text)
RETURNS TABLE (side text, object text, definition text)
LANGUAGE plpgsql AS $$
BEGIN
  DROP EXTENSION parallel_guard;
  EXECUTE format('CREATE EXTENSION parallel_guard VERSION %L', from_version);
  ALTER EXTENSION parallel_guard UPDATE;
  DROP TABLE IF EXISTS pg_temp.updated;
  CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.extension_objects();
  RETURN QUERY
    (SELECT 'only after the update', u.* FROM updated u EXCEPT SELECT 'only after the update', f.* FROM fresh f)
    UNION ALL
    (SELECT 'only in a fresh install', f.* FROM fresh f EXCEPT SELECT 'only in a fresh install', u.* FROM updated u);
END
$$;
SELECT v.from_version, count(d.object) AS differences,
       string_agg(d.side || ': ' || d.object, '; ' ORDER BY d.side, d.object) AS which
FROM (SELECT version AS from_version FROM pg_available_extension_versions
      WHERE name = 'parallel_guard'
        AND version <> (SELECT default_version FROM pg_available_extensions WHERE name = 'parallel_guard')) v
LEFT JOIN LATERAL pg_temp.update_differences(v.from_version) d ON true
GROUP BY v.from_version ORDER BY v.from_version;
SELECT extversion FROM pg_extension WHERE extname = 'parallel_guard';
