//! The SQL bridge: rewrites one PostgreSQL statement (already tokenized, so literals
//! are never touched) into SQLite's dialect, and works out what PostgreSQL would call
//! and type its result columns.
//!
//! Rewrites, all on tokens:
//! - `a ~ b`, `~*`, `!~`, `!~*` become SQLite's `REGEXP` / `MATCH` operators (backed by
//!   Rust regex functions), `~~`/`LIKE` keep PostgreSQL's case-sensitive LIKE,
//!   `ILIKE`/`~~*` become `GLOB` (whose function is replaced by a case-insensitive LIKE).
//!   Using SQLite's own binary operators keeps SQLite's operator precedence, which for
//!   these operators matches PostgreSQL's in practice.
//! - `expr::type` and `CAST(expr AS type)` become `pgscram_cast(expr, oid, typmod)`,
//!   which converts with PostgreSQL's input rules and errors.
//! - `$n` becomes `?n`; `pg_catalog.` and `public.` qualifiers are dropped;
//!   `current_user`, `session_user`, `current_timestamp`, ... become function calls.
//! - In `CREATE TABLE` / `ALTER TABLE ... ADD COLUMN`, PostgreSQL type names become
//!   SQLite declarations that keep the right affinity and map back to the OID, and
//!   `serial`/identity columns become `INTEGER PRIMARY KEY AUTOINCREMENT`.
//! - Select-list items without an alias get PostgreSQL's column name (`count`,
//!   `?column?`, `int4`, ...), and a type hint where the expression's type is plain.

use std::collections::BTreeMap;

use crate::error::{SqlError, sqlstate};
use crate::lexer::{Tok, Token, quote_ident};
use crate::types::{self, PgType};

/// A token tree: parentheses grouped, everything else flat.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    T(Token),
    Group {
        open: Token,
        items: Vec<Node>,
        close: Token,
    },
}

impl Node {
    fn tok(&self) -> Option<&Token> {
        match self {
            Node::T(t) => Some(t),
            Node::Group { .. } => None,
        }
    }

    pub(crate) fn is_word(&self, w: &str) -> bool {
        self.tok().is_some_and(|t| t.is_word(w))
    }

    fn is_op(&self, op: &str) -> bool {
        self.tok().is_some_and(|t| t.is_op(op))
    }

    fn is_comma(&self) -> bool {
        matches!(self.tok().map(|t| &t.tok), Some(Tok::Comma))
    }

    fn is_dot(&self) -> bool {
        matches!(self.tok().map(|t| &t.tok), Some(Tok::Dot))
    }

    fn group(mut items: Vec<Node>) -> Node {
        if let Some(first) = items.first_mut() {
            first.set_space(false);
        }
        Node::Group {
            open: Token {
                tok: Tok::LParen,
                space_before: true,
                pos: 0,
            },
            items,
            close: Token {
                tok: Tok::RParen,
                space_before: false,
                pos: 0,
            },
        }
    }

    fn set_space(&mut self, space: bool) {
        match self {
            Node::T(t) => t.space_before = space,
            Node::Group { open, .. } => open.space_before = space,
        }
    }

    fn raw(text: &str) -> Node {
        Node::T(Token::raw(text))
    }

    fn pos(&self) -> usize {
        match self {
            Node::T(t) => t.pos,
            Node::Group { open, .. } => open.pos,
        }
    }
}

/// Builds the tree. Parentheses are balanced (the splitter checked).
pub(crate) fn build(tokens: Vec<Token>) -> Vec<Node> {
    let mut stack: Vec<(Token, Vec<Node>)> = Vec::new();
    let mut cur: Vec<Node> = Vec::new();
    for t in tokens {
        match t.tok {
            Tok::LParen => stack.push((t, std::mem::take(&mut cur))),
            Tok::RParen => match stack.pop() {
                Some((open, parent)) => {
                    let items = std::mem::replace(&mut cur, parent);
                    cur.push(Node::Group {
                        open,
                        items,
                        close: t,
                    });
                }
                None => cur.push(Node::T(t)),
            },
            _ => cur.push(Node::T(t)),
        }
    }
    while let Some((open, mut parent)) = stack.pop() {
        parent.push(Node::T(open));
        parent.append(&mut cur);
        cur = parent;
    }
    cur
}

/// Flattens a tree back to tokens.
pub(crate) fn flatten(nodes: &[Node], out: &mut Vec<Token>) {
    for n in nodes {
        match n {
            Node::T(t) => out.push(t.clone()),
            Node::Group { open, items, close } => {
                out.push(open.clone());
                flatten(items, out);
                out.push(close.clone());
            }
        }
    }
}

fn render_nodes(nodes: &[Node]) -> String {
    let mut toks = Vec::new();
    flatten(nodes, &mut toks);
    crate::lexer::render(&toks)
}

/// What kind of statement this is, for the command tag and the result shape.
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

/// One statement, ready for SQLite.
#[derive(Clone, Debug)]
pub(crate) struct Translated {
    pub sql: String,
    pub verb: Verb,
    /// Type hints for the leading result columns.
    pub hints_prefix: Vec<Option<PgType>>,
    /// Type hints for the trailing result columns (after a `*`).
    pub hints_suffix: Vec<Option<PgType>>,
    /// Types of parameters given by a `$n::type` cast.
    pub param_types: BTreeMap<u32, PgType>,
    /// The highest `$n` used.
    pub max_param: u32,
    /// Where an untyped `$n` gets its value: the column it is compared with or
    /// inserted into (so a client that leaves types to the server gets useful ones).
    pub param_sources: BTreeMap<u32, ParamSource>,
    /// Tables the statement names, with their aliases.
    pub tables: Vec<TableRef>,
    /// Session state the statement reads (refreshed before it runs).
    pub needs: crate::tree::Needs,
}

/// A table named in a statement, and its alias.
pub(crate) type TableRef = (String, Option<String>);

/// What a parameter is bound against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParamSource {
    /// A column, with the table or alias that qualified it.
    Column {
        qualifier: Option<String>,
        column: String,
    },
    /// A LIMIT or OFFSET count.
    Count,
}

impl Translated {
    /// The hint for result column `i` of `n`.
    pub fn hint(&self, i: usize, n: usize) -> Option<PgType> {
        if let Some(h) = self.hints_prefix.get(i) {
            return *h;
        }
        let from_end = n.checked_sub(i + 1)?;
        let k = self.hints_suffix.len().checked_sub(from_end + 1)?;
        self.hints_suffix.get(k).copied().flatten()
    }
}

/// Words that cannot end an operand or be a bare alias.
const KEYWORDS: &[&str] = &[
    "all",
    "and",
    "any",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cross",
    "desc",
    "distinct",
    "else",
    "end",
    "escape",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "from",
    "full",
    "group",
    "having",
    "ilike",
    "in",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "precision",
    "returning",
    "right",
    "select",
    "set",
    "similar",
    "some",
    "then",
    "time",
    "true",
    "union",
    "using",
    "values",
    "varying",
    "when",
    "where",
    "window",
    "with",
    "without",
    "zone",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.contains(&w)
}

/// Words after which a `(` is not a function call.
fn is_function_name(n: &Node) -> bool {
    match n.tok().map(|t| &t.tok) {
        Some(Tok::Ident(w)) => !is_keyword(w) || w == "exists",
        Some(Tok::Quoted(_)) | Some(Tok::Raw(_)) => true,
        _ => false,
    }
}

