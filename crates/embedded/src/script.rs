//! A query string as commands: sqlparser's PostgreSQL tokenizer and parser read the
//! whole string (as PostgreSQL's parser does: a syntax error anywhere means nothing
//! runs), one [`Command`] per statement.
//!
//! Three PostgreSQL forms sqlparser 0.64 does not parse are read here, narrowly, from
//! sqlparser's own tokens, and given sqlparser's nodes where one exists:
//! - `CREATE USER name [options]`: sqlparser reads Snowflake's `CREATE USER`; PostgreSQL's
//!   is `CREATE ROLE` with LOGIN by default, so [`Parser::parse_create_role`] reads it.
//! - `ALTER GROUP g ADD|DROP USER a, ...`: no node; [`Command::AlterGroup`].
//! - `RESET TIME ZONE`: becomes sqlparser's `RESET timezone`.
//! - A role's two passwords (the spelling proposed for PostgreSQL on pgsql-hackers):
//!   `ALTER ROLE r ADD FIRST|SECOND PASSWORD 'p' [VALID UNTIL 't']`,
//!   `ALTER ROLE r DROP FIRST|SECOND|ALL PASSWORD[S]`, and our
//!   `ALTER ROLE r FIRST|SECOND PASSWORD VALID UNTIL 't'`; [`Command::Passwords`].
//!
//! In role statements, PostgreSQL's noise word `ENCRYPTED` (before `PASSWORD`) and the
//! obsolete `SYSID n` (a NOTICE) are dropped from the tokens before sqlparser reads
//! them; `UNENCRYPTED PASSWORD` is refused as PostgreSQL refuses it.
//!
//! A password can sit in a role statement: syntax errors never quote a literal, and
//! the tokens and string values of role statements are zeroized once read.

use sqlparser::ast::{Expr, Ident, ObjectName, Reset, ResetStatement, RoleKeyword, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Notice, SqlError, sqlstate};

/// How deep sqlparser may recurse (nested expressions and subqueries).
const RECURSION_LIMIT: usize = 200;

/// One statement of a query string.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    /// A statement as sqlparser's tree.
    Sql(Box<Statement>),
    /// `ALTER GROUP group ADD|DROP USER users`: membership, reported as `ALTER ROLE`.
    AlterGroup {
        /// The group (role) whose members change.
        group: Ident,
        /// `ADD` (true) or `DROP`.
        add: bool,
        /// The roles added or dropped.
        users: Vec<Ident>,
    },
    /// `ALTER ROLE|USER role ...` on one of the role's two passwords.
    Passwords {
        /// The role whose passwords change.
        role: Ident,
        /// What changes.
        change: PasswordCommand,
    },
}

/// Which of a role's two passwords: the first is the one set first (the older, once a
/// second is added), the second the newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    First,
    Second,
}

/// A change to one of a role's passwords: as written (`T` the time's text), and once
/// the time is read (`T` a timestamp, what DDL applies).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PasswordCommand<T = String> {
    /// `ADD FIRST|SECOND PASSWORD 'text' [VALID UNTIL 'time']`.
    Add {
        which: Which,
        password: Zeroizing<String>,
        valid_until: Option<T>,
    },
    /// `DROP FIRST|SECOND PASSWORD`, or `DROP ALL PASSWORDS` (`None`).
    Drop(Option<Which>),
    /// `FIRST|SECOND PASSWORD VALID UNTIL 'time'`.
    ValidUntil { which: Which, until: T },
}

impl<T: std::fmt::Display + std::fmt::Debug> std::fmt::Debug for PasswordCommand<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordCommand::Add {
                which, valid_until, ..
            } => write!(f, "Add({which:?}, <redacted>, {valid_until:?})"),
            PasswordCommand::Drop(which) => write!(f, "Drop({which:?})"),
            PasswordCommand::ValidUntil { which, until } => {
                write!(f, "ValidUntil({which:?}, {until})")
            }
        }
    }
}

impl Command {
    /// The sqlparser statement, unless this is one of the forms read here.
    pub fn statement(&self) -> Option<&Statement> {
        match self {
            Command::Sql(s) => Some(s),
            Command::AlterGroup { .. } | Command::Passwords { .. } => None,
        }
    }

    /// The sqlparser statement, mutable (the tree walker rewrites it in place).
    pub fn statement_mut(&mut self) -> Option<&mut Statement> {
        match self {
            Command::Sql(s) => Some(s),
            Command::AlterGroup { .. } | Command::Passwords { .. } => None,
        }
    }

