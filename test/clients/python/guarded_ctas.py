#!/usr/bin/python3
"""test/clients/python/guarded_ctas.py: a nightly CREATE TABLE AS, guarded.

    guarded_ctas.py [--force-shortfall | --force-plan-too-small] [TARGET_TABLE]

Uses Debian's python3-psycopg2 (hence /usr/bin/python3).  Connection: the
usual PGHOST (a host name, or the directory of the server's Unix socket),
PGPORT, PGUSER, PGDATABASE, PGPASSWORD.  The caller needs EXECUTE on
parallel_guard.run() (a superuser has it).

Exit code: 0 when the table was created; 75 (EX_TEMPFAIL, "try again later")
when the guard could not get the workers (SQLSTATE 53000); 78 (EX_CONFIG, do
not retry: fix the table or the settings) when the plan asks for fewer
workers than min (SQLSTATE 55000); 1 for any other database error.
"""
import os
import sys

import psycopg2
from psycopg2 import sql

EX_TEMPFAIL = 75
EX_CONFIG = 78
# Only 53000 is worth retrying later; 55000 needs a change first.
EXIT_CODES = {"53000": EX_TEMPFAIL,  # insufficient_resources
              "55000": EX_CONFIG}    # object_not_in_prerequisite_state


def main(argv):
    force_shortfall = len(argv) > 0 and argv[0] == "--force-shortfall"
    if force_shortfall:
        argv = argv[1:]
    force_plan_too_small = len(argv) > 0 and argv[0] == "--force-plan-too-small"
    if force_plan_too_small:
        argv = argv[1:]
    table = argv[0] if argv else "daily_summary_python"

    try:
        conn = psycopg2.connect(
            host=os.environ.get("PGHOST"),  # None: libpq's default socket
            port=os.environ.get("PGPORT"),
            user=os.environ.get("PGUSER"),
            dbname=os.environ.get("PGDATABASE"),
            application_name="guarded_ctas_python",
        )
    except psycopg2.Error as e:
        print("guarded_ctas (python): FAILED: cannot connect: %s" % str(e).strip(),
              file=sys.stderr)
        return 1
    # run() commits its table on its own: call it outside a transaction
    # block (psycopg2 would otherwise open one, and run() says so).
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # The sample source: 200k rows whose scans get 4 workers (1 to
            # simulate a plan that asks for fewer than min: SQLSTATE 55000).
            cur.execute("SET client_min_messages = warning")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS client_demo_src AS"
                " SELECT g AS k, g % 10 AS grp, md5(g::text) AS payload"
                " FROM generate_series(1, 200000) AS g")
            cur.execute("ALTER TABLE client_demo_src SET (parallel_workers = %s)",
                        (1 if force_plan_too_small else 4,))
            cur.execute("ANALYZE client_demo_src")
            # run() commits on its own: today's table is built under a new
            # name and replaces yesterday's only once it is there, so a
            # failed night keeps yesterday's table.  A _new left by a swap
            # that never ran is ours to drop.
            new_table = table + "_new"
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(new_table)))
            cur.execute("RESET client_min_messages")

            # Plan in parallel even for this small table; the guarded
            # statement runs with these session settings.
            cur.execute("SET parallel_setup_cost = 0")
            cur.execute("SET parallel_tuple_cost = 0")
            cur.execute("SET min_parallel_table_scan_size = 0")
            min_workers, retries = 2, 5
            if force_shortfall:
                # A busy pool: one parallel worker at most, two needed, one
                # attempt.  The guard fails with SQLSTATE 53000.
                cur.execute("SET max_parallel_workers = 1")
                retries = 1

            ctas = sql.SQL(
                "CREATE TABLE {} AS SELECT k, grp, payload FROM client_demo_src"
                " WHERE k % 2 = 0").format(sql.Identifier(new_table)).as_string(conn)
            cur.execute(
                "SELECT achieved_workers, attempts, target_met, planned_workers, row_count,"
                " verdict, run_id FROM parallel_guard.run(%s, target => 4, min => %s, retries => %s,"
                " delay => '2 seconds')",
                (ctas, min_workers, retries))
            achieved, attempts, target_met, planned, rows, verdict, run_id = cur.fetchone()
            # Today's table replaces yesterday's in one transaction.
            conn.autocommit = False
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(new_table), sql.Identifier(table)))
            conn.commit()
    except psycopg2.Error as e:
        for notice in conn.notices:
            sys.stderr.write(notice)
        print("guarded_ctas (python): FAILED: SQLSTATE %s: %s"
              % (e.pgcode, (e.pgerror or str(e)).strip()), file=sys.stderr)
        return EXIT_CODES.get(e.pgcode, 1)
    finally:
        conn.close()

    for notice in conn.notices:  # one NOTICE per attempt
        sys.stderr.write(notice)
    print("guarded_ctas (python): table=%s achieved_workers=%d attempts=%d target_met=%s"
          " planned_workers=%d row_count=%d verdict=%s run_id=%s"
          % (table, achieved, attempts, "t" if target_met else "f", planned, rows, verdict,
             "" if run_id is None else run_id))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