/// True when the node can end an operand (so an operator after it is binary).
fn ends_operand(n: &Node) -> bool {
    match n {
        Node::Group { .. } => true,
        Node::T(t) => match &t.tok {
            Tok::Ident(w) => {
                !is_keyword(w) || matches!(w.as_str(), "true" | "false" | "null" | "end")
            }
            Tok::Quoted(_) | Tok::Str(_) | Tok::Hex(_) | Tok::Number(_) | Tok::Param(_) => true,
            Tok::Raw(_) | Tok::RBracket => true,
            _ => false,
        },
    }
}

fn syntax_near(n: &Node) -> SqlError {
    let what = match n {
        Node::T(t) => t.describe(),
        Node::Group { .. } => "\"(\"".to_owned(),
    };
    SqlError::syntax(format!(
        "syntax error at or near {what} (position {})",
        n.pos() + 1
    ))
}

/// Types PostgreSQL has that the bridge does not.
const UNSUPPORTED_TYPES: &[&str] = &[
    "interval",
    "time",
    "timetz",
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regrole",
    "regnamespace",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "bit",
    "varbit",
    "xml",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "jsonpath",
    "pg_lsn",
    "txid_snapshot",
    "oidvector",
    "int2vector",
    "record",
    "void",
    "anyelement",
];

/// A parsed type name: the type, its first modifier, what it spans.
struct TypeName {
    ty: PgType,
    typmod: Option<i64>,
    /// The name PostgreSQL gives a cast result column (`int4`, `varchar`, ...).
    colname: &'static str,
    end: usize,
}

/// Parses a type name starting at `list[i]`.
fn parse_type(list: &[Node], mut i: usize) -> Result<TypeName, SqlError> {
    if list.get(i).is_some_and(|n| n.is_word("pg_catalog"))
        && list.get(i + 1).is_some_and(Node::is_dot)
    {
        i += 2;
    }
    let mut words: Vec<String> = Vec::new();
    let mut j = i;
    while let Some(Node::T(t)) = list.get(j) {
        match &t.tok {
            Tok::Ident(w) => words.push(w.clone()),
            Tok::Quoted(w) if words.is_empty() => words.push(w.to_ascii_lowercase()),
            _ => break,
        }
        j += 1;
        if words.len() == 4 {
            break;
        }
    }
    let Some(first) = words.first().cloned() else {
        return Err(match list.get(i) {
            Some(n) => syntax_near(n),
            None => SqlError::syntax("syntax error at end of input: type name expected"),
        });
    };
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let Some((ty, used)) = types::lookup(&refs) else {
        return Err(if UNSUPPORTED_TYPES.contains(&first.as_str()) {
            SqlError::unsupported(format!(
                "type {first} is not supported by the embedded database"
            ))
        } else {
            SqlError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("type \"{first}\" does not exist"),
            )
        });
    };
    let mut end = i + used;
    let mut typmod = None;
    if let Some(Node::Group { items, .. }) = list.get(end) {
        if let Some(Node::T(Token {
            tok: Tok::Number(n),
            ..
        })) = items.first()
        {
            typmod = n.parse::<i64>().ok();
        }
        end += 1;
    }
    if matches!(
        list.get(end).and_then(Node::tok).map(|t| &t.tok),
        Some(Tok::LBracket)
    ) || list.get(end).is_some_and(|n| n.is_word("array"))
    {
        return Err(SqlError::unsupported(
            "array types are not supported by the embedded database",
        ));
    }
    // `char` without a length is char(1), as in PostgreSQL.
    if ty == types::BPCHAR && typmod.is_none() && (first == "char" || first == "character") {
        typmod = Some(1);
    }
    let colname = if ty == types::BPCHAR && first != "bpchar" {
        "bpchar"
    } else {
        ty.name
    };
    Ok(TypeName {
        ty,
        typmod,
        colname,
        end,
    })
}

/// Where the operand of a postfix `::` at `i` starts.
fn operand_start(list: &[Node], i: usize) -> Result<usize, SqlError> {
    let Some(k) = i.checked_sub(1) else {
        return Err(syntax_near(&list[i]));
    };
    let mut s = match &list[k] {
        Node::Group { .. } => {
            if k > 0 && is_function_name(&list[k - 1]) {
                k - 1
            } else {
                return Ok(k);
            }
        }
        Node::T(t) => match &t.tok {
            Tok::Ident(w) if !is_keyword(w) || matches!(w.as_str(), "true" | "false" | "null") => k,
            Tok::Quoted(_) => k,
            Tok::Str(_) | Tok::Hex(_) | Tok::Number(_) | Tok::Param(_) | Tok::Raw(_) => {
                return Ok(k);
            }
            _ => return Err(syntax_near(&list[i])),
        },
    };
    // Qualified names: a.b.c
    while s >= 2
        && list[s - 1].is_dot()
        && matches!(
            list[s - 2].tok().map(|t| &t.tok),
            Some(Tok::Ident(_) | Tok::Quoted(_))
        )
    {
        s -= 2;
    }
    Ok(s)
}

/// The call that converts `operand` to `ty`.
fn cast_call(ty: PgType, typmod: Option<i64>, operand: Vec<Node>) -> Vec<Node> {
    let mut args = operand;
    args.push(Node::T(Token {
        tok: Tok::Comma,
        space_before: false,
        pos: 0,
    }));
    args.push(Node::raw(&ty.oid.to_string()));
    args.push(Node::T(Token {
        tok: Tok::Comma,
        space_before: false,
        pos: 0,
    }));
    args.push(Node::raw(&typmod.unwrap_or(-1).to_string()));
    let mut group = Node::group(args);
    group.set_space(false);
    vec![Node::raw("pgscram_cast"), group]
}

/// A rewritten list and the type hints of its leading and trailing columns.
type ListResult = (Vec<Node>, Vec<Option<PgType>>, Vec<Option<PgType>>);
/// A rewritten statement with its verb and hints.
type StmtResult = (Verb, Vec<Node>, Vec<Option<PgType>>, Vec<Option<PgType>>);

/// Rewrites state shared across one statement.
#[derive(Default)]
struct Ctx {
    param_types: BTreeMap<u32, PgType>,
    max_param: u32,
}

/// Applies every expression rewrite to a node list, recursively.
fn rewrite(list: Vec<Node>, ctx: &mut Ctx) -> Result<Vec<Node>, SqlError> {
    let list = drop_qualifiers(list);
    let list = rewrite_words(list, ctx)?;
    let list = rewrite_casts(list, ctx)?;
    rewrite_operators(list)
}

/// `pg_catalog.x` and `public.x` are just `x` here.
fn drop_qualifiers(list: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(list.len());
    let mut iter = list.into_iter().peekable();
    while let Some(n) = iter.next() {
        let qualifier = n.is_word("pg_catalog") || n.is_word("public");
        let after_dot = out.last().is_some_and(Node::is_dot);
        if qualifier && !after_dot && iter.peek().is_some_and(Node::is_dot) {
            let dot = iter.next();
            if iter
                .peek()
                .is_some_and(|n| n.tok().is_some_and(|t| t.ident_name().is_some()))
            {
                if let Some(Node::T(mut t)) = iter.next() {
                    t.space_before = match &n {
                        Node::T(q) => q.space_before,
                        Node::Group { .. } => true,
                    };
                    out.push(Node::T(t));
                }
                continue;
            }
            out.push(n);
            out.extend(dot);
            continue;
        }
        out.push(match n {
            Node::Group { open, items, close } => Node::Group {
                open,
                items: drop_qualifiers(items),
                close,
            },
            other => other,
        });
    }
    out
}

