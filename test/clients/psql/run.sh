#!/usr/bin/env bash
# test/clients/psql/run.sh: run guarded_ctas.sql (or, --as-written,
# as_written.sql) as a batch job step.
#
#   run.sh [--force-shortfall | --force-plan-too-small] [TARGET_TABLE]
#   run.sh --as-written [TARGET_TABLE]
#
# Connection: PGHOST, PGPORT, PGUSER, PGDATABASE (libpq's variables); PSQL
# names the psql binary (default: psql on PATH).
# Exit code: 0 when the table was created; 75 (EX_TEMPFAIL, "try again
# later") when the guard could not get the workers (SQLSTATE 53000); 78
# (EX_CONFIG, do not retry: fix the table or the settings) when the plan
# asks for fewer workers than min (SQLSTATE 55000); psql's own exit code (3
# for an SQL error in the script) for anything else.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=0 plan_too_small=0 script=guarded_ctas name=guarded_ctas
if [ "${1:-}" = --as-written ]; then script=as_written name=guarded_as_written; shift; fi
if [ "${1:-}" = --force-shortfall ]; then force=1; shift; fi
if [ "${1:-}" = --force-plan-too-small ]; then plan_too_small=1; shift; fi
table=${1:-daily_summary_psql}

err=$(mktemp)
trap 'rm -f "$err"' EXIT

# psql's stdout goes through; its stderr (NOTICEs, the error) goes through
# too as it comes, and is kept in $err.
{
    "${PSQL:-psql}" -X -q -v target_table="$table" -v force_shortfall="$force" \
        -v force_plan_too_small="$plan_too_small" \
        -f "$here/$script.sql" 2>&1 1>&3 3>&- | tee "$err" >&2 3>&-
    rc=${PIPESTATUS[0]}
} 3>&1
[ "$rc" -eq 0 ] && exit 0

# VERBOSITY verbose: "psql:FILE:LINE: ERROR:  53000: only 1 parallel worker ..."
sqlstate=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' "$err" | head -n 1)
echo "$name (psql): FAILED: SQLSTATE ${sqlstate:-unknown}, psql exit code $rc" >&2
# Only 53000 is worth retrying later; 55000 needs a change first.
case "$sqlstate" in
    53000) exit 75 ;; # EX_TEMPFAIL
    55000) exit 78 ;; # EX_CONFIG
esac
exit "$rc"
