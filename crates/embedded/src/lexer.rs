//! A PostgreSQL-flavoured SQL tokenizer: the one piece every rewrite stands on.
//!
//! It knows string literals (`'..'`, `E'..'`, `$tag$..$tag$`), quoted identifiers,
//! nested `/* */` comments, `--` comments, `$n` parameters and PostgreSQL's rule for
//! multi-character operators, so that no later pass ever rewrites text inside a literal.
//! String literals are decoded here (E'' escapes applied, dollar quoting removed); the
//! renderer re-quotes them for SQLite.
//!
//! Errors never echo literal text: a literal can be a password.

use crate::error::SqlError;

/// The kinds of token the rewriters distinguish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An unquoted identifier or keyword, already lowercased (as PostgreSQL folds it).
    Ident(String),
    /// A `"quoted"` identifier, unescaped, case kept.
    Quoted(String),
    /// A string literal's value, decoded.
    Str(String),
    /// `X'..'`: a blob literal (kept as the hex digits).
    Hex(String),
    /// A numeric literal, as written.
    Number(String),
    /// `$n`.
    Param(u32),
    /// An operator (`=`, `<>`, `~*`, `||`, `::`, ...).
    Op(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semicolon,
    Dot,
    /// Text produced by a rewrite; rendered as is.
    Raw(String),
}

/// A token with what the renderer and error messages need around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Whitespace or a comment came before it in the source.
    pub space_before: bool,
    /// Byte offset in the source (for error positions).
    pub pos: usize,
    /// An unquoted identifier as written, when folding changed it (so the parser's
    /// error messages quote the user's spelling).
    pub written: Option<String>,
}

impl Token {
    /// True for the unquoted keyword or identifier `word` (lowercase).
    pub fn is_word(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(w) if w == word)
    }

    /// The identifier's name, quoted or not.
    pub fn ident_name(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(s) | Tok::Quoted(s) => Some(s),
            _ => None,
        }
    }

    /// The text to hand to SQLite for this token.
    pub fn render(&self, out: &mut String) {
        match &self.tok {
            Tok::Ident(s) | Tok::Number(s) | Tok::Op(s) | Tok::Raw(s) => out.push_str(s),
            Tok::Quoted(s) => quote_ident_into(s, out),
            Tok::Str(s) => quote_literal_into(s, out),
            Tok::Hex(s) => {
                out.push_str("X'");
                out.push_str(s);
                out.push('\'');
            }
            Tok::Param(n) => {
                out.push('?');
                out.push_str(&n.to_string());
            }
            Tok::LParen => out.push('('),
            Tok::RParen => out.push(')'),
            Tok::LBracket => out.push('['),
            Tok::RBracket => out.push(']'),
            Tok::Comma => out.push(','),
            Tok::Semicolon => out.push(';'),
            Tok::Dot => out.push('.'),
        }
    }

    /// A short description for syntax errors, never a literal's content.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Str(_) | Tok::Hex(_) => "a string literal".to_owned(),
            _ => {
                let mut s = String::new();
                self.render(&mut s);
                format!("\"{s}\"")
            }
        }
    }
}

/// Writes `s` as a SQL string literal.
pub(crate) fn quote_literal_into(s: &str, out: &mut String) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

/// Writes `s` as a double-quoted identifier.
pub(crate) fn quote_ident_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// `s` as a double-quoted identifier.
pub(crate) fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_ident_into(s, &mut out);
    out
}

/// PostgreSQL's largest parameter number (the protocol's Int16 count).
const MAX_PARAM: u32 = 65535;

