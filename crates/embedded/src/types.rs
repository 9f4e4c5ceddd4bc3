//! PostgreSQL types on top of SQLite's five storage classes: which OID a column gets,
//! how a stored value is written in PostgreSQL's text format, and how a text-format
//! parameter becomes a SQLite value.

use rusqlite::types::{Value, ValueRef};

use crate::error::{SqlError, sqlstate};

/// Type OIDs from PostgreSQL's pg_type.dat.
pub mod oid {
    /// `bool` (boolean).
    pub const BOOL: u32 = 16;
    /// `bytea`.
    pub const BYTEA: u32 = 17;
    /// `name`.
    pub const NAME: u32 = 19;
    /// `int8` (bigint).
    pub const INT8: u32 = 20;
    /// `int2` (smallint).
    pub const INT2: u32 = 21;
    /// `int4` (integer).
    pub const INT4: u32 = 23;
    /// `text`.
    pub const TEXT: u32 = 25;
    /// `oid`.
    pub const OID: u32 = 26;
    /// `json`.
    pub const JSON: u32 = 114;
    /// `float4` (real).
    pub const FLOAT4: u32 = 700;
    /// `float8` (double precision).
    pub const FLOAT8: u32 = 701;
    /// `bpchar` (character).
    pub const BPCHAR: u32 = 1042;
    /// `varchar` (character varying).
    pub const VARCHAR: u32 = 1043;
    /// `date`.
    pub const DATE: u32 = 1082;
    /// `timestamp` (timestamp without time zone).
    pub const TIMESTAMP: u32 = 1114;
    /// `timestamptz` (timestamp with time zone).
    pub const TIMESTAMPTZ: u32 = 1184;
    /// `numeric`.
    pub const NUMERIC: u32 = 1700;
    /// `uuid`.
    pub const UUID: u32 = 2950;
    /// `jsonb`.
    pub const JSONB: u32 = 3802;
    /// "Not specified" in Parse; we then describe the parameter as text.
    pub const UNSPECIFIED: u32 = 0;
}

/// One PostgreSQL type the bridge knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PgType {
    pub oid: u32,
    /// pg_type.typname, which is also the column name PostgreSQL gives a cast literal.
    pub name: &'static str,
    /// pg_type.typlen (-1 for variable length).
    pub size: i16,
    /// The declared type written into SQLite's schema. Chosen so SQLite's affinity rules
    /// do the right thing and so it maps back to this type (see [`from_decltype`]).
    pub decl: &'static str,
}

const fn t(oid: u32, name: &'static str, size: i16, decl: &'static str) -> PgType {
    PgType {
        oid,
        name,
        size,
        decl,
    }
}

pub(crate) const BOOL: PgType = t(oid::BOOL, "bool", 1, "BOOLEAN");
pub(crate) const BYTEA: PgType = t(oid::BYTEA, "bytea", -1, "BYTEA BLOB");
pub(crate) const NAME: PgType = t(oid::NAME, "name", 64, "NAME TEXT");
pub(crate) const INT8: PgType = t(oid::INT8, "int8", 8, "BIGINT");
pub(crate) const INT2: PgType = t(oid::INT2, "int2", 2, "SMALLINT");
pub(crate) const INT4: PgType = t(oid::INT4, "int4", 4, "INTEGER");
pub(crate) const TEXT: PgType = t(oid::TEXT, "text", -1, "TEXT");
pub(crate) const OID: PgType = t(oid::OID, "oid", 4, "OID INTEGER");
pub(crate) const JSON: PgType = t(oid::JSON, "json", -1, "JSON TEXT");
pub(crate) const JSONB: PgType = t(oid::JSONB, "jsonb", -1, "JSONB TEXT");
pub(crate) const FLOAT4: PgType = t(oid::FLOAT4, "float4", 4, "FLOAT4 REAL");
pub(crate) const FLOAT8: PgType = t(oid::FLOAT8, "float8", 8, "DOUBLE PRECISION");
pub(crate) const BPCHAR: PgType = t(oid::BPCHAR, "bpchar", -1, "CHARACTER");
pub(crate) const VARCHAR: PgType = t(oid::VARCHAR, "varchar", -1, "VARCHAR");
pub(crate) const DATE: PgType = t(oid::DATE, "date", 4, "DATE");
pub(crate) const TIMESTAMP: PgType = t(oid::TIMESTAMP, "timestamp", 8, "TIMESTAMP");
pub(crate) const TIMESTAMPTZ: PgType = t(oid::TIMESTAMPTZ, "timestamptz", 8, "TIMESTAMPTZ");
pub(crate) const NUMERIC: PgType = t(oid::NUMERIC, "numeric", -1, "NUMERIC");
pub(crate) const UUID: PgType = t(oid::UUID, "uuid", 16, "UUID TEXT");

