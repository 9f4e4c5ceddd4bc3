//! `pg_catalog` for psql and drivers: views over SQLite's schema and the role catalog,
//! created as TEMP views on every session connection (so they follow the code, not
//! the database file), each column declared with its PostgreSQL type, plus the SQL
//! functions their queries call.
//!
//! Relation OIDs are `16384 + 4 * rowid` of the table's row in `sqlite_schema`; the
//! primary-key index of a table whose key is SQLite's rowid has no row of its own and
//! gets the next odd number. OIDs are unique per catalog, as in PostgreSQL.

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};

use crate::error::{SqlError, sqlstate};

use crate::hooks::{Shared, lock};

use crate::types::{self, PgType};

/// One catalog view: its name, columns with their types, and the SELECT behind it.
struct View {
    name: &'static str,
    cols: &'static [(&'static str, PgType)],
    body: &'static str,
}

use types::{
    ACLITEM_ARRAY as ACLS, BOOL, CHAR, FLOAT4, INT2, INT2VECTOR, INT4, INT8, NAME, OID, OIDVECTOR,
    PG_NODE_TREE, REGPROC, TEXT, TEXT_ARRAY, TIMESTAMPTZ,
};

/// User relations (tables, views, indexes) in `sqlite_schema` terms.
const RELATIONS: &str = "
SELECT 16384 + 4 * s.rowid, s.name, CASE s.type WHEN 'view' THEN 'v' ELSE 'r' END,
       16384 + 4 * s.rowid, s.name, s.sql, 0, 0, NULL, NULL
FROM main.sqlite_schema s
WHERE s.type IN ('table', 'view') AND substr(s.name, 1, 7) <> 'sqlite_'
  AND substr(s.name, 1, 8) <> 'pgscram_' AND substr(s.name, 1, 3) <> 'pg_'
UNION ALL
SELECT 16384 + 4 * s.rowid,
       CASE il.origin WHEN 'pk' THEN t.name || '_pkey'
         WHEN 'u' THEN t.name || '_' ||
           (SELECT group_concat(ii.name, '_' ORDER BY ii.seqno) FROM pragma_index_info(il.name) ii)
           || '_key'
         ELSE il.name END,
       'i', 16384 + 4 * t.rowid, t.name, s.sql, il.\"unique\", il.origin = 'pk',
       (SELECT group_concat(coalesce(ii.name, 'expression'), ', ' ORDER BY ii.seqno)
        FROM pragma_index_info(il.name) ii),
       (SELECT group_concat(ii.cid + 1, ' ' ORDER BY ii.seqno) FROM pragma_index_info(il.name) ii)
FROM main.sqlite_schema t, pragma_index_list(t.name) il
JOIN main.sqlite_schema s ON s.type = 'index' AND s.name = il.name
WHERE t.type = 'table' AND substr(t.name, 1, 7) <> 'sqlite_'
  AND substr(t.name, 1, 8) <> 'pgscram_' AND substr(t.name, 1, 3) <> 'pg_'
UNION ALL
SELECT 16384 + 4 * t.rowid + 1, t.name || '_pkey', 'i', 16384 + 4 * t.rowid, t.name, NULL, 1, 1,
       (SELECT group_concat(p.name, ', ' ORDER BY p.pk) FROM pragma_table_info(t.name) p WHERE p.pk > 0),
       (SELECT group_concat(p.cid + 1, ' ' ORDER BY p.pk) FROM pragma_table_info(t.name) p WHERE p.pk > 0)
FROM main.sqlite_schema t
WHERE t.type = 'table' AND substr(t.name, 1, 7) <> 'sqlite_'
  AND substr(t.name, 1, 8) <> 'pgscram_' AND substr(t.name, 1, 3) <> 'pg_'
  AND EXISTS (SELECT 1 FROM pragma_table_info(t.name) p WHERE p.pk > 0)
  AND NOT EXISTS (SELECT 1 FROM pragma_index_list(t.name) il WHERE il.origin = 'pk')
UNION ALL
SELECT 16384 + 4 * t.rowid + 2, t.name || '_' || p.name || '_seq', 'S', 16384 + 4 * t.rowid, t.name,
       NULL, 0, 0, NULL, NULL
FROM main.sqlite_schema t, pragma_table_info(t.name) p
WHERE t.type = 'table' AND substr(t.name, 1, 7) <> 'sqlite_'
  AND substr(t.name, 1, 8) <> 'pgscram_' AND substr(t.name, 1, 3) <> 'pg_'
  AND pgscram_is_serial(p.type, p.pk, t.sql)";