    /// Whether the statement may carry a password (CREATE/ALTER ROLE).
    fn may_hold_secret(&self) -> bool {
        matches!(
            self.statement(),
            Some(Statement::CreateRole(_) | Statement::AlterRole { .. })
        )
    }
}

impl Drop for Command {
    /// A role statement's password literal is overwritten before the tree is freed.
    fn drop(&mut self) {
        if self.may_hold_secret()
            && let Command::Sql(stmt) = self
        {
            scrub(stmt);
        }
    }
}

/// A command and the notices reading it produced (`SYSID`).
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The statement.
    pub command: Command,
    /// Notices to send before it runs.
    pub notices: Vec<Notice>,
}

/// Parses a query string into its statements (empty ones, `;;`, are skipped).
pub(crate) fn parse(sql: &str) -> Result<Vec<Parsed>, SqlError> {
    let dialect = PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| syntax_error(&ParserError::TokenizerError(e.message)))?;
    let mut notices = match role_noise(&mut tokens) {
        Ok(n) => n,
        Err(e) => {
            scrub_tokens(tokens);
            return Err(e);
        }
    };
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let result = commands(&mut parser);
    scrub_tokens(parser.into_tokens());
    let commands = result.map_err(|e| syntax_error(&e))?;
    Ok(commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Parsed {
            command,
            notices: notices
                .iter_mut()
                .filter(|(n, _)| *n == i)
                .map(|(_, notice)| std::mem::replace(notice, Notice::plain("")))
                .collect(),
        })
        .collect())
}

fn commands(p: &mut Parser<'_>) -> Result<Vec<Command>, ParserError> {
    let mut out = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token_ref().token == Token::EOF {
            return Ok(out);
        }
        out.push(command(p)?);
        if !p.consume_token(&Token::SemiColon) && p.peek_token_ref().token != Token::EOF {
            return Err(ParserError::ParserError(format!(
                "Expected: end of statement, found: {}",
                p.peek_token_ref().token
            )));
        }
    }
}

/// The unquoted word `n` tokens ahead, lowercased.
fn word_at(p: &Parser<'_>, n: usize) -> Option<String> {
    match &p.peek_nth_token_ref(n).token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Whether the tokens ahead are `ALTER ROLE|USER name` and a change to one of its
/// passwords (no other ALTER ROLE form has these words after the name).
fn is_password_command(p: &Parser<'_>) -> bool {
    let word = |n| word_at(p, n);
    matches!(word(0).as_deref(), Some("alter"))
        && matches!(word(1).as_deref(), Some("role" | "user"))
        && matches!(p.peek_nth_token_ref(2).token, Token::Word(_))
        && matches!(
            (word(3).as_deref(), word(4).as_deref()),
            (Some("add" | "drop"), Some("first" | "second" | "all"))
                | (Some("first" | "second"), Some("password"))
        )
}

/// Reads `ALTER ROLE|USER name` and what follows it (see [`is_password_command`]).
fn password_command(p: &mut Parser<'_>) -> Result<Command, ParserError> {
    p.next_token();
    p.next_token();
    let role = p.parse_identifier()?;
    let verb = word_at(p, 0);
    if matches!(verb.as_deref(), Some("add" | "drop")) {
        p.next_token();
    }
    let which = match word_at(p, 0).as_deref() {
        Some("first") => Some(Which::First),
        Some("second") => Some(Which::Second),
        Some("all") if verb.as_deref() == Some("drop") => None,
        _ => return expected("FIRST, SECOND or ALL", p),
    };
    p.next_token();
    let keyword = word_at(p, 0);
    if !matches!(keyword.as_deref(), Some("password" | "passwords")) {
        return expected("PASSWORD", p);
    }
    p.next_token();
    let valid_until = |p: &mut Parser<'_>| -> Result<Option<String>, ParserError> {
        if word_at(p, 0).as_deref() != Some("valid") {
            return Ok(None);
        }
        p.next_token();
        if !p.parse_keyword(Keyword::UNTIL) {
            return expected("UNTIL", p);
        }
        p.parse_literal_string().map(Some)
    };
    let change = match (verb.as_deref(), which) {
        (Some("add"), Some(which)) => {
            let password = Zeroizing::new(p.parse_literal_string()?);
            PasswordCommand::Add {
                which,
                password,
                valid_until: valid_until(p)?,
            }
        }
        (Some("drop"), which) => PasswordCommand::Drop(which),
        (_, Some(which)) => match valid_until(p)? {
            Some(until) => PasswordCommand::ValidUntil { which, until },
            None => return expected("VALID UNTIL", p),
        },
        (_, None) => return expected("FIRST or SECOND", p),
    };
    Ok(Command::Passwords { role, change })
}

