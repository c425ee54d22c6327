// test/clients/java/GuardedCtas.java: a nightly CREATE TABLE AS, guarded.
//
//   javac -cp /usr/share/java/postgresql.jar -d CLASSES GuardedCtas.java
//   java -cp CLASSES:/usr/share/java/postgresql.jar GuardedCtas [--force-shortfall | --force-plan-too-small] [TARGET_TABLE]
//
// Uses Debian's pgjdbc (libpq-compatible settings, TCP only): host PGHOST
// unless that is a socket directory (then 127.0.0.1), PGPORT (5432),
// PGDATABASE (postgres), PGUSER, PGPASSWORD; PG_JDBC_URL overrides the URL.
// The caller needs EXECUTE on parallel_guard.run() (a superuser has it).
//
// Exit code: 0 when the table was created; 75 (EX_TEMPFAIL, "try again
// later") when the guard could not get the workers (SQLSTATE 53000); 78
// (EX_CONFIG, do not retry: fix the table or the settings) when the plan
// asks for fewer workers than min (SQLSTATE 55000); 1 for any other
// database error.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.Properties;

public final class GuardedCtas {
    static final int EX_TEMPFAIL = 75;
    static final int EX_CONFIG = 78;
    static final String INSUFFICIENT_RESOURCES = "53000";
    static final String OBJECT_NOT_IN_PREREQUISITE_STATE = "55000";

    /** 53000 only is worth retrying later; 55000 needs a change first. */
    static int exitCode(String sqlstate) {
        if (INSUFFICIENT_RESOURCES.equals(sqlstate)) return EX_TEMPFAIL;
        if (OBJECT_NOT_IN_PREREQUISITE_STATE.equals(sqlstate)) return EX_CONFIG;
        return 1;
    }

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    /** A double-quoted SQL identifier. */
    private static String ident(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    /** The server's NOTICEs (one per attempt) arrive as SQLWarnings. */
    private static void printNotices(Statement st) throws SQLException {
        for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
            System.err.println("NOTICE:  " + w.getMessage());
        }
        st.clearWarnings();
    }

    public static void main(String[] args) {
        int i = 0;
        boolean forceShortfall = args.length > i && args[i].equals("--force-shortfall");
        if (forceShortfall) i++;
        boolean forcePlanTooSmall = args.length > i && args[i].equals("--force-plan-too-small");
        if (forcePlanTooSmall) i++;
        String table = args.length > i ? args[i] : "daily_summary_java";

        String host = env("PGHOST", "127.0.0.1");
        if (host.startsWith("/")) host = "127.0.0.1"; // a Unix socket directory
        String url = env("PG_JDBC_URL", "jdbc:postgresql://" + host + ":" + env("PGPORT", "5432")
                + "/" + env("PGDATABASE", "postgres"));
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER", System.getProperty("user.name")));
        String password = System.getenv("PGPASSWORD");
        if (password != null) props.setProperty("password", password);
        props.setProperty("ApplicationName", "guarded_ctas_java");

        // Autocommit (the default): run() commits its table on its own.
        try (Connection conn = DriverManager.getConnection(url, props);
             Statement st = conn.createStatement()) {
            // The sample source: 200k rows whose scans get 4 workers (1 to
            // simulate a plan that asks for fewer than min: SQLSTATE 55000).
            st.execute("SET client_min_messages = warning");
            st.execute("CREATE TABLE IF NOT EXISTS client_demo_src AS"
                    + " SELECT g AS k, g % 10 AS grp, md5(g::text) AS payload"
                    + " FROM generate_series(1, 200000) AS g");
            st.execute("ALTER TABLE client_demo_src SET (parallel_workers = "
                    + (forcePlanTooSmall ? 1 : 4) + ")");
            st.execute("ANALYZE client_demo_src");
            // run() commits on its own: today's table is built under a new
            // name and replaces yesterday's only once it is there, so a
            // failed night keeps yesterday's table.  A _new left by a swap
            // that never ran is ours to drop.
            String newTable = table + "_new";
            st.execute("DROP TABLE IF EXISTS " + ident(newTable));
            st.execute("RESET client_min_messages");

            // Plan in parallel even for this small table; the guarded
            // statement runs with these session settings.
            st.execute("SET parallel_setup_cost = 0");
            st.execute("SET parallel_tuple_cost = 0");
            st.execute("SET min_parallel_table_scan_size = 0");
            int minWorkers = 2, retries = 5;
            if (forceShortfall) {
                // A busy pool: one parallel worker at most, two needed, one
                // attempt.  The guard fails with SQLSTATE 53000.
                st.execute("SET max_parallel_workers = 1");
                retries = 1;
            }
            st.clearWarnings();

            String ctas = "CREATE TABLE " + ident(newTable)
                    + " AS SELECT k, grp, payload FROM client_demo_src WHERE k % 2 = 0";
            PreparedStatement ps = conn.prepareStatement(
                    "SELECT achieved_workers, attempts, target_met, planned_workers, row_count,"
                    + " verdict, run_id FROM parallel_guard.run(?, target => 4, min => ?, retries => ?,"
                    + " delay => interval '2 seconds')");
            try {
                ps.setString(1, ctas);
                ps.setInt(2, minWorkers);
                ps.setInt(3, retries);
                try (ResultSet rs = ps.executeQuery()) {
                    printNotices(ps);
                    if (!rs.next()) throw new SQLException("parallel_guard.run() returned no row");
                    System.out.printf("guarded_ctas (java): table=%s achieved_workers=%d attempts=%d"
                            + " target_met=%s planned_workers=%d row_count=%d verdict=%s run_id=%s%n",
                            table, rs.getInt("achieved_workers"), rs.getInt("attempts"),
                            rs.getBoolean("target_met") ? "t" : "f", rs.getInt("planned_workers"),
                            rs.getLong("row_count"), rs.getString("verdict"),
                            rs.getString("run_id") == null ? "" : rs.getString("run_id"));
                }
            } catch (SQLException e) {
                printNotices(ps); // the attempts before the error
                throw e;
            } finally {
                ps.close();
            }
            // Today's table replaces yesterday's in one transaction.
            conn.setAutoCommit(false);
            st.execute("DROP TABLE IF EXISTS " + ident(table));
            st.execute("ALTER TABLE " + ident(newTable) + " RENAME TO " + ident(table));
            conn.commit();
        } catch (SQLException e) {
            System.err.println("guarded_ctas (java): FAILED: SQLSTATE " + e.getSQLState()
                    + ": " + e.getMessage());
            System.exit(exitCode(e.getSQLState()));
        }
    }
}