const VIEWS: &[View] = &[
    View {
        name: "pgscram_rel",
        cols: &[
            ("oid", OID),
            ("relname", NAME),
            ("relkind", CHAR),
            ("tbloid", OID),
            ("tblname", NAME),
            ("sql", TEXT),
            ("isunique", BOOL),
            ("isprimary", BOOL),
            ("cols", TEXT),
            ("indkey", INT2VECTOR),
        ],
        body: RELATIONS,
    },
    View {
        name: "pg_namespace",
        cols: &[
            ("oid", OID),
            ("nspname", NAME),
            ("nspowner", OID),
            ("nspacl", ACLS),
        ],
        body: "VALUES (11, 'pg_catalog', 10, NULL), (99, 'pg_toast', 10, NULL),
               (2200, 'public', 6171, NULL), (13183, 'information_schema', 10, NULL)",
    },
    View {
        name: "pg_class",
        cols: &[
            ("oid", OID),
            ("relname", NAME),
            ("relnamespace", OID),
            ("reltype", OID),
            ("reloftype", OID),
            ("relowner", OID),
            ("relam", OID),
            ("relfilenode", OID),
            ("reltablespace", OID),
            ("relpages", INT4),
            ("reltuples", FLOAT4),
            ("relallvisible", INT4),
            ("reltoastrelid", OID),
            ("relhasindex", BOOL),
            ("relisshared", BOOL),
            ("relpersistence", CHAR),
            ("relkind", CHAR),
            ("relnatts", INT2),
            ("relchecks", INT2),
            ("relhasrules", BOOL),
            ("relhastriggers", BOOL),
            ("relhassubclass", BOOL),
            ("relrowsecurity", BOOL),
            ("relforcerowsecurity", BOOL),
            ("relispopulated", BOOL),
            ("relreplident", CHAR),
            ("relispartition", BOOL),
            ("relrewrite", OID),
            ("relfrozenxid", INT4),
            ("relminmxid", INT4),
            ("relacl", ACLS),
            ("reloptions", TEXT_ARRAY),
            ("relpartbound", PG_NODE_TREE),
            ("pgscram_viewdef", TEXT),
        ],
        body: "SELECT r.oid, r.relname, 2200, 0, 0, 10,
                      CASE r.relkind WHEN 'r' THEN 2 WHEN 'i' THEN 403 ELSE 0 END, 0, 0, 0, -1, 0, 0,
                      r.relkind = 'r' AND EXISTS (SELECT 1 FROM pgscram_rel i WHERE i.relkind = 'i' AND i.tbloid = r.oid),
                      false, 'p', r.relkind,
                      CASE WHEN r.relkind = 'i' THEN length(r.indkey) - length(replace(r.indkey, ' ', '')) + 1
                           ELSE (SELECT count(*) FROM pragma_table_info(r.relname)) END,
                      0, false, false, false, false, false, true, 'd', false, 0, 0, 0, NULL, NULL, NULL,
                      CASE WHEN r.relkind = 'v' THEN substr(r.sql, instr(upper(r.sql), ' AS ') + 4) END
               FROM pgscram_rel r
               UNION ALL
               SELECT c.column2, c.column1, 11, 0, 0, 10, 2, 0, 0, 0, -1, 0, 0, false, false, 'p', 'v', 0,
                      0, false, false, false, false, false, true, 'n', false, 0, 0, 0, NULL, NULL, NULL, NULL
               FROM (VALUES ('pg_class', 1259), ('pg_authid', 1260), ('pg_database', 1262),
                            ('pg_namespace', 2615), ('pg_proc', 1255), ('pg_type', 1247),
                            ('pg_extension', 3079), ('pg_description', 2609),
                            ('pg_shdescription', 2396), ('pg_auth_members', 1261),
                            ('pg_attribute', 1249), ('pg_index', 2610),
                            ('pg_constraint', 2606), ('pg_roles', 12001),
                            ('pg_settings', 12002), ('pg_stat_activity', 12003)) c",
    },
    View {
        name: "pg_attribute",
        cols: &[
            ("attrelid", OID),
            ("attname", NAME),
            ("atttypid", OID),
            ("attlen", INT2),
            ("attnum", INT2),
            ("atttypmod", INT4),
            ("attndims", INT2),
            ("attnotnull", BOOL),
            ("atthasdef", BOOL),
            ("atthasmissing", BOOL),
            ("attidentity", CHAR),
            ("attgenerated", CHAR),
            ("attisdropped", BOOL),
            ("attislocal", BOOL),
            ("attinhcount", INT4),
            ("attstattarget", INT4),
            ("attcollation", OID),
            ("attacl", ACLS),
            ("attoptions", TEXT_ARRAY),
            ("attfdwoptions", TEXT_ARRAY),
            ("attstorage", CHAR),
            ("attcompression", CHAR),
        ],
        body: "SELECT r.oid, p.name, pgscram_decl_oid(p.type), pgscram_decl_len(p.type), p.cid + 1,
                      pgscram_decl_typmod(p.type), 0, p.\"notnull\" OR p.pk > 0,
                      p.dflt_value IS NOT NULL OR pgscram_is_serial(p.type, p.pk, r.sql),
                      false, '', '', false, true, 0, -1,
                      CASE WHEN pgscram_decl_oid(p.type) IN (25, 1043, 1042) THEN 100 ELSE 0 END,
                      NULL, NULL, NULL,
                      CASE WHEN pgscram_decl_len(p.type) > 0 THEN 'p' ELSE 'x' END, ''
               FROM pgscram_rel r, pragma_table_info(r.relname) p
               WHERE r.relkind IN ('r', 'v')",
    },
    View {
        name: "pg_attrdef",
        cols: &[
            ("oid", OID),
            ("adrelid", OID),
            ("adnum", INT2),
            ("adbin", PG_NODE_TREE),
        ],
        body: "SELECT r.oid * 1000 + p.cid, r.oid, p.cid + 1,
                      CASE WHEN pgscram_is_serial(p.type, p.pk, r.sql)
                           THEN 'nextval(''' || r.relname || '_' || p.name || '_seq''::regclass)'
                           ELSE pgscram_default_text(p.dflt_value, p.type) END
               FROM pgscram_rel r, pragma_table_info(r.relname) p
               WHERE r.relkind = 'r' AND (p.dflt_value IS NOT NULL OR pgscram_is_serial(p.type, p.pk, r.sql))",
    },
    View {
        name: "pg_index",
        cols: &[
            ("indexrelid", OID),
            ("indrelid", OID),
            ("indnatts", INT2),
            ("indnkeyatts", INT2),
            ("indisunique", BOOL),
            ("indnullsnotdistinct", BOOL),
            ("indisprimary", BOOL),
            ("indisexclusion", BOOL),
            ("indimmediate", BOOL),
            ("indisclustered", BOOL),
            ("indisvalid", BOOL),
            ("indcheckxmin", BOOL),
            ("indisready", BOOL),
            ("indislive", BOOL),
            ("indisreplident", BOOL),
            ("indkey", INT2VECTOR),
            ("indcollation", OIDVECTOR),
            ("indclass", OIDVECTOR),
            ("indoption", INT2VECTOR),
            ("indexprs", PG_NODE_TREE),
            ("indpred", PG_NODE_TREE),
            ("pgscram_indexdef", TEXT),
        ],
        body: "SELECT i.oid, i.tbloid,
                      length(i.indkey) - length(replace(i.indkey, ' ', '')) + 1,
                      length(i.indkey) - length(replace(i.indkey, ' ', '')) + 1,
                      i.isunique, false, i.isprimary, false, true, false, true, false, true, true, false,
                      i.indkey, '', '', '', NULL, NULL,
                      'CREATE ' || CASE WHEN i.isunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' ||
                      i.relname || ' ON ' || i.tblname || ' USING btree (' || i.cols || ')'
               FROM pgscram_rel i WHERE i.relkind = 'i'",
    },
    View {
        name: "pg_constraint",
        cols: &[
            ("oid", OID),
            ("conname", NAME),
            ("connamespace", OID),
            ("contype", CHAR),
            ("condeferrable", BOOL),
            ("condeferred", BOOL),
            ("convalidated", BOOL),
            ("conrelid", OID),
            ("contypid", OID),
            ("conindid", OID),
            ("conparentid", OID),
            ("confrelid", OID),
            ("confupdtype", CHAR),
            ("confdeltype", CHAR),
            ("confmatchtype", CHAR),
            ("conislocal", BOOL),
            ("coninhcount", INT4),
            ("connoinherit", BOOL),
            ("conkey", types::INT2_ARRAY),
            ("confkey", types::INT2_ARRAY),
            ("conbin", PG_NODE_TREE),
            ("pgscram_def", TEXT),
        ],
        body: "SELECT i.oid, i.relname, 2200, CASE WHEN i.isprimary THEN 'p' ELSE 'u' END,
                      false, false, true, i.tbloid, 0, i.oid, 0, 0, ' ', ' ', ' ', true, 0, true,
                      '{' || replace(i.indkey, ' ', ',') || '}', NULL, NULL,
                      CASE WHEN i.isprimary THEN 'PRIMARY KEY' ELSE 'UNIQUE' END || ' (' || i.cols || ')'
               FROM pgscram_rel i
               WHERE i.relkind = 'i' AND (i.isprimary OR (i.isunique AND i.sql IS NULL))",
    },
    View {
        name: "pg_type",
        cols: &[
            ("oid", OID),
            ("typname", NAME),
            ("typnamespace", OID),
            ("typowner", OID),
            ("typlen", INT2),
            ("typbyval", BOOL),
            ("typtype", CHAR),
            ("typcategory", CHAR),
            ("typispreferred", BOOL),
            ("typisdefined", BOOL),
            ("typdelim", CHAR),
            ("typrelid", OID),
            ("typelem", OID),
            ("typarray", OID),
            ("typnotnull", BOOL),
            ("typbasetype", OID),
            ("typtypmod", INT4),
            ("typndims", INT4),
            ("typcollation", OID),
            ("typdefault", TEXT),
            ("typacl", ACLS),
        ],
        body: "SELECT t.column1, t.column2, 11, 10, t.column3, t.column3 BETWEEN 1 AND 8, 'b',
                      t.column4, false, true, ',', 0, t.column5, t.column6, false, 0, -1, 0,
                      CASE WHEN t.column4 = 'S' THEN 100 ELSE 0 END, NULL, NULL
               FROM pgscram_types t",
    },
    View {
        name: "pg_database",
        cols: &[
            ("oid", OID),
            ("datname", NAME),
            ("datdba", OID),
            ("encoding", INT4),
            ("datlocprovider", CHAR),
            ("datistemplate", BOOL),
            ("datallowconn", BOOL),
            ("datconnlimit", INT4),
            ("datfrozenxid", INT4),
            ("datminmxid", INT4),
            ("dattablespace", OID),
            ("datcollate", TEXT),
            ("datctype", TEXT),
            ("daticulocale", TEXT),
            ("datcollversion", TEXT),
            ("datacl", ACLS),
        ],
        // Every PostgreSQL cluster lists template1 and template0 (OIDs 1 and 4), owned by
        // the bootstrap superuser, CONNECT for PUBLIC. Here they are rows only: nothing
        // can connect to them (datallowconn false).
        body: "SELECT 5, current_database(), 10, 6, 'c', false, true, -1, 0, 1, 1663, 'C', 'C',
                      NULL, NULL, NULL
               UNION ALL
               SELECT t.column1, t.column2, 10, 6, 'c', true, false, -1, 0, 1, 1663, 'C', 'C',
                      NULL, NULL, pgscram_array('=c/' || o.q, o.q || '=CTc/' || o.q)
               FROM (VALUES (1, 'template1'), (4, 'template0')) t,
                    (SELECT CASE WHEN rolname GLOB '*[^a-zA-Z0-9_]*'
                                 THEN '\"' || replace(rolname, '\"', '\"\"') || '\"'
                                 ELSE rolname END AS q
                     FROM pg_roles WHERE oid = 10) o",
    },
    View {
        name: "pg_proc",
        cols: &[
            ("oid", OID),
            ("proname", NAME),
            ("pronamespace", OID),
            ("proowner", OID),
            ("prolang", OID),
            ("procost", FLOAT4),
            ("prorows", FLOAT4),
            ("provariadic", OID),
            ("prosupport", REGPROC),
            ("prokind", CHAR),
            ("prosecdef", BOOL),
            ("proleakproof", BOOL),
            ("proisstrict", BOOL),
            ("proretset", BOOL),
            ("provolatile", CHAR),
            ("proparallel", CHAR),
            ("pronargs", INT2),
            ("pronargdefaults", INT2),
            ("prorettype", OID),
            ("proargtypes", OIDVECTOR),
            ("proallargtypes", types::OID_ARRAY),
            ("proargmodes", types::CHAR_ARRAY),
            ("proargnames", TEXT_ARRAY),
            ("proargdefaults", PG_NODE_TREE),
            ("protrftypes", types::OID_ARRAY),
            ("prosrc", TEXT),
            ("probin", TEXT),
            ("prosqlbody", PG_NODE_TREE),
            ("proconfig", TEXT_ARRAY),
            ("proacl", ACLS),
        ],
        body: "SELECT p.column1, p.column2, 11, 10, 12, 1, 0, 0, 0, p.column4, false, false, true,
                      false, 'v', 's', p.column5, 0, p.column3, '', NULL, NULL, NULL, NULL, NULL,
                      p.column2, NULL, NULL, NULL, NULL
               FROM pgscram_procs p",
    },
    View {
        name: "pg_description",
        cols: &[
            ("objoid", OID),
            ("classoid", OID),
            ("objsubid", INT4),
            ("description", TEXT),
        ],
        body: "SELECT objoid, classoid, objsubid, description FROM main.pgscram_description
               WHERE classoid NOT IN (1260, 1262)",
    },
    View {
        name: "pg_shdescription",
        cols: &[("objoid", OID), ("classoid", OID), ("description", TEXT)],
        body: "SELECT objoid, classoid, description FROM main.pgscram_description
               WHERE classoid IN (1260, 1262)",
    },
    View {
        name: "pg_default_acl",
        cols: &[
            ("oid", OID),
            ("defaclrole", OID),
            ("defaclnamespace", OID),
            ("defaclobjtype", CHAR),
            ("defaclacl", ACLS),
        ],
        body: "SELECT 0, 0, 0, '', NULL WHERE false",
    },
    View {
        name: "pg_db_role_setting",
        cols: &[
            ("setdatabase", OID),
            ("setrole", OID),
            ("setconfig", TEXT_ARRAY),
        ],
        body: "SELECT 0, 0, NULL WHERE false",
    },
    View {
        name: "pg_settings",
        cols: &[
            ("name", TEXT),
            ("setting", TEXT),
            ("unit", TEXT),
            ("category", TEXT),
            ("short_desc", TEXT),
            ("extra_desc", TEXT),
            ("context", TEXT),
            ("vartype", TEXT),
            ("source", TEXT),
            ("min_val", TEXT),
            ("max_val", TEXT),
            ("enumvals", TEXT_ARRAY),
            ("boot_val", TEXT),
            ("reset_val", TEXT),
            ("sourcefile", TEXT),
            ("sourceline", INT4),
            ("pending_restart", BOOL),
        ],
        body: "SELECT name, setting, NULL, 'Embedded', short_desc, NULL, context, vartype,
                      CASE WHEN setting = boot_val THEN 'default' ELSE 'session' END,
                      min_val, max_val, enumvals, boot_val, boot_val, NULL, NULL, false
               FROM temp.pgscram_settings",
    },
    View {
        name: "pg_stat_activity",
        cols: &[
            ("datid", OID),
            ("datname", NAME),
            ("pid", INT4),
            ("leader_pid", INT4),
            ("usesysid", OID),
            ("usename", NAME),
            ("application_name", TEXT),
            ("client_addr", TEXT),
            ("client_hostname", TEXT),
            ("client_port", INT4),
            ("backend_start", TIMESTAMPTZ),
            ("xact_start", TIMESTAMPTZ),
            ("query_start", TIMESTAMPTZ),
            ("state_change", TIMESTAMPTZ),
            ("wait_event_type", TEXT),
            ("wait_event", TEXT),
            ("state", TEXT),
            ("backend_xid", INT8),
            ("backend_xmin", INT8),
            ("query_id", INT8),
            ("query", TEXT),
            ("backend_type", TEXT),
        ],
        body: "SELECT 5, current_database(), pg_backend_pid(), NULL,
                      (SELECT oid FROM main.pgscram_roles WHERE rolname = pgscram_session_user()),
                      pgscram_session_user(),
                      (SELECT setting FROM temp.pgscram_settings WHERE name = 'application_name'),
                      pgscram_connection('client_addr'), NULL, pgscram_connection('client_port'),
                      pgscram_start_time(), now(), statement_timestamp(),
                      statement_timestamp(), NULL, NULL, 'active', NULL, NULL, NULL,
                      pgscram_current_query(), 'client backend'",
    },
    View {
        name: "pg_stat_ssl",
        cols: &[
            ("pid", INT4),
            ("ssl", BOOL),
            ("version", TEXT),
            ("cipher", TEXT),
            ("bits", INT4),
            ("client_dn", TEXT),
            ("client_serial", types::NUMERIC),
            ("issuer_dn", TEXT),
        ],
        body: "SELECT pg_backend_pid(), pgscram_connection('ssl'), pgscram_connection('version'),
                      pgscram_connection('cipher'), pgscram_connection('bits'), NULL, NULL, NULL",
    },
    View {
        name: "pg_am",
        cols: &[
            ("oid", OID),
            ("amname", NAME),
            ("amhandler", REGPROC),
            ("amtype", CHAR),
        ],
        body: "VALUES (2, 'heap', 3, 't'), (403, 'btree', 330, 'i')",
    },
    View {
        name: "pg_collation",
        cols: &[
            ("oid", OID),
            ("collname", NAME),
            ("collnamespace", OID),
            ("collowner", OID),
            ("collprovider", CHAR),
            ("collisdeterministic", BOOL),
            ("collencoding", INT4),
            ("collcollate", TEXT),
            ("collctype", TEXT),
            ("colliculocale", TEXT),
            ("collversion", TEXT),
        ],
        body: "VALUES (100, 'default', 11, 10, 'd', true, -1, NULL, NULL, NULL, NULL),
                      (950, 'C', 11, 10, 'c', true, -1, 'C', 'C', NULL, NULL)",
    },
    View {
        name: "pg_tablespace",
        cols: &[
            ("oid", OID),
            ("spcname", NAME),
            ("spcowner", OID),
            ("spcacl", ACLS),
            ("spcoptions", TEXT_ARRAY),
        ],
        body: "VALUES (1663, 'pg_default', 10, NULL, NULL), (1664, 'pg_global', 10, NULL, NULL)",
    },
    View {
        name: "pg_extension",
        cols: &[
            ("oid", OID),
            ("extname", NAME),
            ("extowner", OID),
            ("extnamespace", OID),
            ("extrelocatable", BOOL),
            ("extversion", TEXT),
            ("extconfig", types::OID_ARRAY),
            ("extcondition", TEXT_ARRAY),
        ],
        body: "SELECT 0, '', 0, 0, false, '', NULL, NULL WHERE false",
    },
    View {
        name: "pg_policy",
        cols: &[
            ("oid", OID),
            ("polname", NAME),
            ("polrelid", OID),
            ("polcmd", CHAR),
            ("polpermissive", BOOL),
            ("polroles", types::OID_ARRAY),
            ("polqual", PG_NODE_TREE),
            ("polwithcheck", PG_NODE_TREE),
        ],
        body: "SELECT 0, '', 0, '', true, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_statistic_ext",
        cols: &[
            ("oid", OID),
            ("stxrelid", OID),
            ("stxname", NAME),
            ("stxnamespace", OID),
            ("stxowner", OID),
            ("stxstattarget", INT4),
            ("stxkeys", INT2VECTOR),
            ("stxkind", types::CHAR_ARRAY),
            ("stxexprs", PG_NODE_TREE),
        ],
        body: "SELECT 0, 0, '', 0, 0, -1, '', NULL, NULL WHERE false",
    },
    View {
        name: "pg_publication",
        cols: &[
            ("oid", OID),
            ("pubname", NAME),
            ("pubowner", OID),
            ("puballtables", BOOL),
            ("pubinsert", BOOL),
            ("pubupdate", BOOL),
            ("pubdelete", BOOL),
            ("pubtruncate", BOOL),
            ("pubviaroot", BOOL),
        ],
        body: "SELECT 0, '', 0, false, false, false, false, false, false WHERE false",
    },
    View {
        name: "pg_publication_namespace",
        cols: &[("oid", OID), ("pnpubid", OID), ("pnnspid", OID)],
        body: "SELECT 0, 0, 0 WHERE false",
    },
    View {
        name: "pg_publication_rel",
        cols: &[
            ("oid", OID),
            ("prpubid", OID),
            ("prrelid", OID),
            ("prqual", PG_NODE_TREE),
            ("prattrs", INT2VECTOR),
        ],
        body: "SELECT 0, 0, 0, NULL, NULL WHERE false",
    },
    View {
        name: "pg_inherits",
        cols: &[
            ("inhrelid", OID),
            ("inhparent", OID),
            ("inhseqno", INT4),
            ("inhdetachpending", BOOL),
        ],
        body: "SELECT 0, 0, 0, false WHERE false",
    },
    View {
        name: "pg_trigger",
        cols: &[
            ("oid", OID),
            ("tgrelid", OID),
            ("tgname", NAME),
            ("tgenabled", CHAR),
            ("tgisinternal", BOOL),
        ],
        body: "SELECT 0, 0, '', '', false WHERE false",
    },
    View {
        name: "pg_sequence",
        cols: &[
            ("seqrelid", OID),
            ("seqtypid", OID),
            ("seqstart", INT8),
            ("seqincrement", INT8),
            ("seqmax", INT8),
            ("seqmin", INT8),
            ("seqcache", INT8),
            ("seqcycle", BOOL),
        ],
        body: "SELECT 0, 0, 0, 0, 0, 0, 0, false WHERE false",
    },
    // Catalogs with nothing in them here, with PostgreSQL 15's columns, so psql's
    // queries over them return no rows rather than fail.
    View {
        name: "pg_opclass",
        cols: &[
            ("oid", OID),
            ("opcmethod", OID),
            ("opcname", NAME),
            ("opcnamespace", OID),
            ("opcowner", OID),
            ("opcfamily", OID),
            ("opcintype", OID),
            ("opcdefault", BOOL),
            ("opckeytype", OID),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_opfamily",
        cols: &[
            ("oid", OID),
            ("opfmethod", OID),
            ("opfname", NAME),
            ("opfnamespace", OID),
            ("opfowner", OID),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_amop",
        cols: &[
            ("oid", OID),
            ("amopfamily", OID),
            ("amoplefttype", OID),
            ("amoprighttype", OID),
            ("amopstrategy", INT2),
            ("amoppurpose", CHAR),
            ("amopopr", OID),
            ("amopmethod", OID),
            ("amopsortfamily", OID),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_amproc",
        cols: &[
            ("oid", OID),
            ("amprocfamily", OID),
            ("amproclefttype", OID),
            ("amprocrighttype", OID),
            ("amprocnum", INT2),
            ("amproc", REGPROC),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_conversion",
        cols: &[
            ("oid", OID),
            ("conname", NAME),
            ("connamespace", OID),
            ("conowner", OID),
            ("conforencoding", INT4),
            ("contoencoding", INT4),
            ("conproc", REGPROC),
            ("condefault", BOOL),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_cast",
        cols: &[
            ("oid", OID),
            ("castsource", OID),
            ("casttarget", OID),
            ("castfunc", OID),
            ("castcontext", CHAR),
            ("castmethod", CHAR),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_foreign_server",
        cols: &[
            ("oid", OID),
            ("srvname", NAME),
            ("srvowner", OID),
            ("srvfdw", OID),
            ("srvtype", TEXT),
            ("srvversion", TEXT),
            ("srvacl", ACLS),
            ("srvoptions", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_foreign_table",
        cols: &[
            ("ftrelid", OID),
            ("ftserver", OID),
            ("ftoptions", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_user_mappings",
        cols: &[
            ("umid", OID),
            ("srvid", OID),
            ("srvname", NAME),
            ("umuser", OID),
            ("usename", NAME),
            ("umoptions", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_foreign_data_wrapper",
        cols: &[
            ("oid", OID),
            ("fdwname", NAME),
            ("fdwowner", OID),
            ("fdwhandler", OID),
            ("fdwvalidator", OID),
            ("fdwacl", ACLS),
            ("fdwoptions", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_ts_config",
        cols: &[
            ("oid", OID),
            ("cfgname", NAME),
            ("cfgnamespace", OID),
            ("cfgowner", OID),
            ("cfgparser", OID),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_ts_dict",
        cols: &[
            ("oid", OID),
            ("dictname", NAME),
            ("dictnamespace", OID),
            ("dictowner", OID),
            ("dicttemplate", OID),
            ("dictinitoption", TEXT),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_ts_parser",
        cols: &[
            ("oid", OID),
            ("prsname", NAME),
            ("prsnamespace", OID),
            ("prsstart", REGPROC),
            ("prstoken", REGPROC),
            ("prsend", REGPROC),
            ("prsheadline", REGPROC),
            ("prslextype", REGPROC),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_ts_template",
        cols: &[
            ("oid", OID),
            ("tmplname", NAME),
            ("tmplnamespace", OID),
            ("tmplinit", REGPROC),
            ("tmpllexize", REGPROC),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_largeobject_metadata",
        cols: &[
            ("oid", OID),
            ("lomowner", OID),
            ("lomacl", ACLS),
        ],
        body: "SELECT NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_language",
        cols: &[
            ("oid", OID),
            ("lanname", NAME),
            ("lanowner", OID),
            ("lanispl", BOOL),
            ("lanpltrusted", BOOL),
            ("lanplcallfoid", OID),
            ("laninline", OID),
            ("lanvalidator", OID),
            ("lanacl", ACLS),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_operator",
        cols: &[
            ("oid", OID),
            ("oprname", NAME),
            ("oprnamespace", OID),
            ("oprowner", OID),
            ("oprkind", CHAR),
            ("oprcanmerge", BOOL),
            ("oprcanhash", BOOL),
            ("oprleft", OID),
            ("oprright", OID),
            ("oprresult", OID),
            ("oprcom", OID),
            ("oprnegate", OID),
            ("oprcode", REGPROC),
            ("oprrest", REGPROC),
            ("oprjoin", REGPROC),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_subscription",
        cols: &[
            ("oid", OID),
            ("subdbid", OID),
            ("subskiplsn", TEXT),
            ("subname", NAME),
            ("subowner", OID),
            ("subenabled", BOOL),
            ("subbinary", BOOL),
            ("substream", BOOL),
            ("subtwophasestate", CHAR),
            ("subdisableonerr", BOOL),
            ("subconninfo", TEXT),
            ("subslotname", NAME),
            ("subsynccommit", TEXT),
            ("subpublications", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_event_trigger",
        cols: &[
            ("oid", OID),
            ("evtname", NAME),
            ("evtevent", NAME),
            ("evtowner", OID),
            ("evtfoid", OID),
            ("evtenabled", CHAR),
            ("evttags", TEXT_ARRAY),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_aggregate",
        cols: &[
            ("aggfnoid", REGPROC),
            ("aggkind", CHAR),
            ("aggnumdirectargs", INT2),
            ("aggtransfn", REGPROC),
            ("aggfinalfn", REGPROC),
            ("aggcombinefn", REGPROC),
            ("aggserialfn", REGPROC),
            ("aggdeserialfn", REGPROC),
            ("aggmtransfn", REGPROC),
            ("aggminvtransfn", REGPROC),
            ("aggmfinalfn", REGPROC),
            ("aggfinalextra", BOOL),
            ("aggmfinalextra", BOOL),
            ("aggfinalmodify", CHAR),
            ("aggmfinalmodify", CHAR),
            ("aggsortop", OID),
            ("aggtranstype", OID),
            ("aggtransspace", INT4),
            ("aggmtranstype", OID),
            ("aggmtransspace", INT4),
            ("agginitval", TEXT),
            ("aggminitval", TEXT),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_partitioned_table",
        cols: &[
            ("partrelid", OID),
            ("partstrat", CHAR),
            ("partnatts", INT2),
            ("partdefid", OID),
            ("partattrs", INT2VECTOR),
            ("partclass", OIDVECTOR),
            ("partcollation", OIDVECTOR),
            ("partexprs", PG_NODE_TREE),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_rewrite",
        cols: &[
            ("oid", OID),
            ("rulename", NAME),
            ("ev_class", OID),
            ("ev_type", CHAR),
            ("ev_enabled", CHAR),
            ("is_instead", BOOL),
            ("ev_qual", PG_NODE_TREE),
            ("ev_action", PG_NODE_TREE),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_enum",
        cols: &[
            ("oid", OID),
            ("enumtypid", OID),
            ("enumsortorder", FLOAT4),
            ("enumlabel", NAME),
        ],
        body: "SELECT NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_range",
        cols: &[
            ("rngtypid", OID),
            ("rngsubtype", OID),
            ("rngmultitypid", OID),
            ("rngcollation", OID),
            ("rngsubopc", OID),
            ("rngcanonical", REGPROC),
            ("rngsubdiff", REGPROC),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_seclabel",
        cols: &[
            ("objoid", OID),
            ("classoid", OID),
            ("objsubid", INT4),
            ("provider", TEXT),
            ("label", TEXT),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_statistic_ext_data",
        cols: &[
            ("stxoid", OID),
            ("stxdinherit", BOOL),
            ("stxdndistinct", TEXT),
            ("stxddependencies", TEXT),
            ("stxdmcv", TEXT),
            ("stxdexpr", TEXT),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_matviews",
        cols: &[
            ("schemaname", NAME),
            ("matviewname", NAME),
            ("matviewowner", NAME),
            ("tablespace", NAME),
            ("hasindexes", BOOL),
            ("ispopulated", BOOL),
            ("definition", TEXT),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE false",
    },
    View {
        name: "pg_init_privs",
        cols: &[
            ("objoid", OID),
            ("classoid", OID),
            ("objsubid", INT4),
            ("privtype", CHAR),
            ("initprivs", ACLS),
        ],
        body: "SELECT NULL, NULL, NULL, NULL, NULL WHERE false",
    },
];

/// The OID PostgreSQL gives a catalog table (`tableoid`, `classoid`).
pub(crate) fn catalog_oid(name: &str) -> Option<u32> {
    const OIDS: &[(&str, u32)] = &[
        ("pg_aggregate", 2600),
        ("pg_am", 2601),
        ("pg_amop", 2602),
        ("pg_amproc", 2603),
        ("pg_attrdef", 2604),
        ("pg_attribute", 1249),
        ("pg_auth_members", 1261),
        ("pg_authid", 1260),
        ("pg_cast", 2605),
        ("pg_class", 1259),
        ("pg_collation", 3456),
        ("pg_constraint", 2606),
        ("pg_conversion", 2607),
        ("pg_database", 1262),
        ("pg_default_acl", 826),
        ("pg_description", 2609),
        ("pg_event_trigger", 3466),
        ("pg_extension", 3079),
        ("pg_foreign_data_wrapper", 2328),
        ("pg_foreign_server", 1417),
        ("pg_index", 2610),
        ("pg_inherits", 2611),
        ("pg_language", 2612),
        ("pg_largeobject_metadata", 2995),
        ("pg_namespace", 2615),
        ("pg_opclass", 2616),
        ("pg_operator", 2617),
        ("pg_opfamily", 2753),
        ("pg_policy", 3256),
        ("pg_proc", 1255),
        ("pg_publication", 6104),
        ("pg_rewrite", 2618),
        ("pg_sequence", 2224),
        ("pg_shdescription", 2396),
        ("pg_statistic_ext", 3381),
        ("pg_subscription", 6100),
        ("pg_tablespace", 1213),
        ("pg_trigger", 2620),
        ("pg_ts_config", 3602),
        ("pg_ts_dict", 3600),
        ("pg_ts_parser", 3601),
        ("pg_ts_template", 3764),
        ("pg_type", 1247),
    ];
    OIDS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

/// The columns of a catalog view this module defines.
pub(crate) fn view_columns(name: &str) -> Option<Vec<(String, PgType)>> {
    VIEWS
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.cols.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect())
}

/// Types listed in `pg_type`: (oid, name, len, category, element, array).
fn type_rows() -> Vec<String> {
    let mut rows = Vec::new();
    for t in types::all_types() {
        let elem = if t.name.starts_with('_') {
            types::element_of(t).oid
        } else {
            0
        };
        let array = if t.name.starts_with('_') {
            0
        } else {
            let a = types::array_of(t);
            if types::element_of(a) == t { a.oid } else { 0 }
        };
        let category = match t.oid {
            16 => 'B',
            20 | 21 | 23 | 26 | 700 | 701 | 1700 | 24 | 2205 | 2206 | 4089 | 4096 => 'N',
            1082 | 1114 | 1184 => 'D',
            18 | 19 | 25 | 1042 | 1043 => 'S',
            705 => 'X',
            _ if t.name.starts_with('_') => 'A',
            _ => 'U',
        };
        rows.push(format!(
            "({}, '{}', {}, '{}', {}, {})",
            t.oid, t.name, t.size, category, elem, array
        ));
    }
    rows
}

/// Functions listed in `pg_proc` (the ones this bridge provides): name, result type.
const PROCS: &[(&str, PgType)] = &[
    ("array_to_string", TEXT),
    ("current_setting", TEXT),
    ("format_type", TEXT),
    ("has_database_privilege", BOOL),
    ("now", TIMESTAMPTZ),
    ("pg_backend_pid", INT4),
    ("pg_get_userbyid", NAME),
    ("pg_has_role", BOOL),
    ("pg_reload_conf", BOOL),
    ("split_part", TEXT),
    ("version", TEXT),
];

/// Creates the TEMP catalog views on a connection (once per pooled connection).
pub(crate) fn create_views(conn: &Connection) -> rusqlite::Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE name = 'pg_class')",
        [],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(());
    }
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS pgscram_settings (name TEXT PRIMARY KEY, setting TEXT,
             vartype TEXT, context TEXT, short_desc TEXT, min_val TEXT, max_val TEXT,
             enumvals TEXT, boot_val TEXT);\n",
    );
    sql.push_str(&format!(
        "CREATE TEMP VIEW pgscram_types AS VALUES {};\n",
        type_rows().join(", ")
    ));
    let procs: Vec<String> = PROCS
        .iter()
        .enumerate()
        .map(|(i, (n, t))| format!("({}, '{n}', {}, 'f', 1)", 9000 + i, t.oid))
        .collect();
    sql.push_str(&format!(
        "CREATE TEMP VIEW pgscram_procs AS VALUES {};\n",
        procs.join(", ")
    ));
    for v in VIEWS {
        let cols: Vec<String> = v.cols.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        sql.push_str(&format!(
            "CREATE TEMP VIEW {}({}) AS {};\n",
            v.name,
            cols.join(", "),
            v.body
        ));
    }
    conn.execute_batch(&format!(
        "SAVEPOINT pgscram_catalog;\n{sql}RELEASE pgscram_catalog;"
    ))
}

/// Refreshes the session's `pg_settings` rows.
pub(crate) fn store_settings(
    conn: &Connection,
    rows: &[[Option<String>; 9]],
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM temp.pgscram_settings", [])?;
    let mut st = conn.prepare_cached(
        "INSERT INTO temp.pgscram_settings VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for r in rows {
        st.execute(rusqlite::params_from_iter(r.iter()))?;
    }
    Ok(())
}

// ---- COMMENT ON ----

/// What a `COMMENT ON` names, resolved: (objoid, classoid, objsubid).
pub(crate) type CommentTarget = (i64, i64, i64);

/// Resolves the object of `COMMENT ON` (ROLE, TABLE, VIEW, INDEX, COLUMN, DATABASE).
pub(crate) fn comment_target(
    conn: &Connection,
    kind: &str,
    name: &[String],
) -> Result<CommentTarget, SqlError> {
    let relation = |rel: &str, kinds: &str| -> Result<i64, SqlError> {
        conn.query_row(
            "SELECT oid FROM temp.pgscram_rel WHERE relname = ?1 AND instr(?2, relkind) > 0",
            [rel, kinds],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| SqlError::internal(e.to_string()))?
        .ok_or_else(|| {
            SqlError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{rel}\" does not exist"),
            )
        })
    };
    let last = name.last().map(String::as_str).unwrap_or("");
    Ok(match kind {
        "role" => {
            let oid: Option<i64> = conn
                .query_row(
                    "SELECT oid FROM main.pgscram_roles WHERE rolname = ?1",
                    [last],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| SqlError::internal(e.to_string()))?;
            (oid.ok_or_else(|| SqlError::role_missing(last))?, 1260, 0)
        }
        "database" => (5, 1262, 0),
        "table" => (relation(last, "r")?, 1259, 0),
        "view" => (relation(last, "v")?, 1259, 0),
        "index" => (relation(last, "i")?, 1259, 0),
        "column" => {
            let [.., table, column] = name else {
                return Err(SqlError::syntax("column name must be qualified"));
            };
            let oid = relation(table, "rv")?;
            let attnum: Option<i64> = conn
                .query_row(
                    "SELECT cid + 1 FROM pragma_table_info(?1) WHERE name = ?2",
                    [table, column],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| SqlError::internal(e.to_string()))?;
            let attnum = attnum.ok_or_else(|| {
                SqlError::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{column}\" of relation \"{table}\" does not exist"),
                )
            })?;
            (oid, 1259, attnum)
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "COMMENT ON {} is not supported by the embedded database",
                other.to_ascii_uppercase()
            )));
        }
    })
}

/// Stores (or with `None`/empty, removes) a comment.
pub(crate) fn set_comment(
    conn: &Connection,
    (objoid, classoid, objsubid): CommentTarget,
    text: Option<&str>,
) -> rusqlite::Result<()> {
    match text.filter(|t| !t.is_empty()) {
        Some(t) => conn.execute(
            "INSERT OR REPLACE INTO main.pgscram_description (objoid, classoid, objsubid, description) \
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![objoid, classoid, objsubid, t],
        )?,
        None => conn.execute(
            "DELETE FROM main.pgscram_description WHERE objoid = ?1 AND classoid = ?2 AND objsubid = ?3",
            rusqlite::params![objoid, classoid, objsubid],
        )?,
    };
    Ok(())
}

// ---- arrays in PostgreSQL's text form ----

/// Parses `{a,"b c",NULL}` (one dimension).
pub(crate) fn parse_array(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => item.extend(chars.next()),
                    '"' => break,
                    c => item.push(c),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ',' {
                break;
            }
            chars.next();
            if !quoted {
                if c == '\\' {
                    item.extend(chars.next());
                } else {
                    item.push(c);
                }
            }
        }
        let item = if quoted { item } else { item.trim().to_owned() };
        out.push(if !quoted && item.eq_ignore_ascii_case("null") {
            None
        } else {
            Some(item)
        });
        if chars.next().is_none() {
            break;
        }
    }
    Some(out)
}

/// Writes elements as PostgreSQL's array text, quoting where it would.
pub(crate) fn format_array(items: &[Option<String>]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            None => out.push_str("NULL"),
            Some(s) => {
                let needs_quotes = s.is_empty()
                    || s.eq_ignore_ascii_case("null")
                    || s.chars()
                        .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
                if needs_quotes {
                    out.push('"');
                    for c in s.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(s);
                }
            }
        }
    }
    out.push('}');
    out
}

fn element_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(types::format_float(r)),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(types::hex_bytea(b)),
    }
}

fn text_arg(ctx: &Context<'_>, i: usize) -> Option<String> {
    element_text(ctx.get_raw(i))
}

fn array_arg(ctx: &Context<'_>, i: usize) -> Option<Vec<Option<String>>> {
    text_arg(ctx, i).and_then(|t| parse_array(&t))
}

/// The most text one array built here may hold.
const MAX_ARRAY_TEXT: usize = 64 << 20;

/// `array_agg`. With `nested`, the elements are arrays themselves and go in as they
/// are (`{{1,2},{3,4}}`), as PostgreSQL builds a multi-dimensional array, instead of
/// being quoted as strings (which would double the escaping at every level).
struct ArrayAgg {
    nested: bool,
}

/// The elements so far and their total length.
type ArrayAcc = (Vec<Option<String>>, usize);

impl Aggregate<ArrayAcc, Option<String>> for ArrayAgg {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<ArrayAcc> {
        Ok((Vec::new(), 0))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut ArrayAcc) -> rusqlite::Result<()> {
        let item = text_arg(ctx, 0);
        acc.1 += item.as_ref().map_or(4, String::len);
        acc.0.push(item);
        // Quoting can double an element's length at every level of nesting: bound the
        // text an aggregate holds.
        if acc.1 > MAX_ARRAY_TEXT {
            return Err(rusqlite::Error::UserFunctionError(
                format!("array text exceeds {MAX_ARRAY_TEXT} bytes").into(),
            ));
        }
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<ArrayAcc>,
    ) -> rusqlite::Result<Option<String>> {
        Ok(acc.map(|(a, _)| {
            if self.nested {
                let parts: Vec<&str> = a.iter().map(|i| i.as_deref().unwrap_or("NULL")).collect();
                format!("{{{}}}", parts.join(","))
            } else {
                format_array(&a)
            }
        }))
    }
}

/// `format_type(oid, typmod)`: the SQL spelling PostgreSQL shows in `\d`.
pub(crate) fn format_type(oid: u32, typmod: Option<i64>) -> Option<String> {
    let with_len = |base: &str| match typmod {
        Some(m) if m >= 4 => format!("{base}({})", m - 4),
        _ => base.to_owned(),
    };
    Some(match oid {
        16 => "boolean".into(),
        17 => "bytea".into(),
        18 => "\"char\"".into(),
        19 => "name".into(),
        20 => "bigint".into(),
        21 => "smallint".into(),
        23 => "integer".into(),
        25 => "text".into(),
        26 => "oid".into(),
        114 => "json".into(),
        700 => "real".into(),
        701 => "double precision".into(),
        1042 => with_len("character"),
        1043 => with_len("character varying"),
        1082 => "date".into(),
        1114 => "timestamp without time zone".into(),
        1184 => "timestamp with time zone".into(),
        1700 => match typmod {
            Some(m) if m >= 4 => {
                let m = m - 4;
                format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
            }
            _ => "numeric".into(),
        },
        2950 => "uuid".into(),
        3802 => "jsonb".into(),
        other => {
            let t = types::by_oid(other).or_else(|| types::catalog_type(other))?;
            if t.name.starts_with('_') {
                format!("{}[]", format_type(types::element_of(t).oid, None)?)
            } else {
                t.name.to_owned()
            }
        }
    })
}

/// PostgreSQL's typmod for a declared SQLite type such as `VARCHAR(100)`.
fn decl_typmod(decl: &str) -> i64 {
    let Some(ty) = types::from_decltype(decl) else {
        return -1;
    };
    let Some((_, args)) = decl.split_once('(') else {
        return -1;
    };
    let nums: Vec<i64> = args
        .trim_end_matches(')')
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match (ty.oid, nums.as_slice()) {
        (1042 | 1043, [n]) => n + 4,
        (1700, [p]) => (p << 16) + 4,
        (1700, [p, s]) => ((p << 16) | s) + 4,
        _ => -1,
    }
}

/// Installs the functions the catalog views and rewritten queries call.
pub(crate) fn install(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // A double-quoted name is an identifier, never a string literal (SQLite's
    // legacy fallback would turn a misspelt "column" into text).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    rusqlite::vtab::series::load_module(conn)?;
    conn.create_aggregate_function("pgscram_array_agg", 1, det, ArrayAgg { nested: false })?;
    conn.create_aggregate_function(
        "pgscram_array_agg_nested",
        1,
        det,
        ArrayAgg { nested: true },
    )?;
    conn.create_scalar_function("pgscram_array", -1, det, |ctx| {
        let items: Vec<Option<String>> = (0..ctx.len()).map(|i| text_arg(ctx, i)).collect();
        Ok(format_array(&items))
    })?;
    conn.create_scalar_function("pgscram_array_contains", 2, det, |ctx| {
        let Some(items) = array_arg(ctx, 0) else {
            return Ok(None);
        };
        let Some(needle) = text_arg(ctx, 1) else {
            return Ok(None);
        };
        Ok(Some(
            items.iter().any(|i| i.as_deref() == Some(needle.as_str())),
        ))
    })?;
    conn.create_scalar_function("pgscram_array_elem", 2, det, |ctx| {
        let idx: Option<i64> = ctx.get(1).ok();
        Ok(match (array_arg(ctx, 0), idx) {
            (Some(items), Some(i)) if i >= 1 => usize::try_from(i - 1)
                .ok()
                .and_then(|i| items.get(i).cloned().flatten()),
            _ => None,
        })
    })?;
    conn.create_scalar_function("pgscram_array_upper", 2, det, |ctx| {
        Ok(array_arg(ctx, 0).and_then(|a| (!a.is_empty()).then_some(a.len() as i64)))
    })?;
    conn.create_scalar_function("pgscram_array_lower", 2, det, |ctx| {
        Ok(array_arg(ctx, 0).and_then(|a| (!a.is_empty()).then_some(1i64)))
    })?;
    conn.create_scalar_function("pgscram_array_json", 1, det, |ctx| {
        Ok(array_arg(ctx, 0).map(|items| {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    None => "null".to_owned(),
                    Some(t) => {
                        let mut out = String::from("\"");
                        for c in t.chars() {
                            match c {
                                '"' => out.push_str("\\\""),
                                '\\' => out.push_str("\\\\"),
                                c if (c as u32) < 0x20 => {
                                    out.push_str(&format!("\\u{:04x}", c as u32))
                                }
                                c => out.push(c),
                            }
                        }
                        out.push('"');
                        out
                    }
                })
                .collect();
            format!("[{}]", parts.join(","))
        }))
    })?;
    conn.create_scalar_function("pgscram_cardinality", 1, det, |ctx| {
        Ok(array_arg(ctx, 0).map(|a| a.len() as i64))
    })?;
    for n in [2, 3] {
        conn.create_scalar_function("array_to_string", n, det, |ctx| {
            let Some(items) = array_arg(ctx, 0) else {
                return Ok(None);
            };
            let sep = text_arg(ctx, 1).unwrap_or_default();
            let null = if ctx.len() > 2 {
                text_arg(ctx, 2)
            } else {
                None
            };
            let parts: Vec<String> = items
                .into_iter()
                .filter_map(|i| i.or_else(|| null.clone()))
                .collect();
            Ok(Some(parts.join(&sep)))
        })?;
    }
    for name in ["power", "pow"] {
        conn.create_scalar_function(name, 2, det, |ctx| {
            let a: Option<f64> = ctx.get(0)?;
            let b: Option<f64> = ctx.get(1)?;
            Ok(a.zip(b).map(|(a, b)| a.powf(b)))
        })?;
    }
    conn.create_scalar_function("split_part", 3, det, |ctx| {
        let (Some(s), Some(d)) = (text_arg(ctx, 0), text_arg(ctx, 1)) else {
            return Ok(None);
        };
        let n: i64 = ctx.get(2)?;
        let parts: Vec<&str> = if d.is_empty() {
            vec![s.as_str()]
        } else {
            s.split(d.as_str()).collect()
        };
        let pick = if n > 0 {
            usize::try_from(n - 1).ok().and_then(|i| parts.get(i))
        } else if n < 0 {
            usize::try_from(-n)
                .ok()
                .and_then(|k| parts.len().checked_sub(k))
                .and_then(|i| parts.get(i))
        } else {
            return Err(rusqlite::Error::UserFunctionError(
                "field position must not be zero".into(),
            ));
        };
        Ok(Some(pick.map_or(String::new(), |p| (*p).to_owned())))
    })?;
    conn.create_scalar_function("format_type", 2, det, |ctx| {
        let oid: Option<i64> = ctx.get(0)?;
        let typmod: Option<i64> = ctx.get(1)?;
        Ok(oid.and_then(|o| {
            format_type(u32::try_from(o).ok()?, typmod).or_else(|| Some("???".into()))
        }))
    })?;
    conn.create_scalar_function("pgscram_decl_oid", 1, det, |ctx| {
        let decl = text_arg(ctx, 0).unwrap_or_default();
        Ok(types::from_decltype(&decl).map_or(types::oid::TEXT, |t| t.oid))
    })?;
    conn.create_scalar_function("pgscram_decl_len", 1, det, |ctx| {
        let decl = text_arg(ctx, 0).unwrap_or_default();
        Ok(types::from_decltype(&decl).map_or(-1, |t| t.size))
    })?;
    conn.create_scalar_function("pgscram_decl_typmod", 1, det, |ctx| {
        Ok(decl_typmod(&text_arg(ctx, 0).unwrap_or_default()))
    })?;
    conn.create_scalar_function("pgscram_is_serial", 3, det, |ctx| {
        let decl = text_arg(ctx, 0).unwrap_or_default();
        let pk: i64 = ctx.get(1).unwrap_or(0);
        let sql = text_arg(ctx, 2).unwrap_or_default().to_ascii_uppercase();
        Ok(pk == 1 && decl.eq_ignore_ascii_case("integer") && sql.contains("AUTOINCREMENT"))
    })?;
    conn.create_scalar_function("pgscram_default_text", 2, det, |ctx| {
        let Some(d) = text_arg(ctx, 0) else {
            return Ok(None);
        };
        let decl = text_arg(ctx, 1).unwrap_or_default();
        let is_bool = types::from_decltype(&decl) == Some(types::BOOL);
        Ok(Some(match d.as_str() {
            "1" | "TRUE" | "true" if is_bool => "true".to_owned(),
            "0" | "FALSE" | "false" if is_bool => "false".to_owned(),
            _ => d,
        }))
    })?;
    conn.create_scalar_function("pgscram_catalog_oid", 1, det, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(i) => Some(i),
            v => element_text(v)
                .and_then(|name| catalog_oid(name.trim_start_matches("pg_catalog.")))
                .map(i64::from),
        })
    })?;
    conn.create_scalar_function("pgscram_unqualify", 1, det, |ctx| {
        Ok(text_arg(ctx, 0).map(|n| {
            let n = n.trim();
            let n = n
                .strip_prefix("pg_catalog.")
                .or_else(|| n.strip_prefix("public."))
                .unwrap_or(n);
            n.trim_matches('"').to_owned()
        }))
    })?;
    let sh = Arc::clone(shared);
    conn.create_scalar_function("pg_reload_conf", 0, FunctionFlags::SQLITE_UTF8, move |_| {
        if !sh.superuser.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(sh.raise(SqlError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                "permission denied for function pg_reload_conf",
            )));
        }
        sh.reload.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    })?;
    let sh = Arc::clone(shared);
    conn.create_scalar_function(
        "pgscram_connection",
        1,
        FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            use rusqlite::types::Value;
            let field = text_arg(ctx, 0).unwrap_or_default();
            let info = lock(&sh.connection).clone();
            Ok(match field.as_str() {
                "ssl" => Value::Integer(i64::from(info.tls.is_some())),
                "version" => info.tls.map_or(Value::Null, |t| Value::Text(t.version)),
                "cipher" => info.tls.map_or(Value::Null, |t| Value::Text(t.cipher)),
                "bits" => info
                    .tls
                    .map_or(Value::Null, |t| Value::Integer(i64::from(t.bits))),
                "client_addr" => info.client_addr.map_or(Value::Null, Value::Text),
                "client_port" => info
                    .client_port
                    .map_or(Value::Null, |p| Value::Integer(i64::from(p))),
                _ => Value::Null,
            })
        },
    )?;
    let start_time = shared.started.to_string();
    conn.create_scalar_function(
        "pgscram_start_time",
        0,
        det,
        move |_| Ok(start_time.clone()),
    )?;
    let sh = Arc::clone(shared);
    conn.create_scalar_function(
        "pgscram_current_query",
        0,
        FunctionFlags::SQLITE_UTF8,
        move |_| Ok(lock(&sh.current_query).clone()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_text_round_trips() {
        let items = vec![
            Some("a".to_owned()),
            None,
            Some("b c".to_owned()),
            Some(String::new()),
        ];
        let text = format_array(&items);
        assert_eq!(text, r#"{a,NULL,"b c",""}"#);
        assert_eq!(parse_array(&text).unwrap(), items);
        assert_eq!(parse_array("{}").unwrap(), Vec::<Option<String>>::new());
    }

    #[test]
    fn format_type_spells_like_postgresql() {
        assert_eq!(
            format_type(1043, Some(104)).unwrap(),
            "character varying(100)"
        );
        assert_eq!(format_type(23, None).unwrap(), "integer");
        assert_eq!(format_type(1009, None).unwrap(), "text[]");
        assert_eq!(decl_typmod("VARCHAR(100)"), 104);
    }
}
