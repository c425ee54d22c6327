#!/usr/bin/env bash
# test/check.sh: run every test of parallel_guard against a real PostgreSQL
# server, 15 by default (PG_MAJOR=17 bash test/check.sh for another version
# installed or installable here; test/matrix.sh runs it for every supported
# version, each in a fresh Debian root).
#
# As root on a fresh Debian 12 machine: installs what is missing, builds and
# installs the extension, runs the pg_regress suite (sql/, expected/) on a
# throwaway cluster, the SQL examples of the documentation (test/doctest.pl,
# on a fresh cluster), then the TAP suite (test/t/*.pl, each test starts its
# own clusters), then test/package_check.sh (META.json, make dist, the .deb
# built, installed and loaded, the psql, JDBC and psycopg2 client examples),
# and stops everything it started, even on failure.
# Prints "N passed, N failed" at the end (after "skipped: N ..." for checks
# this server version has nothing for, and a "skipped test file:" line for
# each test file whose subject is not installed here, with the reason) and
# exits non-zero on any failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES+=("${INTEGRATION_PACKAGES[@]}")
OPTIONAL_PACKAGES+=(postgresql-$PG_MAJOR-cron postgresql-$PG_MAJOR-pgvector)
# Whatever ends this script, its last line is the tally: a step that fails
# before the end (set -e) counts as one more failure.
passed=0 failed=0 tallied=0
tally_at_exit() {
    [ "$tallied" = 1 ] && return
    echo
    echo "check.sh stopped before its end (exit code $1)"
    echo "$passed passed, $((failed + 1)) failed"
}
PG_EXIT_HOOK=tally_at_exit
trap 'rc=$?; tally_at_exit $rc; exit $rc' EXIT

pg_install_packages
pg_build_install
pg_workspace

# The postgres OS user runs the servers and the TAP tests: give it a copy.
cp -a "$REPO" "$WORK/src"
rm -rf "$WORK/src/results" "$WORK/src/tmp_check" "$WORK/src/regression."*
chown -R postgres: "$WORK/src"

pg_start_cluster

# Every run is bounded in time, far above a healthy one (pg_regress about a
# minute, the TAP suite about ten): a hang fails the run instead of holding CI.
log "pg_regress suite"
if as_pg timeout 15m make -C "$WORK/src" -s installcheck PG_CONFIG="$PG_CONFIG" \
        PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres >"$WORK/regress.out" 2>&1; then
    regress_ok=1
else
    regress_ok=0
