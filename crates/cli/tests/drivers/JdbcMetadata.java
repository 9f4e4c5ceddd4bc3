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
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE gadgets (id integer PRIMARY KEY, label text NOT NULL,"
                        + " code varchar(100), active boolean DEFAULT true, qty integer)");
            }
            // getColumns numbers columns with row_number() OVER (PARTITION BY ...). The
            // expected rows are what PostgreSQL 15 answers for the same table.
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "gadgets", "%")) {
                while (rs.next()) {
                    cols.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " "
                            + rs.getInt("DATA_TYPE") + " " + rs.getInt("COLUMN_SIZE") + " "
                            + rs.getInt("NULLABLE") + " " + rs.getString("IS_NULLABLE") + " "
                            + rs.getString("COLUMN_DEF") + " " + rs.getInt("ORDINAL_POSITION") + " "
                            + rs.getString("IS_AUTOINCREMENT"));
                }
            }
            check(cols.equals(List.of(
                    "id int4 4 10 0 NO null 1 NO",
                    "label text 12 2147483647 0 NO null 2 NO",
                    "code varchar 12 100 1 YES null 3 NO",
                    "active bool -7 1 1 YES true 4 NO",
                    "qty int4 4 10 1 YES null 5 NO")), "getColumns: " + cols);
            // getPrimaryKeys expands pg_index.indkey with information_schema._pg_expandarray
            // in the select list.
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE pairs (a integer, b text, c integer, PRIMARY KEY (c, a))");
            }
            for (String[] t : new String[][] {{"gadgets", "id 1 gadgets_pkey"}, {"pairs", "c 1 pairs_pkey,a 2 pairs_pkey"}}) {
                List<String> keys = new ArrayList<>();
                try (ResultSet rs = md.getPrimaryKeys(null, "public", t[0])) {
                    while (rs.next()) {
                        keys.add(rs.getString("COLUMN_NAME") + " " + rs.getShort("KEY_SEQ") + " " + rs.getString("PK_NAME"));
                    }
                }
                check(String.join(",", keys).equals(t[1]), "getPrimaryKeys(" + t[0] + "): " + keys);
            }
            try (ResultSet rs = md.getColumns(null, "public", "gadgets", "qty")) {
                check(rs.next() && rs.getInt("ORDINAL_POSITION") == 5, "a column pattern keeps positions");
                check(!rs.next(), "one column");
            }
        }
        System.out.println("ok");
    }
}