/// PostgreSQL's type of an untyped literal; result columns of this type are text.
pub(crate) const UNKNOWN: PgType = t(705, "unknown", -2, "PGSCRAM_UNKNOWN");
/// An anonymous composite (a set-returning function's row), carried as a JSON object
/// and printed as `(a,b)`; not listed in `pg_type`.
pub(crate) const RECORD: PgType = t(2249, "record", -1, "PGSCRAM_RECORD");
/// The catalog's one-byte `"char"`.
pub(crate) const CHAR: PgType = t(18, "char", 1, "PGSCRAM_CHAR");
pub(crate) const REGPROC: PgType = t(24, "regproc", 4, "PGSCRAM_REGPROC");
pub(crate) const REGCLASS: PgType = t(2205, "regclass", 4, "PGSCRAM_REGCLASS");
pub(crate) const REGTYPE: PgType = t(2206, "regtype", 4, "PGSCRAM_REGTYPE");
pub(crate) const REGROLE: PgType = t(4096, "regrole", 4, "PGSCRAM_REGROLE");
pub(crate) const REGNAMESPACE: PgType = t(4089, "regnamespace", 4, "PGSCRAM_REGNAMESPACE");
pub(crate) const ACLITEM: PgType = t(1033, "aclitem", 16, "PGSCRAM_ACLITEM");
pub(crate) const PG_NODE_TREE: PgType = t(194, "pg_node_tree", -1, "PGSCRAM_NODE_TREE");
pub(crate) const INT2VECTOR: PgType = t(22, "int2vector", -1, "PGSCRAM_INT2VECTOR");
pub(crate) const OIDVECTOR: PgType = t(30, "oidvector", -1, "PGSCRAM_OIDVECTOR");
pub(crate) const BOOL_ARRAY: PgType = t(1000, "_bool", -1, "PGSCRAM_BOOL_ARRAY");
pub(crate) const CHAR_ARRAY: PgType = t(1002, "_char", -1, "PGSCRAM_CHAR_ARRAY");
pub(crate) const NAME_ARRAY: PgType = t(1003, "_name", -1, "PGSCRAM_NAME_ARRAY");
pub(crate) const INT2_ARRAY: PgType = t(1005, "_int2", -1, "PGSCRAM_INT2_ARRAY");
pub(crate) const INT4_ARRAY: PgType = t(1007, "_int4", -1, "PGSCRAM_INT4_ARRAY");
pub(crate) const TEXT_ARRAY: PgType = t(1009, "_text", -1, "PGSCRAM_TEXT_ARRAY");
pub(crate) const INT8_ARRAY: PgType = t(1016, "_int8", -1, "PGSCRAM_INT8_ARRAY");
pub(crate) const FLOAT8_ARRAY: PgType = t(1022, "_float8", -1, "PGSCRAM_FLOAT8_ARRAY");
pub(crate) const OID_ARRAY: PgType = t(1028, "_oid", -1, "PGSCRAM_OID_ARRAY");
pub(crate) const ACLITEM_ARRAY: PgType = t(1034, "_aclitem", -1, "PGSCRAM_ACLITEM_ARRAY");
pub(crate) const VARCHAR_ARRAY: PgType = t(1015, "_varchar", -1, "PGSCRAM_VARCHAR_ARRAY");
pub(crate) const BYTEA_ARRAY: PgType = t(1001, "_bytea", -1, "PGSCRAM_BYTEA_ARRAY");
pub(crate) const JSON_ARRAY: PgType = t(199, "_json", -1, "PGSCRAM_JSON_ARRAY");
pub(crate) const JSONB_ARRAY: PgType = t(3807, "_jsonb", -1, "PGSCRAM_JSONB_ARRAY");
pub(crate) const FLOAT4_ARRAY: PgType = t(1021, "_float4", -1, "PGSCRAM_FLOAT4_ARRAY");
pub(crate) const BPCHAR_ARRAY: PgType = t(1014, "_bpchar", -1, "PGSCRAM_BPCHAR_ARRAY");
pub(crate) const DATE_ARRAY: PgType = t(1182, "_date", -1, "PGSCRAM_DATE_ARRAY");
pub(crate) const TIMESTAMP_ARRAY: PgType = t(1115, "_timestamp", -1, "PGSCRAM_TIMESTAMP_ARRAY");
pub(crate) const TIMESTAMPTZ_ARRAY: PgType =
    t(1185, "_timestamptz", -1, "PGSCRAM_TIMESTAMPTZ_ARRAY");
