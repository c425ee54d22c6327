#!/usr/bin/env bash
# test/check.sh: run every test of parallel_guard against a real PostgreSQL
# server, 15 by default (PG_MAJOR=17 bash test/check.sh for another version
# installed or installable here; test/matrix.sh runs it for every supported
# version, each in a fresh Debian root).
#
# As root on a fresh Debian 12 machine: installs what is missing, builds and
# installs the extension, runs the pg_regress suite (sql/, expected/) on a
# throwaway cluster, then the TAP suite (test/t/*.pl, each test starts its
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
pg_install_packages
pg_build_install
pg_workspace

# The postgres OS user runs the servers and the TAP tests: give it a copy.
cp -a "$REPO" "$WORK/src"
rm -rf "$WORK/src/results" "$WORK/src/tmp_check" "$WORK/src/regression."*
chown -R postgres: "$WORK/src"

pg_start_cluster
passed=0 failed=0

log "pg_regress suite"
if as_pg make -C "$WORK/src" -s installcheck PG_CONFIG="$PG_CONFIG" \
        PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres; then
    regress_ok=1
else
    regress_ok=0
    cat "$WORK/src/regression.diffs" 2>/dev/null | head -200 || true
fi
n=$(ls "$WORK"/src/sql/*.sql | wc -l)
# pg_regress prints "test NAME ... FAILED" up to 15, "not ok N - NAME" from 16.
f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+' "$WORK/src/regression.out" 2>/dev/null || true)
f=${f:-0}
passed=$((passed + n - f)); failed=$((failed + f))
[ "$regress_ok" = 1 ] || [ "$f" -gt 0 ] || failed=$((failed + 1))
pg_stop_cluster

log "TAP suite"
if as_pg make -C "$WORK/src" -s tapcheck PG_CONFIG="$PG_CONFIG" \
        PROVE_FLAGS='-v' >"$WORK/tap.out" 2>&1; then
    tap_ok=1
else
    tap_ok=0
fi
cat "$WORK/tap.out"
# A skipped check (one the server version has nothing for) is no pass.
t_skip=$(grep -cE '^ok [0-9]+ # skip' "$WORK/tap.out" || true)
t_pass=$(($(grep -cE '^ok [0-9]+' "$WORK/tap.out" || true) - t_skip))
t_fail=$(grep -cE '^not ok [0-9]+' "$WORK/tap.out" || true)
passed=$((passed + t_pass)); failed=$((failed + t_fail)); skipped=$t_skip
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
cat "$WORK/package.out"
p_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/package.out" | tail -n 1)
p_pass=$(echo "${p_line:-0 passed, 0 failed}" | awk '{print $1}')
p_fail=$(echo "${p_line:-0 passed, 0 failed}" | awk '{print $3}')
passed=$((passed + p_pass)); failed=$((failed + p_fail))
[ "$pkg_ok" = 1 ] || [ "$p_fail" -gt 0 ] || failed=$((failed + 1))

echo
for f in "${skipped_files[@]}"; do echo "skipped test file: $f"; done
echo "skipped: $skipped checks that PostgreSQL $PG_MAJOR has nothing for, ${#skipped_files[@]} test files"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
