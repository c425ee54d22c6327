#!/usr/bin/env bash
# test/bench.sh: benchmark of parallel_guard.run() on a throwaway PostgreSQL
# cluster, 15 by default (as root: bash test/bench.sh; about 1.5 minutes on 2
# cores; PG_MAJOR=NN for another version, see test/lib.sh; in a fresh root of
# each version: bash test/matrix.sh --run "bash test/bench.sh" 17 18 19).
#
# Measures, side by side in one run:
#  1. launch-to-verdict latency (verdict_ms of the server LOG lines), over
#     attempts that met the target and attempts forced short with
#     SET max_parallel_workers = 2; and, for information, the same on a
#     longer statement with parallel_leader_participation = off (the
#     lock-group path);
#  2. the cost of one short attempt without delay:
#     (T(retries=R) - T(retries=1)) / (R-1), with every attempt short but the
#     last, measured by the client (psql \timing) and by the server (total_ms);
#     plus the start-to-verdict time of short attempts from the LOG lines;
#  3. the overhead of run() against the same CREATE TABLE AS run directly,
#     interleaved, on a ~1 s statement (4 workers) and on a one-row statement;
#  4. statements guarded as written (SET parallel_guard.target = 4 in the
#     session): a) the ~1 s statement plain, guarded as written and through
#     run(), interleaved by threes (order rotating): medians and the pairwise
#     ratio as-written / plain; the verdict's delay after the launch; b) the
#     cost of one short attempt as written, delay 0 (max_parallel_workers = 2,
#     parallel_guard.retries R against 1, as in 2).
# Every timed statement goes through one psql session per section with
# \timing on, direct and guarded alike.  Analysis: test/bench.pl (perl only).
# Prints a report that ends with "RESULT <name> <value> <unit>" lines.
#
# PG_PRIVATE_CONFIG=/path/to/pg_config runs it on that installation (e.g. a
# private copy of the server) instead of Debian's (see test/lib.sh).
#
# Knobs (environment): BENCH_ROWS (2000000), BENCH_P1_RUNS (10),
# BENCH_P1B_RUNS (5), BENCH_R (11), BENCH_P2_REPS (9), BENCH_P3_RUNS (15),
# BENCH_TINY_RUNS (25), BENCH_AW_RUNS (9, triples of section 4a),
# BENCH_AW_REPS (7, pairs of section 4b).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_ROWS=${BENCH_ROWS:-2000000}
BENCH_P1_RUNS=${BENCH_P1_RUNS:-10}
BENCH_P1B_RUNS=${BENCH_P1B_RUNS:-5}
BENCH_R=${BENCH_R:-11}
BENCH_P2_REPS=${BENCH_P2_REPS:-9}
BENCH_P3_RUNS=${BENCH_P3_RUNS:-15}
BENCH_TINY_RUNS=${BENCH_TINY_RUNS:-25}
BENCH_AW_RUNS=${BENCH_AW_RUNS:-9}
BENCH_AW_REPS=${BENCH_AW_REPS:-7}

# The statements.  FAST: ~0.3 s, planned 4 workers (sections 1 and 2).
# SLOW: ~1 s here, planned 4 workers (sections 1b and 3).  TINY: no Gather (planned 0).
FAST_SQL='CREATE TABLE bench_fast AS SELECT id, v FROM big WHERE v % 10 = 0'
SLOW_SQL="CREATE TABLE bench_slow AS SELECT id, v FROM big WHERE md5(pad) LIKE 'a%'"
TINY_SQL='CREATE TABLE tiny AS SELECT 1 AS x'
# run() arguments per use.
P1_ARGS="target => 4, min => 2, retries => 2, delay => '0'"
P2_ARGS_R="target => 4, min => 2, retries => $BENCH_R, delay => '0'"
P2_ARGS_1="target => 4, min => 2, retries => 1, delay => '0'"
P3_ARGS="target => 4, min => 2, retries => 5, delay => '2 seconds'"   # the defaults
TINY_ARGS="target => 1, min => 0, retries => 1, delay => '0'"
# Section 4: the session settings of statements guarded as written.
AW_SET="SET parallel_guard.target = 4"
AW_RESET="RESET parallel_guard.target"
export BENCH_ROWS BENCH_P1_RUNS BENCH_P1B_RUNS BENCH_R BENCH_P2_REPS BENCH_P3_RUNS \
       BENCH_TINY_RUNS BENCH_AW_RUNS BENCH_AW_REPS AW_SET FAST_SQL SLOW_SQL TINY_SQL P1_ARGS P2_ARGS_R P2_ARGS_1 P3_ARGS TINY_ARGS

bench_start=$(date +%s)
pg_install_packages
pg_build_install
pg_start_cluster
BENCH=$WORK/bench
mkdir -p "$BENCH"

