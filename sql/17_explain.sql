-- parallel_guard.explain(): a dry run that plans the statement as run()
-- would and lists every place that will launch parallel workers, named as
-- the run's history names them.
\set VERBOSITY terse
SET client_min_messages = warning;
-- The InitPlan's Gather and the Gather doing the work (16_launch_sites).
ALTER TABLE one_worker SET (parallel_workers = 1);
SELECT * FROM parallel_guard.explain(
  'CREATE TABLE ex1 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1', 4);
SELECT to_regclass('ex1') IS NULL AS nothing_created;
-- The run records the same places with the same plans.
SELECT achieved_workers, planned_workers FROM parallel_guard.run(
  'CREATE TABLE ex1 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1', target => 4, min => 1);
(SELECT node, planned FROM parallel_guard.history_launches
 WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history)
 EXCEPT
 SELECT node, planned_workers FROM parallel_guard.explain(
  'CREATE TABLE ex1 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1', 4))
UNION ALL
(SELECT node, planned_workers FROM parallel_guard.explain(
  'CREATE TABLE ex1 AS SELECT k % 7 AS m, count(*) FROM one_worker
   WHERE v > (SELECT max(grp) - 5 FROM big) GROUP BY 1', 4)
 EXCEPT
 SELECT node, planned FROM parallel_guard.history_launches
 WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history));
SELECT attempt, node, planned, launches, fewest_launched FROM parallel_guard.history_launches
WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history) ORDER BY node;
-- target raises max_parallel_workers_per_gather as run() does.
SELECT node, planned_workers FROM parallel_guard.explain('CREATE TABLE ex2 AS SELECT count(*) FROM big', 3);
-- A Gather on the inner side of a nested loop launches at every rescan.
CREATE TABLE three AS SELECT g AS k FROM generate_series(1, 3) AS g;
ALTER TABLE three SET (parallel_workers = 0);
ANALYZE three;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SELECT * FROM parallel_guard.explain(
  'CREATE TABLE ex3 AS SELECT t.k, b.k AS bk FROM three t JOIN big b ON b.k % 3 = t.k', 2);
SELECT achieved_workers FROM parallel_guard.run(
  'CREATE TABLE ex3 AS SELECT t.k, b.k AS bk FROM three t JOIN big b ON b.k % 3 = t.k',
  target => 2, min => 2);
SELECT node, launches FROM parallel_guard.history_launches
WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history);
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
-- No Gather at all.
SELECT * FROM parallel_guard.explain('CREATE TABLE ex4 AS SELECT 1 AS x', 4);
-- CREATE INDEX: one row per partition, planned by plan_create_index_workers()
-- as the build would; no index is left behind.
SELECT * FROM parallel_guard.explain('CREATE INDEX parts_ex ON parts (k, v)', 4);
SELECT count(*) AS no_new_index FROM pg_indexes WHERE indexname LIKE 'parts%ex%' OR indexdef LIKE '%(k, v)%';
SELECT * FROM parallel_guard.explain('CREATE INDEX big_ex ON big (grp)', 4);
-- Each partition's probe runs in a subtransaction of its own: DefineIndex()
-- switches to the partition owner's user id in a security-restricted
-- context, and the next partition's probe must not inherit it.  With two
-- partitions owned by two other roles, the second probe ran as the first
-- partition's owner and failed with 42501 "must be owner of table".
CREATE ROLE regress_pg_ex_a;
CREATE ROLE regress_pg_ex_b;
CREATE TABLE ex_parts (k int) PARTITION BY RANGE (k);
CREATE TABLE ex_parts_1 PARTITION OF ex_parts FOR VALUES FROM (0) TO (1000) WITH (parallel_workers = 2);
CREATE TABLE ex_parts_2 PARTITION OF ex_parts FOR VALUES FROM (1000) TO (2000) WITH (parallel_workers = 3);
ALTER TABLE ex_parts_1 OWNER TO regress_pg_ex_a;
ALTER TABLE ex_parts_2 OWNER TO regress_pg_ex_b;
SET maintenance_work_mem = '256MB';
SELECT * FROM parallel_guard.explain('CREATE INDEX ex_parts_k ON ex_parts (k)', 4);
SELECT current_user = session_user AS own_user_after, current_setting('search_path') AS search_path_after;
RESET maintenance_work_mem;
DROP TABLE ex_parts;
DROP ROLE regress_pg_ex_a;
DROP ROLE regress_pg_ex_b;
-- REFRESH MATERIALIZED VIEW: the query that fills it.
CREATE MATERIALIZED VIEW ex_mv AS SELECT count(*) AS n FROM big;
CREATE UNIQUE INDEX ON ex_mv (n);
SELECT * FROM parallel_guard.explain('REFRESH MATERIALIZED VIEW CONCURRENTLY ex_mv', 4);
-- The same checks as run(): one statement of an accepted kind, no temporary objects.
SELECT * FROM parallel_guard.explain('SELECT 1', 4);
CREATE TEMP TABLE big (k int);
SELECT * FROM parallel_guard.explain('CREATE TABLE ex5 AS SELECT * FROM big', 4);
DISCARD TEMP;
SELECT * FROM parallel_guard.explain('CREATE TABLE ex5 AS SELECT * FROM big', 0);
