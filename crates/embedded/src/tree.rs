//! Queries as a tree: sqlparser's PostgreSQL dialect parses the statement, a walker
//! rewrites the tree for SQLite while it works out PostgreSQL's type for every
//! expression, and sqlparser's printer writes the SQLite SQL.
//!
//! ```text
//!   PostgreSQL SQL ──parse──▶ Statement ──walk (scope: FROM relations and their
//!                                            column types)──▶ rewritten Statement
//!                                                            + result column types
//!                                         ──print──▶ SQLite SQL
//! ```
//!
//! The walker knows which relation every column comes from, so types come from the
//! catalog (never from the data), and an untyped string literal compared with a
//! number becomes a number, as PostgreSQL's "unknown" literals do. Rewrites:
//! - `pg_catalog.` / `public.` qualifiers go; `COLLATE pg_catalog.default` goes.
//! - `~ ~* !~ !~*` and `OPERATOR(pg_catalog.~)` become regex function calls; `ILIKE`
//!   becomes the case-insensitive `glob` function the session installs.
//! - Casts become `pgscram_cast(expr, oid, typmod)`; `regclass`/`regtype`/... casts
//!   become catalog lookups; array casts are dropped (arrays are kept in text form).
//! - `ARRAY(subquery)`, `array_agg`, `ARRAY[...]`, `= ANY(array)`, `arr[i]` work on
//!   PostgreSQL's array text (`{a,b}`).
//! - PostgreSQL functions psql and drivers call are either SQLite functions the
//!   session installs or small SQL templates over the catalog views ([`MACROS`]).
//! - Window functions keep their OVER clauses (walked like any expression);
//!   set-returning calls in a select list become a series join ([`crate::srf`]).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArgumentList, FunctionArguments, Ident, InTarget, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
    Subscript, TableFactor, UnaryOperator, Value, ValueWithSpan, visit_expressions_mut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use crate::error::{SqlError, sqlstate};
use crate::script::syntax_error;
use crate::types::{self, PgType};

/// Where the walker finds the columns of a relation a query names.
pub(crate) trait Catalog {
    /// The columns of a table or view (name lowercased), with their types.
    fn columns(&self, relation: &str) -> Option<Vec<(String, PgType)>>;
}

/// What a statement needs refreshed before it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Reads `pg_settings` (or `current_setting`): the session's settings table.
    pub settings: bool,
    /// Reads `pg_stat_activity` / `pg_stat_ssl`.
    pub activity: bool,
    /// Calls `current_setting()` or `set_config()`: the session's settings, live.
    pub setting_functions: bool,
}

impl Translated {
    /// The type of result column `i` of `n` (when the statement's own count agrees).
    pub fn hint(&self, i: usize, n: usize) -> Option<PgType> {
        if self.columns.len() == n {
            self.columns[i]
        } else {
            None
        }
    }
}

/// What a translated statement does (for its command tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Select,
    Insert,
    Update,
    Delete,
    /// `CREATE TABLE ... AS`: tag `SELECT n`.
    CreateTableAs,
    /// Any other statement: the tag is fixed text (`CREATE TABLE`, `DROP INDEX`, ...).
    Other(String),
}

/// A query or DML statement, ready for SQLite.
#[derive(Clone, Debug)]
pub(crate) struct Translated {
    pub sql: String,
    pub verb: Verb,
    /// One entry per result column; `None` where a `*` could not be expanded.
    pub columns: Vec<Option<PgType>>,
    pub param_types: BTreeMap<u32, PgType>,
    pub max_param: u32,
    pub needs: Needs,
}

fn dialect() -> PostgreSqlDialect {
    PostgreSqlDialect {}
}

/// Rewrites one statement for SQLite (in place) and types its result columns.
/// `declared` are the parameter types a Parse message gave (0: not given); they type
/// `$n` where it appears, as in PostgreSQL.
pub(crate) fn translate(
    stmt: &mut Statement,
    cat: &dyn Catalog,
    declared: &[u32],
) -> Result<Translated, SqlError> {
    let params = (1u32..)
        .zip(declared)
        .filter_map(|(n, oid)| {
            types::by_oid(*oid)
                .or_else(|| types::catalog_type(*oid))
                .filter(|t| *t != types::UNKNOWN)
                .map(|t| (n, t))
        })
        .collect();
    let mut w = Walker {
        cat,
        params,
        max_param: 0,
        needs: Needs::default(),
        ctes: Vec::new(),
        depth: 0,
        srf_frame: None,
        srf_count: 0,
    };
    let (verb, cols) = match stmt {
        Statement::Query(q) => (Verb::Select, w.query(q, None)?),
        Statement::Insert(ins) => (Verb::Insert, w.insert(ins)?),
        Statement::Update(up) => (Verb::Update, w.update(up)?),
        Statement::Delete(del) => (Verb::Delete, w.delete(del)?),
        other => {
            let (verb, sql) = w.ddl(other)?;
            return Ok(Translated {
                sql,
                verb,
                columns: Vec::new(),
                param_types: w.params,
                max_param: w.max_param,
                needs: w.needs,
            });
        }
    };
    Ok(Translated {
        sql: stmt.to_string(),
        verb,
        columns: cols
            .into_iter()
            .map(|(_, t)| t.map(|t| if t == types::UNKNOWN { types::TEXT } else { t }))
            .collect(),
        param_types: w.params,
        max_param: w.max_param,
        needs: w.needs,
    })
}

/// A result column: its name and type (`None` for an unexpanded `*`).
type Col = (String, Option<PgType>);

/// A relation in a FROM clause.
struct Rel {
    /// The alias, or the relation's name.
    name: String,
    cols: Vec<(String, PgType)>,
    /// The catalog's OID for `tableoid` (0 for user relations and subqueries).
    tableoid: u32,
}

/// The relations visible to an expression, innermost first.
#[derive(Default)]
struct Scope<'p> {
    rels: Vec<Rel>,
    parent: Option<&'p Scope<'p>>,
}

impl Scope<'_> {
    /// `tableoid` of the relation a qualifier names (the first one without).
    fn tableoid(&self, qualifier: Option<&str>) -> Option<u32> {
        let mut scope = Some(self);
        while let Some(s) = scope {
            if let Some(r) = s
                .rels
                .iter()
                .find(|r| qualifier.is_none_or(|q| q == r.name))
            {
                return Some(r.tableoid);
            }
            scope = s.parent;
        }
        None
    }

    fn column(&self, qualifier: Option<&str>, name: &str) -> Option<PgType> {
        let mut scope = Some(self);
        while let Some(s) = scope {
            for rel in &s.rels {
                if qualifier.is_some_and(|q| q != rel.name) {
                    continue;
                }
                if let Some((_, t)) = rel.cols.iter().find(|(c, _)| c == name) {
                    return Some(*t);
                }
            }
            scope = s.parent;
        }
        None
    }
}

struct Walker<'c> {
    cat: &'c dyn Catalog,
    params: BTreeMap<u32, PgType>,
    max_param: u32,
    needs: Needs,
    /// Common table expressions in scope: name and columns.
    ctes: Vec<(String, Vec<(String, PgType)>)>,
    /// How deep the walk is in expressions now.
    depth: usize,
    /// The select list being walked: set-returning calls found in it join a series.
    srf_frame: Option<SrfFrame>,
    /// How many series joins the statement has (their aliases are numbered).
    srf_count: usize,
}

/// The set-returning calls of one select list (see [`crate::srf`]).
struct SrfFrame {
    alias: String,
    lengths: Vec<Expr>,
}

/// The deepest expression tree the walker accepts.
const MAX_DEPTH: usize = 400;

/// An identifier's name as PostgreSQL folds it.
pub(crate) fn ident_name(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

fn part_name(p: &ObjectNamePart) -> String {
    match p {
        ObjectNamePart::Identifier(id) => ident_name(id),
        ObjectNamePart::Function(f) => f.name.value.to_ascii_lowercase(),
    }
}

/// The last part of a name, after dropping a `pg_catalog.` or `public.` schema.
fn object_name(n: &ObjectName) -> Result<String, SqlError> {
    let parts: Vec<String> = n.0.iter().map(part_name).collect();
    match parts.as_slice() {
        [one] => Ok(one.clone()),
        [schema, one] if schema == "pg_catalog" || schema == "public" => Ok(one.clone()),
        [schema, one] if schema == "information_schema" => Ok(format!("information_schema_{one}")),
        [schema, _] => Err(SqlError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("schema \"{schema}\" does not exist"),
        )),
        _ => Err(SqlError::unsupported(format!(
            "cross-database references are not implemented: {n}"
        ))),
    }
}

fn ident(name: &str) -> Ident {
    Ident::new(name)
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

pub(crate) fn value(v: Value) -> Expr {
    Expr::Value(ValueWithSpan {
        value: v,
        span: Span::empty(),
    })
}

pub(crate) fn number(n: impl ToString) -> Expr {
    value(Value::Number(n.to_string(), false))
}

/// `name(args...)`.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(ident(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn not(e: Expr) -> Expr {
    Expr::UnaryOp {
        op: UnaryOperator::Not,
        expr: Box::new(Expr::Nested(Box::new(e))),
    }
}

fn take(e: &mut Expr) -> Expr {
    std::mem::replace(e, value(Value::Null))
}

/// The text of a string literal, if `e` is one (PostgreSQL's "unknown" type).
fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::UnicodeStringLiteral(s)
            | Value::NationalStringLiteral(s) => Some(s),
            Value::DollarQuotedString(d) => Some(&d.value),
            _ => None,
        },
        _ => None,
    }
}

/// The type of a numeric literal.
fn number_type(n: &str) -> PgType {
    if n.contains(['.', 'e', 'E']) {
        types::NUMERIC
    } else {
        match n.replace('_', "").parse::<i64>() {
            Ok(v) if i32::try_from(v).is_ok() => types::INT4,
            Ok(_) => types::INT8,
            Err(_) => types::NUMERIC,
        }
    }
}

fn is_numeric(t: PgType) -> bool {
    [
        types::INT2,
        types::INT4,
        types::INT8,
        types::OID,
        types::FLOAT4,
        types::FLOAT8,
        types::NUMERIC,
        types::REGCLASS,
        types::REGTYPE,
    ]
    .contains(&t)
}

/// PostgreSQL's result type for arithmetic on two operands.
fn arith_type(a: PgType, b: PgType) -> PgType {
    let rank = |t: PgType| match t {
        t if t == types::INT2 => 1,
        t if t == types::INT4 || t == types::OID => 2,
        t if t == types::INT8 => 3,
        t if t == types::NUMERIC => 4,
        t if t == types::FLOAT4 => 5,
        t if t == types::FLOAT8 => 6,
        _ => 0,
    };
    match (rank(a), rank(b)) {
        (0, 0) => {
            if a == types::UNKNOWN {
                b
            } else {
                a
            }
        }
        (0, _) => b,
        (_, 0) => a,
        (x, y) => {
            let t = if x >= y { a } else { b };
            match t {
                t if t == types::INT2 || t == types::OID => types::INT4,
                t if t == types::FLOAT4 => types::FLOAT8,
                t => t,
            }
        }
    }
}