# Quote a statement as a dollar-quoted SQL literal.
lit() { printf '$bench$%s$bench$' "$1"; }
guarded() { printf 'SELECT * FROM parallel_guard.run(%s, %s);\n' "$(lit "$1")" "$2"; }
# mark TAG: the next "Time:" line psql prints belongs to TAG ("-": not measured).
# Tags of guarded calls: free, short, rR, r1, guarded, warmg; guarded as
# written: aw, warma, awR, aw1 (bench.pl knows them).
mark() { printf '\\echo @@ %s\n' "$1"; }
session_head() {
    printf '\\timing on\n'
    printf "SELECT 'PID', pg_backend_pid();\n"
}
run_section() { # NAME [psql options]: run $BENCH/NAME.sql in one psql session
    local name=$1; shift
    log "section $name"
    if ! psql_pg -q -A -t "$@" -f "$BENCH/$name.sql" >"$BENCH/$name.out" 2>"$BENCH/$name.err"; then
        echo "psql failed in section $name:" >&2
        tail -n 20 "$BENCH/$name.err" >&2
        exit 1
    fi
}

log "sample data: $BENCH_ROWS rows"
data_start=$(date +%s%N)
psql_pg -q <<SQL
CREATE EXTENSION parallel_guard;
CREATE TABLE big AS
    SELECT g AS id, (g::bigint * 7919 % 1000003)::int AS v, md5(g::text) AS pad
    FROM generate_series(1, $BENCH_ROWS) g;
ALTER TABLE big SET (parallel_workers = 4);
VACUUM ANALYZE big;
CHECKPOINT;
SQL
data_s=$(awk -v a="$data_start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
export data_s

# Plans and warm-up (not timed): the direct statements with the planner
# settings the guarded worker uses (run() raises max_parallel_workers_per_gather
# to target inside its worker; the direct session sets it to 4 itself).
{
    echo "SET max_parallel_workers_per_gather = 4;"
    for s in "$FAST_SQL" "$SLOW_SQL"; do
        echo "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $s;"
        echo "DROP TABLE $(awk '{print $3}' <<<"$s");"
    done
    echo "EXPLAIN (COSTS OFF) $TINY_SQL;"
} >"$BENCH/plans.sql"
psql_pg -q -f "$BENCH/plans.sql" >"$BENCH/plans.out"

# ---- section 1: launch-to-verdict latency ---------------------------------
p1_script() { # RUNS SQL TABLE [session settings...]: pool free and forced short, interleaved
    local runs=$1 sql=$2 table=$3 i; shift 3
    session_head
    for i in "$@"; do echo "$i;"; done
    for i in $(seq 1 "$runs"); do
        mark "free $i"; guarded "$sql" "$P1_ARGS"
        mark -; echo "DROP TABLE IF EXISTS $table;"
        mark -; echo "SET max_parallel_workers = 2;"
        mark "short $i"; guarded "$sql" "$P1_ARGS"
        mark -; echo "DROP TABLE IF EXISTS $table;"
        mark -; echo "RESET max_parallel_workers;"
    done
}
p1_script "$BENCH_P1_RUNS" "$FAST_SQL" bench_fast >"$BENCH/p1.sql"
run_section p1

# ---- section 1b: parallel_leader_participation = off (lock-group path) ----
# SLOW, so that the workers are still running when settle_time expires.
p1_script "$BENCH_P1B_RUNS" "$SLOW_SQL" bench_slow "SET parallel_leader_participation = off" \
    >"$BENCH/p1b.sql"
# An error of run() here is reported (see bench.pl), not fatal.
run_section p1b -v ON_ERROR_STOP=0

# ---- section 2: cost of one short attempt, no delay ------------------------
{
    session_head
    echo "SET max_parallel_workers = 2;"
    mark warmg; guarded "$FAST_SQL" "$P2_ARGS_1"
    mark -; echo "DROP TABLE bench_fast;"
    for i in $(seq 1 "$BENCH_P2_REPS"); do
        if ((i % 2)); then order="R 1"; else order="1 R"; fi
        for k in $order; do
            if [ "$k" = R ]; then args=$P2_ARGS_R; else args=$P2_ARGS_1; fi
            mark "r$k $i"; guarded "$FAST_SQL" "$args"
            mark -; echo "DROP TABLE bench_fast;"
        done
    done
} >"$BENCH/p2.sql"
run_section p2

# ---- section 3: overhead against the direct statement ----------------------
direct_guarded_pairs() { # RUNS SQL ARGS TABLE: timed pairs, order alternating
    local runs=$1 sql=$2 args=$3 table=$4 i k order
    for i in $(seq 1 "$runs"); do
        if ((i % 2)); then order="direct guarded"; else order="guarded direct"; fi
        for k in $order; do
            mark "$k $i"
            if [ "$k" = direct ]; then echo "$sql;"; else guarded "$sql" "$args"; fi
            mark -; echo "DROP TABLE $table;"
        done
    done
}

{
    session_head
    echo "SET max_parallel_workers_per_gather = 4;"
    mark warmd; echo "$SLOW_SQL;"
    mark -; echo "DROP TABLE bench_slow;"
    mark warmg; guarded "$SLOW_SQL" "$P3_ARGS"
    mark -; echo "DROP TABLE bench_slow;"
    direct_guarded_pairs "$BENCH_P3_RUNS" "$SLOW_SQL" "$P3_ARGS" bench_slow
} >"$BENCH/p3.sql"
run_section p3

{
    session_head
    for i in 1 2 3; do
        mark warmd; echo "$TINY_SQL;"; mark -; echo "DROP TABLE tiny;"
        mark warmg; guarded "$TINY_SQL" "$TINY_ARGS"; mark -; echo "DROP TABLE tiny;"
    done
    direct_guarded_pairs "$BENCH_TINY_RUNS" "$TINY_SQL" "$TINY_ARGS" tiny
} >"$BENCH/p4.sql"
run_section p4

# ---- section 4: statements guarded as written --------------------------------
# a) plain, as written, run(): triples, order rotating over all six orders.
{
    session_head
    echo "SET max_parallel_workers_per_gather = 4;"
    mark warmd; echo "$SLOW_SQL;"
    mark -; echo "DROP TABLE bench_slow;"
    mark -; echo "$AW_SET;"
    mark warma; echo "$SLOW_SQL;"
    mark -; echo "$AW_RESET;"
    mark -; echo "DROP TABLE bench_slow;"
    mark warmg; guarded "$SLOW_SQL" "$P3_ARGS"
    mark -; echo "DROP TABLE bench_slow;"
    orders=("direct aw guarded" "aw guarded direct" "guarded direct aw"
            "direct guarded aw" "guarded aw direct" "aw direct guarded")
    for i in $(seq 1 "$BENCH_AW_RUNS"); do
        for k in ${orders[$(((i - 1) % 6))]}; do
            case $k in
            direct) mark "direct $i"; echo "$SLOW_SQL;" ;;
            guarded) mark "guarded $i"; guarded "$SLOW_SQL" "$P3_ARGS" ;;
            aw) mark -; echo "$AW_SET;"
                mark "aw $i"; echo "$SLOW_SQL;"
                mark -; echo "$AW_RESET;" ;;
            esac
            mark -; echo "DROP TABLE bench_slow;"
        done
    done
} >"$BENCH/p5.sql"
run_section p5