fi
cat "$WORK/regress.out" 2>/dev/null
[ "$regress_ok" = 1 ] || cat "$WORK/src/regression.diffs" 2>/dev/null | head -200 || true
n=$(ls "$WORK"/src/sql/*.sql | wc -l)
# pg_regress prints "test NAME ... ok|FAILED" up to 15, "ok|not ok N - NAME"
# from 16.  A test that never ran (pg_regress aborted) is a failure too.
f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+' "$WORK/regress.out" || true)
p=$(grep -cE '\.\.\. ok|^ok [0-9]+' "$WORK/regress.out" || true)
f=${f:-0} p=${p:-0}
[ $((p + f)) -ge "$n" ] || { echo "not ok - pg_regress ran $((p + f)) of $n tests"; f=$((n - p)); }
passed=$((passed + p)); failed=$((failed + f))
[ "$regress_ok" = 1 ] || [ "$f" -gt 0 ] || failed=$((failed + 1))
pg_stop_cluster

# The SQL examples of README.md and doc/*.md, run as written and their output
# compared (test/doctest.pl), on a fresh cluster of their own so that what the
# pages show does not depend on what the suite left: a few seconds.
log "documentation examples (test/doctest.pl)"
rm -rf "$PGDATA_DIR"
pg_start_cluster
if as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres timeout 5m \
        perl "$WORK/src/test/doctest.pl" --psql "$PG_BIN/psql" >"$WORK/doctest.out" 2>&1; then
    doc_ok=1
else
    doc_ok=0
fi
cat "$WORK/doctest.out" 2>/dev/null
d_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/doctest.out" | tail -n 1 || true)
d_pass=$(echo "${d_line:-0 passed, 0 failed}" | awk '{print $1}')
d_fail=$(echo "${d_line:-0 passed, 0 failed}" | awk '{print $3}')
passed=$((passed + d_pass)); failed=$((failed + d_fail))
[ "$doc_ok" = 1 ] || [ "$d_fail" -gt 0 ] || failed=$((failed + 1))
# The doc test itself: on a page whose examples drifted (a renamed column,
# an old message) it must fail exactly those two, or it could not catch
# drift in the real pages.
as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres timeout 2m \
    perl "$WORK/src/test/doctest.pl" --psql "$PG_BIN/psql" "$WORK/src/test/doctest/drift.md" \
    >"$WORK/doctest_drift.out" 2>&1 && drift_rc=0 || drift_rc=$?
if [ "$drift_rc" -ne 0 ] && grep -qx '1 passed, 2 failed' "$WORK/doctest_drift.out"; then
    echo "ok - test/doctest.pl fails a page whose examples drifted (1 passed, 2 failed)"
    passed=$((passed + 1))
else
    echo "not ok - test/doctest.pl fails a page whose examples drifted (1 passed, 2 failed)"
    sed 's/^/    /' "$WORK/doctest_drift.out" | tail -20
    failed=$((failed + 1))
fi
pg_stop_cluster

log "TAP suite"
if as_pg timeout 45m make -C "$WORK/src" -s tapcheck PG_CONFIG="$PG_CONFIG" \
        PROVE_FLAGS='-v' >"$WORK/tap.out" 2>&1; then
    tap_ok=1
else
    tap_ok=0
fi
cat "$WORK/tap.out" 2>/dev/null
# A skipped check (one the server version has nothing for) is no pass.
t_skip=$(grep -cE '^ok [0-9]+ # skip' "$WORK/tap.out" || true)
t_pass=$(($(grep -cE '^ok [0-9]+' "$WORK/tap.out" || true) - t_skip))
t_fail=$(grep -cE '^not ok [0-9]+' "$WORK/tap.out" || true)
passed=$((passed + t_pass)); failed=$((failed + t_fail)); skipped=$t_skip
# A file that died before its plan was done ran fewer checks than it has:
# prove says "No plan found" (done_testing() never reached) or "Bad plan".
t_died=$(grep -cE 'No plan found in TAP output|Bad plan\.' "$WORK/tap.out" || true)
[ "${t_died:-0}" -eq 0 ] || echo "not ok - $t_died TAP files stopped before their last check"
failed=$((failed + ${t_died:-0}))
# A whole file skipped (what it tests is not installed here): prove prints
# "test/t/NAME.pl .. skipped: why".
mapfile -t skipped_files < <(sed -nE 's|^test/(t/[^ ]+\.pl) \.+ skipped: (.*)$|\1: \2|p' "$WORK/tap.out")
# Only for a package the archive does not have: a skip naming none of them
# would hide a missing install step, and fails.
mapfile -t absent < <(pg_missing "${OPTIONAL_PACKAGES[@]}")
for f in "${skipped_files[@]}"; do
    ok=0
    for p in "${absent[@]}"; do [[ $f == *"$p"* ]] && ok=1; done
    if [ "$ok" = 0 ]; then
        echo "not ok - ${f%%:*} was skipped, but no package it names is missing from the archive: $f"
        failed=$((failed + 1))
    fi
done
[ "$tap_ok" = 1 ] || [ "$t_fail" -gt 0 ] || failed=$((failed + 1))
if [ "$tap_ok" != 1 ]; then
    for f in "$WORK"/src/tmp_check/log/*; do
        [ -f "$f" ] && { echo "---- $f"; tail -n 30 "$f"; }
    done
fi

log "packaging and client examples (test/package_check.sh)"
if bash "$REPO/test/package_check.sh" >"$WORK/package.out" 2>&1; then
    pkg_ok=1
else
    pkg_ok=0
fi
cat "$WORK/package.out" 2>/dev/null
p_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/package.out" | tail -n 1)
p_pass=$(echo "${p_line:-0 passed, 0 failed}" | awk '{print $1}')
p_fail=$(echo "${p_line:-0 passed, 0 failed}" | awk '{print $3}')
passed=$((passed + p_pass)); failed=$((failed + p_fail))
[ "$pkg_ok" = 1 ] || [ "$p_fail" -gt 0 ] || failed=$((failed + 1))

echo
# Which checks failed, named at the end where a truncated CI log still
# shows them: "failed check: FILE: NAME" (a TAP file's name is the last
# "test/t/FILE.pl ..." line prove printed before the check).
{
    sed -nE 's/^test ([^ ]+) +\.\.\. FAILED.*/sql\/\1/p; s/^not ok [0-9]+ +- +([^ ]+).*/sql\/\1/p' "$WORK/regress.out" 2>/dev/null
    awk '/^test\/t\/[^ ]+\.pl \.+/ { file = $1 } /^not ok [0-9]+/ { sub(/^not ok [0-9]+ - /, ""); print file ": " $0 } /No plan found in TAP output|Bad plan\./ { print file ": stopped before its last check" }' "$WORK/tap.out" 2>/dev/null
    sed -nE 's/^not ok +(.*)$/test\/package_check.sh: \1/p' "$WORK/package.out" 2>/dev/null
    sed -nE 's/^not ok [0-9]+ - (.*)$/test\/doctest.pl: \1/p' "$WORK/doctest.out" 2>/dev/null
} | sed 's/^/failed check: /'
for f in "${skipped_files[@]}"; do echo "skipped test file: $f"; done
grep -hE '^(doctest: |skipped example: )' "$WORK/doctest.out" 2>/dev/null || true
echo "skipped: $skipped checks that PostgreSQL $PG_MAJOR has nothing for, ${#skipped_files[@]} test files"
tallied=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