pub(crate) const NUMERIC_ARRAY: PgType = t(1231, "_numeric", -1, "PGSCRAM_NUMERIC_ARRAY");
pub(crate) const UUID_ARRAY: PgType = t(2951, "_uuid", -1, "PGSCRAM_UUID_ARRAY");

/// Types that only describe catalog columns and expressions (with [`ARRAY_TYPES`],
/// which are kept in PostgreSQL's text form).
const CATALOG_TYPES: &[PgType] = &[
    UNKNOWN,
    CHAR,
    REGPROC,
    REGCLASS,
    REGTYPE,
    REGROLE,
    REGNAMESPACE,
    ACLITEM,
    PG_NODE_TREE,
    INT2VECTOR,
    OIDVECTOR,
];

/// The array types, which table columns may have (stored as array text).
const ARRAY_TYPES: &[PgType] = &[
    BOOL_ARRAY,
    CHAR_ARRAY,
    NAME_ARRAY,
    INT2_ARRAY,
    INT4_ARRAY,
    TEXT_ARRAY,
    INT8_ARRAY,
    FLOAT8_ARRAY,
    OID_ARRAY,
    ACLITEM_ARRAY,
    VARCHAR_ARRAY,
    BYTEA_ARRAY,
    JSON_ARRAY,
    JSONB_ARRAY,
    FLOAT4_ARRAY,
    BPCHAR_ARRAY,
    DATE_ARRAY,
    TIMESTAMP_ARRAY,
    TIMESTAMPTZ_ARRAY,
    NUMERIC_ARRAY,
    UUID_ARRAY,
];

/// (element, array) pairs.
const ARRAYS: &[(PgType, PgType)] = &[
    (BOOL, BOOL_ARRAY),
    (CHAR, CHAR_ARRAY),
    (NAME, NAME_ARRAY),
    (INT2, INT2_ARRAY),
    (INT4, INT4_ARRAY),
    (TEXT, TEXT_ARRAY),
    (INT8, INT8_ARRAY),
    (FLOAT8, FLOAT8_ARRAY),
    (OID, OID_ARRAY),
    (ACLITEM, ACLITEM_ARRAY),
    (VARCHAR, VARCHAR_ARRAY),
    (BYTEA, BYTEA_ARRAY),
    (JSON, JSON_ARRAY),
    (JSONB, JSONB_ARRAY),
    (FLOAT4, FLOAT4_ARRAY),
    (BPCHAR, BPCHAR_ARRAY),
    (DATE, DATE_ARRAY),
    (TIMESTAMP, TIMESTAMP_ARRAY),
    (TIMESTAMPTZ, TIMESTAMPTZ_ARRAY),
    (NUMERIC, NUMERIC_ARRAY),
    (UUID, UUID_ARRAY),
];

