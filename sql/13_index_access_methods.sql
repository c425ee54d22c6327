-- CREATE INDEX: the index access method says whether its build can run
-- with parallel workers (IndexAmRoutine.amcanbuildparallel, PostgreSQL 17
-- and later; before it, btree alone).  btree builds in parallel everywhere,
-- BRIN from 17, GIN from 18, hash never.  A serial build is known
-- beforehand (planned 0) and never retried; a parallel one is counted from
-- PostgreSQL's registrations (the attempts' NOTICEs carry timings: not shown).
-- Which of the expected files this server must match (pg_regress takes any
-- of them): 13_index_access_methods.out from 18, _1 for 17, _2 before.
SELECT current_setting('server_version_num')::int >= 170000 AS brin_builds_in_parallel,
       current_setting('server_version_num')::int >= 180000 AS gin_builds_in_parallel;
SET maintenance_work_mem = '256MB';
SET client_min_messages = warning;
CREATE TABLE am_t AS
  SELECT g AS x, ARRAY[g % 1000, g % 7] AS a FROM generate_series(1, 500000) AS g;
ALTER TABLE am_t SET (parallel_workers = 2);
SELECT amname, planned_workers, achieved_workers, target_met
FROM (VALUES ('btree', 'CREATE INDEX am_btree ON am_t (x)'),
             ('brin', 'CREATE INDEX am_brin ON am_t USING brin (x)'),
             ('gin', 'CREATE INDEX am_gin ON am_t USING gin (a)'),
             ('hash', 'CREATE INDEX am_hash ON am_t USING hash (x)')) AS s(amname, stmt),
     LATERAL parallel_guard.run(stmt, target => 2, min => 0, retries => 3, delay => '0') AS r
ORDER BY amname;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'am_t'::regclass;
DROP TABLE am_t;
RESET client_min_messages;
RESET maintenance_work_mem;
