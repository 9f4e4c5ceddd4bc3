//! SQL text helpers: quoting names and literals the way PostgreSQL's `quote_ident` and
//! `quote_literal` do, and reading one-dimensional array values from text output.
//!
//! Statements are built only from quoted pieces, so a role called `a"; DROP ROLE b; --`
//! is a name, never SQL.

use std::fmt;

/// Double-quotes an identifier, doubling embedded quotes. Always quotes, so case and
/// keywords are kept as written (`Alice` stays `Alice`, `user` is a name).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single-quotes a literal, doubling embedded quotes. Backslashes are doubled and the
/// literal written as `E'...'` when present, so the result means the same whatever
/// `standard_conforming_strings` says.
pub fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// A text-format array value that is not a one-dimensional array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayError(pub String);

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed array value: \"{}\"", self.0)
    }
}

impl std::error::Error for ArrayError {}

/// Reads `{a,"b c",NULL}` as `[Some("a"), Some("b c"), None]` (PostgreSQL's array
/// output: elements quoted when they hold special characters, `\` escapes inside
/// quotes, unquoted `NULL` for null).
pub fn parse_text_array(text: &str) -> Result<Vec<Option<String>>, ArrayError> {
    let bad = || ArrayError(text.to_owned());
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Ok(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let item = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or_else(bad)?),
                    Some(c) => value.push(c),
                    None => return Err(bad()),
                }
            }
            Some(value)
        } else {
            let mut value = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if matches!(c, '{' | '}' | '"') {
                    return Err(bad());
                }
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return Err(bad());
            }
            (!value.eq_ignore_ascii_case("NULL")).then_some(value)
        };
        items.push(item);
        match chars.next() {
            None => return Ok(items),
            Some(',') => {}
            Some(_) => return Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("alice"), "\"alice\"");
        assert_eq!(quote_ident("Alice"), "\"Alice\"");
        assert_eq!(
            quote_ident("a\"; DROP ROLE b; --"),
            "\"a\"\"; DROP ROLE b; --\""
        );
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(
            quote_literal("SCRAM-SHA-256$4096:abc"),
            "'SCRAM-SHA-256$4096:abc'"
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b'c"), "E'a\\\\b''c'");
    }

    #[test]
    fn arrays() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(parse_text_array("{}").unwrap(), vec![]);
        assert_eq!(parse_text_array("{all}").unwrap(), vec![s("all")]);
        assert_eq!(
            parse_text_array("{alice,\"bob smith\",+admins,NULL}").unwrap(),
            vec![s("alice"), s("bob smith"), s("+admins"), None]
        );
        assert_eq!(
            parse_text_array(r#"{"a\"b","c\\d"}"#).unwrap(),
            vec![s("a\"b"), s("c\\d")]
        );
        assert_eq!(parse_text_array("{\"NULL\"}").unwrap(), vec![s("NULL")]);
        for bad in ["", "all", "{a", "{\"a}", "{a,}", "{a\"b}", "{{a}}"] {
            assert!(parse_text_array(bad).is_err(), "{bad}");
        }
    }
}
