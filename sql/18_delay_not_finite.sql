-- delay must be finite: PostgreSQL 17 and later accept 'infinity' as an
-- interval, and run() refuses it like a negative delay (22023); before 17
-- the interval input itself refuses it.
\set VERBOSITY terse
-- Which of the expected files this server must match: 18_delay_not_finite.out
-- before 17, _1 from 17.
SELECT current_setting('server_version_num')::int >= 170000 AS interval_accepts_infinity;
SELECT * FROM parallel_guard.run('CREATE TABLE inf1 AS SELECT 1 AS x', delay => 'infinity');
SELECT * FROM parallel_guard.run('CREATE TABLE inf2 AS SELECT 1 AS x', delay => '-infinity');
SELECT to_regclass('inf1') IS NULL AND to_regclass('inf2') IS NULL AS nothing_created;