/// SQL-standard value keywords and parameters.
fn rewrite_words(list: Vec<Node>, ctx: &mut Ctx) -> Result<Vec<Node>, SqlError> {
    let mut out: Vec<Node> = Vec::with_capacity(list.len());
    let mut iter = list.into_iter().peekable();
    while let Some(n) = iter.next() {
        let after_dot = out.last().is_some_and(Node::is_dot);
        let before_paren = matches!(iter.peek(), Some(Node::Group { .. }));
        let before_dot = iter.peek().is_some_and(Node::is_dot);
        match n {
            Node::Group { open, items, close } => out.push(Node::Group {
                open,
                items: rewrite_words(items, ctx)?,
                close,
            }),
            Node::T(t) => {
                let replacement = match &t.tok {
                    Tok::Param(p) => {
                        ctx.max_param = ctx.max_param.max(*p);
                        None
                    }
                    Tok::Ident(w) if !after_dot && !before_dot => match w.as_str() {
                        "current_user" | "current_role" | "user" if !before_paren => {
                            Some("pgscram_current_user()")
                        }
                        "session_user" if !before_paren => Some("pgscram_session_user()"),
                        "current_timestamp" | "localtimestamp" if !before_paren => Some("now()"),
                        "current_catalog" if !before_paren => Some("current_database()"),
                        "current_schema" if !before_paren => Some("'public'"),
                        "similar" => {
                            return Err(SqlError::unsupported(
                                "SIMILAR TO is not supported by the embedded database",
                            ));
                        }
                        _ => None,
                    },
                    Tok::Ident(w) if w == "current_schema" && before_paren => None,
                    _ => None,
                };
                match replacement {
                    Some(text) => out.push(Node::T(Token {
                        tok: Tok::Raw(text.to_owned()),
                        space_before: t.space_before,
                        pos: t.pos,
                    })),
                    None => out.push(Node::T(t)),
                }
            }
        }
    }
    // `current_schema()` is a function in PostgreSQL; SQLite has none.
    for i in 0..out.len() {
        if out[i].is_word("current_schema")
            && matches!(out.get(i + 1), Some(Node::Group { items, .. }) if items.is_empty())
        {
            out[i] = Node::raw("'public'");
            out.remove(i + 1);
            break;
        }
    }
    Ok(out)
}

/// `x::type` and `CAST(x AS type)`.
fn rewrite_casts(list: Vec<Node>, ctx: &mut Ctx) -> Result<Vec<Node>, SqlError> {
    let mut list: Vec<Node> = list
        .into_iter()
        .map(|n| match n {
            Node::Group { open, items, close } => Ok(Node::Group {
                open,
                items: rewrite_casts(items, ctx)?,
                close,
            }),
            other => Ok(other),
        })
        .collect::<Result<_, SqlError>>()?;
    let mut i = 0;
    while i < list.len() {
        if list[i].is_word("cast")
            && !(i > 0 && list[i - 1].is_dot())
            && matches!(list.get(i + 1), Some(Node::Group { .. }))
        {
            let Node::Group { items, .. } = list.remove(i + 1) else {
                unreachable_group()?
            };
            let as_at = items.iter().rposition(|n| n.is_word("as")).ok_or_else(|| {
                SqlError::syntax(format!(
                    "syntax error at or near \")\" (position {}): CAST needs AS type",
                    list[i].pos() + 1
                ))
            })?;
            let tn = parse_type(&items, as_at + 1)?;
            if tn.end != items.len() {
                return Err(syntax_near(&items[tn.end]));
            }
            let operand: Vec<Node> = items[..as_at].to_vec();
            note_param_cast(&operand, tn.ty, ctx);
            let call = cast_call(tn.ty, tn.typmod, operand);
            list.splice(i..=i, call);
            i += 2;
            continue;
        }
        if list[i].is_op("::") {
            let s = operand_start(&list, i)?;
            let tn = parse_type(&list, i + 1)?;
            let operand: Vec<Node> = list[s..i].to_vec();
            note_param_cast(&operand, tn.ty, ctx);
            let call = cast_call(tn.ty, tn.typmod, operand);
            list.splice(s..tn.end, call);
            i = s + 2;
            continue;
        }
        i += 1;
    }
    Ok(list)
}

fn unreachable_group<T>() -> Result<T, SqlError> {
    Err(SqlError::internal("cast rewrite lost its argument list"))
}

fn note_param_cast(operand: &[Node], ty: PgType, ctx: &mut Ctx) {
    if let [
        Node::T(Token {
            tok: Tok::Param(p), ..
        }),
    ] = operand
    {
        ctx.param_types.entry(*p).or_insert(ty);
    }
}

/// The regex and LIKE operator families.
fn rewrite_operators(list: Vec<Node>) -> Result<Vec<Node>, SqlError> {
    let mut out: Vec<Node> = Vec::with_capacity(list.len());
    let mut saw_ilike = false;
    for n in list {
        match n {
            Node::Group { open, items, close } => out.push(Node::Group {
                open,
                items: rewrite_operators(items)?,
                close,
            }),
            Node::T(t) => {
                let binary = out.last().is_some_and(ends_operand);
                let text = match &t.tok {
                    Tok::Op(op) => match op.as_str() {
                        "~" if binary => Some("REGEXP"),
                        "~" => None,
                        "~*" => Some("MATCH"),
                        "!~" => Some("NOT REGEXP"),
                        "!~*" => Some("NOT MATCH"),
                        "~~" => Some("LIKE"),
                        "!~~" => Some("NOT LIKE"),
                        "~~*" => {
                            saw_ilike = true;
                            Some("GLOB")
                        }
                        "!~~*" => {
                            saw_ilike = true;
                            Some("NOT GLOB")
                        }
                        "+" | "-" | "*" | "/" | "%" | "=" | "<" | ">" | "<=" | ">=" | "<>"
                        | "!=" | "||" | "&" | "|" | "<<" | ">>" | "->" | "->>" => None,
                        other => {
                            return Err(SqlError::new(
                                sqlstate::UNDEFINED_FUNCTION,
                                format!(
                                    "operator is not supported by the embedded database: {other}"
                                ),
                            ));
                        }
                    },
                    Tok::Ident(w) if w == "ilike" => {
                        saw_ilike = true;
                        Some("GLOB")
                    }
                    Tok::Ident(w) if w == "escape" && saw_ilike => {
                        return Err(SqlError::unsupported(
                            "ILIKE ... ESCAPE is not supported by the embedded database",
                        ));
                    }
                    _ => None,
                };
                match text {
                    Some(text) => out.push(Node::T(Token {
                        tok: Tok::Raw(text.to_owned()),
                        space_before: true,
                        pos: t.pos,
                    })),
                    None => out.push(Node::T(t)),
                }
            }
        }
    }
    Ok(out)
}

/// Splits a list at top-level commas.
fn split_commas(list: &[Node]) -> Vec<&[Node]> {
    list.split(Node::is_comma).collect()
}

/// Words that end a select list.
const SELECT_LIST_END: &[&str] = &[
    "from",
    "where",
    "group",
    "having",
    "window",
    "order",
    "limit",
    "offset",
    "fetch",
    "for",
    "union",
    "intersect",
    "except",
    "into",
];

