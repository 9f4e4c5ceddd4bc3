//! Set-returning functions in a select list (`SELECT unnest(a) FROM t`,
//! `(information_schema._pg_expandarray(i.indkey)).n`), for SQLite.
//!
//! PostgreSQL runs every set-returning function of a select list in lockstep: each
//! input row becomes as many rows as the longest of them returns, the shorter ones
//! padded with NULL, and a row where all return nothing disappears. The same happens
//! here with a join: SQLite's table-valued `generate_series(1, n)` is added to the
//! query's FROM (its arguments may read the tables to its left, row by row), `n` being
//! the longest length, and each call becomes its element at the series' `value`.
//!
//! ```text
//!   SELECT unnest(a), (_pg_expandarray(k)).n FROM t
//!   ──▶ SELECT pgscram_array_elem(a, s.value), s.value
//!       FROM t, generate_series(1, max(coalesce(len(a), 0), coalesce(len(k), 0))) AS s
//! ```
//!
//! A composite result (`_pg_expandarray`'s `(x, n)`) is carried as a JSON object, so
//! `(record).field` works wherever the record goes (a column of a subquery); it is
//! printed in PostgreSQL's record syntax (`(1,1)`) when it reaches the client.

use sqlparser::ast::{Expr, Ident, TableWithJoins};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::SqlError;
use crate::script::syntax_error;
use crate::tree::{call, number, value};
use crate::types::{self, PgType};

/// What one call of a set-returning function yields per row.
pub(crate) enum Element {
    /// One value.
    Scalar(Box<Expr>, PgType),
    /// A composite: named fields.
    Record(Vec<(String, Expr, PgType)>),
}

impl Element {
    /// The element as one expression (a record becomes a JSON object) and its type.
    pub fn into_expr(self) -> (Expr, PgType) {
        match self {
            Element::Scalar(e, t) => (*e, t),
            Element::Record(fields) => {
                let mut args = Vec::new();
                for (name, e, _) in fields {
                    args.push(value(sqlparser::ast::Value::SingleQuotedString(name)));
                    args.push(e);
                }
                (call("json_object", args), types::RECORD)
            }
        }
    }

    /// One field of a composite element.
    pub fn field(self, name: &str) -> Option<(Expr, PgType)> {
        match self {
            Element::Record(fields) => fields
                .into_iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, e, t)| (e, t)),
            Element::Scalar(..) => None,
        }
    }
}

/// A set-returning call planned against a row index: how many rows it returns
/// (NULL counts as none) and its element at the index.
pub(crate) struct Planned {
    pub length: Expr,
    pub element: Element,
}

/// Whether `name` (as the walker names functions) returns a set.
pub(crate) fn is_set_returning(name: &str) -> bool {
    matches!(
        name,
        "unnest" | "generate_series" | "information_schema__pg_expandarray"
    )
}

/// An array argument as array text: `int2vector` and `oidvector` are stored as
/// space-separated numbers and become `{1,2}`; their element types.
fn as_array(arg: Expr, t: PgType) -> (Expr, PgType) {
    if t == types::INT2VECTOR || t == types::OIDVECTOR {
        let elem = if t == types::INT2VECTOR {
            types::INT2
        } else {
            types::OID
        };
        let text = |s: &str| value(sqlparser::ast::Value::SingleQuotedString(s.to_owned()));
        let list = call(
            "replace",
            vec![call("trim", vec![arg]), text(" "), text(",")],
        );
        let braced = Expr::BinaryOp {
            left: Box::new(Expr::BinaryOp {
                left: Box::new(text("{")),
                op: sqlparser::ast::BinaryOperator::StringConcat,
                right: Box::new(list),
            }),
            op: sqlparser::ast::BinaryOperator::StringConcat,
            right: Box::new(text("}")),
        };
        (Expr::Nested(Box::new(braced)), elem)
    } else {
        let elem = if t.name.starts_with('_') {
            types::element_of(t)
        } else {
            types::TEXT
        };
        (arg, elem)
    }
}

/// The `index`-th element (1-based) of array text, converted to the element type.
fn element_at(array: Expr, elem: PgType, index: Expr) -> Expr {
    let raw = call("pgscram_array_elem", vec![array, index]);
    if elem == types::TEXT || elem == types::NAME || elem == types::VARCHAR {
        raw
    } else {
        call("pgscram_cast", vec![raw, number(elem.oid), number(-1)])
    }
}

/// Plans a set-returning call with walked arguments; `index` is the row number the
/// series join provides. `Ok(None)` when `name` takes other arguments than these.
pub(crate) fn plan(
    name: &str,
    mut args: Vec<(Expr, PgType)>,
    index: &Expr,
) -> Result<Option<Planned>, SqlError> {
    Ok(Some(match (name, args.len()) {
        ("unnest", 1) => {
            let (arg, t) = args.remove(0);
            let (array, elem) = as_array(arg, t);
            Planned {
                length: call("pgscram_cardinality", vec![array.clone()]),
                element: Element::Scalar(Box::new(element_at(array, elem, index.clone())), elem),
            }
        }
        ("information_schema__pg_expandarray", 1) => {
            let (arg, t) = args.remove(0);
            let (array, elem) = as_array(arg, t);
            Planned {
                length: call("pgscram_cardinality", vec![array.clone()]),
                element: Element::Record(vec![
                    ("x".to_owned(), element_at(array, elem, index.clone()), elem),
                    ("n".to_owned(), index.clone(), types::INT4),
                ]),
            }
        }
        ("generate_series", 2) => {
            let (start, st) = args.remove(0);
            let (stop, et) = args.remove(0);
            let t = if st == types::INT8 || et == types::INT8 {
                types::INT8
            } else {
                types::INT4
            };
            let minus = |a: Expr, b: Expr| Expr::BinaryOp {
                left: Box::new(a),
                op: sqlparser::ast::BinaryOperator::Minus,
                right: Box::new(b),
            };
            let plus = |a: Expr, b: Expr| Expr::BinaryOp {
                left: Box::new(a),
                op: sqlparser::ast::BinaryOperator::Plus,
                right: Box::new(b),
            };
            Planned {
                length: plus(
                    Expr::Nested(Box::new(minus(stop, start.clone()))),
                    number(1),
                ),
                element: Element::Scalar(
                    Box::new(plus(
                        Expr::Nested(Box::new(start)),
                        Expr::Nested(Box::new(minus(index.clone(), number(1)))),
                    )),
                    t,
                ),
            }
        }
        _ => return Ok(None),
    }))
}

