#!/usr/bin/env bash
# test/bench_queue.sh: benchmark of the queue of guarded runs and of reserved
# workers, on a throwaway PostgreSQL cluster (15, or PG_MAJOR / PG_PRIVATE_CONFIG as
# in test/lib.sh; as root: bash
# test/bench_queue.sh; about 15 minutes on 2 cores with the defaults).
# Rerunnable: every run starts a fresh cluster.
#
# K jobs started together (K = 4, 8, 40), each a CREATE TABLE AS wanting 4
# parallel workers (min 2, 5 attempts, 2 s delay) on a pool of
# max_parallel_workers = 8, with 0, 3 and 8 background clients running an
# ordinary parallel query (2 workers planned) in a loop, run three ways on
# the same cluster and data:
#   guard      parallel_guard.run(): the jobs queue in the server and the
#              head of the queue reserves its workers (ordinary queries yield);
#   aswritten  the bare CTAS guarded as written: parallel_guard.target (min,
#              retries, delay) set in the job's connection options;
#   noreserve  the same with parallel_guard.yield_to_reservations = off for
#              the whole server: queued, but not reserved;
#   client     the client-side loop batch code runs today (poll
#              pg_stat_activity after 1 s from a second connection,
#              pg_cancel_backend, DROP TABLE IF EXISTS, sleep, retry);
#   plain      (BENCH_METHODS only) the bare CTAS, no guard.
# For each: jobs that met the target, at their first attempt, wasted
# attempts, failed jobs, makespan (first start to last end) against the
# ideal = ceil(K / 2) x one job alone with 4 workers (the whole pool for the
# jobs, as reservations promise), the median job time; and for the
# background's ordinary queries their median latency and the workers they
# launched.  The work is "sleep" (every row sleeps a few ms: time per
# process, as on a machine with a core per worker; "cpu", an aggregate that
# hashes every row, is available with BENCH_WORK).  Last, the hooks' cost in
# ordinary backends: pgbench -S and a short ordinary parallel query, TPS with
# the library preloaded against the same server restarted without it,
# alternated, as a ratio.  Driver: test/bench_queue.py (Debian's
# python3-psycopg2).  Ends with "RESULT ..." lines.
#
# Knobs (environment): BENCH_K ("4 8 40"), BENCH_BG ("0 3 8", background
# clients), BENCH_WORK ("sleep"), BENCH_METHODS ("guard aswritten noreserve
# client"),
# BENCH_ROWS (2000000, cpu work), BENCH_SLEEP_ROWS (1200) and BENCH_SLEEP_MS
# (5) (sleep work), BENCH_TARGET (4), BENCH_MIN (2), BENCH_RETRIES (5),
# BENCH_DELAY_S (2), BENCH_CHECK_S (1, the client's wait before it looks),
# BENCH_BG_WORKERS (2), BENCH_SINGLE_RUNS (3), BENCH_QUEUE_TIMEOUT
# (parallel_guard.queue_timeout of the jobs, "2min"), BENCH_HOOK (1),
# BENCH_HOOK_SECONDS (10), BENCH_HOOK_ROUNDS (2).  KEEP_WORK=1 keeps the
# cluster's directory (server log).  PG_PRIVATE_CONFIG=/path/to/pg_config
# runs it on that installation (a private copy of the server) instead of
# Debian's (see test/lib.sh).
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
    "max_connections = 150" "jit = off"

export PG_BIN BENCH_DIR=$WORK PGDATA_DIR
log "running the workloads (test/bench_queue.py)"
# Debian's python3, which python3-psycopg2 is installed for.
/usr/bin/python3 "$REPO/test/bench_queue.py"
echo "RESULT total_seconds $(($(date +%s) - bench_start))"