/// What PostgreSQL names an unaliased result column (its FigureColname rules).
fn column_name(item: &[Node]) -> String {
    let unknown = || "?column?".to_owned();
    // Trailing casts: the name of what is cast, else the type's name.
    if let Some(cast_at) = item.iter().rposition(|n| n.is_op("::"))
        && let Ok(tn) = parse_type(item, cast_at + 1)
        && tn.end == item.len()
    {
        let inner = column_name(&item[..cast_at]);
        return if inner == "?column?" {
            tn.colname.to_owned()
        } else {
            inner
        };
    }
    match item {
        [Node::T(t)] => match &t.tok {
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => "bool".to_owned(),
                "null" => unknown(),
                "user" => "current_user".to_owned(),
                _ => w.clone(),
            },
            Tok::Quoted(w) => w.clone(),
            _ => unknown(),
        },
        [.., dot, Node::T(last)] if dot.is_dot() => {
            last.ident_name().map_or_else(unknown, str::to_owned)
        }
        [Node::T(f), Node::Group { items, .. }] if f.is_word("cast") => {
            match items.iter().rposition(|n| n.is_word("as")) {
                Some(as_at) => {
                    let inner = column_name(&items[..as_at]);
                    match (inner.as_str(), parse_type(items, as_at + 1)) {
                        ("?column?", Ok(tn)) => tn.colname.to_owned(),
                        _ => inner,
                    }
                }
                None => unknown(),
            }
        }
        [.., Node::T(f), Node::Group { .. }]
            if item.len() == 2 || (item.len() >= 4 && item[item.len() - 3].is_dot()) =>
        {
            match &f.tok {
                Tok::Ident(w) if !is_keyword(w) || w == "exists" => w.clone(),
                Tok::Quoted(w) => w.clone(),
                _ => unknown(),
            }
        }
        [Node::Group { items, .. }] if !items.first().is_some_and(|n| n.is_word("select")) => {
            column_name(items)
        }
        [first, .., last] if first.is_word("case") && last.is_word("end") => "case".to_owned(),
        _ => unknown(),
    }
}

/// Operators and words whose result is boolean.
const BOOL_OPS: &[&str] = &[
    "=", "<>", "!=", "<", ">", "<=", ">=", "~*", "!~", "!~*", "~~", "~~*", "!~~", "!~~*",
];
const BOOL_WORDS: &[&str] = &[
    "and", "or", "not", "is", "in", "like", "ilike", "between", "isnull", "notnull",
];

/// The type of a select-list item when it is plain from the syntax.
fn item_hint(item: &[Node]) -> Option<PgType> {
    if let Some(cast_at) = item.iter().rposition(|n| n.is_op("::"))
        && let Ok(tn) = parse_type(item, cast_at + 1)
        && tn.end == item.len()
    {
        return Some(tn.ty);
    }
    if let [Node::T(f), Node::Group { items, .. }] = item
        && f.is_word("cast")
        && let Some(as_at) = items.iter().rposition(|n| n.is_word("as"))
        && let Ok(tn) = parse_type(items, as_at + 1)
    {
        return Some(tn.ty);
    }
    // Top level, outside CASE ... END.
    let mut depth = 0usize;
    let mut concat = false;
    for (k, n) in item.iter().enumerate() {
        if n.is_word("case") {
            depth += 1;
        } else if n.is_word("end") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            let boolean_op = match n.tok().map(|t| &t.tok) {
                // A `~` with nothing before it is bitwise NOT, not a match.
                Some(Tok::Op(op)) if op == "~" => k > 0 && ends_operand(&item[k - 1]),
                Some(Tok::Op(op)) => BOOL_OPS.contains(&op.as_str()),
                Some(Tok::Ident(w)) => BOOL_WORDS.contains(&w.as_str()),
                _ => false,
            };
            if boolean_op {
                return Some(types::BOOL);
            }
            concat |= n.is_op("||");
        }
    }
    if concat {
        return Some(types::TEXT);
    }
    match item {
        [Node::T(t)] => match &t.tok {
            Tok::Str(_) => Some(types::TEXT),
            Tok::Number(n) => Some(number_type(n)),
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => Some(types::BOOL),
                "current_user" | "session_user" | "current_role" | "user" | "current_catalog"
                | "current_schema" => Some(types::NAME),
                "current_timestamp" | "localtimestamp" => Some(types::TIMESTAMPTZ),
                "current_date" => Some(types::DATE),
                _ => None,
            },
            _ => None,
        },
        [Node::T(op), Node::T(num)] if op.is_op("-") => match &num.tok {
            Tok::Number(n) => Some(number_type(n)),
            _ => None,
        },
        [.., Node::T(f), Node::Group { .. }] => match &f.tok {
            Tok::Ident(w) => function_type(w),
            _ => None,
        },
        _ => None,
    }
}

fn number_type(n: &str) -> PgType {
    if n.contains(['.', 'e', 'E']) && !n.starts_with("0x") && !n.starts_with("0X") {
        types::NUMERIC
    } else {
        match n.replace('_', "").parse::<i64>() {
            Ok(v) if i32::try_from(v).is_ok() => types::INT4,
            Ok(_) => types::INT8,
            Err(_) => types::NUMERIC,
        }
    }
}

/// Result types of functions whose type does not depend on their arguments.
fn function_type(name: &str) -> Option<PgType> {
    Some(match name {
        "count" => types::INT8,
        "version" | "lower" | "upper" | "concat" | "concat_ws" | "replace" | "substr"
        | "substring" | "trim" | "ltrim" | "rtrim" | "btrim" | "format" | "repeat" | "left"
        | "right" | "string_agg" | "md5" | "quote_ident" | "quote_literal" | "lpad" | "rpad"
        | "initcap" | "reverse" | "current_setting" | "to_hex" => types::TEXT,
        "now" | "statement_timestamp" | "transaction_timestamp" | "clock_timestamp" => {
            types::TIMESTAMPTZ
        }
        "current_database" | "current_schema" | "current_user" | "session_user" => types::NAME,
        "length" | "char_length" | "character_length" | "octet_length" | "strpos"
        | "pg_backend_pid" => types::INT4,
        "random" => types::FLOAT8,
        "exists" | "bool_and" | "bool_or" | "every" | "pg_has_role" => types::BOOL,
        "gen_random_uuid" => types::UUID,
        _ => return None,
    })
}

/// Whether an item carries its own alias (`expr AS x` or `expr x`).
fn has_alias(item: &[Node]) -> bool {
    let n = item.len();
    if n >= 2 && item[n - 2].is_word("as") {
        return true;
    }
    if n >= 2 {
        let last_is_name = match item[n - 1].tok().map(|t| &t.tok) {
            Some(Tok::Ident(w)) => !is_keyword(w),
            Some(Tok::Quoted(_)) => true,
            _ => false,
        };
        let prev = &item[n - 2];
        return last_is_name && ends_operand(prev) && !prev.is_dot() && !prev.is_op("::");
    }
    false
}

fn is_star(item: &[Node]) -> bool {
    item.last().is_some_and(|n| n.is_op("*")) && (item.len() == 1 || item[item.len() - 2].is_dot())
}

/// Rewrites a select (or RETURNING) list: each item rewritten, unaliased items named
/// as PostgreSQL would; returns the new list and the per-column hints.
fn rewrite_select_list(list: &[Node], ctx: &mut Ctx) -> Result<ListResult, SqlError> {
    let items = split_commas(list);
    let mut out = Vec::with_capacity(list.len() + items.len() * 2);
    let mut prefix = Vec::new();
    let mut suffix = Vec::new();
    let mut seen_star = false;
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            out.push(Node::T(Token {
                tok: Tok::Comma,
                space_before: false,
                pos: 0,
            }));
        }
        if item.is_empty() {
            return Err(SqlError::syntax("syntax error at or near \",\""));
        }
        if is_star(item) {
            seen_star = true;
            suffix.clear();
            out.extend(rewrite(item.to_vec(), ctx)?);
            continue;
        }
        let hint = item_hint(item);
        if seen_star {
            suffix.push(hint);
        } else {
            prefix.push(hint);
        }
        let alias = (!has_alias(item)).then(|| column_name(item));
        out.extend(rewrite(item.to_vec(), ctx)?);
        if let Some(name) = alias {
            out.push(Node::raw("AS"));
            out.push(Node::raw(&quote_ident(&name)));
        }
    }
    Ok((out, prefix, suffix))
}

