-- retries counts every attempt, the first included.  A pool capped at 2
-- workers (max_parallel_workers is honoured per session by the registering
-- backend) makes every attempt short of target 4.
\set VERBOSITY terse
SET max_parallel_workers = 2;
-- retries => 1: exactly one attempt, accepted because it reached min.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run(
  'CREATE TABLE r1 AS SELECT grp, count(*) FROM big GROUP BY grp',
  target => 4, min => 2, retries => 1, delay => '0');
-- retries => 3: three attempts; the first two are rolled back, the last accepted.
SELECT achieved_workers, attempts, target_met, planned_workers, row_count, verdict,
       run_id = (SELECT max(run_id) FROM parallel_guard.history) AS run_id_latest
FROM parallel_guard.run(
  'CREATE TABLE r3 AS SELECT grp, count(*) FROM big GROUP BY grp',
  target => 4, min => 2, retries => 3, delay => '10 ms');
SELECT count(*) FROM r3;
-- min => 0 accepts whatever the last attempt got.
SELECT achieved_workers, attempts, target_met FROM parallel_guard.run(
  'CREATE TABLE r0 AS SELECT k FROM big WHERE k < 5',
  target => 4, min => 0, retries => 2, delay => '0');
-- With the pool free again, the target is met on the first attempt.
RESET max_parallel_workers;
SELECT achieved_workers, attempts, target_met FROM parallel_guard.run(
  'CREATE TABLE r4 AS SELECT k FROM big WHERE k < 5',
  target => 4, min => 2, retries => 3, delay => '0');