const OP_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`?";

/// Splits `sql` into tokens (comments and whitespace dropped, their presence noted).
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    Lexer {
        src: sql,
        bytes: sql.as_bytes(),
        i: 0,
        out: Vec::new(),
        space: false,
    }
    .run()
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    i: usize,
    out: Vec<Token>,
    space: bool,
}

impl Lexer<'_> {
    fn run(mut self) -> Result<Vec<Token>, SqlError> {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            let start = self.i;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                    self.i += 1;
                    self.space = true;
                }
                b'-' if self.peek(1) == Some(b'-') => {
                    while self.i < self.bytes.len() && self.bytes[self.i] != b'\n' {
                        self.i += 1;
                    }
                    self.space = true;
                }
                b'/' if self.peek(1) == Some(b'*') => self.block_comment()?,
                b'\'' => {
                    let s = self.quoted_string(false)?;
                    self.push(Tok::Str(s), start);
                }
                b'e' | b'E' if self.peek(1) == Some(b'\'') => {
                    self.i += 1;
                    let s = self.quoted_string(true)?;
                    self.push(Tok::Str(s), start);
                }
                b'x' | b'X' if self.peek(1) == Some(b'\'') => {
                    self.i += 1;
                    let s = self.quoted_string(false)?;
                    if !s.bytes().all(|b| b.is_ascii_hexdigit()) || s.len() % 2 != 0 {
                        return Err(SqlError::syntax(format!(
                            "invalid hexadecimal string literal at position {}",
                            start + 1
                        )));
                    }
                    self.push(Tok::Hex(s), start);
                }
                b'b' | b'B' if self.peek(1) == Some(b'\'') => {
                    return Err(SqlError::unsupported(
                        "bit string literals are not supported by the embedded database",
                    ));
                }
                b'u' | b'U' if self.peek(1) == Some(b'&') && self.peek(2) == Some(b'\'') => {
                    return Err(SqlError::unsupported(
                        "U&'' Unicode escape strings are not supported by the embedded database",
                    ));
                }
                b'"' => {
                    let s = self.quoted_ident()?;
                    self.push(Tok::Quoted(s), start);
                }
                b'$' => self.dollar()?,
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
                b'(' => self.single(Tok::LParen),
                b')' => self.single(Tok::RParen),
                b'[' => self.single(Tok::LBracket),
                b']' => self.single(Tok::RBracket),
                b',' => self.single(Tok::Comma),
                b';' => self.single(Tok::Semicolon),
                b'.' => self.single(Tok::Dot),
                b':' if self.peek(1) == Some(b':') => {
                    self.i += 2;
                    self.push(Tok::Op("::".to_owned()), start);
                }
                b':' => self.single(Tok::Op(":".to_owned())),
                _ if OP_CHARS.contains(&b) => self.operator(),
                _ if is_ident_start(b) => self.ident(),
                _ => {
                    return Err(SqlError::syntax(format!(
                        "syntax error at or near \"{}\" (position {})",
                        self.src[start..].chars().next().unwrap_or(' '),
                        start + 1
                    )));
                }
            }
        }
        Ok(self.out)
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.i + ahead).copied()
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        self.out.push(Token {
            tok,
            space_before: std::mem::take(&mut self.space),
            pos,
            written: None,
        });
    }

    fn single(&mut self, tok: Tok) {
        let pos = self.i;
        self.i += 1;
        self.push(tok, pos);
    }

    fn block_comment(&mut self) -> Result<(), SqlError> {
        let start = self.i;
        let mut depth = 0usize;
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == b'/' && self.peek(1) == Some(b'*') {
                depth += 1;
                self.i += 2;
            } else if self.bytes[self.i] == b'*' && self.peek(1) == Some(b'/') {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    self.space = true;
                    return Ok(());
                }
            } else {
                self.i += 1;
            }
        }
        Err(SqlError::syntax(format!(
            "unterminated /* comment at position {}",
            start + 1
        )))
    }

    /// A '..' literal starting at the quote; `escapes` for E'' strings.
    fn quoted_string(&mut self, escapes: bool) -> Result<String, SqlError> {
        let start = self.i;
        self.i += 1;
        let mut value: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.bytes.get(self.i) else {
                return Err(SqlError::syntax(format!(
                    "unterminated quoted string at position {}",
                    start + 1
                )));
            };
            match b {
                b'\'' if self.peek(1) == Some(b'\'') => {
                    value.push(b'\'');
                    self.i += 2;
                }
                b'\'' => {
                    self.i += 1;
                    // SQL's adjacent-literal rule: 'a' <newline> 'b' is 'ab'.
                    if let Some(next) = self.continuation() {
                        self.i = next + 1;
                        continue;
                    }
                    break;
                }
                b'\\' if escapes => {
                    self.i += 1;
                    self.escape(&mut value, start)?;
                }
                _ => {
                    value.push(b);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(value)
            .map_err(|_| {
                SqlError::new(
                    crate::error::sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                    "invalid byte sequence for encoding \"UTF8\" in a string literal",
                )
            })
            .and_then(|s| {
                if s.contains('\0') {
                    Err(SqlError::new(
                        crate::error::sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                        "invalid byte sequence for encoding \"UTF8\": 0x00",
                    ))
                } else {
                    Ok(s)
                }
            })
    }

    /// After a closing quote: if only whitespace containing a newline separates it from
    /// another quote, returns that quote's index.
    fn continuation(&self) -> Option<usize> {
        let mut j = self.i;
        let mut newline = false;
        while let Some(&b) = self.bytes.get(j) {
            match b {
                b'\n' | b'\r' => newline = true,
                b' ' | b'\t' | b'\x0c' => {}
                b'\'' if newline => return Some(j),
                _ => return None,
            }
            j += 1;
        }
        None
    }

    /// One backslash escape of an E'' string; `self.i` is just past the backslash.
    fn escape(&mut self, value: &mut Vec<u8>, start: usize) -> Result<(), SqlError> {
        let Some(&b) = self.bytes.get(self.i) else {
            return Err(SqlError::syntax(format!(
                "unterminated quoted string at position {}",
                start + 1
            )));
        };
        self.i += 1;
        match b {
            b'b' => value.push(8),
            b'f' => value.push(12),
            b'n' => value.push(b'\n'),
            b'r' => value.push(b'\r'),
            b't' => value.push(b'\t'),
            b'0'..=b'7' => {
                let mut n = u32::from(b - b'0');
                for _ in 0..2 {
                    match self.bytes.get(self.i) {
                        Some(&d @ b'0'..=b'7') => {
                            n = n * 8 + u32::from(d - b'0');
                            self.i += 1;
                        }
                        _ => break,
                    }
                }
                value.push((n & 0xff) as u8);
            }
            b'x' => {
                let mut n = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match self
                        .bytes
                        .get(self.i)
                        .and_then(|d| (*d as char).to_digit(16))
                    {
                        Some(d) => {
                            n = n * 16 + d;
                            self.i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    value.push(b'x');
                } else {
                    value.push(n as u8);
                }
            }
            b'u' | b'U' => {
                let len = if b == b'u' { 4 } else { 8 };
                let hex = self
                    .src
                    .get(self.i..self.i + len)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let c = hex
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        SqlError::new(
                            crate::error::sqlstate::INVALID_ESCAPE_SEQUENCE,
                            "invalid Unicode escape in a string literal",
                        )
                    })?;
                self.i += len;
                let mut buf = [0u8; 4];
                value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            other => value.push(other),
        }
        Ok(())
    }

    fn quoted_ident(&mut self) -> Result<String, SqlError> {
        let start = self.i;
        self.i += 1;
        let mut value = String::new();
        loop {
            let rest = &self.src[self.i..];
            let Some(q) = rest.find('"') else {
                return Err(SqlError::syntax(format!(
                    "unterminated quoted identifier at position {}",
                    start + 1
                )));
            };
            value.push_str(&rest[..q]);
            self.i += q + 1;
            if self.peek(0) == Some(b'"') {
                value.push('"');
                self.i += 1;
            } else {
                break;
            }
        }
        if value.is_empty() {
            return Err(SqlError::syntax(format!(
                "zero-length delimited identifier at or near \"\"\"\" (position {})",
                start + 1
            )));
        }
        if value.contains('\0') {
            return Err(SqlError::syntax("identifiers cannot contain NUL"));
        }
        Ok(value)
    }

    /// `$n`, or a dollar-quoted string `$tag$...$tag$`.
    fn dollar(&mut self) -> Result<(), SqlError> {
        let start = self.i;
        let after = self.peek(1);
        if after.is_some_and(|b| b.is_ascii_digit()) {
            let mut j = self.i + 1;
            while j < self.bytes.len() && self.bytes[j].is_ascii_digit() {
                j += 1;
            }
            let n: u32 = self.src[self.i + 1..j].parse().unwrap_or(u32::MAX);
            if n == 0 || n > MAX_PARAM {
                return Err(SqlError::new(
                    crate::error::sqlstate::UNDEFINED_PARAMETER,
                    format!("there is no parameter ${}", &self.src[self.i + 1..j]),
                ));
            }
            self.i = j;
            self.push(Tok::Param(n), start);
            return Ok(());
        }
        // Dollar quote: $$ or $tag$ with tag = identifier without '$'.
        let mut j = self.i + 1;
        while j < self.bytes.len() && is_ident_cont(self.bytes[j]) && self.bytes[j] != b'$' {
            j += 1;
        }
        let tag_ok = j == self.i + 1
            || self
                .bytes
                .get(self.i + 1)
                .is_some_and(|&b| is_ident_start(b));
        if self.bytes.get(j) != Some(&b'$') || !tag_ok {
            return Err(SqlError::syntax(format!(
                "syntax error at or near \"$\" (position {})",
                start + 1
            )));
        }
        let delim = &self.src[self.i..=j];
        let body_start = j + 1;
        let Some(end) = self.src[body_start..].find(delim) else {
            return Err(SqlError::syntax(format!(
                "unterminated dollar-quoted string at position {}",
                start + 1
            )));
        };
        let body = self.src[body_start..body_start + end].to_owned();
        if body.contains('\0') {
            return Err(SqlError::new(
                crate::error::sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ));
        }
        self.i = body_start + end + delim.len();
        self.push(Tok::Str(body), start);
        Ok(())
    }

    fn number(&mut self) {
        let start = self.i;
        let b = self.bytes;
        let mut j = self.i;
        if b[j] == b'0' && matches!(b.get(j + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
            j += 2;
            while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b'_') {
                j += 1;
            }
        } else {
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'_') {
                j += 1;
            }
            if b.get(j) == Some(&b'.') && b.get(j + 1) != Some(&b'.') {
                j += 1;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'_') {
                    j += 1;
                }
            }
            if matches!(b.get(j), Some(b'e' | b'E')) {
                let mut k = j + 1;
                if matches!(b.get(k), Some(b'+' | b'-')) {
                    k += 1;
                }
                if b.get(k).is_some_and(|c| c.is_ascii_digit()) {
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
        }
        self.i = j;
        let text = self.src[start..j].to_owned();
        self.push(Tok::Number(text), start);
    }

    /// PostgreSQL's operator rule: the longest run of operator characters, cut before an
    /// embedded comment start, and a trailing `+`/`-` dropped unless the operator holds
    /// one of `~ ! @ # % ^ & | \` ?` (so `a=-1` is `=` then `-`).
    fn operator(&mut self) {
        let start = self.i;
        let b = self.bytes;
        let mut j = self.i;
        while j < b.len() && OP_CHARS.contains(&b[j]) {
            if j > start
                && ((b[j] == b'-' && b.get(j + 1) == Some(&b'-'))
                    || (b[j] == b'/' && b.get(j + 1) == Some(&b'*')))
            {
                break;
            }
            j += 1;
        }
        let mut text = &self.src[start..j];
        if text.len() > 1 && !text.bytes().any(|c| b"~!@#%^&|`?".contains(&c)) {
            while text.len() > 1 && (text.ends_with('+') || text.ends_with('-')) {
                text = &text[..text.len() - 1];
            }
        }
        self.i = start + text.len();
        let text = text.to_owned();
        self.push(Tok::Op(text), start);
    }

    fn ident(&mut self) {
        let start = self.i;
        let mut j = self.i;
        while j < self.bytes.len() && is_ident_cont(self.bytes[j]) {
            j += 1;
        }
        self.i = j;
        let written = &self.src[start..j];
        let text = written.to_ascii_lowercase();
        let changed = (text != written).then(|| written.to_owned());
        self.push(Tok::Ident(text), start);
        if let Some(last) = self.out.last_mut() {
            last.written = changed;
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// How deep parentheses may nest. The rewriters recurse per level, so this bounds their
/// stack use whatever a client sends (SQLite's own expression limit is 1000).
pub(crate) const MAX_NESTING: i32 = 200;

/// Overwrites the contents of string literals (they may hold a password) before the
/// tokens are dropped.
pub(crate) fn scrub(tokens: &mut [Token]) {
    use zeroize::Zeroize;
    for t in tokens {
        if let Tok::Str(s) | Tok::Raw(s) = &mut t.tok {
            s.zeroize();
        }
    }
}

/// Splits a token list into statements at `;` outside parentheses. Empty statements
/// (`;;`) are dropped, as PostgreSQL does.
pub(crate) fn split_statements(tokens: Vec<Token>) -> Result<Vec<Vec<Token>>, SqlError> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0i32;
    for t in tokens {
        match t.tok {
            Tok::LParen => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(SqlError::new(
                        crate::error::sqlstate::STATEMENT_TOO_COMPLEX,
                        format!(
                            "statement too complex: parentheses nested more than {MAX_NESTING} deep"
                        ),
                    ));
                }
            }
            Tok::RParen => {
                depth -= 1;
                if depth < 0 {
                    return Err(SqlError::syntax(format!(
                        "syntax error at or near \")\" (position {})",
                        t.pos + 1
                    )));
                }
            }
            Tok::Semicolon if depth == 0 => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(t);
    }
    if depth != 0 {
        return Err(SqlError::syntax(
            "syntax error at end of input: unbalanced parentheses",
        ));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Renders tokens back to SQL for SQLite.
pub(crate) fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 && (t.space_before || needs_space(&tokens[i - 1], t)) {
            out.push(' ');
        }
        t.render(&mut out);
    }
    out
}