/// Skips `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (...) [, ...]`;
/// returns the index of the main statement's first word.
fn skip_with(list: &[Node]) -> usize {
    if !list.first().is_some_and(|n| n.is_word("with")) {
        return 0;
    }
    let mut i = 1;
    if list.get(i).is_some_and(|n| n.is_word("recursive")) {
        i += 1;
    }
    loop {
        i += 1; // name
        if matches!(list.get(i), Some(Node::Group { .. })) {
            i += 1;
        }
        if list.get(i).is_some_and(|n| n.is_word("as")) {
            i += 1;
        }
        while list
            .get(i)
            .is_some_and(|n| n.is_word("not") || n.is_word("materialized"))
        {
            i += 1;
        }
        if matches!(list.get(i), Some(Node::Group { .. })) {
            i += 1;
        }
        if list.get(i).is_some_and(Node::is_comma) {
            i += 1;
            continue;
        }
        return i.min(list.len());
    }
}

/// The first word of a node list, lowercased.
fn word(list: &[Node], i: usize) -> Option<&str> {
    match list.get(i).and_then(Node::tok).map(|t| &t.tok) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    }
}

/// Translates one ordinary statement (not transaction control, SET/SHOW or role DDL).
pub(crate) fn translate(tokens: Vec<Token>) -> Result<Translated, SqlError> {
    let nodes = drop_qualifiers(build(tokens));
    let (param_sources, tables) = param_sources(&nodes);
    let mut ctx = Ctx::default();
    let main = skip_with(&nodes);
    let first = word(&nodes, main).unwrap_or("");
    let (verb, out, prefix, suffix) = match first {
        "select" => {
            let (out, p, s) = translate_select(&nodes, main, &mut ctx)?;
            (Verb::Select, out, p, s)
        }
        "values" => (
            Verb::Select,
            rewrite(nodes, &mut ctx)?,
            Vec::new(),
            Vec::new(),
        ),
        "table" if main == 0 => {
            let mut rewritten = vec![Node::raw("SELECT"), Node::raw("*"), Node::raw("FROM")];
            rewritten.extend(rewrite(nodes[1..].to_vec(), &mut ctx)?);
            (Verb::Select, rewritten, Vec::new(), Vec::new())
        }
        "insert" | "update" | "delete" => {
            let verb = match first {
                "insert" => Verb::Insert,
                "update" => Verb::Update,
                _ => Verb::Delete,
            };
            let (out, p, s) = translate_returning(&nodes, &mut ctx)?;
            (verb, out, p, s)
        }
        "create" if main == 0 => translate_create(nodes, &mut ctx)?,
        "alter" if main == 0 && word(&nodes, 1) == Some("table") => (
            Verb::Other("ALTER TABLE".into()),
            translate_alter_table(nodes, &mut ctx)?,
            vec![],
            vec![],
        ),
        "drop" if main == 0 => {
            let what = match word(&nodes, 1) {
                Some(w @ ("table" | "index" | "view" | "trigger")) => w.to_ascii_uppercase(),
                _ => {
                    return Err(SqlError::unsupported(format!(
                        "DROP {} is not supported by the embedded database",
                        word(&nodes, 1).unwrap_or("").to_ascii_uppercase()
                    )));
                }
            };
            let mut out = rewrite(nodes, &mut ctx)?;
            // PostgreSQL's default RESTRICT / CASCADE have no SQLite spelling.
            if out
                .last()
                .is_some_and(|n| n.is_word("restrict") || n.is_word("cascade"))
            {
                out.pop();
            }
            (Verb::Other(format!("DROP {what}")), out, vec![], vec![])
        }
        "truncate" if main == 0 => {
            let mut i = 1;
            if word(&nodes, i) == Some("table") {
                i += 1;
            }
            let rest: Vec<Node> = nodes[i..]
                .iter()
                .filter(|n| {
                    !(n.is_word("restrict") || n.is_word("continue") || n.is_word("identity"))
                })
                .cloned()
                .collect();
            if rest.iter().any(Node::is_comma)
                || rest
                    .iter()
                    .any(|n| n.is_word("cascade") || n.is_word("restart"))
            {
                return Err(SqlError::unsupported(
                    "TRUNCATE of several tables, CASCADE or RESTART IDENTITY is not supported by the embedded database",
                ));
            }
            let mut out = vec![Node::raw("DELETE"), Node::raw("FROM")];
            out.extend(rewrite(rest, &mut ctx)?);
            (Verb::Other("TRUNCATE TABLE".into()), out, vec![], vec![])
        }
        "explain" if main == 0 => (
            Verb::Other("EXPLAIN".into()),
            rewrite(nodes, &mut ctx)?,
            vec![],
            vec![],
        ),
        "analyze" | "reindex" if main == 0 => (
            Verb::Other(first.to_ascii_uppercase()),
            rewrite(nodes, &mut ctx)?,
            vec![],
            vec![],
        ),
        "" => {
            return Err(match nodes.get(main) {
                Some(n) => syntax_near(n),
                None => SqlError::syntax("syntax error at end of input"),
            });
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "{} statements are not supported by the embedded database",
                other.to_ascii_uppercase()
            )));
        }
    };
    Ok(Translated {
        sql: render_nodes(&out),
        verb,
        hints_prefix: prefix,
        hints_suffix: suffix,
        param_types: ctx.param_types,
        max_param: ctx.max_param,
        param_sources,
        tables,
        needs: Default::default(),
    })
}

/// Whether the statement is a query (`SELECT`, `VALUES`, `TABLE`) or DML (`INSERT`,
/// `UPDATE`, `DELETE`), maybe after `WITH`: the tree translator handles those.
pub(crate) fn is_query(tokens: &[Token]) -> bool {
    let nodes = build(tokens.to_vec());
    let main = skip_with(&nodes);
    matches!(
        word(&nodes, main),
        Some("select" | "values" | "table" | "insert" | "update" | "delete")
    ) || matches!(nodes.first(), Some(Node::Group { .. }))
}

/// Comparison operators that make a parameter take the other side's type.
const CMP_OPS: &[&str] = &["=", "<>", "!=", "<", ">", "<=", ">="];

/// A column reference ending at or starting at a token: (qualifier, column).
fn column_ref(flat: &[Token], start: usize, backwards: bool) -> Option<(Option<String>, String)> {
    let name = |t: &Token| match &t.tok {
        Tok::Ident(w) if !is_keyword(w) => Some(w.clone()),
        Tok::Quoted(w) => Some(w.clone()),
        _ => None,
    };
    if backwards {
        let col = name(flat.get(start)?)?;
        let qualifier = match start.checked_sub(2) {
            Some(q) if matches!(flat[q + 1].tok, Tok::Dot) => name(&flat[q]),
            _ => None,
        };
        Some((qualifier, col))
    } else {
        let first = name(flat.get(start)?)?;
        match flat.get(start + 1).map(|t| &t.tok) {
            Some(Tok::Dot) => Some((Some(first), name(flat.get(start + 2)?)?)),
            // A function call, not a column.
            Some(Tok::LParen) => None,
            _ => Some((None, first)),
        }
    }
}

