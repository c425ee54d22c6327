#!/usr/bin/python3
"""test/clients/python/guarded_as_written.py: a nightly CREATE TABLE AS,
guarded as written.

    PGUSER=batch_role guarded_as_written.py [TARGET_TABLE]

Plain psycopg2: no parallel_guard.run(), no SET.  The guard comes from the
role's settings (../as_written_setup.sql: ALTER ROLE batch_role SET
parallel_guard.target = 4), so the same code runs guarded or not depending
on who runs it.  The statement has %s parameters.  It runs in the job's own
transaction (psycopg2's default): yesterday's table is dropped and today's
created, then committed; when the guard fails (SQLSTATE 53000 or 55000) the
transaction rolls back and yesterday's table stays.

Connection as guarded_ctas.py: PGHOST (a host name or the server's socket
directory), PGPORT, PGUSER, PGDATABASE, PGPASSWORD.

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
    table = argv[0] if argv else "daily_summary_python"

    try:
        conn = psycopg2.connect(
            host=os.environ.get("PGHOST"),  # None: libpq's default socket
            port=os.environ.get("PGPORT"),
            user=os.environ.get("PGUSER"),
            dbname=os.environ.get("PGDATABASE"),
            application_name="guarded_as_written_python",
        )
    except psycopg2.Error as e:
        print("guarded_as_written (python): FAILED: cannot connect: %s" % str(e).strip(),
              file=sys.stderr)
        return 1
    try:
        # One transaction: `with conn` commits at the end of the block, or
        # rolls back on an exception.
        with conn, conn.cursor() as cur:
            # Yesterday's output goes; it comes back if today's fails.
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            cur.execute(
                sql.SQL("CREATE TABLE {} AS SELECT k, grp, payload FROM client_demo_src"
                        " WHERE k %% %s = %s").format(sql.Identifier(table)),
                (2, 0))
            rows = cur.rowcount  # the tag "SELECT n": n rows
    except psycopg2.Error as e:
        for notice in conn.notices:  # the attempts before the error
            sys.stderr.write(notice)
        print("guarded_as_written (python): FAILED: SQLSTATE %s: %s"
              % (e.pgcode, (e.pgerror or str(e)).strip()), file=sys.stderr)
        return EXIT_CODES.get(e.pgcode, 1)
    finally:
        conn.close()

    for notice in conn.notices:  # one NOTICE per attempt
        sys.stderr.write(notice)
    print("guarded_as_written (python): table=%s rows=%d" % (table, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