/// The unquoted keyword `n` tokens ahead.
fn keyword_at(p: &Parser<'_>, n: usize) -> Option<Keyword> {
    match &p.peek_nth_token_ref(n).token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

fn command(p: &mut Parser<'_>) -> Result<Command, ParserError> {
    if is_password_command(p) {
        return password_command(p);
    }
    let kw = |n| keyword_at(p, n);
    match (kw(0), kw(1), kw(2)) {
        (Some(Keyword::CREATE), Some(Keyword::USER), k) if k != Some(Keyword::MAPPING) => {
            p.next_token();
            p.next_token();
            let mut role = p.parse_create_role(RoleKeyword::Role)?;
            role.login.get_or_insert(true);
            Ok(Command::Sql(Box::new(Statement::CreateRole(role))))
        }
        (Some(Keyword::ALTER), Some(Keyword::GROUP), _) => {
            p.next_token();
            p.next_token();
            let group = p.parse_identifier()?;
            let add = match p.parse_one_of_keywords(&[Keyword::ADD, Keyword::DROP]) {
                Some(k) => k == Keyword::ADD,
                None => return expected("ADD or DROP", p),
            };
            if !p.parse_keyword(Keyword::USER) {
                return expected("USER", p);
            }
            let users = p.parse_comma_separated(Parser::parse_identifier)?;
            Ok(Command::AlterGroup { group, add, users })
        }
        (Some(Keyword::RESET), Some(Keyword::TIME), Some(Keyword::ZONE)) => {
            for _ in 0..3 {
                p.next_token();
            }
            Ok(Command::Sql(Box::new(Statement::Reset(ResetStatement {
                reset: Reset::ConfigurationParameter(ObjectName::from(vec![Ident::new(
                    "timezone",
                )])),
            }))))
        }
        _ => Ok(Command::Sql(Box::new(p.parse_statement()?))),
    }
}

fn expected<T>(what: &str, p: &Parser<'_>) -> Result<T, ParserError> {
    Err(ParserError::ParserError(format!(
        "Expected: {what}, found: {}",
        p.peek_token_ref().token
    )))
}

/// Drops `ENCRYPTED` (before `PASSWORD`) and `SYSID n` from role statements, refuses
/// `UNENCRYPTED`. Returns the SYSID notices with the index of their statement.
fn role_noise(tokens: &mut Vec<TokenWithSpan>) -> Result<Vec<(usize, Notice)>, SqlError> {
    let mut notices = Vec::new();
    let mut keep = vec![true; tokens.len()];
    // Significant tokens of the current statement: (index in `tokens`).
    let mut stmt: Vec<usize> = Vec::new();
    let mut ordinal = 0;
    let word = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    };
    for i in 0..tokens.len() {
        match &tokens[i].token {
            Token::Whitespace(_) => continue,
            Token::SemiColon => {
                if !stmt.is_empty() {
                    ordinal += 1;
                }
                stmt.clear();
                continue;
            }
            _ => {}
        }
        stmt.push(i);
        let is_role_stmt = stmt.len() >= 4
            && matches!(word(&tokens[stmt[0]]).as_deref(), Some("create" | "alter"))
            && matches!(
                word(&tokens[stmt[1]]).as_deref(),
                Some("role" | "user" | "group")
            );
        if !is_role_stmt {
            continue;
        }
        // An option position: not a name in a role list (`IN ROLE a, encrypted`).
        let prev = &tokens[stmt[stmt.len() - 2]];
        let in_list = prev.token == Token::Comma
            || matches!(
                word(prev).as_deref(),
                Some("role" | "user" | "admin" | "group")
            );
        if in_list {
            continue;
        }
        let next = tokens[i + 1..]
            .iter()
            .position(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|j| i + 1 + j);
        match word(&tokens[i]).as_deref() {
            Some("encrypted")
                if next.and_then(|j| word(&tokens[j])).as_deref() == Some("password") =>
            {
                keep[i] = false;
            }
            Some("unencrypted") => {
                return Err(
                    SqlError::unsupported("UNENCRYPTED PASSWORD is no longer supported").with_hint(
                        "Remove UNENCRYPTED to store the password in encrypted form instead.",
                    ),
                );
            }
            Some("sysid")
                if word(&tokens[stmt[0]]).as_deref() == Some("create")
                    && next.is_some_and(|j| matches!(tokens[j].token, Token::Number(..))) =>
            {
                keep[i] = false;
                if let Some(j) = next {
                    keep[j] = false;
                }
                notices.push((ordinal, Notice::plain("SYSID can no longer be specified")));
            }
            _ => {}
        }
    }
    let mut i = 0;
    tokens.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    Ok(notices)
}