/// Finds what each `$n` is compared with or inserted into, and the tables named.
fn param_sources(nodes: &[Node]) -> (BTreeMap<u32, ParamSource>, Vec<TableRef>) {
    let mut flat = Vec::new();
    flatten(nodes, &mut flat);
    let mut out = BTreeMap::new();
    let mut tables = Vec::new();
    let is_word = |i: usize, w: &str| flat.get(i).is_some_and(|t| t.is_word(w));
    for (i, t) in flat.iter().enumerate() {
        // Tables: FROM a [alias], b [alias] / JOIN / UPDATE / INTO.
        let starts_table = ["from", "join", "update", "into"]
            .iter()
            .any(|w| t.is_word(w))
            || (matches!(t.tok, Tok::Comma)
                && flat[..i].iter().rev().find_map(|p| match &p.tok {
                    Tok::Ident(w) if SELECT_LIST_END.contains(&w.as_str()) || w == "join" => {
                        Some(w == "from")
                    }
                    _ => None,
                }) == Some(true));
        if starts_table && let Some(name) = flat.get(i + 1).and_then(Token::ident_name) {
            let alias_at = if is_word(i + 2, "as") { i + 3 } else { i + 2 };
            let alias = match flat.get(alias_at).map(|t| &t.tok) {
                Some(Tok::Ident(w)) if !is_keyword(w) && w != "set" => Some(w.clone()),
                Some(Tok::Quoted(w)) => Some(w.clone()),
                _ => None,
            };
            tables.push((name.to_owned(), alias));
        }
        let Tok::Param(n) = t.tok else { continue };
        let source = if i > 0 && (is_word(i - 1, "limit") || is_word(i - 1, "offset")) {
            Some(ParamSource::Count)
        } else if i >= 2 && flat[i - 1].tok_is_op_in(CMP_OPS) {
            column_ref(&flat, i - 2, true)
                .map(|(qualifier, column)| ParamSource::Column { qualifier, column })
        } else if flat.get(i + 1).is_some_and(|o| o.tok_is_op_in(CMP_OPS)) {
            column_ref(&flat, i + 2, false)
                .map(|(qualifier, column)| ParamSource::Column { qualifier, column })
        } else {
            None
        };
        if let Some(src) = source {
            out.entry(n).or_insert(src);
        }
    }
    // INSERT INTO t (c1, c2) VALUES ($1, $2), ...: by position.
    if let Some(v) = nodes.iter().position(|n| n.is_word("values"))
        && v >= 1
        && let Node::Group { items: cols, .. } = &nodes[v - 1]
    {
        let cols: Vec<Option<&str>> = split_commas(cols)
            .into_iter()
            .map(|c| match c {
                [Node::T(t)] => t.ident_name(),
                _ => None,
            })
            .collect();
        for group in nodes[v + 1..].iter() {
            let Node::Group { items, .. } = group else {
                continue;
            };
            for (k, item) in split_commas(items).into_iter().enumerate() {
                if let (
                    [
                        Node::T(Token {
                            tok: Tok::Param(n), ..
                        }),
                    ],
                    Some(Some(col)),
                ) = (item, cols.get(k))
                {
                    out.entry(*n).or_insert(ParamSource::Column {
                        qualifier: None,
                        column: (*col).to_owned(),
                    });
                }
            }
        }
    }
    (out, tables)
}

/// `[WITH ...] SELECT [DISTINCT [ON (..)] | ALL] list [FROM ...]`.
fn translate_select(nodes: &[Node], at: usize, ctx: &mut Ctx) -> Result<ListResult, SqlError> {
    let mut start = at + 1;
    if word(nodes, start) == Some("all") {
        start += 1;
    } else if word(nodes, start) == Some("distinct") {
        start += 1;
        if word(nodes, start) == Some("on") {
            start += 1;
            if matches!(nodes.get(start), Some(Node::Group { .. })) {
                start += 1;
            }
        }
    }
    let end = (start..nodes.len())
        .find(|&i| word(nodes, i).is_some_and(|w| SELECT_LIST_END.contains(&w)))
        .unwrap_or(nodes.len());
    let mut out = rewrite(nodes[..start].to_vec(), ctx)?;
    if start == end {
        // `SELECT` with no columns (PostgreSQL allows it; SQLite does not).
        return Err(SqlError::unsupported(
            "a SELECT without result columns is not supported by the embedded database",
        ));
    }
    let (list, prefix, suffix) = rewrite_select_list(&nodes[start..end], ctx)?;
    out.extend(list);
    out.extend(rewrite(nodes[end..].to_vec(), ctx)?);
    Ok((out, prefix, suffix))
}

/// INSERT / UPDATE / DELETE, with an optional RETURNING list.
fn translate_returning(nodes: &[Node], ctx: &mut Ctx) -> Result<ListResult, SqlError> {
    match nodes.iter().position(|n| n.is_word("returning")) {
        Some(r) => {
            let mut out = rewrite(nodes[..=r].to_vec(), ctx)?;
            let (list, prefix, suffix) = rewrite_select_list(&nodes[r + 1..], ctx)?;
            out.extend(list);
            Ok((out, prefix, suffix))
        }
        None => Ok((rewrite(nodes.to_vec(), ctx)?, Vec::new(), Vec::new())),
    }
}

/// CREATE TABLE / INDEX / VIEW.
fn translate_create(nodes: Vec<Node>, ctx: &mut Ctx) -> Result<StmtResult, SqlError> {
    let mut i = 1;
    while let Some(w) = word(&nodes, i) {
        match w {
            "temp" | "temporary" | "unlogged" | "unique" | "or" | "replace" | "global"
            | "local" => {}
            _ => break,
        }
        i += 1;
    }
    let what = word(&nodes, i).unwrap_or("");
    match what {
        "table" => translate_create_table(nodes, ctx),
        "index" => {
            // CONCURRENTLY has no meaning here.
            let nodes: Vec<Node> = nodes
                .into_iter()
                .filter(|n| !n.is_word("concurrently"))
                .collect();
            Ok((
                Verb::Other("CREATE INDEX".into()),
                rewrite(nodes, ctx)?,
                vec![],
                vec![],
            ))
        }
        "view" => {
            if nodes.iter().any(|n| n.is_word("replace")) {
                return Err(SqlError::unsupported(
                    "CREATE OR REPLACE VIEW is not supported by the embedded database",
                ));
            }
            Ok((
                Verb::Other("CREATE VIEW".into()),
                rewrite(nodes, ctx)?,
                vec![],
                vec![],
            ))
        }
        other => Err(SqlError::unsupported(format!(
            "CREATE {} is not supported by the embedded database",
            other.to_ascii_uppercase()
        ))),
    }
}

/// Column-constraint words that end a DEFAULT expression.
const CONSTRAINT_WORDS: &[&str] = &[
    "not",
    "null",
    "primary",
    "unique",
    "check",
    "references",
    "constraint",
    "collate",
    "generated",
    "default",
];

