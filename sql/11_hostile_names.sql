-- A hostile search_path, look-alike objects and unusual SQL text change
-- nothing about what the guard does: it resolves no name through the
-- search_path itself, and the statement's own names resolve exactly as the
-- plain statement's would.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE ROLE regress_pg_mallory;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO regress_pg_mallory;
CREATE SCHEMA mallory AUTHORIZATION regress_pg_mallory;
GRANT SELECT ON big TO regress_pg_mallory;
SET ROLE regress_pg_mallory;
-- Nobody but the owner can put objects into the extension's schema.
CREATE TABLE parallel_guard.planted (x int);
CREATE FUNCTION parallel_guard.run(text) RETURNS int LANGUAGE sql AS 'SELECT 42';
-- Look-alikes in a schema and in pg_temp, first on the search_path.
CREATE FUNCTION mallory.run(text, int, int, int, interval) RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE FUNCTION mallory.count(anyelement) RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE TEMP TABLE big (k int);
SET search_path = pg_temp, mallory, parallel_guard, pg_catalog, public;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE mallory.t1 AS SELECT k FROM public.big WHERE k <= 3', target => 2, min => 2);
SELECT count(*) FROM mallory.t1;
-- pg_temp first on the search_path makes the unqualified target temporary:
-- refused, as a temporary table would be.
SELECT * FROM parallel_guard.run('CREATE TABLE t2 AS SELECT 1 AS x');
RESET search_path;
RESET ROLE;
-- The temporary look-alike would now shadow public.big for the statements
-- below (a guarded statement naming it is refused: 16_launch_sites).
DISCARD TEMP;
SELECT to_regclass('mallory.t2') IS NULL AS no_t2, count(*) AS no_planted
FROM pg_class WHERE relname = 'planted';
-- SQL text: dollar quoting, E'' strings, semicolons and comment markers in
-- literals, nested comments.
SELECT achieved_workers, row_count FROM parallel_guard.run($outer$
  CREATE TABLE odd_text AS /* a /* nested */ comment; */
  SELECT $x$;--$x$ AS a, E'\';\'' AS b, 'x;y' AS c, k FROM big WHERE k <= 2 -- ; trailing
$outer$, target => 2, min => 2);
SELECT a, b, c, k FROM odd_text ORDER BY k;
-- A statement several megabytes long.
SELECT achieved_workers, row_count, length(q) AS sql_length
FROM (SELECT 'CREATE TABLE long_text AS SELECT k FROM big WHERE k IN ('
             || string_agg(g::text, ',') || ')' AS q
      FROM generate_series(1, 400000) AS g) AS s,
     LATERAL parallel_guard.run(q, target => 2, min => 2, retries => 1);
SELECT count(*) FROM long_text;
DROP SCHEMA mallory CASCADE;
DROP OWNED BY regress_pg_mallory;
DROP ROLE regress_pg_mallory;