/// The array type whose elements are `elem` (text[] for types without one here).
pub(crate) fn array_of(elem: PgType) -> PgType {
    ARRAYS
        .iter()
        .find(|(e, _)| *e == elem)
        .map_or(TEXT_ARRAY, |(_, a)| *a)
}

/// The element type of an array type (text when unknown).
pub(crate) fn element_of(array: PgType) -> PgType {
    ARRAYS
        .iter()
        .find(|(_, a)| *a == array)
        .map_or(TEXT, |(e, _)| *e)
}

/// Every type `pg_type` lists.
pub(crate) fn all_types() -> impl Iterator<Item = PgType> {
    ALL.iter().chain(CATALOG_TYPES).chain(ARRAY_TYPES).copied()
}

/// A catalog-only type by OID.
pub(crate) fn catalog_type(oid: u32) -> Option<PgType> {
    CATALOG_TYPES
        .iter()
        .chain(ARRAY_TYPES)
        .copied()
        .find(|t| t.oid == oid)
}

const ALL: &[PgType] = &[
    BOOL,
    BYTEA,
    NAME,
    INT8,
    INT2,
    INT4,
    TEXT,
    OID,
    JSON,
    JSONB,
    FLOAT4,
    FLOAT8,
    BPCHAR,
    VARCHAR,
    DATE,
    TIMESTAMP,
    TIMESTAMPTZ,
    NUMERIC,
    UUID,
];

/// The type with this OID, if the bridge knows it.
pub(crate) fn by_oid(oid: u32) -> Option<PgType> {
    ALL.iter().copied().find(|t| t.oid == oid)
}

/// Serial pseudo-types: they become `INTEGER PRIMARY KEY AUTOINCREMENT`.
pub(crate) fn is_serial(name: &str) -> bool {
    matches!(
        name,
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
    )
}

/// Looks up a type by the words of its name as written (`["double", "precision"]`,
/// `["timestamp", "with", "time", "zone"]`, `["int4"]`), lowercased. Returns the type
/// and how many words it used.
pub(crate) fn lookup(words: &[&str]) -> Option<(PgType, usize)> {
    let w = |i: usize| words.get(i).copied().unwrap_or("");
    let multi = match (w(0), w(1), w(2), w(3)) {
        ("double", "precision", _, _) => Some((FLOAT8, 2)),
        ("character", "varying", _, _) => Some((VARCHAR, 2)),
        ("timestamp", "with", "time", "zone") => Some((TIMESTAMPTZ, 4)),
        ("timestamp", "without", "time", "zone") => Some((TIMESTAMP, 4)),
        _ => None,
    };
    if multi.is_some() {
        return multi;
    }
    let ty = match w(0) {
        "bool" | "boolean" => BOOL,
        "bytea" => BYTEA,
        "name" => NAME,
        "int8" | "bigint" => INT8,
        "int2" | "smallint" => INT2,
        "int4" | "int" | "integer" => INT4,
        "text" | "citext" => TEXT,
        "oid" => OID,
        "json" => JSON,
        "jsonb" => JSONB,
        "float4" | "real" => FLOAT4,
        "float8" | "float" => FLOAT8,
        "char" | "character" | "bpchar" => BPCHAR,
        "varchar" => VARCHAR,
        "date" => DATE,
        "timestamp" => TIMESTAMP,
        "timestamptz" => TIMESTAMPTZ,
        "numeric" | "decimal" => NUMERIC,
        "uuid" => UUID,
        _ => return None,
    };
    Some((ty, 1))
}

/// Maps a declared column type from SQLite's schema back to a PostgreSQL type. Knows the
/// declarations this crate writes and the common PostgreSQL spellings, so tables made by
/// other tools still describe sensibly.
pub(crate) fn from_decltype(decl: &str) -> Option<PgType> {
    let upper = decl.trim().to_ascii_uppercase();
    let base = upper.split('(').next().unwrap_or("").trim();
    if let Some(t) = ALL.iter().chain(ARRAY_TYPES).find(|t| t.decl == base) {
        return Some(*t);
    }
    let words: Vec<String> = base
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    if let Some((t, _)) = lookup(&refs) {
        return Some(t);
    }
    // SQLite's own affinity names.
    match base {
        "INT4" => Some(INT4),
        "BLOB" => Some(BYTEA),
        "REAL" | "DOUBLE" => Some(FLOAT8),
        "CLOB" | "STRING" => Some(TEXT),
        _ if base.contains("INT") => Some(INT8),
        _ if base.contains("CHAR") || base.contains("CLOB") || base.contains("TEXT") => Some(TEXT),
        _ => None,
    }
}