fn translate_create_table(nodes: Vec<Node>, ctx: &mut Ctx) -> Result<StmtResult, SqlError> {
    let Some(gpos) = nodes.iter().position(|n| matches!(n, Node::Group { .. })) else {
        // CREATE TABLE name AS SELECT ...
        if nodes.iter().any(|n| n.is_word("as")) {
            let nodes: Vec<Node> = nodes
                .into_iter()
                .filter(|n| !n.is_word("unlogged"))
                .collect();
            return Ok((Verb::CreateTableAs, rewrite(nodes, ctx)?, vec![], vec![]));
        }
        return Err(SqlError::syntax(
            "syntax error at end of input: column list expected",
        ));
    };
    let head: Vec<Node> = nodes[..gpos]
        .iter()
        .filter(|n| !n.is_word("unlogged"))
        .cloned()
        .collect();
    if nodes[gpos + 1..].first().is_some_and(|n| n.is_word("as")) {
        return Ok((Verb::CreateTableAs, rewrite(nodes, ctx)?, vec![], vec![]));
    }
    if let Some(extra) = nodes.get(gpos + 1) {
        return Err(SqlError::unsupported(format!(
            "table options after the column list are not supported by the embedded database (at position {})",
            extra.pos() + 1
        )));
    }
    let Node::Group { open, items, close } = nodes[gpos].clone() else {
        return Err(SqlError::internal("column list vanished"));
    };
    let mut new_items: Vec<Node> = Vec::new();
    for (k, element) in split_commas(&items).into_iter().enumerate() {
        if k > 0 {
            new_items.push(Node::T(Token {
                tok: Tok::Comma,
                space_before: false,
                pos: 0,
            }));
        }
        new_items.extend(column_def(element, ctx)?);
    }
    let mut out = head;
    out.push(Node::Group {
        open,
        items: new_items,
        close,
    });
    Ok((Verb::Other("CREATE TABLE".into()), out, vec![], vec![]))
}

/// One element of a column list: a table constraint (rewritten as an expression list)
/// or `name type [constraints]`.
fn column_def(element: &[Node], ctx: &mut Ctx) -> Result<Vec<Node>, SqlError> {
    let Some(first) = element.first() else {
        return Err(SqlError::syntax("syntax error at or near \",\""));
    };
    let table_constraint = [
        "constraint",
        "primary",
        "unique",
        "check",
        "foreign",
        "exclude",
    ]
    .iter()
    .any(|w| first.is_word(w));
    if table_constraint || first.is_word("like") {
        return rewrite(element.to_vec(), ctx);
    }
    if first.tok().and_then(Token::ident_name).is_none() {
        return Err(syntax_near(first));
    }
    let Some(type_node) = element.get(1) else {
        return Err(SqlError::syntax(format!(
            "syntax error at end of input: column \"{}\" needs a type",
            first.tok().and_then(Token::ident_name).unwrap_or("")
        )));
    };
    let type_word = word(element, 1).unwrap_or("");
    let (decl, rest_at, mut serial) = if types::is_serial(type_word) {
        ("INTEGER".to_owned(), 2, true)
    } else {
        let tn = parse_type(element, 1).map_err(|e| {
            if e.code == sqlstate::SYNTAX_ERROR {
                syntax_near(type_node)
            } else {
                e
            }
        })?;
        let mut decl = tn.ty.decl.to_owned();
        if let (Some(m), true) = (
            tn.typmod,
            matches!(tn.ty, types::VARCHAR | types::BPCHAR | types::NUMERIC),
        ) {
            decl.push_str(&format!("({m})"));
        }
        (decl, tn.end, false)
    };
    let mut rest: Vec<Node> = element[rest_at..].to_vec();
    // GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY [( ... )] is a serial.
    if let Some(g) = rest.iter().position(|n| n.is_word("generated")) {
        let ident = rest.iter().position(|n| n.is_word("identity"));
        if let Some(id) = ident {
            let mut end = id + 1;
            if matches!(rest.get(end), Some(Node::Group { .. })) {
                end += 1;
            }
            rest.drain(g..end);
            serial = true;
        }
    }
    let decl = if serial && decl != "INTEGER" && !decl.ends_with("INT") && !decl.contains("INT") {
        return Err(SqlError::unsupported("identity columns must be integers"));
    } else if serial {
        "INTEGER".to_owned()
    } else {
        decl
    };
    let mut out: Vec<Node> = vec![element[0].clone(), Node::raw(&decl)];
    // DEFAULT expr needs parentheses in SQLite unless it is a literal.
    let mut i = 0;
    let mut rewritten_rest: Vec<Node> = Vec::new();
    while i < rest.len() {
        if rest[i].is_word("default") {
            let start = i + 1;
            let mut end = start;
            while end < rest.len() && !CONSTRAINT_WORDS.iter().any(|w| rest[end].is_word(w)) {
                end += 1;
            }
            let expr = rest[start..end].to_vec();
            let literal = matches!(
                expr.as_slice(),
                [Node::T(Token {
                    tok: Tok::Str(_) | Tok::Number(_),
                    ..
                })]
            ) || matches!(expr.as_slice(), [Node::T(t)] if t.is_word("true") || t.is_word("false") || t.is_word("null"))
                || matches!(expr.as_slice(), [Node::T(s), Node::T(Token { tok: Tok::Number(_), .. })] if s.is_op("-"));
            rewritten_rest.push(rest[i].clone());
            let expr = rewrite(expr, ctx)?;
            if literal {
                rewritten_rest.extend(expr);
            } else {
                rewritten_rest.push(Node::group(expr));
            }
            i = end;
            continue;
        }
        rewritten_rest.push(rest[i].clone());
        i += 1;
    }
    let mut rest = rewrite(rewritten_rest, ctx)?;
    if serial {
        let pk = rest
            .windows(2)
            .position(|w| w[0].is_word("primary") && w[1].is_word("key"));
        match pk {
            Some(p) => rest.insert(p + 2, Node::raw("AUTOINCREMENT")),
            None => {
                return Err(SqlError::unsupported(format!(
                    "serial and identity column \"{}\" must be declared PRIMARY KEY in the embedded database",
                    element[0].tok().and_then(Token::ident_name).unwrap_or("")
                )));
            }
        }
    }
    out.extend(rest);
    Ok(out)
}