/// The FROM item that multiplies rows: `generate_series(1, longest) AS alias`, where
/// `longest` is the largest of `lengths` (a NULL length counts as zero).
pub(crate) fn series_item(alias: &str, lengths: Vec<Expr>) -> Result<TableWithJoins, SqlError> {
    let guarded: Vec<String> = lengths
        .into_iter()
        .map(|l| format!("max(coalesce({l}, 0), 0)"))
        .collect();
    let longest = if guarded.len() == 1 {
        guarded[0].clone()
    } else {
        format!("max({})", guarded.join(", "))
    };
    let sql = format!("SELECT 1 FROM generate_series(1, {longest}) AS {alias}");
    let q = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| syntax_error(&e))?;
    match *q.body {
        sqlparser::ast::SetExpr::Select(mut s) if s.from.len() == 1 => Ok(s.from.remove(0)),
        _ => Err(SqlError::internal("series join")),
    }
}

/// The row index a select's series join provides: `alias.value`.
pub(crate) fn index_column(alias: &str) -> Expr {
    Expr::CompoundIdentifier(vec![Ident::new(alias), Ident::new("value")])
}

/// `(record).field` on a record value of unknown shape (a subquery's column).
pub(crate) fn field_of(record: Expr, field: &str) -> Expr {
    call(
        "json_extract",
        vec![
            record,
            value(sqlparser::ast::Value::SingleQuotedString(format!(
                "$.\"{}\"",
                field.replace('"', "")
            ))),
        ],
    )
}

/// A record carried as a JSON object (`{"x":1,"n":1}`), in PostgreSQL's record output
/// syntax (`(1,1)`): NULL fields are empty, fields with separators, quotes,
/// backslashes or spaces (and empty strings) are double-quoted with `"` and `\`
/// doubled. `None` when the text is not a flat JSON object.
pub(crate) fn record_text(json: &str) -> Option<String> {
    let mut p = Json {
        s: json.as_bytes(),
        at: 0,
    };
    p.skip_ws();
    p.eat(b'{')?;
    let mut fields: Vec<Option<String>> = Vec::new();
    p.skip_ws();
    if p.peek() == Some(b'}') {
        p.at += 1;
    } else {
        loop {
            p.skip_ws();
            p.string()?;
            p.skip_ws();
            p.eat(b':')?;
            p.skip_ws();
            fields.push(p.scalar()?);
            p.skip_ws();
            match p.peek()? {
                b',' => p.at += 1,
                b'}' => {
                    p.at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    p.skip_ws();
    if p.at != p.s.len() {
        return None;
    }
    let mut out = String::from("(");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(v) = f {
            let quote = v.is_empty()
                || v.chars()
                    .any(|c| matches!(c, '(' | ')' | ',' | '"' | '\\') || c.is_whitespace());
            if quote {
                out.push('"');
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        out.push(c);
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(v);
            }
        }
    }
    out.push(')');
    Some(out)
}

/// Just enough JSON for the flat objects SQLite's `json_object` writes.
struct Json<'a> {
    s: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek()?;
                    self.at += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex =
                                std::str::from_utf8(self.s.get(self.at..self.at + 4)?).ok()?;
                            self.at += 4;
                            char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => out.push(b),
            }
        }
        String::from_utf8(out).ok()
    }

    /// A string, number, boolean or null (`None` inside for null).
    fn scalar(&mut self) -> Option<Option<String>> {
        match self.peek()? {
            b'"' => Some(Some(self.string()?)),
            b'{' | b'[' => None,
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.at]).ok()?;
                match word {
                    "null" => Some(None),
                    "true" => Some(Some("t".to_owned())),
                    "false" => Some(Some("f".to_owned())),
                    w if !w.is_empty() => Some(Some(w.to_owned())),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_in_postgresql_syntax() {
        assert_eq!(record_text(r#"{"x":1,"n":1}"#).as_deref(), Some("(1,1)"));
        assert_eq!(
            record_text(r#"{"a":null,"b":"x y","c":"","d":"q\"\\","e":2.5}"#).as_deref(),
            Some(r#"(,"x y","","q""\\",2.5)"#)
        );
        assert_eq!(record_text("{}").as_deref(), Some("()"));
        assert_eq!(record_text(r#"{"a":"\u00e9"}"#).as_deref(), Some("(é)"));
        assert_eq!(record_text(r#"{"a":[1]}"#), None);
        assert_eq!(record_text(r#"{"a":1"#), None);
        assert_eq!(record_text("(1,1)"), None);
    }
}