/// A cast target.
enum Target {
    Plain(PgType, Option<i64>, &'static str),
    /// regclass, regtype, regnamespace, regrole, regproc.
    Reg(&'static str),
    Array(PgType),
}

/// Resolves a type name as written in a cast.
fn cast_target(dt: &DataType) -> Result<Target, SqlError> {
    if let DataType::Array(elem) = dt {
        let inner = match elem {
            sqlparser::ast::ArrayElemTypeDef::SquareBracket(t, _)
            | sqlparser::ast::ArrayElemTypeDef::AngleBracket(t)
            | sqlparser::ast::ArrayElemTypeDef::Parenthesis(t) => match cast_target(t)? {
                Target::Plain(t, _, _) => t,
                _ => types::OID,
            },
            _ => types::TEXT,
        };
        return Ok(Target::Array(types::array_of(inner)));
    }
    let text = dt.to_string().to_ascii_lowercase().replace('"', "");
    let text = text.strip_prefix("pg_catalog.").unwrap_or(&text);
    if let Some(base) = text.strip_suffix("[]") {
        let inner = match cast_target(&DataType::Custom(
            ObjectName(vec![ObjectNamePart::Identifier(ident(base))]),
            Vec::new(),
        ))? {
            Target::Plain(t, _, _) => t,
            _ => types::OID,
        };
        return Ok(Target::Array(types::array_of(inner)));
    }
    let (name, modifier) = match text.split_once('(') {
        Some((n, m)) => (
            n.trim(),
            m.trim_end_matches(')')
                .split(',')
                .next()
                .and_then(|m| m.trim().parse::<i64>().ok()),
        ),
        None => (text.trim(), None),
    };
    for reg in ["regclass", "regtype", "regnamespace", "regrole", "regproc"] {
        if name == reg {
            return Ok(Target::Reg(reg));
        }
    }
    if matches!(
        name,
        "regprocedure" | "regoper" | "regoperator" | "regconfig" | "regdictionary" | "regcollation"
    ) {
        return Ok(Target::Reg("regproc"));
    }
    if name == "char"
        && text.starts_with("char")
        && !text.starts_with("char(")
        && dt.to_string().contains('"')
    {
        return Ok(Target::Plain(types::CHAR, None, "char"));
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    let Some((ty, _)) = types::lookup(&words) else {
        return Err(SqlError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("type \"{name}\" does not exist"),
        ));
    };
    let mut typmod = modifier;
    let first = words.first().copied().unwrap_or("");
    if ty == types::BPCHAR && typmod.is_none() && (first == "char" || first == "character") {
        typmod = Some(1);
    }
    let colname = if ty == types::BPCHAR {
        "bpchar"
    } else {
        ty.name
    };
    Ok(Target::Plain(ty, typmod, colname))
}

/// The name PostgreSQL gives an unaliased result column (its FigureColname rules).
fn column_name(e: &Expr) -> String {
    fn inner(e: &Expr) -> Option<String> {
        match e {
            Expr::Identifier(id) => Some(ident_name(id)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
            Expr::Function(f) => f.name.0.last().map(part_name),
            Expr::Cast {
                expr, data_type, ..
            } => inner(expr).or_else(|| match cast_target(data_type) {
                Ok(Target::Plain(_, _, n)) => Some(n.to_owned()),
                Ok(Target::Reg(n)) => Some(n.to_owned()),
                Ok(Target::Array(t)) => Some(t.name.to_owned()),
                Err(_) => None,
            }),
            Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => Some("bool".into()),
            Expr::Case { .. } => Some("case".into()),
            Expr::Exists { .. } => Some("exists".into()),
            Expr::Array(_) => Some("array".into()),
            Expr::Nested(e) => inner(e),
            Expr::Collate { expr, .. } => inner(expr),
            Expr::Subquery(q) => match q.body.as_ref() {
                SetExpr::Select(s) => match s.projection.first() {
                    Some(SelectItem::ExprWithAlias { alias, .. }) => Some(ident_name(alias)),
                    Some(SelectItem::UnnamedExpr(e)) => inner(e),
                    _ => None,
                },
                _ => None,
            },
            Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
                Some(AccessExpr::Dot(Expr::Identifier(field))) => Some(ident_name(field)),
                _ => None,
            },
            Expr::Substring { .. } => Some("substring".into()),
            Expr::Position { .. } => Some("position".into()),
            Expr::Trim { .. } => Some("btrim".into()),
            Expr::TypedString(ts) => match cast_target(&ts.data_type) {
                Ok(Target::Plain(_, _, n)) => Some(n.to_owned()),
                _ => None,
            },
            _ => None,
        }
    }
    inner(e).unwrap_or_else(|| "?column?".to_owned())
}

/// Converts an untyped string literal to the type it is compared with (PostgreSQL
/// resolves "unknown" literals by the other operand).
fn coerce_literal(e: &mut Expr, to: PgType) -> Result<(), SqlError> {
    let Some(text) = string_literal(e) else {
        return Ok(());
    };
    let text = text.to_owned();
    if is_numeric(to) && to != types::REGCLASS && to != types::REGTYPE {
        if to == types::FLOAT4 || to == types::FLOAT8 || to == types::NUMERIC {
            let f = types::parse_float(&text)?;
            *e = number(f);
        } else {
            let lookup = if to == types::OID { types::INT8 } else { to };
            let n = types::parse_int(&text, lookup)?;
            *e = number(n);
        }
    } else if to == types::BOOL {
        match types::parse_bool(&text) {
            Some(b) => *e = value(Value::Boolean(b)),
            None => {
                return Err(SqlError::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type boolean: \"{text}\""),
                ));
            }
        }
    }
    Ok(())
}

/// A PostgreSQL function written as a SQL template over the catalog views: name,
/// argument count, template (`$1`.. are the arguments), result type.
const MACROS: &[(&str, usize, &str, PgType)] = &[
    (
        "pg_get_userbyid",
        1,
        "(SELECT rolname FROM pg_roles WHERE oid = $1)",
        types::NAME,
    ),
    (
        "pg_encoding_to_char",
        1,
        "(CASE $1 WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END)",
        types::NAME,
    ),
    ("pg_table_is_visible", 1, "true", types::BOOL),
    ("pg_function_is_visible", 1, "true", types::BOOL),
    ("pg_type_is_visible", 1, "true", types::BOOL),
    ("pg_relation_is_publishable", 1, "false", types::BOOL),
    ("pg_is_in_recovery", 0, "false", types::BOOL),
    ("pg_get_expr", 2, "$1", types::TEXT),
    ("pg_get_expr", 3, "$1", types::TEXT),
    // The one-argument form qualifies the table; the pretty form (psql's) does not
    // when the schema is on the search path.
    (
        "pg_get_indexdef",
        1,
        "(SELECT replace(pgscram_indexdef, ' ON ', ' ON public.') FROM pg_index WHERE indexrelid = $1)",
        types::TEXT,
    ),
    (
        "pg_get_indexdef",
        3,
        "(SELECT pgscram_indexdef FROM pg_index WHERE indexrelid = $1)",
        types::TEXT,
    ),
    (
        "pg_get_constraintdef",
        1,
        "(SELECT pgscram_def FROM pg_constraint WHERE oid = $1)",
        types::TEXT,
    ),
    (
        "pg_get_constraintdef",
        2,
        "(SELECT pgscram_def FROM pg_constraint WHERE oid = $1)",
        types::TEXT,
    ),
    (
        "pg_get_viewdef",
        1,
        "(SELECT pgscram_viewdef FROM pg_class WHERE oid = $1)",
        types::TEXT,
    ),
    (
        "pg_get_viewdef",
        2,
        "(SELECT pgscram_viewdef FROM pg_class WHERE oid = $1)",
        types::TEXT,
    ),
    ("pg_get_statisticsobjdef_columns", 1, "NULL", types::TEXT),
    ("pg_statistics_obj_is_visible", 1, "true", types::BOOL),
    ("pg_collation_is_visible", 1, "true", types::BOOL),
    ("pg_conversion_is_visible", 1, "true", types::BOOL),
    ("pg_operator_is_visible", 1, "true", types::BOOL),
    ("pg_opclass_is_visible", 1, "true", types::BOOL),
    ("pg_opfamily_is_visible", 1, "true", types::BOOL),
    ("pg_ts_config_is_visible", 1, "true", types::BOOL),
    ("pg_ts_dict_is_visible", 1, "true", types::BOOL),
    ("pg_ts_parser_is_visible", 1, "true", types::BOOL),
    ("pg_ts_template_is_visible", 1, "true", types::BOOL),
    ("pg_tablespace_location", 1, "''", types::TEXT),
    ("getdatabaseencoding", 0, "'UTF8'", types::NAME),
    (
        "pg_char_to_encoding",
        1,
        "(CASE upper($1) WHEN 'UTF8' THEN 6 WHEN 'SQL_ASCII' THEN 0 ELSE -1 END)",
        types::INT4,
    ),
    ("pg_client_encoding", 0, "'UTF8'", types::NAME),
    ("pg_get_function_result", 1, "NULL", types::TEXT),
    ("pg_get_function_arguments", 1, "NULL", types::TEXT),
    ("pg_get_function_identity_arguments", 1, "NULL", types::TEXT),
    ("pg_get_triggerdef", 2, "NULL", types::TEXT),
    (
        "shobj_description",
        2,
        "(SELECT description FROM pg_shdescription WHERE objoid = $1 AND classoid = pgscram_catalog_oid($2))",
        types::TEXT,
    ),
    (
        "obj_description",
        2,
        "(SELECT description FROM pg_description WHERE objoid = $1 AND classoid = pgscram_catalog_oid($2) AND objsubid = 0)",
        types::TEXT,
    ),
    (
        "obj_description",
        1,
        "(SELECT description FROM pg_description WHERE objoid = $1 AND objsubid = 0)",
        types::TEXT,
    ),
    (
        "col_description",
        2,
        "(SELECT description FROM pg_description WHERE objoid = $1 AND classoid = 1259 AND objsubid = $2)",
        types::TEXT,
    ),
    // The type's OID, or NULL: psycopg's TypeInfo.fetch. SQL spellings (`integer`) too,
    // and `name[]` for the array of a type.
    (
        "to_regtype",
        1,
        "(SELECT oid FROM pg_type WHERE typname = pgscram_unqualify($1) OR format_type(oid, NULL) = lower($1)
            OR (substr($1, -2) = '[]' AND oid = (SELECT e.typarray FROM pg_type e
                WHERE e.typname = pgscram_unqualify(substr($1, 1, length($1) - 2))
                   OR format_type(e.oid, NULL) = lower(substr($1, 1, length($1) - 2)) LIMIT 1))
          LIMIT 1)",
        types::OID,
    ),
    (
        "to_regclass",
        1,
        "(SELECT oid FROM pg_class WHERE relname = pgscram_unqualify($1))",
        types::OID,
    ),
    // Membership through any chain of grants; superusers have every role.
    (
        "pg_has_role",
        3,
        "(EXISTS (WITH RECURSIVE pgscram_m(id) AS (
             SELECT oid FROM pg_roles WHERE rolname = $1 OR oid = $1
             UNION SELECT a.roleid FROM pg_auth_members a JOIN pgscram_m ON a.member = pgscram_m.id)
           SELECT 1 FROM pgscram_m JOIN pg_roles r ON r.oid = pgscram_m.id
           WHERE r.rolname = $2 OR r.oid = $2)
          OR EXISTS (SELECT 1 FROM pg_roles WHERE (rolname = $1 OR oid = $1) AND rolsuper))",
        types::BOOL,
    ),
    // No object privileges: every role may connect to the one database and create
    // temporary tables in it, and read every table.
    ("has_database_privilege", 2, "true", types::BOOL),
    ("has_database_privilege", 3, "true", types::BOOL),
    ("has_schema_privilege", 2, "true", types::BOOL),
    ("has_schema_privilege", 3, "true", types::BOOL),
    ("has_table_privilege", 2, "true", types::BOOL),
    ("has_table_privilege", 3, "true", types::BOOL),
    ("pg_relation_size", 1, "0", types::INT8),
    ("pg_table_size", 1, "0", types::INT8),
    ("pg_total_relation_size", 1, "0", types::INT8),
    ("pg_database_size", 1, "0", types::INT8),
    ("pg_size_pretty", 1, "($1 || ' bytes')", types::TEXT),
    ("current_schema", 0, "'public'", types::NAME),
    ("current_schemas", 1, "'{public}'", types::NAME_ARRAY),
    ("current_database", 0, "current_database()", types::NAME),
    ("current_catalog", 0, "current_database()", types::NAME),
    ("current_user", 0, "pgscram_current_user()", types::NAME),
    ("current_role", 0, "pgscram_current_user()", types::NAME),
    ("user", 0, "pgscram_current_user()", types::NAME),
    ("session_user", 0, "pgscram_session_user()", types::NAME),
    ("current_timestamp", 0, "now()", types::TIMESTAMPTZ),
    (
        "localtimestamp",
        0,
        "pgscram_cast(now(), 1114, -1)",
        types::TIMESTAMP,
    ),
    (
        "current_date",
        0,
        "pgscram_cast(now(), 1082, -1)",
        types::DATE,
    ),
    (
        "pg_postmaster_start_time",
        0,
        "pgscram_start_time()",
        types::TIMESTAMPTZ,
    ),
    (
        "pg_conf_load_time",
        0,
        "pgscram_start_time()",
        types::TIMESTAMPTZ,
    ),
    ("bool_and", 1, "min($1)", types::BOOL),
    ("every", 1, "min($1)", types::BOOL),
    ("bool_or", 1, "max($1)", types::BOOL),
    ("greatest", 2, "max($1, $2)", types::UNKNOWN),
    ("least", 2, "min($1, $2)", types::UNKNOWN),
    ("strpos", 2, "instr($1, $2)", types::INT4),
    ("char_length", 1, "length($1)", types::INT4),
    ("character_length", 1, "length($1)", types::INT4),
    ("btrim", 1, "trim($1)", types::TEXT),
    ("btrim", 2, "trim($1, $2)", types::TEXT),
    ("left", 2, "substr($1, 1, $2)", types::TEXT),
    ("right", 2, "substr($1, -($2))", types::TEXT),
    (
        "repeat",
        2,
        "replace(printf('%.*c', $2, 'x'), 'x', $1)",
        types::TEXT,
    ),
];