/// Writes a stored value in PostgreSQL's text output format for type `oid`.
pub(crate) fn render(v: ValueRef<'_>, oid: u32) -> Option<Vec<u8>> {
    Some(match (v, oid) {
        (ValueRef::Null, _) => return None,
        (ValueRef::Integer(i), oid::BOOL) => bool_text(i != 0).into(),
        (ValueRef::Real(r), oid::BOOL) => bool_text(r != 0.0).into(),
        (ValueRef::Text(t), oid::BOOL) => match parse_bool(&String::from_utf8_lossy(t)) {
            Some(b) => bool_text(b).into(),
            None => t.to_vec(),
        },
        (ValueRef::Text(t), 2249) => match std::str::from_utf8(t)
            .ok()
            .and_then(crate::srf::record_text)
        {
            Some(r) => r.into_bytes(),
            None => t.to_vec(),
        },
        (ValueRef::Blob(b), oid::BYTEA) => hex_bytea(b).into_bytes(),
        (ValueRef::Text(t), oid::BYTEA) if t.starts_with(b"\\x") => t.to_vec(),
        (ValueRef::Text(t), oid::BYTEA) => hex_bytea(t).into_bytes(),
        (ValueRef::Integer(i), oid::BYTEA) => hex_bytea(i.to_string().as_bytes()).into_bytes(),
        (ValueRef::Real(r), oid::FLOAT4) => format_float(f64::from(r as f32)).into_bytes(),
        (ValueRef::Real(r), _) => format_float(r).into_bytes(),
        (ValueRef::Integer(i), _) => i.to_string().into_bytes(),
        (ValueRef::Text(t), _) => t.to_vec(),
        (ValueRef::Blob(b), _) => b.to_vec(),
    })
}

fn bool_text(b: bool) -> &'static [u8] {
    if b { b"t" } else { b"f" }
}

/// `\x` + lowercase hex, PostgreSQL's default `bytea_output`.
pub(crate) fn hex_bytea(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Decodes bytea input: `\x` hex, or the escape format (`\\` and `\nnn`).
pub(crate) fn parse_bytea(text: &[u8]) -> Result<Vec<u8>, SqlError> {
    if let Some(hex) = text.strip_prefix(b"\\x") {
        let digits: Vec<u8> = hex
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if !digits.len().is_multiple_of(2) {
            return Err(SqlError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                "invalid hexadecimal data: odd number of digits",
            ));
        }
        return digits
            .chunks(2)
            .map(|pair| {
                let hi = (pair[0] as char).to_digit(16);
                let lo = (pair[1] as char).to_digit(16);
                match (hi, lo) {
                    (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                    _ => Err(SqlError::new(
                        sqlstate::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal digit in bytea input",
                    )),
                }
            })
            .collect();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
        } else if text.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if let Some(oct) = text
            .get(i + 1..i + 4)
            .filter(|o| o[0] <= b'3' && o.iter().all(|d| (b'0'..=b'7').contains(d)))
        {
            out.push(oct.iter().fold(0u8, |acc, d| acc * 8 + (d - b'0')));
            i += 4;
        } else {
            return Err(SqlError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                "invalid input syntax for type bytea",
            ));
        }
    }
    Ok(out)
}

/// PostgreSQL's boolean input words.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    let prefix = |full: &str, min: usize| s.len() >= min && full.starts_with(s.as_str());
    if prefix("true", 1) || prefix("yes", 1) || s == "on" || s == "1" {
        Some(true)
    } else if prefix("false", 1) || prefix("no", 1) || prefix("off", 2) || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// float8 output as PostgreSQL 12+ writes it with extra_float_digits = 1: the shortest
