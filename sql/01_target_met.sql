-- A free pool: the first attempt gets its 4 workers and commits.
\set VERBOSITY terse
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run(
  'CREATE TABLE met1 AS SELECT grp, count(*) AS n FROM big GROUP BY grp',
  target => 4, min => 2, retries => 3, delay => '0');
SELECT grp, n FROM met1 ORDER BY grp;
-- Positional arguments and defaults.
SELECT achieved_workers, attempts, target_met, row_count FROM parallel_guard.run(
  'CREATE TABLE met2 AS SELECT k FROM big WHERE k <= 1000', 2, 1, 1, '0');
SELECT count(*) FROM met2;
SELECT achieved_workers, attempts, target_met, row_count
FROM parallel_guard.run('CREATE TABLE met3 AS SELECT k FROM big WHERE k % 2 = 0');
SELECT count(*) FROM met3;
-- Schema-qualified target, comments and a trailing semicolon.
CREATE SCHEMA s1;
SELECT achieved_workers, row_count FROM parallel_guard.run($q$
  /* nightly load */ CREATE TABLE s1.met4 AS -- the even ones
  SELECT k, 'a;b' AS note FROM big WHERE k <= 10;
$q$, target => 4, min => 4);
SELECT count(*), min(note) FROM s1.met4;
-- The worker names itself in pg_stat_activity's backend_type; none is left.
SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('parallel_guard', 'parallel worker');