/// Functions SQLite runs as they are (built in, or installed by the session), with
/// their result type when it does not depend on the arguments.
fn function_type(name: &str, args: &[PgType]) -> PgType {
    let first = args.first().copied().unwrap_or(types::UNKNOWN);
    match name {
        "count" => types::INT8,
        "sum" => {
            if [types::INT2, types::INT4].contains(&first) {
                types::INT8
            } else if first == types::INT8 {
                types::NUMERIC
            } else {
                first
            }
        }
        "avg" => {
            if [types::FLOAT4, types::FLOAT8].contains(&first) {
                types::FLOAT8
            } else {
                types::NUMERIC
            }
        }
        "max" | "min" | "coalesce" | "nullif" | "abs" => first,
        "version" | "lower" | "upper" | "concat" | "concat_ws" | "replace" | "substr"
        | "substring" | "trim" | "ltrim" | "rtrim" | "format" | "string_agg" | "group_concat"
        | "md5" | "quote_ident" | "quote_literal" | "lpad" | "rpad" | "initcap" | "reverse"
        | "to_hex" | "array_to_string" | "split_part" | "format_type" | "pg_get_keywords"
        | "chr" | "translate" | "current_setting" | "set_config" => types::TEXT,
        "now" | "statement_timestamp" | "transaction_timestamp" | "clock_timestamp" => {
            types::TIMESTAMPTZ
        }
        "length" | "octet_length" | "pg_backend_pid" | "array_upper" | "array_lower"
        | "array_length" | "cardinality" | "instr" => types::INT4,
        "random" | "percent_rank" | "cume_dist" => types::FLOAT8,
        "row_number" | "rank" | "dense_rank" => types::INT8,
        "ntile" => types::INT4,
        "lag" | "lead" | "first_value" | "last_value" | "nth_value" => first,
        "pg_reload_conf" => types::BOOL,
        "gen_random_uuid" => types::UUID,
        "round" | "trunc" => {
            if first == types::FLOAT8 {
                types::FLOAT8
            } else {
                types::NUMERIC
            }
        }
        _ => types::UNKNOWN,
    }
}

/// Functions PostgreSQL has that the bridge cannot provide.
const UNSUPPORTED_FUNCTIONS: &[&str] = &["pg_sleep", "to_char", "age", "date_trunc"];