/// text that reads back exactly, with an exponent outside 1e-4 ..< 1e15.
pub(crate) fn format_float(r: f64) -> String {
    if r.is_nan() {
        return "NaN".to_owned();
    }
    if r.is_infinite() {
        return if r > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if r == 0.0 {
        return if r.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sci = format!("{r:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..15).contains(&exp) {
        format!("{r}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn invalid_input(type_name: &str, text: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!(
            "invalid input syntax for type {type_name}: \"{}\"",
            text.chars().take(64).collect::<String>()
        ),
    )
}

/// Parses integer input the way PostgreSQL's int2/int4/int8 input does (surrounding
/// spaces allowed, no fractions).
pub(crate) fn parse_int(text: &str, ty: PgType) -> Result<i64, SqlError> {
    let (min, max, type_name) = int_range(ty);
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(invalid_input(type_name, text));
    }
    let cleaned: String = trimmed.chars().filter(|&c| c != '_').collect();
    let v: i128 = cleaned.parse().map_err(|_| out_of_range(text, type_name))?;
    if v < i128::from(min) || v > i128::from(max) {
        return Err(out_of_range(text, type_name));
    }
    Ok(v as i64)
}

fn out_of_range(text: &str, type_name: &str) -> SqlError {
    SqlError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!(
            "value \"{}\" is out of range for type {type_name}",
            text.chars().take(64).collect::<String>()
        ),
    )
}

/// (min, max, PostgreSQL's type name in messages) for integer types.
pub(crate) fn int_range(ty: PgType) -> (i64, i64, &'static str) {
    match ty.oid {
        oid::INT2 => (i64::from(i16::MIN), i64::from(i16::MAX), "smallint"),
        oid::INT4 => (i64::from(i32::MIN), i64::from(i32::MAX), "integer"),
        oid::OID => (0, i64::from(u32::MAX), "oid"),
        _ => (i64::MIN, i64::MAX, "bigint"),
    }
}

/// Parses float input, including PostgreSQL's `NaN` and `Infinity` spellings.
pub(crate) fn parse_float(text: &str) -> Result<f64, SqlError> {
    let s = text.trim();
    match s.to_ascii_lowercase().as_str() {
        "nan" => return Ok(f64::NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(f64::INFINITY),
        "-infinity" | "-inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Err(invalid_input("double precision", text));
    }
    s.parse()
        .map_err(|_| invalid_input("double precision", text))
}

/// Parses numeric input: an integer when it is one, otherwise a float (SQLite has no
/// decimal type; see the crate docs).
pub(crate) fn parse_numeric(text: &str) -> Result<Value, SqlError> {
    let s = text.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Integer(i));
    }
    if s.eq_ignore_ascii_case("nan") {
        return Ok(Value::Real(f64::NAN));
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Err(invalid_input("numeric", text));
    }
    s.parse::<f64>()
        .map(Value::Real)
        .map_err(|_| invalid_input("numeric", text))
}