/// Two tokens that would merge if written together (`a` `b`, `-` `-`).
fn needs_space(a: &Token, b: &Token) -> bool {
    let wordish = |t: &Token| {
        matches!(
            t.tok,
            Tok::Ident(_) | Tok::Number(_) | Tok::Raw(_) | Tok::Param(_) | Tok::Quoted(_)
        )
    };
    (wordish(a) && wordish(b)) || (matches!(a.tok, Tok::Op(_)) && matches!(b.tok, Tok::Op(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<Tok> {
        tokenize(sql).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn identifiers_fold_to_lowercase_but_quoted_keep_case() {
        assert_eq!(
            kinds("SELECT \"MixedCase\", Plain"),
            vec![
                Tok::Ident("select".into()),
                Tok::Quoted("MixedCase".into()),
                Tok::Comma,
                Tok::Ident("plain".into())
            ]
        );
    }

    #[test]
    fn strings_are_decoded_and_comments_dropped() {
        assert_eq!(
            kinds(
                "'it''s' /* a /* nested */ comment */ -- tail\n E'a\\nb\\x41\\u00e9' $$x'y$$ $t$a$$b$t$"
            ),
            vec![
                Tok::Str("it's".into()),
                Tok::Str("a\nbA\u{e9}".into()),
                Tok::Str("x'y".into()),
                Tok::Str("a$$b".into())
            ]
        );
    }

    #[test]
    fn backslash_is_literal_in_standard_strings() {
        assert_eq!(
            kinds(r"'^SCRAM-SHA-256\$'"),
            vec![Tok::Str(r"^SCRAM-SHA-256\$".into())]
        );
    }

    #[test]
    fn adjacent_literals_across_a_newline_concatenate() {
        assert_eq!(kinds("'a'\n  'b'"), vec![Tok::Str("ab".into())]);
        // Without a newline they are two tokens (and a syntax error later).
        assert_eq!(kinds("'a' 'b'").len(), 2);
    }

    #[test]
    fn parameters_and_operators() {
        assert_eq!(
            kinds("$1::int4 !~* a||b <> -1 a=-1"),
            vec![
                Tok::Param(1),
                Tok::Op("::".into()),
                Tok::Ident("int4".into()),
                Tok::Op("!~*".into()),
                Tok::Ident("a".into()),
                Tok::Op("||".into()),
                Tok::Ident("b".into()),
                Tok::Op("<>".into()),
                Tok::Op("-".into()),
                Tok::Number("1".into()),
                Tok::Ident("a".into()),
                Tok::Op("=".into()),
                Tok::Op("-".into()),
                Tok::Number("1".into()),
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1 1.5 .5 1e10 2.5E-3 0x1F 1_000"),
            ["1", "1.5", ".5", "1e10", "2.5E-3", "0x1F", "1_000"]
                .iter()
                .map(|s| Tok::Number((*s).into()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn errors_do_not_echo_literals() {
        for sql in ["'secret", "E'secret\\", "$$secret", "\"secret", "/* secret"] {
            let e = tokenize(sql).unwrap_err();
            assert!(!e.message.contains("secret"), "{sql}: {}", e.message);
            assert_eq!(e.code.as_str(), "42601");
        }
        assert!(tokenize("$0").is_err());
        assert!(tokenize("$70000").is_err());
        assert!(tokenize("\"\"").is_err());
        assert!(tokenize("'a\\000'").is_ok());
        assert!(tokenize("E'a\\000'").is_err());
    }

    #[test]
    fn statements_split_outside_parentheses_only() {
        let parts =
            split_statements(tokenize("select 1; ;select ';' ; select (1)").unwrap()).unwrap();
        assert_eq!(parts.len(), 3);
        assert!(split_statements(tokenize("select (1").unwrap()).is_err());
        assert!(split_statements(tokenize("select 1)").unwrap()).is_err());
        let deep = format!("select {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = split_statements(tokenize(&deep).unwrap()).unwrap_err();
        assert_eq!(e.code, crate::error::sqlstate::STATEMENT_TOO_COMPLEX);
    }

    #[test]
    fn scrub_clears_literals() {
        let mut toks = tokenize("alter role a password 'hunter2'").unwrap();
        scrub(&mut toks);
        assert_eq!(toks[4].tok, Tok::Str(String::new()));
    }

    #[test]
    fn render_requotes_literals_and_identifiers() {
        let sql = render(&tokenize("SELECT E'it\\'s', \"a\"\"b\", $2, x.y").unwrap());
        assert_eq!(sql, "select 'it''s', \"a\"\"b\", ?2, x.y");
    }
}
