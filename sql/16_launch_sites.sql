-- Every launch of parallel workers in the statement counts, each judged on
-- its own: a launch that plans fewer than target limits the attempt at that
-- number (fewer than min: 53000 at once), and the node is named.
\set VERBOSITY terse
CREATE TABLE one_worker AS SELECT g AS k, g % 10 AS v FROM generate_series(1, 50000) AS g;
ALTER TABLE one_worker SET (parallel_workers = 1);
ANALYZE one_worker;
-- The InitPlan's Gather (big, 4 workers) launches first, the Gather doing
-- the work (one_worker, 1 worker) second.
SELECT * FROM parallel_guard.run(
  'CREATE TABLE ls1 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1',
  target => 4, min => 4);
SELECT to_regclass('ls1') IS NULL AS ls1_absent;
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls2 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1',
  target => 4, min => 1);
-- The reverse: the InitPlan's Gather is the small one.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls3 AS SELECT grp, count(*) FROM big
   WHERE k > (SELECT max(k) - 100000 FROM one_worker) GROUP BY grp',
  target => 4, min => 1);
-- Both Gathers plan 4; with a pool of 4 for the session the second launch
-- still gets 4: the InitPlan's workers are gone before it launches.
ALTER TABLE one_worker SET (parallel_workers = 4);
SET max_parallel_workers = 4;
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls4 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1',
  target => 4, min => 4, retries => 1);
RESET max_parallel_workers;
-- An Append over one Gather per branch: the branch that plans 2 workers
-- limits the attempt.
CREATE TABLE parts (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE parts_a PARTITION OF parts FOR VALUES FROM (0) TO (100000);
CREATE TABLE parts_b PARTITION OF parts FOR VALUES FROM (100000) TO (200000);
INSERT INTO parts SELECT g, g % 10 FROM generate_series(0, 199999) AS g;
ALTER TABLE parts_a SET (parallel_workers = 4);
ALTER TABLE parts_b SET (parallel_workers = 2);
ANALYZE parts;
SET enable_parallel_append = off;
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls5 AS SELECT count(*) FROM parts_a UNION ALL SELECT count(*) FROM parts_b',
  target => 4, min => 2);
SELECT * FROM parallel_guard.run(
  'CREATE TABLE ls6 AS SELECT count(*) FROM parts_a UNION ALL SELECT count(*) FROM parts_b',
  target => 4, min => 3);
RESET enable_parallel_append;
-- CREATE INDEX on a partitioned table: one build per partition, each judged
-- on its own (planned by plan_create_index_workers(), as the build does).
SELECT achieved_workers, attempts, target_met, planned_workers FROM parallel_guard.run(
  'CREATE INDEX parts_k ON parts (k)', target => 4, min => 2);
SELECT count(*) AS partition_indexes FROM pg_indexes WHERE tablename IN ('parts_a', 'parts_b');
SELECT * FROM parallel_guard.run('CREATE INDEX parts_v ON parts (v)', target => 4, min => 3);
SELECT to_regclass('parts_v') IS NULL AS parts_v_absent;
-- A temporary table that shadows a permanent one: the plain statement would
-- read the temporary table, the worker cannot: refused, nothing created.
CREATE TEMP TABLE big (k int, grp int);
SELECT * FROM parallel_guard.run('CREATE TABLE ls7 AS SELECT k FROM big');
SELECT * FROM parallel_guard.run('CREATE TABLE ls7 AS SELECT k FROM pg_temp.big');
CREATE FUNCTION pg_temp.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
SELECT * FROM parallel_guard.run('CREATE TABLE ls7 AS SELECT pg_temp.twice(k) FROM public.big');
CREATE INDEX ON big (k);
SELECT * FROM parallel_guard.run('CREATE INDEX ls7_idx ON big (k)');
SELECT to_regclass('public.ls7') IS NULL AS ls7_absent;
-- Qualified, the permanent table is read as the plain statement would.
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls8 AS SELECT k FROM public.big WHERE k <= 5', target => 2, min => 2);
DISCARD TEMP;
-- Uncommitted writes of the calling transaction to a table the statement
-- reads: a WARNING (the worker reads committed rows only).
BEGIN;
INSERT INTO one_worker VALUES (-1, -1);
SET LOCAL client_min_messages = warning;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls9 AS SELECT count(*) FROM one_worker WHERE k < 0', target => 2, min => 2);
ROLLBACK;
SELECT * FROM ls9;
-- No WARNING when the transaction wrote elsewhere.
CREATE TABLE elsewhere (x int);
BEGIN;
INSERT INTO elsewhere VALUES (1);
SET LOCAL client_min_messages = warning;
SELECT achieved_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE ls10 AS SELECT count(*) FROM one_worker WHERE k < 0', target => 2, min => 2);
ROLLBACK;