/// Turns one text-format parameter into the SQLite value to bind, by its declared type.
pub(crate) fn bind_text(raw: Option<&[u8]>, ty_oid: u32) -> Result<Value, SqlError> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    if ty_oid == oid::BYTEA {
        return parse_bytea(raw).map(Value::Blob);
    }
    let text = std::str::from_utf8(raw).map_err(|_| {
        SqlError::new(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\" in a parameter",
        )
    })?;
    if text.contains('\0') {
        return Err(SqlError::new(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        ));
    }
    Ok(match by_oid(ty_oid) {
        Some(BOOL) => match parse_bool(text) {
            Some(b) => Value::Integer(i64::from(b)),
            None => return Err(invalid_input("boolean", text)),
        },
        Some(ty @ (INT2 | INT4 | INT8 | OID)) => Value::Integer(parse_int(text, ty)?),
        Some(FLOAT4 | FLOAT8) => Value::Real(parse_float(text)?),
        Some(NUMERIC) => parse_numeric(text)?,
        Some(TIMESTAMPTZ) => Value::Text(
            crate::timestamp::Timestamp::parse(text)
                .map_err(|e| SqlError::new(sqlstate::INVALID_DATETIME_FORMAT, e.to_string()))?
                .to_string(),
        ),
        _ => Value::Text(text.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_handles_sql_spellings() {
        assert_eq!(lookup(&["integer"]), Some((INT4, 1)));
        assert_eq!(lookup(&["double", "precision", "x"]), Some((FLOAT8, 2)));
        assert_eq!(
            lookup(&["timestamp", "with", "time", "zone"]),
            Some((TIMESTAMPTZ, 4))
        );
        assert_eq!(lookup(&["character", "varying"]), Some((VARCHAR, 2)));
        assert_eq!(lookup(&["regclass"]), None);
    }

    #[test]
    fn decltypes_round_trip_and_common_names_map() {
        for t in ALL {
            assert_eq!(from_decltype(t.decl), Some(*t), "{}", t.decl);
        }
        assert_eq!(from_decltype("varchar(20)"), Some(VARCHAR));
        assert_eq!(from_decltype("INT"), Some(INT4));
        assert_eq!(from_decltype("BLOB"), Some(BYTEA));
        assert_eq!(from_decltype("UNSIGNED BIG INT"), Some(INT8));
        assert_eq!(from_decltype("WHATEVER"), None);
    }

    #[test]
    fn rendering() {
        assert_eq!(render(ValueRef::Integer(1), oid::BOOL), Some(b"t".to_vec()));
        assert_eq!(render(ValueRef::Integer(0), oid::BOOL), Some(b"f".to_vec()));
        assert_eq!(
            render(ValueRef::Text(b"true"), oid::BOOL),
            Some(b"t".to_vec())
        );
        assert_eq!(
            render(ValueRef::Blob(&[0, 255]), oid::BYTEA),
            Some(b"\\x00ff".to_vec())
        );
        assert_eq!(
            render(ValueRef::Real(1.5), oid::FLOAT8),
            Some(b"1.5".to_vec())
        );
        assert_eq!(
            render(ValueRef::Integer(42), oid::TEXT),
            Some(b"42".to_vec())
        );
        assert_eq!(render(ValueRef::Null, oid::TEXT), None);
    }

    #[test]
    fn float_format_matches_postgres() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e15), "1e+15");
        assert_eq!(format_float(123456789012345.0), "123456789012345");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(-2.5e-10), "-2.5e-10");
        assert_eq!(format_float(f64::INFINITY), "Infinity");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn bool_input_words() {
        for t in ["t", "TRUE", "yes", "on", "1", " y "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["f", "false", "no", "off", "0", "of"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "o", "maybe", "2"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn binding_text_parameters_by_type() {
        assert_eq!(bind_text(Some(b"t"), oid::BOOL).unwrap(), Value::Integer(1));
        assert_eq!(
            bind_text(Some(b" 42 "), oid::INT4).unwrap(),
            Value::Integer(42)
        );
        assert_eq!(
            bind_text(Some(b"99999999999"), oid::INT4).unwrap_err().code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            bind_text(Some(b"1.5"), oid::INT8).unwrap_err().code,
            sqlstate::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            bind_text(Some(b"\\x0aff"), oid::BYTEA).unwrap(),
            Value::Blob(vec![10, 255])
        );
        assert_eq!(
            bind_text(Some(b"a\\\\b\\001"), oid::BYTEA).unwrap(),
            Value::Blob(b"a\\b\x01".to_vec())
        );
        assert_eq!(
            bind_text(Some(b"2.5"), oid::NUMERIC).unwrap(),
            Value::Real(2.5)
        );
        assert_eq!(
            bind_text(Some(b"abc"), oid::TEXT).unwrap(),
            Value::Text("abc".into())
        );
        assert_eq!(bind_text(None, oid::INT4).unwrap(), Value::Null);
        assert!(bind_text(Some(&[0xff]), oid::TEXT).is_err());
        assert!(bind_text(Some(b"nope"), oid::BOOL).is_err());
        assert!(bind_text(Some(b"\\xzz"), oid::BYTEA).is_err());
    }
}
