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