impl Walker<'_> {
    fn relation_columns(&mut self, name: &str) -> Option<Vec<(String, PgType)>> {
        if let Some((_, cols)) = self.ctes.iter().rev().find(|(n, _)| n == name) {
            return Some(cols.clone());
        }
        match name {
            "pg_settings" => self.needs.settings = true,
            "pg_stat_activity" | "pg_stat_ssl" => self.needs.activity = true,
            _ => {}
        }
        self.cat.columns(name)
    }

    /// A query (or subquery): a set-returning call in it belongs to its own select
    /// lists, never to the select list it is nested in.
    fn query(&mut self, q: &mut Query, parent: Option<&Scope<'_>>) -> Result<Vec<Col>, SqlError> {
        let outer_frame = self.srf_frame.take();
        let r = self.query_inner(q, parent);
        self.srf_frame = outer_frame;
        r
    }

    #[recursive::recursive]
    fn query_inner(
        &mut self,
        q: &mut Query,
        parent: Option<&Scope<'_>>,
    ) -> Result<Vec<Col>, SqlError> {
        let ctes_before = self.ctes.len();
        if let Some(with) = &mut q.with {
            let recursive = with.recursive;
            for cte in &mut with.cte_tables {
                if recursive {
                    // The recursive reference sees the column names; their types
                    // come from the non-recursive branch once it is walked.
                    let names = cte
                        .alias
                        .columns
                        .iter()
                        .map(|c| (ident_name(&c.name), types::UNKNOWN))
                        .collect();
                    self.ctes.push((ident_name(&cte.alias.name), names));
                }
                let cols = self.query(&mut cte.query, parent)?;
                if recursive {
                    self.ctes.pop();
                }
                let mut named: Vec<(String, PgType)> = cols
                    .into_iter()
                    .map(|(n, t)| (n, t.unwrap_or(types::TEXT)))
                    .collect();
                for (i, c) in cte.alias.columns.iter().enumerate() {
                    if let Some(slot) = named.get_mut(i) {
                        slot.0 = ident_name(&c.name);
                    }
                }
                self.ctes.push((ident_name(&cte.alias.name), named));
            }
        }
        let cols = self.set_expr(&mut q.body, parent)?;
        let out = Scope {
            rels: vec![Rel {
                name: String::new(),
                cols: cols
                    .iter()
                    .map(|(n, t)| (n.clone(), t.unwrap_or(types::TEXT)))
                    .collect(),
                tableoid: 0,
            }],
            parent,
        };
        if let Some(order) = &mut q.order_by
            && let sqlparser::ast::OrderByKind::Expressions(exprs) = &mut order.kind
        {
            for o in exprs {
                self.expr(&mut o.expr, &out)?;
            }
        }
        if let Some(limit) = &mut q.limit_clause {
            match limit {
                sqlparser::ast::LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => {
                    if let Some(l) = limit {
                        self.count_expr(l, &out)?;
                    }
                    if let Some(o) = offset {
                        self.count_expr(&mut o.value, &out)?;
                    }
                    for e in limit_by {
                        self.expr(e, &out)?;
                    }
                }
                sqlparser::ast::LimitClause::OffsetCommaLimit { offset, limit } => {
                    self.count_expr(offset, &out)?;
                    self.count_expr(limit, &out)?;
                }
            }
        }
        if let Some(fetch) = q.fetch.take() {
            // FETCH FIRST n ROWS ONLY is LIMIT n.
            if q.limit_clause.is_some() || fetch.with_ties || fetch.percent {
                return Err(SqlError::unsupported(
                    "FETCH ... WITH TIES or PERCENT is not supported by the embedded database",
                ));
            }
            let mut n = fetch.quantity.unwrap_or_else(|| number(1));
            self.count_expr(&mut n, &out)?;
            q.limit_clause = Some(sqlparser::ast::LimitClause::LimitOffset {
                limit: Some(n),
                offset: None,
                limit_by: Vec::new(),
            });
        }
        if !q.locks.is_empty() {
            // SQLite locks the whole database for writing; row locks are implied.
            q.locks.clear();
        }
        self.ctes.truncate(ctes_before);
        Ok(cols)
    }

    /// A LIMIT or OFFSET count: a parameter there is an int8.
    fn count_expr(&mut self, e: &mut Expr, scope: &Scope<'_>) -> Result<(), SqlError> {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<u32>().ok())
        {
            self.params.entry(n).or_insert(types::INT8);
        }
        self.expr(e, scope)?;
        Ok(())
    }

    fn set_expr(
        &mut self,
        body: &mut SetExpr,
        parent: Option<&Scope<'_>>,
    ) -> Result<Vec<Col>, SqlError> {
        match body {
            SetExpr::Select(s) => self.select(s, parent),
            SetExpr::Query(q) => self.query(q, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let cols = self.set_expr(left, parent)?;
                let right_cols = self.set_expr(right, parent)?;
                // A column typed only by its literals takes the other branch's type.
                Ok(cols
                    .into_iter()
                    .zip(
                        right_cols
                            .into_iter()
                            .chain(std::iter::repeat((String::new(), None))),
                    )
                    .map(|((n, t), (_, rt))| match (t, rt) {
                        (Some(t), Some(r)) if t == types::UNKNOWN => (n, Some(r)),
                        (t, _) => (n, t),
                    })
                    .collect())
            }
            SetExpr::Values(values) => {
                let empty = Scope {
                    rels: Vec::new(),
                    parent,
                };
                let mut types_: Vec<PgType> = Vec::new();
                for row in &mut values.rows {
                    for (i, e) in row.iter_mut().enumerate() {
                        let t = self.expr(e, &empty)?;
                        match types_.get_mut(i) {
                            Some(slot) if *slot == types::UNKNOWN => *slot = t,
                            Some(_) => {}
                            None => types_.push(t),
                        }
                    }
                }
                Ok(types_
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (format!("column{}", i + 1), Some(t)))
                    .collect())
            }
            SetExpr::Table(t) => {
                let name = t.table_name.as_ref().map(ident_name).unwrap_or_default();
                let cols = self.relation_columns(&name).unwrap_or_default();
                *body = SetExpr::Select(Box::new(select_star_from(&name)?));
                Ok(cols.into_iter().map(|(n, t)| (n, Some(t))).collect())
            }
            other => Err(SqlError::unsupported(format!(
                "{} is not supported by the embedded database",
                other
                    .to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("this statement")
            ))),
        }
    }

    fn select(&mut self, s: &mut Select, parent: Option<&Scope<'_>>) -> Result<Vec<Col>, SqlError> {
        if matches!(s.distinct, Some(sqlparser::ast::Distinct::On(_))) {
            return Err(SqlError::unsupported(
                "SELECT DISTINCT ON is not supported by the embedded database",
            ));
        }
        if s.into.is_some() {
            return Err(SqlError::unsupported(
                "SELECT INTO is not supported by the embedded database; use CREATE TABLE AS",
            ));
        }
        let mut scope = Scope {
            rels: Vec::new(),
            parent,
        };
        for twj in &mut s.from {
            self.factor(&mut twj.relation, &mut scope)?;
            for join in &mut twj.joins {
                self.factor(&mut join.relation, &mut scope)?;
            }
        }
        for twj in &mut s.from {
            for join in &mut twj.joins {
                use sqlparser::ast::JoinOperator as J;
                let constraint = match &mut join.join_operator {
                    J::Join(c)
                    | J::Inner(c)
                    | J::Left(c)
                    | J::LeftOuter(c)
                    | J::Right(c)
                    | J::RightOuter(c)
                    | J::FullOuter(c)
                    | J::CrossJoin(c)
                    | J::Semi(c)
                    | J::LeftSemi(c)
                    | J::RightSemi(c)
                    | J::Anti(c)
                    | J::LeftAnti(c)
                    | J::RightAnti(c)
                    | J::StraightJoin(c) => Some(c),
                    _ => None,
                };
                if let Some(sqlparser::ast::JoinConstraint::On(e)) = constraint {
                    self.expr(e, &scope)?;
                }
            }
        }
        self.srf_count += 1;
        let outer_frame = self.srf_frame.replace(SrfFrame {
            alias: format!("pgscram_srf{}", self.srf_count),
            lengths: Vec::new(),
        });
        let cols = self.projection(&mut s.projection, &scope);
        let frame = std::mem::replace(&mut self.srf_frame, outer_frame);
        let cols = cols?;
        if let Some(frame) = frame
            && !frame.lengths.is_empty()
        {
            let grouped = !matches!(
                &s.group_by,
                sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()
            ) || s.having.is_some();
            if grouped {
                return Err(SqlError::unsupported(
                    "set-returning functions in a grouped select list are not supported by the embedded database",
                ));
            }
            s.from
                .push(crate::srf::series_item(&frame.alias, frame.lengths)?);
        }
        if let Some(w) = &mut s.selection {
            self.expr(w, &scope)?;
        }
        if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut s.group_by {
            for e in exprs {
                self.expr(e, &scope)?;
            }
        }
        if let Some(h) = &mut s.having {
            self.expr(h, &scope)?;
        }
        for def in &mut s.named_window {
            def.0 = quoted(&ident_name(&def.0));
            if let sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &mut def.1 {
                self.window_spec(spec, &scope)?;
            }
        }
        Ok(cols)
    }

    /// CREATE TABLE / INDEX / VIEW, ALTER TABLE, DROP, TRUNCATE, EXPLAIN, ANALYZE:
    /// the SQLite statement and its command tag.
    fn ddl(&mut self, stmt: &mut Statement) -> Result<(Verb, String), SqlError> {
        let other = |what: &str| Verb::Other(what.to_owned());
        Ok(match stmt {
            Statement::CreateTable(ct) => {
                let name = object_name(&ct.name)?;
                if ct.inherits.is_some()
                    || ct.partition_by.is_some()
                    || ct.partition_of.is_some()
                    || ct.like.is_some()
                    || !matches!(ct.table_options, sqlparser::ast::CreateTableOptions::None)
                {
                    return Err(SqlError::unsupported(
                        "table options after the column list are not supported by the embedded database",
                    ));
                }
                let mut head = String::from("CREATE ");
                if ct.temporary {
                    head.push_str("TEMP ");
                }
                head.push_str("TABLE ");
                if ct.if_not_exists {
                    head.push_str("IF NOT EXISTS ");
                }
                head.push_str(&quoted(&name).to_string());
                if let Some(q) = &mut ct.query {
                    self.query(q, None)?;
                    return Ok((Verb::CreateTableAs, format!("{head} AS {q}")));
                }
                let mut cols: Vec<(String, PgType)> = Vec::new();
                let mut defs = Vec::new();
                for c in &mut ct.columns {
                    let (def, t) = self.column_def(c, &cols)?;
                    cols.push((ident_name(&c.name), t));
                    defs.push(def);
                }
                let scope = Scope {
                    rels: vec![Rel {
                        name: name.clone(),
                        cols,
                        tableoid: 0,
                    }],
                    parent: None,
                };
                for tc in &mut ct.constraints {
                    if let sqlparser::ast::TableConstraint::Check(chk) = tc {
                        self.expr(&mut chk.expr, &scope)?;
                    }
                    defs.push(tc.to_string());
                }
                (
                    other("CREATE TABLE"),
                    format!("{head} ({})", defs.join(", ")),
                )
            }
            Statement::CreateIndex(ci) => {
                ci.concurrently = false;
                if ci
                    .using
                    .as_ref()
                    .is_some_and(|u| !u.to_string().eq_ignore_ascii_case("btree"))
                {
                    return Err(SqlError::unsupported(
                        "only btree indexes are supported by the embedded database",
                    ));
                }
                ci.using = None;
                let table = object_name(&ci.table_name)?;
                ci.table_name = ObjectName(vec![ObjectNamePart::Identifier(quoted(&table))]);
                if let Some(p) = &mut ci.predicate {
                    let cols = self.relation_columns(&table).unwrap_or_default();
                    let scope = Scope {
                        rels: vec![Rel {
                            name: table,
                            cols,
                            tableoid: 0,
                        }],
                        parent: None,
                    };
                    self.expr(p, &scope)?;
                }
                (other("CREATE INDEX"), stmt.to_string())
            }
            Statement::CreateView(cv) => {
                if cv.or_replace || cv.materialized {
                    return Err(SqlError::unsupported(
                        "CREATE OR REPLACE VIEW and materialized views are not supported by the embedded database",
                    ));
                }
                let name = object_name(&cv.name)?;
                cv.name = ObjectName(vec![ObjectNamePart::Identifier(quoted(&name))]);
                self.query(&mut cv.query, None)?;
                (other("CREATE VIEW"), stmt.to_string())
            }
            Statement::AlterTable(at) => {
                let name = object_name(&at.name)?;
                let mut ops = Vec::new();
                for op in &mut at.operations {
                    use sqlparser::ast::AlterTableOperation as Op;
                    ops.push(match op {
                        Op::AddColumn { column_def, .. } => {
                            let cols = self.relation_columns(&name).unwrap_or_default();
                            format!("ADD COLUMN {}", self.column_def(column_def, &cols)?.0)
                        }
                        Op::RenameColumn {
                            old_column_name,
                            new_column_name,
                        } => format!(
                            "RENAME COLUMN {} TO {}",
                            quoted(&ident_name(old_column_name)),
                            quoted(&ident_name(new_column_name))
                        ),
                        Op::RenameTable { table_name } => {
                            let new = match table_name {
                                sqlparser::ast::RenameTableNameKind::As(n)
                                | sqlparser::ast::RenameTableNameKind::To(n) => object_name(n)?,
                            };
                            format!("RENAME TO {}", quoted(&new))
                        }
                        Op::DropColumn { column_names, .. } if column_names.len() == 1 => {
                            format!("DROP COLUMN {}", quoted(&ident_name(&column_names[0])))
                        }
                        Op::AddConstraint { .. } => {
                            return Err(SqlError::unsupported(
                                "ALTER TABLE ... ADD CONSTRAINT is not supported by the embedded database",
                            ));
                        }
                        Op::AlterColumn { .. } => {
                            return Err(SqlError::unsupported(
                                "ALTER COLUMN ... TYPE is not supported by the embedded database",
                            ));
                        }
                        other_op => {
                            return Err(SqlError::unsupported(format!(
                                "ALTER TABLE ... {other_op} is not supported by the embedded database"
                            )));
                        }
                    });
                }
                if ops.len() != 1 {
                    return Err(SqlError::unsupported(
                        "one ALTER TABLE action at a time in the embedded database",
                    ));
                }
                (
                    other("ALTER TABLE"),
                    format!("ALTER TABLE {} {}", quoted(&name), ops[0]),
                )
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                let what = object_type.to_string().to_ascii_uppercase();
                if !matches!(what.as_str(), "TABLE" | "VIEW" | "INDEX") {
                    return Err(SqlError::unsupported(format!(
                        "DROP {what} is not supported by the embedded database"
                    )));
                }
                if names.len() != 1 {
                    return Err(SqlError::unsupported(
                        "DROP of several objects at once is not supported by the embedded database",
                    ));
                }
                let name = object_name(&names[0])?;
                let ie = if *if_exists { "IF EXISTS " } else { "" };
                (
                    Verb::Other(format!("DROP {what}")),
                    format!("DROP {what} {ie}{}", quoted(&name)),
                )
            }
            Statement::Truncate(t) => {
                if t.table_names.len() != 1
                    || t.cascade.is_some()
                    || matches!(
                        t.identity,
                        Some(sqlparser::ast::TruncateIdentityOption::Restart)
                    )
                {
                    return Err(SqlError::unsupported(
                        "TRUNCATE of several tables, CASCADE or RESTART IDENTITY is not supported by the embedded database",
                    ));
                }
                let name = object_name(&t.table_names[0].name)?;
                (
                    other("TRUNCATE TABLE"),
                    format!("DELETE FROM {}", quoted(&name)),
                )
            }
            Statement::Explain { statement, .. } => {
                let inner = match statement.as_mut() {
                    Statement::Query(q) => {
                        self.query(q, None)?;
                        q.to_string()
                    }
                    s => self.ddl(s)?.1,
                };
                (other("EXPLAIN"), format!("EXPLAIN QUERY PLAN {inner}"))
            }
            Statement::Analyze(a) => {
                let target = match &a.table_name {
                    Some(n) => format!(" {}", quoted(&object_name(n)?)),
                    None => String::new(),
                };
                (other("ANALYZE"), format!("ANALYZE{target}"))
            }
            other_stmt => {
                let word = other_stmt
                    .to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                return Err(SqlError::unsupported(format!(
                    "{word} statements are not supported by the embedded database"
                )));
            }
        })
    }

    /// A column definition in SQLite's terms: the declared type that keeps the right
    /// affinity and maps back to the PostgreSQL type; `serial` and identity columns
    /// become `INTEGER PRIMARY KEY AUTOINCREMENT`; DEFAULT expressions parenthesized.
    fn column_def(
        &mut self,
        c: &mut sqlparser::ast::ColumnDef,
        earlier: &[(String, PgType)],
    ) -> Result<(String, PgType), SqlError> {
        use sqlparser::ast::ColumnOption as O;
        let name = ident_name(&c.name);
        let type_text = c.data_type.to_string().to_ascii_lowercase();
        let mut serial = types::is_serial(type_text.trim());
        let (ty, decl) = if serial {
            (
                if type_text.contains("big") {
                    types::INT8
                } else {
                    types::INT4
                },
                "INTEGER".to_owned(),
            )
        } else {
            match cast_target(&c.data_type)? {
                Target::Plain(t, typmod, _) => {
                    let mut decl = t.decl.to_owned();
                    if let (Some(m), true) = (
                        typmod,
                        [types::VARCHAR, types::BPCHAR, types::NUMERIC].contains(&t),
                    ) {
                        decl.push_str(&format!("({m})"));
                    }
                    (t, decl)
                }
                // Kept as PostgreSQL's array text; the declaration maps back to the type.
                Target::Array(t) => (t, t.decl.to_owned()),
                Target::Reg(_) => {
                    return Err(SqlError::unsupported(format!(
                        "type {type_text} is not supported for columns by the embedded database"
                    )));
                }
            }
        };
        let scope = Scope {
            rels: vec![Rel {
                name: String::new(),
                cols: earlier.to_vec(),
                tableoid: 0,
            }],
            parent: None,
        };
        let mut parts = vec![quoted(&name).to_string(), decl];
        let mut has_pk = false;
        for opt in &mut c.options {
            match &mut opt.option {
                O::Generated { .. } => {
                    serial = true;
                    if ty != types::INT4 && ty != types::INT8 && ty != types::INT2 {
                        return Err(SqlError::unsupported("identity columns must be integers"));
                    }
                    parts[1] = "INTEGER".to_owned();
                    continue;
                }
                O::Default(e) => {
                    let literal = matches!(e, Expr::Value(_))
                        || matches!(e, Expr::UnaryOp { expr, .. } if matches!(**expr, Expr::Value(_)));
                    self.expr(e, &scope)?;
                    self.store_into(e, ty)?;
                    if literal {
                        parts.push(format!("DEFAULT {e}"));
                    } else {
                        parts.push(format!("DEFAULT ({e})"));
                    }
                    continue;
                }
                O::Check(chk) => {
                    let with_self = Scope {
                        rels: vec![Rel {
                            name: String::new(),
                            cols: earlier
                                .iter()
                                .cloned()
                                .chain(std::iter::once((name.clone(), ty)))
                                .collect(),
                            tableoid: 0,
                        }],
                        parent: None,
                    };
                    self.expr(&mut chk.expr, &with_self)?;
                }
                O::PrimaryKey(_) => has_pk = true,
                _ => {}
            }
            parts.push(opt.to_string());
            if matches!(opt.option, O::PrimaryKey(_)) && serial {
                parts.push("AUTOINCREMENT".to_owned());
            }
        }
        if serial && !has_pk {
            return Err(SqlError::unsupported(format!(
                "serial and identity column \"{name}\" must be declared PRIMARY KEY in the embedded database"
            )));
        }
        // A serial declared after its PRIMARY KEY option (GENERATED comes last).
        if serial
            && !parts.iter().any(|p| p == "AUTOINCREMENT")
            && let Some(i) = parts.iter().position(|p| p.ends_with("PRIMARY KEY"))
        {
            parts.insert(i + 1, "AUTOINCREMENT".to_owned());
        }
        Ok((parts.join(" "), ty))
    }

    /// The columns of a table a statement writes (42P01 when there is none).
    fn target(
        &mut self,
        name: &mut ObjectName,
    ) -> Result<(String, Vec<(String, PgType)>), SqlError> {
        let rel = object_name(name)?;
        *name = ObjectName(vec![ObjectNamePart::Identifier(quoted(&rel))]);
        match self.relation_columns(&rel) {
            Some(cols) => Ok((rel, cols)),
            None => Err(SqlError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{rel}\" does not exist"),
            )),
        }
    }

    /// A value stored into a column of type `t`: an untyped parameter takes the type,
    /// an untyped literal is converted by it.
    fn store_into(&mut self, e: &mut Expr, t: PgType) -> Result<(), SqlError> {
        self.param_hint(e, t);
        coerce_literal(e, t)
    }

    /// Records the type of an untyped `$n` from what it meets.
    fn param_hint(&mut self, e: &Expr, t: PgType) {
        if t == types::UNKNOWN {
            return;
        }
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('?').and_then(|n| n.parse::<u32>().ok())
        {
            self.params.entry(n).or_insert(t);
        }
    }

    fn insert(&mut self, ins: &mut sqlparser::ast::Insert) -> Result<Vec<Col>, SqlError> {
        let sqlparser::ast::TableObject::TableName(name) = &mut ins.table else {
            return Err(SqlError::unsupported("INSERT INTO a function"));
        };
        let (rel, cols) = self.target(name)?;
        let targets: Vec<PgType> = if ins.columns.is_empty() {
            cols.iter().map(|(_, t)| *t).collect()
        } else {
            let mut v = Vec::new();
            for c in &mut ins.columns {
                let cname = c.0.last().map(part_name).unwrap_or_default();
                let t = cols
                    .iter()
                    .find(|(n, _)| *n == cname)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| {
                        SqlError::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!("column \"{cname}\" of relation \"{rel}\" does not exist"),
                        )
                    })?;
                *c = ObjectName(vec![ObjectNamePart::Identifier(quoted(&cname))]);
                v.push(t);
            }
            v
        };
        if let Some(src) = &mut ins.source {
            if let SetExpr::Values(values) = src.body.as_mut() {
                let empty = Scope::default();
                for row in &mut values.rows {
                    for (i, e) in row.iter_mut().enumerate() {
                        self.expr(e, &empty)?;
                        if let Some(t) = targets.get(i) {
                            self.store_into(e, *t)?;
                        }
                    }
                }
            } else {
                self.query(src, None)?;
            }
        }
        let scope = Scope {
            rels: vec![Rel {
                name: rel.clone(),
                cols: cols.clone(),
                tableoid: 0,
            }],
            parent: None,
        };
        if let Some(sqlparser::ast::OnInsert::OnConflict(oc)) = &mut ins.on
            && let sqlparser::ast::OnConflictAction::DoUpdate(du) = &mut oc.action
        {
            let with_excluded = Scope {
                rels: vec![
                    Rel {
                        name: rel.clone(),
                        cols: cols.clone(),
                        tableoid: 0,
                    },
                    Rel {
                        name: "excluded".into(),
                        cols: cols.clone(),
                        tableoid: 0,
                    },
                ],
                parent: None,
            };
            for a in &mut du.assignments {
                self.assignment(a, &with_excluded, &cols)?;
            }
            if let Some(sel) = &mut du.selection {
                self.expr(sel, &with_excluded)?;
            }
        }
        match &mut ins.returning {
            Some(list) => self.projection(list, &scope),
            None => Ok(Vec::new()),
        }
    }

    fn assignment(
        &mut self,
        a: &mut sqlparser::ast::Assignment,
        scope: &Scope<'_>,
        cols: &[(String, PgType)],
    ) -> Result<(), SqlError> {
        let sqlparser::ast::AssignmentTarget::ColumnName(name) = &mut a.target else {
            return Err(SqlError::unsupported(
                "assigning a row of columns is not supported by the embedded database",
            ));
        };
        let cname = name.0.last().map(part_name).unwrap_or_default();
        *name = ObjectName(vec![ObjectNamePart::Identifier(quoted(&cname))]);
        self.expr(&mut a.value, scope)?;
        if let Some((_, t)) = cols.iter().find(|(n, _)| *n == cname) {
            self.store_into(&mut a.value, *t)?;
        }
        Ok(())
    }

    fn update(&mut self, up: &mut sqlparser::ast::Update) -> Result<Vec<Col>, SqlError> {
        let mut scope = Scope::default();
        self.factor(&mut up.table.relation, &mut scope)?;
        let cols = scope
            .rels
            .first()
            .map(|r| r.cols.clone())
            .unwrap_or_default();
        if let Some(from) = &mut up.from {
            let (sqlparser::ast::UpdateTableFromKind::BeforeSet(tables)
            | sqlparser::ast::UpdateTableFromKind::AfterSet(tables)) = from;
            for twj in tables {
                self.factor(&mut twj.relation, &mut scope)?;
                for j in &mut twj.joins {
                    self.factor(&mut j.relation, &mut scope)?;
                }
            }
        }
        for a in &mut up.assignments {
            self.assignment(a, &scope, &cols)?;
        }
        if let Some(sel) = &mut up.selection {
            self.expr(sel, &scope)?;
        }
        match &mut up.returning {
            Some(list) => self.projection(list, &scope),
            None => Ok(Vec::new()),
        }
    }

    fn delete(&mut self, del: &mut sqlparser::ast::Delete) -> Result<Vec<Col>, SqlError> {
        let mut scope = Scope::default();
        let (sqlparser::ast::FromTable::WithFromKeyword(tables)
        | sqlparser::ast::FromTable::WithoutKeyword(tables)) = &mut del.from;
        for twj in tables.iter_mut().chain(del.using.iter_mut().flatten()) {
            self.factor(&mut twj.relation, &mut scope)?;
            for j in &mut twj.joins {
                self.factor(&mut j.relation, &mut scope)?;
            }
        }
        if let Some(sel) = &mut del.selection {
            self.expr(sel, &scope)?;
        }
        match &mut del.returning {
            Some(list) => self.projection(list, &scope),
            None => Ok(Vec::new()),
        }
    }

    /// A select list or RETURNING list: names every item as PostgreSQL would, types it.
    fn projection(
        &mut self,
        list: &mut Vec<SelectItem>,
        scope: &Scope<'_>,
    ) -> Result<Vec<Col>, SqlError> {
        let mut cols = Vec::new();
        let mut items = Vec::with_capacity(list.len());
        for item in std::mem::take(list) {
            match item {
                SelectItem::UnnamedExpr(mut e) => {
                    let name = column_name(&e);
                    let t = self.expr(&mut e, scope)?;
                    items.push(SelectItem::ExprWithAlias {
                        expr: e,
                        alias: quoted(&name),
                    });
                    cols.push((name, Some(t)));
                }
                SelectItem::ExprWithAlias { mut expr, alias } => {
                    let name = ident_name(&alias);
                    let t = self.expr(&mut expr, scope)?;
                    items.push(SelectItem::ExprWithAlias {
                        expr,
                        alias: quoted(&name),
                    });
                    cols.push((name, Some(t)));
                }
                SelectItem::Wildcard(opts) => {
                    if scope.rels.is_empty() {
                        return Err(SqlError::syntax(
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    let all: Vec<usize> = (0..scope.rels.len()).collect();
                    expand(scope, &all, &mut cols);
                    items.push(SelectItem::Wildcard(opts));
                }
                SelectItem::QualifiedWildcard(kind, opts) => {
                    let name = match &kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            n.0.last().map(part_name).unwrap_or_default()
                        }
                        SelectItemQualifiedWildcardKind::Expr(_) => String::new(),
                    };
                    match scope.rels.iter().position(|r| r.name == name) {
                        Some(i) => expand(scope, &[i], &mut cols),
                        None => cols.push(("*".into(), None)),
                    }
                    let kind = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(_) => {
                            SelectItemQualifiedWildcardKind::ObjectName(ObjectName(vec![
                                ObjectNamePart::Identifier(quoted(&name)),
                            ]))
                        }
                        other => other,
                    };
                    items.push(SelectItem::QualifiedWildcard(kind, opts));
                }
                SelectItem::ExprWithAliases { .. } => {
                    return Err(SqlError::unsupported("multiple aliases are not supported"));
                }
            }
        }
        *list = items;
        Ok(cols)
    }

    fn factor(&mut self, tf: &mut TableFactor, scope: &mut Scope<'_>) -> Result<(), SqlError> {
        match tf {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let rel = object_name(name)?;
                if rel.starts_with("pragma_") {
                    return Err(SqlError::new(
                        sqlstate::INSUFFICIENT_PRIVILEGE,
                        "permission denied: SQLite-specific statement",
                    ));
                }
                if let Some(args) = args.take() {
                    // A set-returning function: SQLite names its column `value`;
                    // PostgreSQL names it after the alias.
                    let alias_name = alias
                        .as_ref()
                        .map(|a| ident_name(&a.name))
                        .unwrap_or_else(|| rel.clone());
                    let col_name = alias
                        .as_ref()
                        .and_then(|a| a.columns.first())
                        .map(|c| ident_name(&c.name))
                        .unwrap_or_else(|| alias_name.clone());
                    let mut exprs = Vec::new();
                    for a in args.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(mut e)) = a {
                            self.expr(&mut e, scope)?;
                            exprs.push(e.to_string());
                        }
                    }
                    let (sql, t) = match rel.as_str() {
                        "generate_series" => (
                            format!(
                                "SELECT value AS \"{col_name}\" FROM generate_series({})",
                                exprs.join(", ")
                            ),
                            types::INT4,
                        ),
                        "unnest" if exprs.len() == 1 => (
                            format!(
                                "SELECT value AS \"{col_name}\" FROM json_each(pgscram_array_json({}))",
                                exprs[0]
                            ),
                            types::TEXT,
                        ),
                        _ => {
                            return Err(SqlError::unsupported(format!(
                                "function {rel} in FROM is not supported by the embedded database"
                            )));
                        }
                    };
                    let q = Parser::new(&dialect())
                        .try_with_sql(&sql)
                        .and_then(|mut p| p.parse_query())
                        .map_err(|e| syntax_error(&e))?;
                    *tf = TableFactor::Derived {
                        lateral: false,
                        subquery: q,
                        alias: Some(sqlparser::ast::TableAlias {
                            explicit: true,
                            name: quoted(&alias_name),
                            columns: Vec::new(),
                            at: None,
                        }),
                        sample: None,
                    };
                    scope.rels.push(Rel {
                        name: alias_name.clone(),
                        cols: vec![(col_name, t)],
                        tableoid: 0,
                    });
                    return Ok(());
                }
                *name = ObjectName(vec![ObjectNamePart::Identifier(quoted(&rel))]);
                let Some(cols) = self.relation_columns(&rel) else {
                    return Err(SqlError::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!("relation \"{rel}\" does not exist"),
                    ));
                };
                let tableoid = crate::pg_catalog::catalog_oid(&rel).unwrap_or(0);
                let rel_name = match alias {
                    Some(a) => {
                        let n = ident_name(&a.name);
                        a.name = quoted(&n);
                        n
                    }
                    None => rel,
                };
                scope.rels.push(Rel {
                    name: rel_name,
                    cols,
                    tableoid,
                });
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                let cols = if *lateral {
                    let snapshot = Scope {
                        rels: scope
                            .rels
                            .iter()
                            .map(|r| Rel {
                                name: r.name.clone(),
                                cols: r.cols.clone(),
                                tableoid: 0,
                            })
                            .collect(),
                        parent: scope.parent,
                    };
                    self.query(subquery, Some(&snapshot))?
                } else {
                    self.query(subquery, scope.parent)?
                };
                let mut named: Vec<(String, PgType)> = cols
                    .into_iter()
                    .map(|(n, t)| (n, t.unwrap_or(types::TEXT)))
                    .collect();
                let name = match alias {
                    Some(a) => {
                        for (i, c) in a.columns.iter().enumerate() {
                            if let Some(slot) = named.get_mut(i) {
                                slot.0 = ident_name(&c.name);
                            }
                        }
                        if !a.columns.is_empty() {
                            return Err(SqlError::unsupported(
                                "column aliases on a subquery in FROM are not supported by the embedded database",
                            ));
                        }
                        ident_name(&a.name)
                    }
                    None => String::new(),
                };
                scope.rels.push(Rel {
                    name,
                    cols: named,
                    tableoid: 0,
                });
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.factor(&mut table_with_joins.relation, scope)?;
                for j in &mut table_with_joins.joins {
                    self.factor(&mut j.relation, scope)?;
                }
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "FROM item {other} is not supported by the embedded database"
                )));
            }
        }
        Ok(())
    }

    fn param(&mut self, p: &mut String) -> Result<PgType, SqlError> {
        let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<u32>().ok()) else {
            return Err(SqlError::syntax(format!("syntax error at or near \"{p}\"")));
        };
        // The protocol counts parameters in an Int16.
        if n == 0 || n > u32::from(u16::MAX) {
            return Err(SqlError::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!("there is no parameter ${n}"),
            ));
        }
        self.max_param = self.max_param.max(n);
        *p = format!("?{n}");
        Ok(self.params.get(&n).copied().unwrap_or(types::UNKNOWN))
    }

    /// Types and rewrites one expression, refusing trees deeper than SQLite's own
    /// expression limit (a long `a + b + ...` chain is as deep as it is long).
    #[recursive::recursive]
    fn expr(&mut self, e: &mut Expr, sc: &Scope<'_>) -> Result<PgType, SqlError> {
        if self.depth >= MAX_DEPTH {
            return Err(SqlError::new(
                sqlstate::STATEMENT_TOO_COMPLEX,
                "stack depth limit exceeded",
            )
            .with_hint(format!(
                "Expressions may nest at most {MAX_DEPTH} levels deep."
            )));
        }
        self.depth += 1;
        let r = self.expr_inner(e, sc);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, e: &mut Expr, sc: &Scope<'_>) -> Result<PgType, SqlError> {
        Ok(match e {
            Expr::Identifier(id) => {
                let name = ident_name(id);
                match sc.column(None, &name) {
                    Some(t) => {
                        *id = quoted(&name);
                        t
                    }
                    None => match name.as_str() {
                        "tableoid" if sc.tableoid(None).is_some() => {
                            *e = number(sc.tableoid(None).unwrap_or(0));
                            types::OID
                        }
                        "current_user" | "session_user" | "current_role" | "user"
                        | "current_catalog" | "current_schema" | "current_timestamp"
                        | "localtimestamp" | "current_date" => {
                            let (expr, t) = self
                                .macro_call(&name, Vec::new())?
                                .unwrap_or((Expr::Identifier(id.clone()), types::UNKNOWN));
                            *e = expr;
                            t
                        }
                        _ => types::UNKNOWN,
                    },
                }
            }
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<String> = parts.iter().map(ident_name).collect();
                let t = match names.as_slice() {
                    [q, c] => sc.column(Some(q), c),
                    [_, q, c] => sc.column(Some(q), c),
                    _ => None,
                };
                if t.is_none()
                    && let [.., q, c] = names.as_slice()
                    && c == "tableoid"
                    && let Some(oid) = sc.tableoid(Some(q))
                {
                    *e = number(oid);
                    return Ok(types::OID);
                }
                if names.len() == 3 {
                    parts.remove(0);
                }
                let skip = names.len() - parts.len();
                for (p, n) in parts.iter_mut().zip(names.iter().skip(skip)) {
                    *p = quoted(n);
                }
                t.unwrap_or(types::UNKNOWN)
            }
            Expr::Value(v) => match &mut v.value {
                Value::Number(n, _) => number_type(n),
                Value::SingleQuotedString(_) => types::UNKNOWN,
                Value::EscapedStringLiteral(s)
                | Value::UnicodeStringLiteral(s)
                | Value::NationalStringLiteral(s) => {
                    v.value = Value::SingleQuotedString(std::mem::take(s));
                    types::UNKNOWN
                }
                Value::DollarQuotedString(d) => {
                    v.value = Value::SingleQuotedString(std::mem::take(&mut d.value));
                    types::UNKNOWN
                }
                Value::Boolean(_) => types::BOOL,
                Value::Null => types::UNKNOWN,
                Value::Placeholder(p) => self.param(p)?,
                Value::HexStringLiteral(_) => types::BYTEA,
                _ => types::UNKNOWN,
            },
            Expr::Nested(inner) => self.expr(inner, sc)?,
            Expr::Collate { expr, .. } => {
                let mut inner = take(expr);
                let t = self.expr(&mut inner, sc)?;
                *e = inner;
                t
            }
            Expr::UnaryOp { op, expr } => {
                let t = self.expr(expr, sc)?;
                match op {
                    UnaryOperator::Not => types::BOOL,
                    _ => t,
                }
            }
            Expr::BinaryOp { .. } => return self.binary(e, sc),
            Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x) => {
                self.expr(x, sc)?;
                types::BOOL
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let ta = self.expr(a, sc)?;
                let tb = self.expr(b, sc)?;
                coerce_literal(a, tb)?;
                coerce_literal(b, ta)?;
                types::BOOL
            }
            Expr::In { expr, target, .. } => {
                let t = self.expr(expr, sc)?;
                match target {
                    InTarget::List(list) => {
                        for item in list.iter_mut() {
                            self.expr(item, sc)?;
                            self.store_into(item, t)?;
                        }
                    }
                    InTarget::Subquery(q) => {
                        self.query(q, Some(sc))?;
                    }
                    _ => {
                        return Err(SqlError::unsupported(
                            "this form of IN is not supported by the embedded database",
                        ));
                    }
                }
                types::BOOL
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                let t = self.expr(expr, sc)?;
                self.expr(low, sc)?;
                self.expr(high, sc)?;
                self.store_into(low, t)?;
                self.store_into(high, t)?;
                types::BOOL
            }
            Expr::Like {
                expr, pattern, any, ..
            } => {
                if *any {
                    return Err(SqlError::unsupported("LIKE ANY is not supported"));
                }
                self.expr(expr, sc)?;
                self.expr(pattern, sc)?;
                self.param_hint(pattern, types::TEXT);
                types::BOOL
            }
            Expr::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            } => {
                if *any || escape_char.is_some() {
                    return Err(SqlError::unsupported(
                        "ILIKE ... ESCAPE is not supported by the embedded database",
                    ));
                }
                self.expr(expr, sc)?;
                self.expr(pattern, sc)?;
                let m = call("glob", vec![take(pattern), take(expr)]);
                *e = if *negated { not(m) } else { m };
                types::BOOL
            }
            Expr::SimilarTo { .. } | Expr::RLike { .. } => {
                return Err(SqlError::unsupported(
                    "SIMILAR TO is not supported by the embedded database",
                ));
            }
            Expr::AnyOp { .. } | Expr::AllOp { .. } => return self.any_op(e, sc),
            Expr::Cast {
                kind,
                expr,
                data_type,
                ..
            } => {
                if matches!(kind, CastKind::TryCast | CastKind::SafeCast) {
                    return Err(SqlError::unsupported("TRY_CAST is not PostgreSQL"));
                }
                let target = cast_target(data_type)?;
                let from = self.expr(expr, sc)?;
                let operand = take(expr);
                let (new, t) = self.cast(operand, from, target)?;
                *e = new;
                t
            }
            Expr::TypedString(ts) => {
                let target = cast_target(&ts.data_type)?;
                let operand = value(ts.value.value.clone());
                let (new, t) = self.cast(operand, types::UNKNOWN, target)?;
                *e = new;
                t
            }
            Expr::Function(_) => return self.function(e, sc),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op_type = match operand {
                    Some(o) => Some(self.expr(o, sc)?),
                    None => None,
                };
                let mut t = types::UNKNOWN;
                for cw in conditions.iter_mut() {
                    self.expr(&mut cw.condition, sc)?;
                    if let Some(ot) = op_type {
                        coerce_literal(&mut cw.condition, ot)?;
                    }
                    let rt = self.expr(&mut cw.result, sc)?;
                    if t == types::UNKNOWN {
                        t = rt;
                    }
                }
                if let Some(er) = else_result {
                    let rt = self.expr(er, sc)?;
                    if t == types::UNKNOWN {
                        t = rt;
                    }
                }
                if t == types::UNKNOWN { types::TEXT } else { t }
            }
            Expr::Exists { subquery, .. } => {
                self.query(subquery, Some(sc))?;
                types::BOOL
            }
            Expr::Subquery(q) => {
                let cols = self.query(q, Some(sc))?;
                cols.first().and_then(|(_, t)| *t).unwrap_or(types::UNKNOWN)
            }
            Expr::Array(arr) => {
                let mut t = types::UNKNOWN;
                let mut elems = Vec::new();
                for el in &mut arr.elem {
                    let et = self.expr(el, sc)?;
                    if t == types::UNKNOWN {
                        t = et;
                    }
                    elems.push(take(el));
                }
                *e = call("pgscram_array", elems);
                types::array_of(if t == types::UNKNOWN { types::TEXT } else { t })
            }
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(
                    access_chain.as_slice(),
                    [AccessExpr::Dot(Expr::Identifier(_))]
                ) =>
            {
                let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
                    return Ok(types::UNKNOWN);
                };
                let field = ident_name(field);
                let mut inner: &mut Expr = root;
                while let Expr::Nested(n) = inner {
                    inner = n;
                }
                if let Expr::Function(f) = inner
                    && crate::srf::is_set_returning(&object_name(&f.name)?)
                {
                    let element = self.set_returning(f, sc)?;
                    let Some((expr, t)) = element.field(&field) else {
                        return Err(SqlError::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!("column \"{field}\" not found in data type record"),
                        ));
                    };
                    *e = expr;
                    return Ok(t);
                }
                let rt = self.expr(root, sc)?;
                if rt != types::RECORD {
                    return Err(SqlError::unsupported(
                        "field access is only supported on records by the embedded database",
                    ));
                }
                *e = crate::srf::field_of(take(root), &field);
                types::UNKNOWN
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                let rt = self.expr(root, sc)?;
                let [AccessExpr::Subscript(Subscript::Index { index })] =
                    access_chain.as_mut_slice()
                else {
                    return Err(SqlError::unsupported(
                        "array slices and field access are not supported by the embedded database",
                    ));
                };
                self.expr(index, sc)?;
                let idx = take(index);
                *e = call("pgscram_array_elem", vec![take(root), idx]);
                types::element_of(rt)
            }
            Expr::Tuple(items) => {
                for i in items {
                    self.expr(i, sc)?;
                }
                types::TEXT
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr, sc)?;
                let mut args = vec![take(expr)];
                match substring_from {
                    Some(f) => {
                        self.expr(f, sc)?;
                        args.push(take(f));
                    }
                    None => args.push(number(1)),
                }
                if let Some(f) = substring_for {
                    self.expr(f, sc)?;
                    args.push(take(f));
                }
                *e = call("substr", args);
                types::TEXT
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr, sc)?;
                self.expr(r#in, sc)?;
                *e = call("instr", vec![take(r#in), take(expr)]);
                types::INT4
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                self.expr(expr, sc)?;
                let mut args = vec![take(expr)];
                if let Some(w) = trim_what {
                    self.expr(w, sc)?;
                    args.push(take(w));
                }
                if trim_characters.is_some() {
                    return Err(SqlError::unsupported("TRIM with a character list"));
                }
                let f = match trim_where {
                    Some(sqlparser::ast::TrimWhereField::Leading) => "ltrim",
                    Some(sqlparser::ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "trim",
                };
                *e = call(f, args);
                types::TEXT
            }
            Expr::Interval(_) | Expr::AtTimeZone { .. } | Expr::Extract { .. } => {
                return Err(SqlError::unsupported(
                    "intervals, AT TIME ZONE and EXTRACT are not supported by the embedded database",
                ));
            }
            _ => types::UNKNOWN,
        })
    }

    /// `x = ANY(array or subquery)` and `x <> ALL(...)`.
    fn any_op(&mut self, e: &mut Expr, sc: &Scope<'_>) -> Result<PgType, SqlError> {
        let is_all = matches!(e, Expr::AllOp { .. });
        let (Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | Expr::AllOp {
            left,
            compare_op,
            right,
        }) = e
        else {
            return Ok(types::UNKNOWN);
        };
        let wanted = if is_all {
            matches!(compare_op, BinaryOperator::NotEq)
        } else {
            matches!(compare_op, BinaryOperator::Eq)
        };
        if !wanted {
            return Err(SqlError::unsupported(
                "only = ANY and <> ALL are supported by the embedded database",
            ));
        }
        self.expr(left, sc)?;
        let new = if let Expr::Subquery(q) = right.as_mut() {
            self.query(q, Some(sc))?;
            Expr::In {
                expr: Box::new(take(left)),
                target: InTarget::Subquery(std::mem::replace(q, Box::new(empty_query()))),
                negated: is_all,
                global: false,
            }
        } else {
            self.expr(right, sc)?;
            let contains = call("pgscram_array_contains", vec![take(right), take(left)]);
            if is_all { not(contains) } else { contains }
        };
        *e = new;
        Ok(types::BOOL)
    }

    /// A cast of an already-walked operand.
    fn cast(
        &mut self,
        operand: Expr,
        from: PgType,
        target: Target,
    ) -> Result<(Expr, PgType), SqlError> {
        // `$1::type` types the parameter.
        if let Expr::Value(v) = &operand
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('?').and_then(|n| n.parse::<u32>().ok())
            && let Target::Plain(t, _, _) | Target::Array(t) = &target
        {
            self.params.insert(n, *t);
        }
        Ok(match target {
            Target::Array(t) => (operand, t),
            Target::Plain(t, typmod, _) => {
                if t == types::CHAR {
                    return Ok((call("substr", vec![operand, number(1), number(1)]), t));
                }
                (
                    call(
                        "pgscram_cast",
                        vec![operand, number(t.oid), number(typmod.unwrap_or(-1))],
                    ),
                    t,
                )
            }
            Target::Reg(reg) => {
                let by_oid = is_numeric(from);
                let (template, t) = match (reg, by_oid) {
                    ("regclass", true) => (
                        "coalesce((SELECT relname FROM pg_class WHERE oid = $1), $1)",
                        types::REGCLASS,
                    ),
                    ("regclass", false) => (
                        "(SELECT oid FROM pg_class WHERE relname = pgscram_unqualify($1))",
                        types::OID,
                    ),
                    ("regtype", true) => ("format_type($1, NULL)", types::REGTYPE),
                    ("regtype", false) => (
                        "(SELECT oid FROM pg_type WHERE typname = pgscram_unqualify($1))",
                        types::OID,
                    ),
                    ("regnamespace", true) => (
                        "coalesce((SELECT nspname FROM pg_namespace WHERE oid = $1), $1)",
                        types::REGNAMESPACE,
                    ),
                    ("regnamespace", false) => (
                        "(SELECT oid FROM pg_namespace WHERE nspname = $1)",
                        types::OID,
                    ),
                    ("regrole", true) => (
                        "coalesce((SELECT rolname FROM pg_roles WHERE oid = $1), $1)",
                        types::REGROLE,
                    ),
                    ("regrole", false) => {
                        ("(SELECT oid FROM pg_roles WHERE rolname = $1)", types::OID)
                    }
                    (_, true) => (
                        "coalesce((SELECT proname FROM pg_proc WHERE oid = $1), $1)",
                        types::REGPROC,
                    ),
                    (_, false) => (
                        "(SELECT oid FROM pg_proc WHERE proname = pgscram_unqualify($1))",
                        types::OID,
                    ),
                };
                (expand_template(template, vec![operand])?, t)
            }
        })
    }

    fn binary(&mut self, e: &mut Expr, sc: &Scope<'_>) -> Result<PgType, SqlError> {
        let Expr::BinaryOp { left, op, right } = e else {
            return Ok(types::UNKNOWN);
        };
        let lt = self.expr(left, sc)?;
        let rt = self.expr(right, sc)?;
        use BinaryOperator as B;
        let custom = match op {
            B::PGCustomBinaryOperator(parts) => {
                let o = parts.last().cloned().unwrap_or_default();
                match o.as_str() {
                    "~" => Some(B::PGRegexMatch),
                    "~*" => Some(B::PGRegexIMatch),
                    "!~" => Some(B::PGRegexNotMatch),
                    "!~*" => Some(B::PGRegexNotIMatch),
                    "~~" => Some(B::PGLikeMatch),
                    "~~*" => Some(B::PGILikeMatch),
                    "!~~" => Some(B::PGNotLikeMatch),
                    "!~~*" => Some(B::PGNotILikeMatch),
                    "=" => Some(B::Eq),
                    "<>" => Some(B::NotEq),
                    "<" => Some(B::Lt),
                    ">" => Some(B::Gt),
                    "<=" => Some(B::LtEq),
                    ">=" => Some(B::GtEq),
                    "||" => Some(B::StringConcat),
                    "+" => Some(B::Plus),
                    "-" => Some(B::Minus),
                    other => {
                        return Err(SqlError::new(
                            sqlstate::UNDEFINED_FUNCTION,
                            format!("operator does not exist: {other}"),
                        ));
                    }
                }
            }
            _ => None,
        };
        if let Some(c) = custom {
            *op = c;
        }
        let regex = |f: &str, negated: bool, left: &mut Box<Expr>, right: &mut Box<Expr>| {
            let m = call(f, vec![take(right), take(left)]);
            if negated { not(m) } else { m }
        };
        let t = match op {
            B::PGRegexMatch => {
                *e = regex("regexp", false, left, right);
                types::BOOL
            }
            B::PGRegexNotMatch => {
                *e = regex("regexp", true, left, right);
                types::BOOL
            }
            B::PGRegexIMatch => {
                *e = regex("pgscram_regexp_i", false, left, right);
                types::BOOL
            }
            B::PGRegexNotIMatch => {
                *e = regex("pgscram_regexp_i", true, left, right);
                types::BOOL
            }
            B::PGLikeMatch => {
                *e = regex("like", false, left, right);
                types::BOOL
            }
            B::PGNotLikeMatch => {
                *e = regex("like", true, left, right);
                types::BOOL
            }
            B::PGILikeMatch => {
                *e = regex("glob", false, left, right);
                types::BOOL
            }
            B::PGNotILikeMatch => {
                *e = regex("glob", true, left, right);
                types::BOOL
            }
            B::Eq | B::NotEq | B::Lt | B::Gt | B::LtEq | B::GtEq | B::Spaceship => {
                self.param_hint(left, rt);
                self.param_hint(right, lt);
                coerce_literal(left, rt)?;
                coerce_literal(right, lt)?;
                types::BOOL
            }
            B::And | B::Or | B::Xor => types::BOOL,
            B::StringConcat => types::TEXT,
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => {
                if lt == types::UNKNOWN && string_literal(left).is_some() {
                    coerce_literal(left, rt)?;
                }
                if rt == types::UNKNOWN && string_literal(right).is_some() {
                    coerce_literal(right, lt)?;
                }
                let t = arith_type(lt, rt);
                if t == types::TIMESTAMPTZ || t == types::TIMESTAMP || t == types::DATE {
                    return Err(SqlError::unsupported(
                        "date and time arithmetic is not supported by the embedded database",
                    ));
                }
                t
            }
            B::PGExp => {
                let (l, r) = (take(left), take(right));
                *e = call("power", vec![l, r]);
                if lt == types::NUMERIC || rt == types::NUMERIC {
                    types::NUMERIC
                } else {
                    types::FLOAT8
                }
            }
            B::BitwiseAnd
            | B::BitwiseOr
            | B::PGBitwiseXor
            | B::PGBitwiseShiftLeft
            | B::PGBitwiseShiftRight => arith_type(lt, rt),
            other => {
                return Err(SqlError::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("operator does not exist: {other}"),
                ));
            }
        };
        Ok(t)
    }

    /// Expands a [`MACROS`] entry, if one matches.
    fn macro_call(
        &mut self,
        name: &str,
        args: Vec<Expr>,
    ) -> Result<Option<(Expr, PgType)>, SqlError> {
        if name == "pg_has_role" && args.len() == 2 {
            // pg_has_role(role, privilege) asks about the current user.
            let mut with_user = vec![call("pgscram_current_user", Vec::new())];
            with_user.extend(args);
            return self.macro_call(name, with_user);
        }
        let Some((_, _, template, t)) = MACROS
            .iter()
            .find(|(n, argc, _, _)| *n == name && *argc == args.len())
        else {
            return Ok(None);
        };
        Ok(Some((expand_template(template, args)?, *t)))
    }

    /// A set-returning call in a select list: its arguments are walked, its length
    /// joins the select's series, and its element at the series' index is returned.
    fn set_returning(
        &mut self,
        f: &mut Function,
        sc: &Scope<'_>,
    ) -> Result<crate::srf::Element, SqlError> {
        let name = object_name(&f.name)?;
        let mut args = Vec::new();
        if let FunctionArguments::List(list) = &mut f.args {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(SqlError::unsupported(format!(
                    "{name}(...) with these clauses is not supported by the embedded database"
                )));
            }
            for a in &mut list.args {
                let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a else {
                    return Err(SqlError::unsupported(format!(
                        "named arguments to {name}() are not supported by the embedded database"
                    )));
                };
                let t = self.expr(x, sc)?;
                args.push((take(x), t));
            }
        }
        let Some(frame) = self.srf_frame.as_mut() else {
            return Err(SqlError::unsupported(format!(
                "set-returning functions such as {name}() are only allowed in a select list or FROM"
            )));
        };
        let index = crate::srf::index_column(&frame.alias);
        let shown = name.replace("information_schema__", "information_schema.");
        let Some(planned) = crate::srf::plan(&name, args, &index)? else {
            return Err(SqlError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!(
                    "function {shown}() with these arguments is not supported by the embedded database"
                ),
            ));
        };
        frame.lengths.push(planned.length);
        Ok(planned.element)
    }

    /// The OVER clause of a window function call (SQLite has window functions).
    fn window_type(
        &mut self,
        over: &mut sqlparser::ast::WindowType,
        sc: &Scope<'_>,
    ) -> Result<(), SqlError> {
        match over {
            sqlparser::ast::WindowType::WindowSpec(spec) => self.window_spec(spec, sc),
            sqlparser::ast::WindowType::NamedWindow(name) => {
                *name = quoted(&ident_name(name));
                Ok(())
            }
        }
    }

    fn window_spec(
        &mut self,
        spec: &mut sqlparser::ast::WindowSpec,
        sc: &Scope<'_>,
    ) -> Result<(), SqlError> {
        for e in &mut spec.partition_by {
            self.expr(e, sc)?;
        }
        for o in &mut spec.order_by {
            self.expr(&mut o.expr, sc)?;
        }
        if let Some(frame) = &mut spec.window_frame {
            use sqlparser::ast::WindowFrameBound as B;
            for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
                if let B::Preceding(Some(e)) | B::Following(Some(e)) = bound {
                    self.expr(e, sc)?;
                }
            }
        }
        Ok(())
    }

    fn function(&mut self, e: &mut Expr, sc: &Scope<'_>) -> Result<PgType, SqlError> {
        let Expr::Function(f) = e else {
            return Ok(types::UNKNOWN);
        };
        let name = object_name(&f.name)?;
        let windowed = f.over.is_some();
        if let Some(over) = &mut f.over {
            self.window_type(over, sc)?;
        }
        if let Some(filter) = &mut f.filter {
            self.expr(filter, sc)?;
        }
        // ARRAY(subquery).
        if let FunctionArguments::Subquery(q) = &mut f.args {
            if name != "array" {
                return Err(SqlError::unsupported(format!("{name}(subquery)")));
            }
            let cols = self.query(q, Some(sc))?;
            let elem = cols.first().and_then(|(_, t)| *t).unwrap_or(types::TEXT);
            let q = std::mem::replace(q, Box::new(empty_query()));
            let nested = elem.name.starts_with('_');
            *e = array_of_query(*q, nested)?;
            return Ok(if nested {
                elem
            } else {
                types::array_of(if elem == types::UNKNOWN {
                    types::TEXT
                } else {
                    elem
                })
            });
        }
        if crate::srf::is_set_returning(&name) && !windowed {
            let (expr, t) = self.set_returning(f, sc)?.into_expr();
            *e = expr;
            return Ok(t);
        }
        let mut arg_types = Vec::new();
        let mut arg_exprs: Vec<Expr> = Vec::new();
        let mut plain = true;
        if let FunctionArguments::List(list) = &mut f.args {
            for a in &mut list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                        arg_types.push(self.expr(x, sc)?);
                        arg_exprs.push(x.clone());
                    }
                    _ => plain = false,
                }
            }
            for c in &mut list.clauses {
                match c {
                    FunctionArgumentClause::OrderBy(obs) => {
                        for o in obs {
                            self.expr(&mut o.expr, sc)?;
                        }
                    }
                    _ => {
                        return Err(SqlError::unsupported(format!(
                            "{name}(...{c}) is not supported by the embedded database"
                        )));
                    }
                }
            }
            if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
                plain = false;
            }
        }
        if matches!(name.as_str(), "current_setting" | "set_config") {
            self.needs.setting_functions = true;
        }
        if UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) {
            return Err(SqlError::unsupported(format!(
                "function {name}() is not supported by the embedded database"
            )));
        }
        // A template would lose the OVER clause: windowed calls go to SQLite as they are.
        if plain
            && !windowed
            && let Some((expr, t)) = self.macro_call(&name, arg_exprs)?
        {
            let t = if t == types::UNKNOWN {
                arg_types.first().copied().unwrap_or(types::UNKNOWN)
            } else {
                t
            };
            *e = expr;
            return Ok(t);
        }
        let Expr::Function(f) = e else {
            return Ok(types::UNKNOWN);
        };
        let nested_agg =
            name == "array_agg" && arg_types.first().is_some_and(|t| t.name.starts_with('_'));
        let sqlite_name = match name.as_str() {
            "array_agg" if nested_agg => "pgscram_array_agg_nested",
            "array_agg" => "pgscram_array_agg",
            "array_upper" | "array_length" => "pgscram_array_upper",
            "array_lower" => "pgscram_array_lower",
            "cardinality" => "pgscram_cardinality",
            other => other,
        };
        f.name = ObjectName(vec![ObjectNamePart::Identifier(ident(sqlite_name))]);
        let t = match name.as_str() {
            "array_agg" if nested_agg => arg_types[0],
            "array_agg" => types::array_of(match arg_types.first() {
                Some(t) if *t != types::UNKNOWN => *t,
                _ => types::TEXT,
            }),
            n => function_type(n, &arg_types),
        };
        Ok(t)
    }
}

