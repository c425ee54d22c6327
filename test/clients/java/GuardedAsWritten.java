// test/clients/java/GuardedAsWritten.java: a nightly CREATE TABLE AS,
// guarded as written.
//
//   javac -cp /usr/share/java/postgresql.jar -d CLASSES GuardedAsWritten.java
//   PGUSER=batch_role java -cp CLASSES:/usr/share/java/postgresql.jar GuardedAsWritten [TARGET_TABLE]
//
// Plain JDBC: no parallel_guard.run(), no SET.  The guard comes from the
// role's settings (../as_written_setup.sql: ALTER ROLE batch_role SET
// parallel_guard.target = 4), so the same code runs guarded or not
// depending on who runs it.  The statement has bind parameters and is
// prepared on the server from its first execution (prepareThreshold=1).
// It runs in the job's own transaction: yesterday's table is dropped and
// today's created, then committed; when the guard fails (SQLSTATE 53000 or
// 55000) the transaction rolls back and yesterday's table stays.
//
// Connection as GuardedCtas.java: PGHOST (127.0.0.1 if it is a socket
// directory), PGPORT, PGDATABASE, PGUSER, PGPASSWORD; PG_JDBC_URL overrides
// the URL.
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

public final class GuardedAsWritten {
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

    /** The guard's NOTICEs (one per attempt) arrive as SQLWarnings. */
    private static void printNotices(Statement st) throws SQLException {
        for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
            System.err.println("NOTICE:  " + w.getMessage());
        }
        st.clearWarnings();
    }

    public static void main(String[] args) {
        String table = args.length > 0 ? args[0] : "daily_summary_java";

        String host = env("PGHOST", "127.0.0.1");
        if (host.startsWith("/")) host = "127.0.0.1"; // a Unix socket directory
        String url = env("PG_JDBC_URL", "jdbc:postgresql://" + host + ":" + env("PGPORT", "5432")
                + "/" + env("PGDATABASE", "postgres"));
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER", System.getProperty("user.name")));
        String password = System.getenv("PGPASSWORD");
        if (password != null) props.setProperty("password", password);
        props.setProperty("ApplicationName", "guarded_as_written_java");
        // A named server-side prepared statement from the first execution
        // (pgjdbc's default is the fifth).
        props.setProperty("prepareThreshold", "1");

        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setAutoCommit(false); // the job's own transaction
            try (Statement st = conn.createStatement();
                 PreparedStatement ps = conn.prepareStatement("CREATE TABLE " + ident(table)
                         + " AS SELECT k, grp, payload FROM client_demo_src WHERE k % ? = ?")) {
                // Yesterday's output goes; it comes back if today's fails.
                st.execute("DROP TABLE IF EXISTS " + ident(table));
                ps.setInt(1, 2);
                ps.setInt(2, 0);
                int rows;
                try {
                    rows = ps.executeUpdate(); // the tag "SELECT n": n rows
                } finally {
                    printNotices(ps); // the attempts, also before an error
                }
                String prepared = "none";
                try (ResultSet rs = st.executeQuery("SELECT name FROM pg_prepared_statements"
                        + " WHERE statement LIKE 'CREATE TABLE%'")) {
                    if (rs.next()) prepared = rs.getString(1);
                }
                conn.commit();
                System.out.printf("guarded_as_written (java): table=%s rows=%d server_prepared=%s%n",
                        table, rows, prepared);
            } catch (SQLException e) {
                conn.rollback();
                throw e;
            }
        } catch (SQLException e) {
            System.err.println("guarded_as_written (java): FAILED: SQLSTATE " + e.getSQLState()
                    + ": " + e.getMessage());
            System.exit(exitCode(e.getSQLState()));
        }
    }
}
