// pgjdbc (Debian's libpostgresql-jdbc-java) against `pgscram serve`: DatabaseMetaData
// and result types. Run as a single-file program: java -cp postgresql.jar JdbcMetadata.java
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcMetadata {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + System.getenv("PGPORT") + "/postgres?sslmode=disable";
        try (Connection c = DriverManager.getConnection(url, "postgres", System.getenv("PGPASSWORD"))) {
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric)");
                try (ResultSet rs = st.executeQuery("SELECT true AS b, 1.5::numeric AS n")) {
                    check(rs.next(), "one row");
                    check(Boolean.TRUE.equals(rs.getObject("b")), "bool: " + rs.getObject("b"));
                    check(new BigDecimal("1.5").equals(rs.getObject("n")), "numeric: " + rs.getObject("n"));
                }
            }
            DatabaseMetaData md = c.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) {
                    check("public".equals(rs.getString("TABLE_SCHEM")), "schema");
                    check("TABLE".equals(rs.getString("TABLE_TYPE")), "type");
                    tables.add(rs.getString("TABLE_NAME"));
                }
            }
            check(tables.contains("items"), "getTables: " + tables);
            try (ResultSet rs = md.getTables(null, "public", "items", new String[] {"VIEW"})) {
                check(!rs.next(), "items is not a view");
            }
        }
        System.out.println("ok");
    }
}
