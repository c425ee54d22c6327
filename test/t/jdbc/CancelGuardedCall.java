// test/t/jdbc/CancelGuardedCall.java: a guarded call over JDBC that the
// client cancels, for test/t/120_pgbouncer.pl (through pgbouncer).
//
//   java -cp CLASSES:/usr/share/java/postgresql.jar CancelGuardedCall URL cancel|timeout SECONDS SQL
//
// Prints "pid N" (the server process behind the connection) before the
// call.  cancel: calls Statement.cancel() from another thread when a line
// "cancel" arrives on standard input; timeout: Statement.setQueryTimeout
// (SECONDS), which makes the driver send the cancel itself.  Then prints
// "sqlstate STATE MESSAGE" (or "returned" if the call was not cancelled)
// and, on the same connection, "after N" (pg_backend_pid() of the next
// statement) to show that the connection is usable right after.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public final class CancelGuardedCall {
    private static int backendPid(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT pg_backend_pid()")) {
            r.next();
            return r.getInt(1);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], mode = args[1], sql = args[3];
        int seconds = Integer.parseInt(args[2]);
        try (Connection c = DriverManager.getConnection(url)) {
            System.out.println("pid " + backendPid(c));
            System.out.flush();
            Statement guarded = c.createStatement();
            if (mode.equals("timeout")) {
                guarded.setQueryTimeout(seconds);
            } else {
                Thread canceller = new Thread(() -> {
                    try {
                        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
                        String line;
                        while ((line = in.readLine()) != null && !line.equals("cancel")) { }
                        if (line != null)
                            guarded.cancel();
                    } catch (Exception e) {
                        System.out.println("cancel failed: " + e);
                    }
                });
                canceller.setDaemon(true);
                canceller.start();
            }
            try {
                guarded.executeQuery(sql).close();
                System.out.println("returned");
            } catch (SQLException e) {
                System.out.println("sqlstate " + e.getSQLState() + " " + e.getMessage().split("\n")[0]);
            }
            guarded.close();
            System.out.println("after " + backendPid(c));
        }
    }
}
