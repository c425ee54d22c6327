-- Every supported statement kind, with the pool free and with a forced
-- shortfall.  CREATE INDEX has no Gather node: its workers are counted from
-- PostgreSQL's registrations (the lock group as a fallback); its plan is known beforehand only from the
-- table's parallel_workers storage parameter (big has 4), else NULL.
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- Index builds are counted from their registrations: give slow machines room.
SET parallel_guard.settle_time = '2s';
-- SELECT ... INTO
SELECT achieved_workers, attempts, target_met, planned_workers, row_count
FROM parallel_guard.run('SELECT grp, count(*) AS n INTO si1 FROM big GROUP BY grp',
                        target => 4, min => 2, retries => 2, delay => '0');
SELECT count(*), sum(n) FROM si1;
-- CREATE MATERIALIZED VIEW ... AS
SELECT achieved_workers, attempts, target_met, planned_workers, row_count
FROM parallel_guard.run('CREATE MATERIALIZED VIEW mv1 AS SELECT grp, count(*) AS n FROM big GROUP BY grp',
                        target => 4, min => 2, retries => 2, delay => '0');
SELECT relkind FROM pg_class WHERE oid = 'mv1'::regclass;
SELECT count(*), sum(n) FROM mv1;
-- REFRESH MATERIALIZED VIEW, plain and CONCURRENTLY.
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('REFRESH MATERIALIZED VIEW mv1', target => 4, min => 2, retries => 2, delay => '0');
CREATE UNIQUE INDEX ON mv1 (grp);
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('REFRESH MATERIALIZED VIEW CONCURRENTLY mv1', target => 4, min => 2, retries => 2, delay => '0');
SELECT count(*), sum(n) FROM mv1;
-- CREATE INDEX: a parallel btree build.
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('CREATE INDEX big_k_idx ON big (k)', target => 4, min => 2, retries => 2, delay => '0');
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'big'::regclass;
-- Forced shortfalls: two attempts each, the first rolled back.
SET max_parallel_workers = 2;
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('SELECT k INTO si2 FROM big WHERE k % 3 = 0', target => 4, min => 2, retries => 2, delay => '0');
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('CREATE MATERIALIZED VIEW mv2 AS SELECT k FROM big WHERE k % 3 = 0', target => 4, min => 2, retries => 2, delay => '0');
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('REFRESH MATERIALIZED VIEW mv2', target => 4, min => 2, retries => 2, delay => '0');
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('CREATE INDEX big_grp_idx ON big (grp)', target => 4, min => 2, retries => 2, delay => '0');
RESET max_parallel_workers;
SELECT count(*) AS si2, (SELECT count(*) FROM mv2) AS mv2 FROM si2;
-- Below min: nothing is left behind, for an index as for a table.
SET max_parallel_workers = 1;
SELECT * FROM parallel_guard.run('CREATE INDEX big_low_idx ON big (k, grp)', target => 4, min => 2, retries => 1);
SELECT * FROM parallel_guard.run('CREATE MATERIALIZED VIEW mv_low AS SELECT * FROM big', target => 4, min => 2, retries => 1);
RESET max_parallel_workers;
SELECT to_regclass('big_low_idx') IS NULL AND to_regclass('mv_low') IS NULL AS nothing_left;
-- What the build's plan asks for is known beforehand from the table's
-- parallel_workers storage parameter, or for a serial access method: no
-- retries are spent on it.
CREATE TABLE tiny AS SELECT g AS x FROM generate_series(1, 100000) AS g;
ALTER TABLE tiny SET (parallel_workers = 1);
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('CREATE INDEX tiny_idx ON tiny (x)', target => 4, min => 1, delay => '0');
SELECT * FROM parallel_guard.run('CREATE INDEX tiny_idx2 ON tiny (x)', target => 4, min => 2, delay => '0');
SELECT achieved_workers, attempts, target_met, planned_workers
FROM parallel_guard.run('CREATE INDEX tiny_hash ON tiny USING hash (x)', target => 4, min => 0, delay => '0');
SELECT to_regclass('tiny_idx') IS NOT NULL AND to_regclass('tiny_idx2') IS NULL
   AND to_regclass('tiny_hash') IS NOT NULL AS as_expected;
-- Refused or checked before anything starts.
SELECT * FROM parallel_guard.run('CREATE INDEX CONCURRENTLY big_c_idx ON big (k)');
SELECT * FROM parallel_guard.run('CREATE INDEX big_k_idx ON big (k)');
SELECT * FROM parallel_guard.run('CREATE MATERIALIZED VIEW mv1 AS SELECT 1');
SELECT * FROM parallel_guard.run('SELECT 1 AS x INTO TEMP si_temp');
SELECT * FROM parallel_guard.run('REFRESH MATERIALIZED VIEW mv1 WITH NO DATA');
SELECT * FROM parallel_guard.run('CREATE MATERIALIZED VIEW mv3 AS SELECT 1 WITH NO DATA');
DROP INDEX big_k_idx, big_grp_idx;
