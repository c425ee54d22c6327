#!/usr/bin/env bash
# test/bench_queue.sh: benchmark of the queue of guarded runs, on a throwaway
# PostgreSQL 15 cluster (as root: bash test/bench_queue.sh; about 10 minutes
# on 2 cores with the defaults).  Rerunnable: every run starts a fresh cluster.
#
# K jobs started together (K = 2, 4, 8), each a CREATE TABLE AS wanting 4
# parallel workers (min 2, 5 attempts, 2 s delay) on a pool of
# max_parallel_workers = 8, with and without a background of ordinary
# parallel queries (pgbench, 2 clients taking 2 workers each), run three ways
# on the same cluster and data:
#   guard   parallel_guard.run(): the jobs queue in the server;
#   client  the client-side loop batch code runs today (poll pg_stat_activity
#           after 1 s from a second connection, pg_cancel_backend, DROP TABLE
#           IF EXISTS, sleep, retry);
#   plain   the bare CTAS, no guard.
# For each: jobs that met the target, jobs below min, wasted attempts,
# makespan (first start to last end), median job time, and makespan / ideal,
# where ideal = ceil(K / J) x one job alone with 4 workers, J being the jobs
# of 4 workers the pool holds at once (2; 1 while the background takes 4 of
# the 8 workers).  Two kinds of work: "cpu" (an aggregate that hashes every
# row: on 2 cores, workers share the same CPUs, so parallelism buys little;
# the single-job times show how little) and "sleep" (every row sleeps a few
# ms: time per process, as on a machine with a core per worker).  Driver:
# test/bench_queue.py (Debian's python3-psycopg2).  Ends with "RESULT ..."
# lines, one per work, background, K and method.
#
# Knobs (environment): BENCH_K ("2 4 8"), BENCH_BG ("off on"), BENCH_WORK
# ("cpu sleep"), BENCH_METHODS ("guard client plain"), BENCH_ROWS (2000000,
# cpu work), BENCH_SLEEP_ROWS (2400) and BENCH_SLEEP_MS (5) (sleep work),
# BENCH_TARGET (4), BENCH_MIN (2), BENCH_RETRIES (5), BENCH_DELAY_S (2),
# BENCH_CHECK_S (1, the client's wait before it looks), BENCH_BG_CLIENTS (2),
# BENCH_BG_WORKERS (2), BENCH_SINGLE_RUNS (3), BENCH_QUEUE_TIMEOUT
# (parallel_guard.queue_timeout of the jobs, "2min": long enough for the
# longest legitimate wait here, K = 8 one at a time, shorter than the default
# 5 min so that a run waiting for room that never comes cannot stretch the
# benchmark).  KEEP_WORK=1 keeps the cluster's directory (server log).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_start=$(date +%s)
pg_install_packages
if ! dpkg-query -W -f='${Status}' python3-psycopg2 2>/dev/null | grep -q "ok installed"; then
    log "installing python3-psycopg2"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-psycopg2 >/dev/null
fi
pg_build_install
pg_start_cluster "max_parallel_workers = 8" "max_worker_processes = 16" \
    "max_connections = 100" "jit = off"

export PG_BIN BENCH_DIR=$WORK
log "running the workloads (test/bench_queue.py)"
# Debian's python3, which python3-psycopg2 is installed for.
/usr/bin/python3 "$REPO/test/bench_queue.py"
echo "RESULT total_seconds $(($(date +%s) - bench_start))"
