-- A Gather that PostgreSQL runs without parallel mode launches nothing, by
-- design (nodeGather.c launches only when es_use_parallel_mode is set): a
-- query not run to completion in one go, such as a lazily evaluated SQL
-- function's (every version) or one run with a tuple count (from 18, as
-- PL/pgSQL's SELECT INTO runs its query).  It is no launch: never a short
-- attempt, never a retry.
\set VERBOSITY terse
CREATE FUNCTION lazy_k() RETURNS SETOF int LANGUAGE sql AS 'SELECT k FROM big WHERE k <= 3';
-- The plain statement, for comparison: the function's query plans a Gather
-- of 4 workers, which launches none.
CREATE TABLE el_plain AS SELECT lazy_k() AS k;
SELECT count(*) AS el_plain_rows FROM el_plain;
-- Guarded: one attempt, planned and launched 0 (the Gather never launched),
-- accepted at min 0 as a plan without workers; three attempts before.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE el1 AS SELECT lazy_k() AS k', target => 2, min => 0, retries => 3, delay => '0');
SELECT count(*) AS el1_rows FROM el1;
-- At min 1 it can never be met: 53000 at once, on the first attempt.
SELECT * FROM parallel_guard.run(
  'CREATE TABLE el2 AS SELECT lazy_k() AS k', target => 2, min => 1, retries => 3, delay => '0');
SELECT to_regclass('el2') IS NULL AS el2_absent;
-- A slow InitPlan: the Gather that needs it evaluates it (ExecInitParallelPlan)
-- before it registers its own workers, so while the InitPlan's Gather runs
-- (its 2 workers registered, counted exactly by its own launch), the main
-- Gather's launch has not happened yet.  Its count may fall back on
-- PostgreSQL's registrations after settle_time, but never on another
-- launch's, nor on a launch still registering (t/045): the main Gather gets its 4 workers, the InitPlan's its 2, and
-- the attempt is plan-limited at 2 on its first attempt.
CREATE TABLE small_slow AS SELECT g AS k FROM generate_series(1, 40) AS g;
ALTER TABLE small_slow SET (parallel_workers = 2);
ANALYZE small_slow;
CREATE FUNCTION slow_k(int) RETURNS int LANGUAGE plpgsql STABLE PARALLEL SAFE
  AS $$BEGIN PERFORM pg_sleep(0.01); RETURN $1; END$$;
SET parallel_guard.settle_time = '20ms';
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'CREATE TABLE el3 AS SELECT k FROM big WHERE k > (SELECT max(slow_k(k)) FROM small_slow) + 199000',
  target => 4, min => 2, retries => 2, delay => '0');
RESET parallel_guard.settle_time;
SELECT node, planned, launches, fewest_launched FROM parallel_guard.history_launches
  WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history) ORDER BY node;
-- More launch sites than any fixed table: CREATE INDEX on 34 partitions,
-- each build a launch of its own.  The first 32 plan 2 workers and get 2;
-- the last two plan 4 and get 2 (max_parallel_workers 2): each build is
-- judged against its own plan, so the attempt is short, not plan-limited.
CREATE TABLE parts34 (k int, v int) PARTITION BY RANGE (k);
DO $$
BEGIN
  FOR i IN 1..34 LOOP
    EXECUTE format('CREATE TABLE parts34_%s PARTITION OF parts34 FOR VALUES FROM (%s) TO (%s) WITH (parallel_workers = %s)',
                   i, (i - 1) * 1000, i * 1000, CASE WHEN i > 32 THEN 4 ELSE 2 END);
  END LOOP;
END $$;
INSERT INTO parts34 SELECT g, g FROM generate_series(0, 33999) AS g;
ANALYZE parts34;
SET max_parallel_workers = 2;
SET max_parallel_maintenance_workers = 4;
SET maintenance_work_mem = '256MB';
SELECT achieved_workers, attempts, target_met, planned_workers FROM parallel_guard.run(
  'CREATE INDEX parts34_v ON parts34 (v)', target => 4, min => 2, retries => 2, delay => '0');
SELECT count(*) AS indexes_built FROM pg_indexes WHERE indexname LIKE 'parts34%v%';
-- The same with Gathers, past the room for launch sites (64 plus one per
-- index build): 70 branches of UNION ALL, each its own Gather (LIMIT keeps
-- the Gather below it); 69 over ow plan 1 and get 1, the last, over big,
-- plans 4 and gets 2.  Sites past the room are folded for display, and each
-- folded launch is judged against its own plan: short, not plan-limited.
CREATE TABLE ow AS SELECT g AS k FROM generate_series(1, 1000) AS g;
ALTER TABLE ow SET (parallel_workers = 1);
ANALYZE ow;
SELECT format('CREATE TABLE u70 AS %s UNION ALL (SELECT k FROM big WHERE k < 0 LIMIT 1)',
              string_agg('(SELECT k FROM ow WHERE k < 0 LIMIT 1)', ' UNION ALL ')) AS u70_sql
  FROM generate_series(1, 69) \gset
SELECT achieved_workers, attempts, target_met, planned_workers FROM parallel_guard.run(
  :'u70_sql', target => 4, min => 1, retries => 2, delay => '0');
RESET max_parallel_workers;
RESET max_parallel_maintenance_workers;
RESET maintenance_work_mem;
-- REFRESH MATERIALIZED VIEW (not CONCURRENTLY) fills a new heap, then
-- rebuilds each index of the view, each rebuild a launch of its own.  The
-- view's query plans 2 workers (its table's parallel_workers) and gets 2;
-- the rebuild of rf_mv_k plans 4 (the view's parallel_workers) and gets 2
-- (max_parallel_workers 2): short, retried, not plan-limited at 2.
CREATE TABLE rf_src AS SELECT g AS k, g % 1000 AS v FROM generate_series(1, 100000) AS g;
ALTER TABLE rf_src SET (parallel_workers = 2);
ANALYZE rf_src;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
CREATE MATERIALIZED VIEW rf_mv WITH (parallel_workers = 4) AS SELECT k, v FROM rf_src WHERE v >= 0;
CREATE INDEX rf_mv_k ON rf_mv (k);
SET max_parallel_workers = 2;
SET maintenance_work_mem = '256MB';
-- explain() lists the rebuild too (max_parallel_maintenance_workers raised
-- to target for it, as run() raises it).
SELECT * FROM parallel_guard.explain('REFRESH MATERIALIZED VIEW rf_mv', 4);
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'REFRESH MATERIALIZED VIEW rf_mv', target => 4, min => 2, retries => 2, delay => '0');
SELECT attempt, node, planned, launches, fewest_launched FROM parallel_guard.history_launches
  WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history) ORDER BY attempt, node;
-- With the whole pool, both get 4 of 4 (the query's 2 of 2): plan-limited at
-- 2 on the first attempt, the view refreshed.
RESET max_parallel_workers;
SELECT achieved_workers, attempts, target_met, planned_workers, row_count FROM parallel_guard.run(
  'REFRESH MATERIALIZED VIEW rf_mv', target => 4, min => 2, retries => 2, delay => '0');
SELECT node, planned, launches, fewest_launched FROM parallel_guard.history_launches
  WHERE run_id = (SELECT max(run_id) FROM parallel_guard.history) ORDER BY node;
SELECT count(*) AS rf_rows FROM rf_mv;
RESET maintenance_work_mem;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
