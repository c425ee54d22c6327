#!/usr/bin/env bash
# test/bench_history.sh: what writing the history to disk costs per guarded
# run (a benchmark that prints numbers, not a timed test).
#
# One throwaway cluster (fsync = on, so that the journal's compactions pay
# their fsync as on a real server), statements guarded as written that plan
# no parallel workers (CREATE TEMP TABLE ... AS SELECT 1: the run itself is
# as cheap as a guarded run gets, so the history's share is as large as it
# gets), run by pgbench in one session.  Rounds alternate
# parallel_guard.history_journal on (each run appends its history entry and
# its stats entry to pg_stat/parallel_guard.journal) and off (shared memory
# only, saved at shutdown), so that both see the same machine load; the
# medians of the rounds and their ratio are printed.
#
#   bash test/bench_history.sh        # as root, like the other scripts
#
# Settings: BENCH_HISTORY_RUNS (2000 per round), BENCH_HISTORY_ROUNDS (7
# pairs).  Takes about a minute.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_HISTORY_RUNS:-2000}
ROUNDS=${BENCH_HISTORY_ROUNDS:-7}

pg_install_packages
pg_build_install
pg_start_cluster "fsync = on" "parallel_guard.history_size = 200"
psql_pg -q -c 'CREATE EXTENSION parallel_guard'

cat >"$WORK/run.sql" <<'SQL'
SET parallel_guard.target = 1;
SET parallel_guard.min = 0;
SET parallel_guard.retries = 1;
CREATE TEMP TABLE b AS SELECT 1 AS k;
DROP TABLE b;
SQL
chown postgres: "$WORK/run.sql"

journal() { # on|off
    psql_pg -q -c "ALTER SYSTEM SET parallel_guard.history_journal = $1" -c 'SELECT pg_reload_conf()' >/dev/null
    # pgbench's new session reads the reloaded file; wait until one does.
    local i
    for i in $(seq 1 50); do
        [ "$(psql_pg -At -c 'SHOW parallel_guard.history_journal')" = "$1" ] && return
        sleep 0.1
    done
    echo "parallel_guard.history_journal did not become $1" >&2; exit 1
}

results=$WORK/results
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
    for j in on off; do
        journal $j
        before=$(psql_pg -At -c 'SELECT coalesce(max(run_id), 0) FROM parallel_guard.history')
        ms=$(as_pg pgbench -h "$PGHOST" -p "$PGPORT" -n -f "$WORK/run.sql" -t "$RUNS" -c 1 postgres 2>/dev/null |
             sed -n 's/^latency average = \(.*\) ms/\1/p')
        after=$(psql_pg -At -c 'SELECT max(run_id) FROM parallel_guard.history')
        [ $((after - before)) -eq "$RUNS" ] ||
            { echo "round $round, journal $j: $((after - before)) runs recorded, $RUNS expected" >&2; exit 1; }
        printf 'round %d  journal %-3s  %d runs  %s ms per run\n' "$round" $j "$RUNS" "$ms"
        echo "$j $ms" >>"$results"
    done
done

awk '
    { v[$1] = v[$1] " " $2 }
    function median(s,    a, n, i, j, t) {
        n = split(s, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        on = median(v["on"]); off = median(v["off"])
        printf "\nmedian ms per guarded run: journal on %.3f, off %.3f; ratio on/off %.3f; difference %.1f us per run\n",
               on, off, on / off, (on - off) * 1000
    }' "$results"
echo "journal now $(stat -c %s "$PGDATA_DIR/pg_stat/parallel_guard.journal") bytes; compacted every 2 x history_size (400) records"