/// Overwrites the text of string tokens (a role statement's password).
fn scrub_tokens(mut tokens: Vec<TokenWithSpan>) {
    for t in &mut tokens {
        match &mut t.token {
            Token::SingleQuotedString(s)
            | Token::EscapedStringLiteral(s)
            | Token::NationalStringLiteral(s)
            | Token::UnicodeStringLiteral(s)
            | Token::HexStringLiteral(s) => s.zeroize(),
            Token::DollarQuotedString(d) => d.value.zeroize(),
            _ => {}
        }
    }
}

/// Overwrites every string literal in a statement.
pub(crate) fn scrub(stmt: &mut Statement) {
    use sqlparser::ast::Value;
    let _ = sqlparser::ast::visit_expressions_mut(stmt, |e| {
        if let Expr::Value(v) = e {
            match &mut v.value {
                Value::SingleQuotedString(s)
                | Value::EscapedStringLiteral(s)
                | Value::NationalStringLiteral(s)
                | Value::UnicodeStringLiteral(s)
                | Value::HexStringLiteral(s) => s.zeroize(),
                Value::DollarQuotedString(d) => d.value.zeroize(),
                _ => {}
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// PostgreSQL's wording for a parser error: `syntax error at or near "x"`, from
/// sqlparser's `Expected: .., found: x at Line..`. A string literal is never quoted
/// (it can be a password).
pub(crate) fn syntax_error(e: &ParserError) -> SqlError {
    let text = e.to_string();
    if text.contains("recursion limit") {
        return SqlError::new(
            sqlstate::STATEMENT_TOO_COMPLEX,
            "stack depth limit exceeded",
        );
    }
    if text.contains("Found multiple") {
        return SqlError::syntax("conflicting or redundant options");
    }
    let text = text.trim_start_matches("sql parser error: ");
    let text = text.split(" at Line:").next().unwrap_or(text).trim();
    match text.split_once("found: ") {
        Some((_, "EOF")) => SqlError::syntax("syntax error at end of input"),
        Some((_, near)) if is_literal(near) => {
            SqlError::syntax("syntax error at or near a string literal")
        }
        Some((_, near)) => SqlError::syntax(format!("syntax error at or near \"{near}\"")),
        None if text.contains(['\'', '$']) => SqlError::syntax("syntax error"),
        None => SqlError::syntax(format!("syntax error: {text}")),
    }
}

/// Whether a token as sqlparser prints it is a string literal.
fn is_literal(token: &str) -> bool {
    let t = token.trim_start_matches(['E', 'e', 'N', 'n', 'X', 'x', 'B', 'b', 'U', 'u', '&']);
    t.starts_with('\'') || t.starts_with('$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Parsed {
        let mut v = parse(sql).unwrap();
        assert_eq!(v.len(), 1, "{sql}");
        v.pop().unwrap()
    }

    fn printed(sql: &str) -> String {
        match &one(sql).command {
            Command::Sql(s) => s.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn statements_split_and_empty_ones_skip() {
        assert_eq!(
            parse("select 1; ;select ';' ; select (1)").unwrap().len(),
            3
        );
        assert!(parse(" ; -- nothing\n").unwrap().is_empty());
        assert!(parse("select (1").is_err());
        assert!(parse("select 1)").is_err());
    }

    #[test]
    fn a_syntax_error_anywhere_fails_the_whole_string() {
        let e = parse("CREATE ROLE a; garbage").unwrap_err();
        assert_eq!(e.message, "syntax error at or near \"garbage\"");
    }

    #[test]
    fn postgres_forms_sqlparser_lacks() {
        assert_eq!(printed("CREATE USER u"), "CREATE ROLE u LOGIN");
        assert_eq!(printed("create user u nologin"), "CREATE ROLE u NOLOGIN");
        assert_eq!(
            printed("CREATE USER u ENCRYPTED PASSWORD 'x' IN ROLE a"),
            "CREATE ROLE u LOGIN PASSWORD 'x' IN ROLE a"
        );
        assert_eq!(printed("RESET TIME ZONE"), "RESET timezone");
        assert!(matches!(
            one("ALTER GROUP g DROP USER a, b").command,
            Command::AlterGroup { add: false, ref users, .. } if users.len() == 2
        ));
        let p = one("CREATE ROLE r SYSID 42 LOGIN");
        assert_eq!(p.notices[0].message, "SYSID can no longer be specified");
        assert!(printed("CREATE USER MAPPING FOR u SERVER s").contains("MAPPING"));
        // A role named like a noise word keeps its name.
        assert_eq!(
            printed("CREATE ROLE encrypted IN ROLE a, encrypted"),
            "CREATE ROLE encrypted IN ROLE a, encrypted"
        );
    }

    #[test]
    fn a_roles_two_passwords() {
        let change = |sql: &str| match one(sql).command {
            Command::Passwords {
                ref role,
                ref change,
            } => (role.value.clone(), change.clone()),
            ref other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(
            change("ALTER ROLE app ADD SECOND PASSWORD 'new' VALID UNTIL '2030-01-01'"),
            (
                "app".into(),
                PasswordCommand::Add {
                    which: Which::Second,
                    password: Zeroizing::new("new".into()),
                    valid_until: Some("2030-01-01".into()),
                }
            )
        );
        assert_eq!(
            change("alter user \"App\" add first encrypted password 'x'").1,
            PasswordCommand::Add {
                which: Which::First,
                password: Zeroizing::new("x".into()),
                valid_until: None,
            }
        );
        assert_eq!(
            change("ALTER ROLE app DROP FIRST PASSWORD").1,
            PasswordCommand::Drop(Some(Which::First))
        );
        assert_eq!(
            change("ALTER ROLE app DROP ALL PASSWORDS").1,
            PasswordCommand::Drop(None)
        );
        assert_eq!(
            change("ALTER ROLE app FIRST PASSWORD VALID UNTIL 'infinity'").1,
            PasswordCommand::ValidUntil {
                which: Which::First,
                until: "infinity".into()
            }
        );
        for bad in [
            "ALTER ROLE app ADD ALL PASSWORD 'x'",
            "ALTER ROLE app ADD SECOND PASSWORD",
            "ALTER ROLE app FIRST PASSWORD 'x'",
            "ALTER ROLE app DROP SECOND",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Other ALTER ROLE forms are untouched.
        assert!(matches!(
            one("ALTER ROLE app PASSWORD 'x'").command,
            Command::Sql(_)
        ));
    }

    #[test]
    fn sysid_notice_belongs_to_its_statement() {
        let v = parse("SELECT 1;; CREATE ROLE r SYSID 1").unwrap();
        assert!(v[0].notices.is_empty());
        assert_eq!(v[1].notices.len(), 1);
    }

    #[test]
    fn errors_never_quote_literals() {
        for sql in [
            "ALTER ROLE a PASSWORD 'hunter2' 'again'",
            "CREATE ROLE a PASSWORD 'hunter2' PASSWORD 'hunter2'",
            "CREATE ROLE a PASSWORD 'hunter2' garbage",
            "CREATE ROLE a PASSWORD 'hunter2' E'hunter2'",
            "CREATE ROLE a PASSWORD $$hunter2$$ $$hunter2$$",
            "SELECT 'hunter2",
        ] {
            let e = parse(sql).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{sql}: {}", e.message);
            assert_eq!(e.code, sqlstate::SYNTAX_ERROR, "{sql}");
        }
        assert_eq!(
            parse("create role a login nologin").unwrap_err().message,
            "conflicting or redundant options"
        );
        assert_eq!(
            parse("create role a unencrypted password 'x'")
                .unwrap_err()
                .code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
    }

    #[test]
    fn scrub_clears_password_literals() {
        let mut p = one("alter role a password 'hunter2'");
        let Command::Sql(stmt) = &mut p.command else {
            panic!()
        };
        scrub(stmt);
        assert!(!stmt.to_string().contains("hunter2"));
    }
}