/// The columns `*` or `rel.*` stands for. The `*` itself stays in the SQL, so a
/// prepared statement notices when a table changes shape.
fn expand(scope: &Scope<'_>, which: &[usize], cols: &mut Vec<Col>) {
    for &i in which {
        for (c, t) in &scope.rels[i].cols {
            cols.push((c.clone(), Some(*t)));
        }
    }
}

fn empty_query() -> Query {
    match Parser::new(&dialect())
        .try_with_sql("SELECT 1")
        .and_then(|mut p| p.parse_query())
    {
        Ok(q) => *q,
        Err(_) => unreachable!("SELECT 1 parses"),
    }
}

fn select_star_from(name: &str) -> Result<Select, SqlError> {
    let q = Parser::new(&dialect())
        .try_with_sql(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))
        .and_then(|mut p| p.parse_query())
        .map_err(|e| syntax_error(&e))?;
    match *q.body {
        SetExpr::Select(s) => Ok(*s),
        _ => Err(SqlError::internal("TABLE rewrite")),
    }
}

/// `ARRAY(subquery)`: the subquery's first column, aggregated in its order, `{}` when
/// it returns no rows.
fn array_of_query(mut q: Query, nested: bool) -> Result<Expr, SqlError> {
    if let SetExpr::Select(s) = q.body.as_mut()
        && let Some(first) = s.projection.first_mut()
    {
        let expr = match std::mem::replace(first, SelectItem::UnnamedExpr(number(0))) {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            other => {
                *first = other;
                return Err(SqlError::unsupported("ARRAY(SELECT *)"));
            }
        };
        *first = SelectItem::ExprWithAlias {
            expr,
            alias: ident("pgscram_elem"),
        };
    }
    let agg = if nested {
        "pgscram_array_agg_nested"
    } else {
        "pgscram_array_agg"
    };
    let outer = Parser::new(&dialect())
        .try_with_sql(&format!(
            "(SELECT coalesce({agg}(pgscram_elem), '{{}}') FROM (SELECT 1) AS pgscram_sub)"
        ))
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| syntax_error(&e))?;
    let mut outer = outer;
    if let Expr::Subquery(oq) = &mut outer
        && let SetExpr::Select(s) = oq.body.as_mut()
        && let Some(twj) = s.from.first_mut()
        && let TableFactor::Derived { subquery, .. } = &mut twj.relation
    {
        **subquery = q;
    }
    Ok(outer)
}