# b) one short attempt as written, delay 0: retries R against 1.
{
    session_head
    echo "SET max_parallel_workers = 2;"
    echo "SET parallel_guard.min = 2;"
    echo "SET parallel_guard.delay = 0;"
    echo "$AW_SET;"
    echo "SET parallel_guard.retries = 1;"
    mark warma; echo "$FAST_SQL;"
    mark -; echo "DROP TABLE bench_fast;"
    for i in $(seq 1 "$BENCH_AW_REPS"); do
        if ((i % 2)); then order="R 1"; else order="1 R"; fi
        for k in $order; do
            if [ "$k" = R ]; then r=$BENCH_R; else r=1; fi
            mark -; echo "SET parallel_guard.retries = $r;"
            mark "aw$k $i"; echo "$FAST_SQL;"
            mark -; echo "DROP TABLE bench_fast;"
        done
    done
} >"$BENCH/p6.sql"
run_section p6

export BENCH_SECONDS=$(($(date +%s) - bench_start))
export PG_VERSION_STR GIT_HEAD
PG_VERSION_STR=$(psql_pg -A -t -c "SELECT version()")
GIT_HEAD=$(git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo unknown)
[ -n "$(git -C "$REPO" status --porcelain -- src sql Makefile 2>/dev/null)" ] &&
    GIT_HEAD="$GIT_HEAD (+ uncommitted changes in src/sql/Makefile)"
export SETTINGS
SETTINGS=$(psql_pg -q -A -t -F= -c "LOAD 'parallel_guard'" -c "SELECT name, setting FROM pg_settings WHERE name IN
    ('max_worker_processes','max_parallel_workers','max_parallel_workers_per_gather',
     'parallel_leader_participation','parallel_guard.settle_time','shared_buffers','fsync')
    ORDER BY name" | paste -sd' ')
export NPROC
NPROC=$(nproc)
perl "$REPO/test/bench.pl" "$BENCH" "$WORK/server.log"
