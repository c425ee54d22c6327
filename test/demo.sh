#!/usr/bin/env bash
# test/demo.sh: the main job.  A guarded CREATE TABLE AS on a throwaway
# cluster: with the pool free, with the pool busy (a competing parallel
# query holds most workers, then finishes), with a session cap forcing a
# shortfall, and failing below min.  Each attempt prints a NOTICE; the
# server log's parallel_guard lines are shown at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_install_packages
pg_build_install
pg_start_cluster

say() { printf '\n### %s\n' "$*"; }

say "sample data: 3,000,000 sales rows, planned with 4 parallel workers"
psql_pg -q <<'SQL'
CREATE EXTENSION parallel_guard;
CREATE TABLE sales AS
  SELECT g AS id, g % 1000 AS store, (g::bigint * 7919) % 10000 / 100.0 AS amount
  FROM generate_series(1, 3000000) AS g;
ALTER TABLE sales SET (parallel_workers = 4);
ANALYZE sales;
SQL
psql_pg -c "SHOW max_worker_processes" -c "SHOW max_parallel_workers"

say "1. the pool is free: the first attempt gets its 4 workers"
psql_pg <<'SQL'
SELECT * FROM parallel_guard.run(
  'CREATE TABLE daily_1 AS SELECT store, count(*), sum(amount) FROM sales GROUP BY store',
  target => 4, min => 2, retries => 5, delay => '1 second');
SQL

# Another job's ordinary parallel query takes 6 of the 8 workers for a few
# seconds, in the background (its PID in $busy); returns once they run.
hold_six_workers() {
    psql_pg -q >/dev/null <<'SQL' &
SET max_parallel_workers_per_gather = 6;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
ALTER TABLE sales SET (parallel_workers = 6);
SELECT count(*) FROM sales a, generate_series(1, 8) g WHERE a.amount + g > 0;
ALTER TABLE sales SET (parallel_workers = 4);
SQL
    busy=$!
    for _ in $(seq 1 50); do
        n=$(psql_pg -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'")
        [ "$n" -ge 6 ] && break
        sleep 0.1
    done
}

say "2. the pool is busy: another job's parallel query holds 6 of the 8 workers for a few seconds"
hold_six_workers
echo "parallel workers busy before the guarded call: $n"
echo "the guarded call waits in the queue (parallel_guard is preloaded) instead of launching short:"
psql_pg <<'SQL' &
SELECT * FROM parallel_guard.run(
  'CREATE TABLE daily_2 AS SELECT store, count(*), sum(amount) FROM sales GROUP BY store',
  target => 4, min => 2, retries => 10, delay => '1 second');
SQL
guarded=$!
sleep 0.5
psql_pg -c "SELECT pid, database, queue_position, target, workers_held, attempt, state FROM parallel_guard.queue"
wait "$guarded"
wait "$busy" || true

say "2b. the same with queuing switched off for the session: short attempts are rolled back and retried"
hold_six_workers
psql_pg <<'SQL'
SET parallel_guard.queue_timeout = 0;
SELECT * FROM parallel_guard.run(
  'CREATE TABLE daily_2b AS SELECT store, count(*), sum(amount) FROM sales GROUP BY store',
  target => 4, min => 2, retries => 10, delay => '1 second');
SQL
wait "$busy" || true

say "3. a session capped at 2 workers: every attempt is short, the last one is accepted at min"
psql_pg <<'SQL'
SET max_parallel_workers = 2;
SELECT * FROM parallel_guard.run(
  'CREATE TABLE daily_3 AS SELECT store, count(*), sum(amount) FROM sales GROUP BY store',
  target => 4, min => 2, retries => 3, delay => '500 ms');
SQL

say "4. below min on the last attempt: SQLSTATE 53000, every attempt rolled back"
psql_pg -v ON_ERROR_STOP=0 <<'SQL'
SET max_parallel_workers = 1;
SELECT * FROM parallel_guard.run(
  'CREATE TABLE daily_4 AS SELECT store, count(*), sum(amount) FROM sales GROUP BY store',
  target => 4, min => 2, retries => 2, delay => '500 ms');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('daily_4') IS NOT NULL AS daily_4_exists;
SQL

say "tables now present (no leftovers from rolled-back attempts)"
psql_pg -c "SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY relname"

say "the history of the guarded runs (shared memory, parallel_guard.history)"
psql_pg -c "SELECT run_id, statement, attempts, planned, launched, achieved_workers, verdict, sqlstate, row_count FROM parallel_guard.history ORDER BY run_id"

say "the server log's parallel_guard lines"
sleep 0.5
grep -E 'parallel_guard: (attempt|run)' "$WORK/server.log" | sed -E 's/^[^ ]+ [^ ]+ UTC //'