/// ALTER TABLE: only ADD COLUMN needs a type rewrite; the rest passes through.
fn translate_alter_table(nodes: Vec<Node>, ctx: &mut Ctx) -> Result<Vec<Node>, SqlError> {
    if let Some(add) = nodes.iter().position(|n| n.is_word("add")) {
        let mut col = add + 1;
        if word(&nodes, col) == Some("column") {
            col += 1;
        }
        let constraint = ["constraint", "primary", "unique", "check", "foreign"]
            .iter()
            .any(|w| word(&nodes, col) == Some(w));
        if constraint {
            return Err(SqlError::unsupported(
                "ALTER TABLE ... ADD CONSTRAINT is not supported by the embedded database",
            ));
        }
        let mut out = rewrite(nodes[..col].to_vec(), ctx)?;
        out.extend(column_def(&nodes[col..], ctx)?);
        return Ok(out);
    }
    if nodes.iter().any(|n| n.is_word("type")) && nodes.iter().any(|n| n.is_word("alter")) {
        return Err(SqlError::unsupported(
            "ALTER COLUMN ... TYPE is not supported by the embedded database",
        ));
    }
    rewrite(nodes, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokenize;

    fn tr(sql: &str) -> Translated {
        translate(tokenize(sql).unwrap()).unwrap()
    }

    fn err(sql: &str) -> SqlError {
        translate(tokenize(sql).unwrap()).unwrap_err()
    }

    #[test]
    fn seed_query_translates_with_a_bool_hint() {
        let t = tr(
            r"SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\$' AS has_upgraded FROM pg_authid WHERE rolcanlogin",
        );
        assert_eq!(
            t.sql,
            r#"select rolname AS "rolname", rolpassword REGEXP '^SCRAM-SHA-256\$' as has_upgraded from pg_authid where rolcanlogin"#
        );
        assert_eq!(t.hints_prefix, vec![None, Some(types::BOOL)]);
        assert_eq!(t.verb, Verb::Select);
    }

    #[test]
    fn regex_family_and_ilike() {
        let t = tr(
            "select 1 from t where a ~* 'x' and b !~ 'y' and c !~* 'z' and d ilike 'q%' and e not ilike 'r'",
        );
        assert!(t.sql.contains("a MATCH 'x'"), "{}", t.sql);
        assert!(t.sql.contains("b NOT REGEXP 'y'"), "{}", t.sql);
        assert!(t.sql.contains("c NOT MATCH 'z'"), "{}", t.sql);
        assert!(t.sql.contains("d GLOB 'q%'"), "{}", t.sql);
        assert!(t.sql.contains("e not GLOB 'r'"), "{}", t.sql);
        // Prefix ~ stays bitwise NOT.
        assert!(tr("select ~5").sql.starts_with("select ~5"));
    }

    #[test]
    fn never_rewrites_inside_literals_or_identifiers() {
        let t = tr(r#"select 'a ~ b::int $1 current_user ilike', "x::int" from t"#);
        assert!(
            t.sql.contains(r"'a ~ b::int $1 current_user ilike'"),
            "{}",
            t.sql
        );
        assert!(t.sql.contains(r#""x::int""#), "{}", t.sql);
        assert_eq!(t.max_param, 0);
    }

    #[test]
    fn casts() {
        let t = tr(
            "select a::int, '1'::integer, (a+1)::text, f(x)::bool, $1::int8, x::varchar(3), CAST(y AS double precision) from t",
        );
        assert!(
            t.sql.contains("pgscram_cast(a, 23, -1) AS \"a\""),
            "{}",
            t.sql
        );
        assert!(
            t.sql.contains("pgscram_cast('1', 23, -1) AS \"int4\""),
            "{}",
            t.sql
        );
        assert!(
            t.sql.contains("pgscram_cast((a+1), 25, -1) AS \"text\""),
            "{}",
            t.sql
        );
        assert!(
            t.sql.contains("pgscram_cast(f(x), 16, -1) AS \"f\""),
            "{}",
            t.sql
        );
        assert!(t.sql.contains("pgscram_cast(?1, 20, -1)"), "{}", t.sql);
        assert!(t.sql.contains("pgscram_cast(x, 1043, 3)"), "{}", t.sql);
        assert!(
            t.sql.contains("pgscram_cast(y, 701, -1) AS \"y\""),
            "{}",
            t.sql
        );
        assert_eq!(t.param_types.get(&1), Some(&types::INT8));
        assert_eq!(
            t.hints_prefix,
            vec![
                Some(types::INT4),
                Some(types::INT4),
                Some(types::TEXT),
                Some(types::BOOL),
                Some(types::INT8),
                Some(types::VARCHAR),
                Some(types::FLOAT8)
            ]
        );
        // Chained and qualified.
        let t = tr("select t.a::text::int from t");
        assert!(
            t.sql
                .contains("pgscram_cast(pgscram_cast(t.a, 25, -1), 23, -1)"),
            "{}",
            t.sql
        );
        assert_eq!(
            err("select 1::regclass").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(err("select 1::nosuchtype").code, sqlstate::UNDEFINED_OBJECT);
        assert_eq!(err("select 1::int[]").code, sqlstate::FEATURE_NOT_SUPPORTED);
    }

    #[test]
    fn column_names_follow_postgres() {
        let t = tr(
            "select 1, count(*), a, t.b, x + 1, current_user, true, c as d, e f, *, now() from t",
        );
        assert!(t.sql.contains("1 AS \"?column?\""), "{}", t.sql);
        assert!(t.sql.contains("count(*) AS \"count\""), "{}", t.sql);
        assert!(t.sql.contains("t.b AS \"b\""), "{}", t.sql);
        assert!(t.sql.contains("x + 1 AS \"?column?\""), "{}", t.sql);
        assert!(
            t.sql.contains("pgscram_current_user() AS \"current_user\""),
            "{}",
            t.sql
        );
        assert!(t.sql.contains("true AS \"bool\""), "{}", t.sql);
        assert!(t.sql.contains("c as d,"), "{}", t.sql);
        assert!(t.sql.contains("e f,"), "{}", t.sql);
        assert!(t.sql.contains(", *,"), "{}", t.sql);
        assert!(t.sql.contains("now() AS \"now\""), "{}", t.sql);
        assert_eq!(t.hint(0, 12), Some(types::INT4));
        assert_eq!(t.hint(1, 12), Some(types::INT8));
        assert_eq!(t.hint(11, 12), Some(types::TIMESTAMPTZ));
        assert_eq!(t.hint(10, 12), None);
    }

    #[test]
    fn parameters_become_numbered() {
        let t = tr("select * from t where a = $2 and b = $1");
        assert!(t.sql.contains("a = ?2 and b = ?1"), "{}", t.sql);
        assert_eq!(t.max_param, 2);
    }

    #[test]
    fn catalog_qualifiers_are_dropped() {
        let t = tr("select * from pg_catalog.pg_roles join public.t on true");
        assert!(t.sql.contains("from pg_roles join t on true"), "{}", t.sql);
        let t = tr("select pg_catalog.version()");
        assert!(
            t.sql.contains("select version() AS \"version\""),
            "{}",
            t.sql
        );
    }

    #[test]
    fn create_table_maps_types() {
        let t = tr(
            "CREATE TABLE users (id serial PRIMARY KEY, name varchar(40) NOT NULL, ok boolean DEFAULT true, \
                    at timestamptz DEFAULT now(), n numeric(10,2), d double precision, b bytea, big bigint, \
                    c timestamp with time zone default current_timestamp, UNIQUE (name))",
        );
        assert_eq!(t.verb, Verb::Other("CREATE TABLE".into()));
        let s = &t.sql;
        assert!(s.contains("id INTEGER primary key AUTOINCREMENT"), "{s}");
        assert!(s.contains("name VARCHAR(40) not null"), "{s}");
        assert!(s.contains("ok BOOLEAN default true"), "{s}");
        assert!(s.contains("at TIMESTAMPTZ default (now())"), "{s}");
        assert!(s.contains("n NUMERIC(10)"), "{s}");
        assert!(s.contains("d DOUBLE PRECISION"), "{s}");
        assert!(s.contains("b BYTEA BLOB"), "{s}");
        assert!(s.contains("big BIGINT"), "{s}");
        assert!(s.contains("c TIMESTAMPTZ default (now())"), "{s}");
        assert!(s.contains("unique (name)"), "{s}");
        let t = tr("create table t (id bigint generated always as identity primary key, x int)");
        assert!(
            t.sql.contains("id INTEGER primary key AUTOINCREMENT"),
            "{}",
            t.sql
        );
        assert_eq!(
            err("create table t (id serial, x int)").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            err("create table t (x interval)").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
    }

    #[test]
    fn other_statements() {
        assert_eq!(tr("insert into t values (1)").verb, Verb::Insert);
        assert_eq!(tr("with x as (select 1) delete from t").verb, Verb::Delete);
        assert_eq!(
            tr("with recursive x(n) as (select 1) select * from x").verb,
            Verb::Select
        );
        let t = tr("insert into t (a) values ($1) returning id, a::text");
        assert!(
            t.sql
                .contains("returning id AS \"id\", pgscram_cast(a, 25, -1) AS \"a\""),
            "{}",
            t.sql
        );
        assert_eq!(t.hints_prefix, vec![None, Some(types::TEXT)]);
        let t = tr("truncate table t");
        assert_eq!(t.sql, "DELETE FROM t");
        assert_eq!(
            tr("drop table if exists t cascade").sql,
            "drop table if exists t"
        );
        assert_eq!(
            tr("alter table t add column c boolean").sql,
            "alter table t add column c BOOLEAN"
        );
        assert_eq!(
            err("copy t from stdin").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            err("select 1 from t where a similar to 'x'").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(err("select a ^ 2").code, sqlstate::UNDEFINED_FUNCTION);
    }
}
