-- The statement runs as the caller's current_user, in the caller's
-- database, with the caller's settings.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE ROLE regress_pg_alice LOGIN;
CREATE ROLE regress_pg_bob NOLOGIN;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval)
  TO regress_pg_alice, regress_pg_bob;
CREATE SCHEMA ctx_a AUTHORIZATION regress_pg_alice;
CREATE SCHEMA ctx_b AUTHORIZATION regress_pg_bob;
-- Settings: work_mem, search_path, a custom GUC; the table lands in the
-- first schema of the caller's search_path.
SET work_mem = '7MB';
SET search_path = ctx_a, public;
SET regress.marker = 'from the caller';
SELECT achieved_workers, planned_workers, row_count FROM parallel_guard.run($$
  CREATE TABLE settings_seen AS
  SELECT current_setting('work_mem') AS work_mem,
         current_setting('search_path') AS search_path,
         current_setting('regress.marker') AS marker,
         current_database() = 'contrib_regression' AS same_db,
         current_user AS cu
$$, target => 1, min => 0, retries => 1);
SELECT * FROM ctx_a.settings_seen;
RESET search_path;
RESET work_mem;
-- max_parallel_workers_per_gather below target is raised for the statement
-- only; the caller's own setting is unchanged.
SET max_parallel_workers_per_gather = 0;
SELECT achieved_workers, planned_workers FROM parallel_guard.run($$
  CREATE TABLE per_gather AS
  SELECT current_setting('max_parallel_workers_per_gather') AS seen, count(*) FROM big
$$, target => 3, min => 3, retries => 1);
SELECT seen FROM per_gather;
SHOW max_parallel_workers_per_gather;
RESET max_parallel_workers_per_gather;
-- SET ROLE: the table belongs to the role set, and its privileges apply.
SET ROLE regress_pg_bob;
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE ctx_b.by_bob AS SELECT current_user AS cu, session_user AS su',
  target => 1, min => 0, retries => 1);
SELECT cu, su FROM ctx_b.by_bob;
SELECT * FROM parallel_guard.run(
  'CREATE TABLE ctx_a.not_bobs AS SELECT 1', target => 1, min => 0, retries => 1);
SELECT * FROM parallel_guard.run(
  'CREATE TABLE ctx_b.secret_copy AS SELECT * FROM public.big', target => 1, min => 0, retries => 1);
RESET ROLE;
SELECT relname, relowner::regrole FROM pg_class
WHERE relnamespace IN ('ctx_a'::regnamespace, 'ctx_b'::regnamespace) ORDER BY relname;
-- A role without EXECUTE cannot call run() at all.
CREATE ROLE regress_pg_carol NOLOGIN;
SET ROLE regress_pg_carol;
SELECT * FROM parallel_guard.run('CREATE TABLE public.carols AS SELECT 1');
RESET ROLE;
-- SECURITY DEFINER: the statement runs as the function's owner, as a plain
-- statement in that function would.
CREATE FUNCTION ctx_a.load_as_alice() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog
  AS $$ SELECT achieved_workers FROM parallel_guard.run(
        'CREATE TABLE ctx_a.by_definer AS SELECT current_user AS cu', 1, 0, 1, '0') $$;
ALTER FUNCTION ctx_a.load_as_alice() OWNER TO regress_pg_alice;
GRANT USAGE ON SCHEMA ctx_a TO regress_pg_bob;
SET ROLE regress_pg_bob;
SELECT ctx_a.load_as_alice();
RESET ROLE;
SELECT cu, pg_get_userbyid(relowner) AS owner
FROM ctx_a.by_definer, pg_class WHERE oid = 'ctx_a.by_definer'::regclass;
DROP SCHEMA ctx_a, ctx_b CASCADE;
DROP OWNED BY regress_pg_alice, regress_pg_bob, regress_pg_carol;
DROP ROLE regress_pg_alice, regress_pg_bob, regress_pg_carol;
