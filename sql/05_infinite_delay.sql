-- From PostgreSQL 17 on, intervals can be infinite: '-infinity' is a
-- negative delay and 'infinity' no wait an attempt can be retried after;
-- both are refused before any attempt starts.  (In 15 and 16 there are no
-- infinite intervals: the argument itself is refused by interval's input.)
\set VERBOSITY terse
SELECT * FROM parallel_guard.run('CREATE TABLE inf_1 AS SELECT 1 AS x', delay => 'infinity');
SELECT * FROM parallel_guard.run('CREATE TABLE inf_2 AS SELECT 1 AS x', delay => '-infinity');
SELECT to_regclass('inf_1') IS NULL AND to_regclass('inf_2') IS NULL AS nothing_created;
\set VERBOSITY default
