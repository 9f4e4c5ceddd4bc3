//! Configuration files in postgresql.conf's syntax: `name = value` lines (the `=` is
//! optional), `#` comments, values bare or in single quotes (`''` or `\'` for a quote),
//! and `include` / `include_if_exists` directives relative to the including file.
//!
//! Stricter than PostgreSQL: a file with any error is refused whole (PostgreSQL applies
//! the lines it could read), so a reload never leaves a half-applied configuration.

use std::path::{Path, PathBuf};

use super::{SettingError, Settings};

/// One `name = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The setting's name, lower-cased as PostgreSQL folds it.
    pub name: String,
    /// The value with quotes removed.
    pub value: String,
    /// The file and line it came from, for error messages.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

/// Why a configuration file was refused: always names the file, and the line when one
/// is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file at fault.
    pub file: PathBuf,
    /// The line at fault, if one is.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{} in file \"{}\" line {line}",
                self.message,
                self.file.display()
            ),
            None => write!(f, "{}: \"{}\"", self.message, self.file.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// How deep includes may nest (PostgreSQL's limit too).
const MAX_DEPTH: usize = 10;
/// The most bytes read for one configuration, includes and all.
const MAX_BYTES: usize = 4 << 20;

/// Reads `path` (and what it includes) into entries, in file order.
pub fn read(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    let mut budget = MAX_BYTES;
    read_into(path, 0, &mut budget, &mut entries)?;
    Ok(entries)
}

/// Applies `entries` to `settings` in order (a later line wins), then `validate`s. Any
/// error names the entry's file and line.
pub fn apply(settings: &mut Settings, entries: &[Entry]) -> Result<(), ConfigError> {
    for entry in entries {
        settings
            .set(&entry.name, &entry.value)
            .map_err(|e| ConfigError {
                file: entry.file.clone(),
                line: Some(entry.line),
                message: e.to_string(),
            })?;
    }
    settings.validate().map_err(|e: SettingError| ConfigError {
        file: entries
            .last()
            .map_or_else(PathBuf::new, |entry| entry.file.clone()),
        line: None,
        message: e.to_string(),
    })
}

fn read_into(
    path: &Path,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<Entry>,
) -> Result<(), ConfigError> {
    let error = |line: Option<usize>, message: String| ConfigError {
        file: path.to_owned(),
        line,
        message,
    };
    if depth > MAX_DEPTH {
        return Err(error(
            None,
            "could not open configuration file: maximum nesting depth exceeded".to_owned(),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(None, format!("could not open configuration file: {e}")))?;
    *budget = budget
        .checked_sub(text.len())
        .ok_or_else(|| error(None, "configuration files are too large".to_owned()))?;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let Some((name, value)) = parse_line(raw).map_err(|m| error(Some(line), m))? else {
            continue;
        };
        match name.as_str() {
            "include" | "include_if_exists" => {
                let target = relative_to(path, &value);
                if name == "include_if_exists" && !target.exists() {
                    continue;
                }
                read_into(&target, depth + 1, budget, out)?;
            }
            "include_dir" => {
                return Err(error(
                    Some(line),
                    "include_dir is not supported; use include".to_owned(),
                ));
            }
            _ => out.push(Entry {
                name,
                value,
                file: path.to_owned(),
                line,
            }),
        }
    }
    Ok(())
}

fn relative_to(including: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    if target.is_absolute() {
        target.to_owned()
    } else {
        including
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(target)
    }
}

/// One line: `None` for a blank or comment line.
fn parse_line(raw: &str) -> Result<Option<(String, String)>, String> {
    let text = raw.trim_start();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    if name_end == 0 {
        return Err(syntax_error(text));
    }
    let name = text[..name_end].to_ascii_lowercase();
    let mut rest = text[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    let (value, tail) = if let Some(quoted) = rest.strip_prefix('\'') {
        quoted_value(quoted).ok_or_else(|| "unterminated quoted string".to_owned())?
    } else {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '#')
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(syntax_error(rest));
        }
        (rest[..end].to_owned(), &rest[end..])
    };
    let tail = tail.trim_start();
    if !(tail.is_empty() || tail.starts_with('#')) {
        return Err(syntax_error(tail));
    }
    Ok(Some((name, value)))
}

fn syntax_error(near: &str) -> String {
    let token: String = near
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .take(40)
        .collect();
    format!("syntax error near token \"{token}\"")
}

/// The body of a single-quoted value (after the opening quote) and what follows it.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if matches!(chars.peek(), Some((_, '\''))) => {
                chars.next();
                value.push('\'');
            }
            '\'' => return Some((value, &text[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                value.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            }
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pgscram-conf-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_postgresql_conf_syntax() {
        let dir = temp_dir("syntax");
        write(&dir, "extra.conf", "max_connections 7\n");
        let main = write(
            &dir,
            "main.conf",
            "# comment\n\
             \n\
             Port = 6543          # trailing comment\n\
             authentication_timeout='30s'\n\
             audit_log = 'it''s.log'\n\
             include 'extra.conf'\n\
             include_if_exists 'missing.conf'\n",
        );
        let entries = read(&main).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            names,
            vec![
                ("port", "6543", 3),
                ("authentication_timeout", "30s", 4),
                ("audit_log", "it's.log", 5),
                ("max_connections", "7", 1),
            ]
        );
        let mut settings = Settings::default();
        apply(&mut settings, &entries).unwrap();
        assert_eq!(settings.max_connections, 7);
        assert_eq!(settings.listen[0].port(), 6543);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = temp_dir("errors");
        let bad = write(&dir, "bad.conf", "port = 1\nmax_connections = = 3\n");
        let e = read(&bad).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("bad.conf\" line 2"), "{e}");

        let unknown = write(&dir, "unknown.conf", "\n\nmax_conections = 3\n");
        let entries = read(&unknown).unwrap();
        let mut settings = Settings::default();
        let e = apply(&mut settings, &entries).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "unrecognized configuration parameter \"max_conections\" in file \"{}\" line 3",
                unknown.display()
            )
        );
        let unterminated = write(&dir, "quote.conf", "audit_log = 'x\n");
        assert_eq!(read(&unterminated).unwrap_err().line, Some(1));
        let trailing = write(&dir, "trailing.conf", "port = 5 6\n");
        assert!(read(&trailing).is_err());

        let looped = write(&dir, "loop.conf", "include 'loop.conf'\n");
        assert!(read(&looped).unwrap_err().message.contains("nesting"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