/// Parses a template and puts `args` in place of `$1`, `$2`, ...
fn expand_template(template: &str, args: Vec<Expr>) -> Result<Expr, SqlError> {
    let mut tree = Parser::new(&dialect())
        .try_with_sql(template)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::internal(format!("template {template}: {e}")))?;
    let _ = visit_expressions_mut(&mut tree, |x: &mut Expr| {
        if let Expr::Value(v) = x
            && let Value::Placeholder(p) = &v.value
            && let Some(i) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && let Some(arg) = args.get(i.wrapping_sub(1))
        {
            *x = Expr::Nested(Box::new(arg.clone()));
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCatalog;
    impl Catalog for NoCatalog {
        fn columns(&self, relation: &str) -> Option<Vec<(String, PgType)>> {
            (relation == "t").then(|| {
                vec![
                    ("id".to_owned(), types::INT4),
                    ("name".to_owned(), types::TEXT),
                    ("flag".to_owned(), types::BOOL),
                ]
            })
        }
    }

    fn translate_sql(sql: &str) -> Result<Translated, SqlError> {
        let parsed = crate::script::parse(sql)?.pop().expect("one statement");
        let mut stmt = parsed.command.statement().expect("sqlparser's").clone();
        translate(&mut stmt, &NoCatalog, &[])
    }

    fn tr(sql: &str) -> Translated {
        translate_sql(sql).unwrap()
    }

    #[test]
    fn expression_types_come_from_the_tree() {
        let q = tr("SELECT true, 1+1, 2147483648, 1.5, 'x', now(), count(*), name, flag FROM t");
        let oids: Vec<u32> = q.columns.iter().map(|t| t.unwrap().oid).collect();
        assert_eq!(oids, vec![16, 23, 20, 1700, 25, 1184, 20, 25, 16]);
    }

    #[test]
    fn unknown_literals_take_the_other_operands_type() {
        let q = tr("SELECT id FROM t WHERE id = '7' AND flag = 't'");
        assert!(q.sql.contains("= 7"), "{}", q.sql);
        assert!(q.sql.contains("= true"), "{}", q.sql);
        assert!(translate_sql("SELECT id FROM t WHERE id = 'x'").is_err());
    }

    #[test]
    fn psql_spellings_are_rewritten() {
        let q = tr(
            "SELECT name FROM pg_catalog.t WHERE name OPERATOR(pg_catalog.~) '^(a)$' COLLATE pg_catalog.default",
        );
        assert!(q.sql.contains("regexp('^(a)$', \"name\")"), "{}", q.sql);
        let q = tr("SELECT ARRAY(SELECT name FROM t ORDER BY 1) AS a");
        assert_eq!(q.columns, vec![Some(types::TEXT_ARRAY)]);
        assert!(q.sql.contains("pgscram_array_agg"), "{}", q.sql);
    }

    #[test]
    fn column_names_follow_figure_colname() {
        for (sql, name) in [
            ("SELECT 1", "?column?"),
            ("SELECT true", "bool"),
            ("SELECT 1::int4", "int4"),
            ("SELECT count(*) FROM t", "count"),
            ("SELECT t.name FROM t", "name"),
            ("SELECT CASE WHEN true THEN 1 END", "case"),
        ] {
            let q = tr(sql);
            assert!(
                q.sql.contains(&format!("AS \"{name}\"")),
                "{sql}: {}",
                q.sql
            );
        }
    }
}
