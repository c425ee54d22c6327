-- Three roles: the statement gets exactly the caller's privileges, row-level
-- security and column privileges included, as the plain statement would.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE ROLE regress_pg_owner;
CREATE ROLE regress_pg_reader;
CREATE ROLE regress_pg_outsider;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval)
  TO regress_pg_owner, regress_pg_reader, regress_pg_outsider;
CREATE SCHEMA priv AUTHORIZATION regress_pg_owner;
CREATE SCHEMA reader_out AUTHORIZATION regress_pg_reader;
CREATE SCHEMA outsider_out AUTHORIZATION regress_pg_outsider;
GRANT USAGE ON SCHEMA priv TO regress_pg_reader, regress_pg_outsider;
SET ROLE regress_pg_owner;
CREATE TABLE priv.accounts AS
  SELECT g AS id, CASE WHEN g % 4 = 0 THEN 'eu' ELSE 'us' END AS region, md5(g::text) AS secret
  FROM generate_series(1, 100000) AS g;
ALTER TABLE priv.accounts SET (parallel_workers = 4);
ANALYZE priv.accounts;
ALTER TABLE priv.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY eu_only ON priv.accounts FOR SELECT TO regress_pg_reader USING (region = 'eu');
GRANT SELECT (id, region) ON priv.accounts TO regress_pg_reader;
RESET ROLE;
-- The reader sees only the rows its policy allows, with 4 workers.
SET ROLE regress_pg_reader;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE reader_out.copy AS SELECT id, region FROM priv.accounts', target => 4, min => 4);
CREATE TABLE reader_out.direct AS SELECT id, region FROM priv.accounts;
SELECT (SELECT count(*) FROM reader_out.copy) AS guarded,
       (SELECT count(*) FROM reader_out.direct) AS direct,
       (SELECT count(*) FROM reader_out.copy WHERE region <> 'eu') AS not_eu;
-- A column it may not read.
SELECT * FROM parallel_guard.run(
  'CREATE TABLE reader_out.secrets AS SELECT id, secret FROM priv.accounts');
-- A schema it may not create in.
SELECT * FROM parallel_guard.run('CREATE TABLE priv.mine AS SELECT 1 AS x');
RESET ROLE;
-- The outsider has no SELECT at all, and no CREATE in the owner's schema.
SET ROLE regress_pg_outsider;
SELECT * FROM parallel_guard.run('CREATE TABLE outsider_out.stolen AS SELECT id FROM priv.accounts');
SELECT * FROM parallel_guard.run('CREATE TABLE priv.stolen AS SELECT 1 AS x');
RESET ROLE;
-- The owner is not subject to its own policy (no FORCE): all rows.
SET ROLE regress_pg_owner;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE priv.owner_copy AS SELECT id FROM priv.accounts', target => 4, min => 4);
RESET ROLE;
SELECT to_regclass('reader_out.secrets') IS NULL AND to_regclass('priv.mine') IS NULL
   AND to_regclass('outsider_out.stolen') IS NULL AND to_regclass('priv.stolen') IS NULL AS nothing_created;
DROP SCHEMA priv, reader_out, outsider_out CASCADE;
DROP OWNED BY regress_pg_owner, regress_pg_reader, regress_pg_outsider;
DROP ROLE regress_pg_owner, regress_pg_reader, regress_pg_outsider;
