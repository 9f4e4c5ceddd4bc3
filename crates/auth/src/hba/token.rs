//! Splitting an authentication file into lines, fields and tokens, the way PostgreSQL
//! 16's `tokenize_auth_file` does: blanks and commas separate tokens, `#` starts a
//! comment, double quotes protect blanks, commas and keywords (`""` is a literal quote),
//! a trailing backslash joins the next line, `@file` pulls in a file of tokens, and
//! `include`, `include_if_exists` and `include_dir` lines pull in whole files.
//!
//! Errors do not stop tokenizing: they are attached to the line they occurred on, so the
//! caller can report every bad line of a file at once.

use super::HbaMessage;
use super::source::{ConfigSource, SourceError, absolute_location, canonicalize_path};

/// How deep includes (and `@file` references) may nest before the file is refused;
/// PostgreSQL's `CONF_FILE_MAX_DEPTH`.
pub const MAX_INCLUDE_DEPTH: u32 = 10;

/// One token, after quotes are removed. `quoted` is set only when the token *starts*
/// with a quote, as in PostgreSQL: `"all"` is a name, `al"l"` is still the keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub quoted: bool,
}

/// One logical line (continuations joined), its fields, and any tokenizing error.
#[derive(Debug, Clone)]
pub(crate) struct TokenizedLine {
    pub file: String,
    pub line: u32,
    pub raw: String,
    pub fields: Vec<Vec<Token>>,
    pub error: Option<String>,
}

struct OpenError {
    missing: bool,
    message: String,
}

pub(crate) struct Tokenizer<'a> {
    source: &'a dyn ConfigSource,
    /// Messages PostgreSQL logs without failing the load (`skipping missing ...`).
    pub notices: Vec<HbaMessage>,
    /// Files opened so far in this load, includes counted. The depth limit alone does
    /// not bound the work: a file that includes itself k times expands to k^10 copies.
    opened: std::cell::Cell<usize>,
    /// Bytes read so far in this load.
    bytes_read: std::cell::Cell<usize>,
}

/// At most this many file opens per load (PostgreSQL has no such cap; it needs none
/// that a sane configuration comes near).
pub const MAX_FILES_PER_LOAD: usize = 1000;
/// At most this many bytes read per load, includes counted.
pub const MAX_BYTES_PER_LOAD: usize = 16 << 20;

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

impl<'a> Tokenizer<'a> {
    pub fn new(source: &'a dyn ConfigSource) -> Self {
        Tokenizer {
            source,
            notices: Vec::new(),
            opened: std::cell::Cell::new(0),
            bytes_read: std::cell::Cell::new(0),
        }
    }

    /// Opens `path` at include depth `depth`, with PostgreSQL's error texts.
    fn open(&self, path: &str, depth: u32) -> Result<String, OpenError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(OpenError {
                missing: false,
                message: format!("could not open file \"{path}\": maximum nesting depth exceeded"),
            });
        }
        let too_much = |what: &str| OpenError {
            missing: false,
            message: format!("could not open file \"{path}\": {what} (includes counted)"),
        };
        self.opened.set(self.opened.get() + 1);
        if self.opened.get() > MAX_FILES_PER_LOAD {
            return Err(too_much(&format!(
                "more than {MAX_FILES_PER_LOAD} files opened"
            )));
        }
        let text = self.source.read_file(path).map_err(|e| OpenError {
            missing: e == SourceError::NotFound,
            message: format!("could not open file \"{path}\": {e}"),
        })?;
        self.bytes_read
            .set(self.bytes_read.get().saturating_add(text.len()));
        if self.bytes_read.get() > MAX_BYTES_PER_LOAD {
            return Err(too_much(&format!(
                "more than {} MiB read",
                MAX_BYTES_PER_LOAD >> 20
            )));
        }
        Ok(text)
    }

    /// Opens the top-level file (depth 0); the error text is PostgreSQL's.
    pub fn open_top(&self, path: &str) -> Result<String, String> {
        self.open(path, 0).map_err(|e| e.message)
    }

    /// Tokenizes `text`, the contents of `file`, appending its lines (and those of
    /// included files, in place) to `out`.
    pub fn tokenize(&mut self, file: &str, text: &str, out: &mut Vec<TokenizedLine>, depth: u32) {
        let mut physical = text.split('\n');
        let mut line_number: u32 = 1;
        loop {
            let mut buf = String::new();
            let mut last_backslash_len = 0usize;
            let mut continuations: u32 = 0;
            let mut got_line = false;
            for piece in physical.by_ref() {
                got_line = true;
                buf.push_str(piece);
                let kept = buf.trim_end_matches(['\r', '\n']).len();
                buf.truncate(kept);
                if buf.len() > last_backslash_len && buf.ends_with('\\') {
                    buf.pop();
                    last_backslash_len = buf.len();
                    continuations += 1;
                    continue;
                }
                break;
            }
            if !got_line {
                break;
            }
            // C strings end at a NUL byte; so does the line PostgreSQL sees.
            if let Some(nul) = buf.find('\0') {
                buf.truncate(nul);
            }
            self.tokenize_line(file, &buf, line_number, out, depth);
            line_number = line_number.saturating_add(continuations + 1);
        }
    }

    fn tokenize_line(
        &mut self,
        file: &str,
        line: &str,
        line_number: u32,
        out: &mut Vec<TokenizedLine>,
        depth: u32,
    ) {
        let bytes = line.as_bytes();
        let mut pos = 0usize;
        let mut fields: Vec<Vec<Token>> = Vec::new();
        let mut error: Option<String> = None;
        while pos < bytes.len() && error.is_none() {
            let field = self.next_field(file, bytes, &mut pos, depth, &mut error);
            if !field.is_empty() {
                fields.push(field);
            }
        }
        if fields.is_empty() && error.is_none() {
            return;
        }
        if error.is_none() && fields.len() == 2 {
            let directive = fields[0][0].text.as_str();
            let target = fields[1][0].text.clone();
            match directive {
                "include" | "include_if_exists" => {
                    let missing_ok = directive == "include_if_exists";
                    self.include_file(
                        file,
                        &target,
                        line_number,
                        out,
                        depth + 1,
                        missing_ok,
                        &mut error,
                    );
                    if error.is_none() {
                        return;
                    }
                }
                "include_dir" => {
                    self.include_dir(file, &target, line_number, out, depth, &mut error);
                    if error.is_none() {
                        return;
                    }
                }
                _ => {}
            }
        }
        out.push(TokenizedLine {
            file: file.to_owned(),
            line: line_number,
            raw: line.to_owned(),
            fields,
            error,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn include_file(
        &mut self,
        outer: &str,
        name: &str,
        line_number: u32,
        out: &mut Vec<TokenizedLine>,
        depth: u32,
        missing_ok: bool,
        error: &mut Option<String>,
    ) {
        let path = absolute_location(name, outer);
        match self.open(&path, depth) {
            Ok(text) => self.tokenize(&path, &text, out, depth),
            Err(e) if e.missing && missing_ok => self.notices.push(HbaMessage {
                message: format!("skipping missing authentication file \"{path}\""),
                file: outer.to_owned(),
                line: Some(line_number),
            }),
            Err(e) => *error = Some(e.message),
        }
    }

    /// `include_dir`: every `*.conf` file of the directory (hidden files and
    /// subdirectories skipped) in byte order of the names. Errors of the included files
    /// are collected, one per line, onto the directive's line.
    fn include_dir(
        &mut self,
        outer: &str,
        dir_name: &str,
        line_number: u32,
        out: &mut Vec<TokenizedLine>,
        depth: u32,
        error: &mut Option<String>,
    ) {
        if dir_name
            .bytes()
            .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            *error = Some("empty configuration directory name".to_owned());
            return;
        }
        let directory = absolute_location(dir_name, outer);
        let entries = match self.source.list_dir(&directory) {
            Ok(entries) => entries,
            Err(_) => {
                *error = Some(format!("could not open directory \"{directory}\""));
                return;
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let name = entry.name.as_str();
            if name.len() < 6 || name.starts_with('.') || !name.ends_with(".conf") {
                continue;
            }
            let path = canonicalize_path(&format!("{directory}/{name}"));
            match entry.is_dir {
                None => {
                    *error = Some(format!("could not stat file \"{path}\""));
                    return;
                }
                Some(true) => {}
                Some(false) => files.push(path),
            }
        }
        files.sort();
        let mut errors: Vec<String> = Vec::new();
        for path in files {
            let mut one = None;
            self.include_file(outer, &path, line_number, out, depth + 1, false, &mut one);
            if let Some(e) = one {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            *error = Some(errors.join("\n"));
        }
    }

    /// One field: comma-separated tokens, with `@file` references expanded in place.
    fn next_field(
        &mut self,
        file: &str,
        line: &[u8],
        pos: &mut usize,
        depth: u32,
        error: &mut Option<String>,
    ) -> Vec<Token> {
        let mut tokens = Vec::new();
        while let Some((text, initial_quote, trailing_comma)) = next_token(line, pos) {
            if !initial_quote && text.len() > 1 && text.starts_with('@') {
                self.expand_file(&mut tokens, file, &text[1..], depth + 1, error);
            } else {
                tokens.push(Token {
                    text,
                    quoted: initial_quote,
                });
            }
            if !trailing_comma || error.is_some() {
                break;
            }
        }
        tokens
    }

    /// `@file`: all tokens of all lines of the file, flattened into this field.
    fn expand_file(
        &mut self,
        tokens: &mut Vec<Token>,
        outer: &str,
        name: &str,
        depth: u32,
        error: &mut Option<String>,
    ) {
        let path = absolute_location(name, outer);
        let text = match self.open(&path, depth) {
            Ok(text) => text,
            Err(e) => {
                *error = Some(e.message);
                return;
            }
        };
        let mut lines = Vec::new();
        self.tokenize(&path, &text, &mut lines, depth);
        for line in lines {
            if let Some(e) = line.error {
                *error = Some(e);
                break;
            }
            tokens.extend(line.fields.into_iter().flatten());
        }
    }
}

/// The next token of `line` from `*pos`: `(text, initial_quote, terminating_comma)`,
/// or `None` at the end of the line (or at a comment).
fn next_token(line: &[u8], pos: &mut usize) -> Option<(String, bool, bool)> {
    while *pos < line.len() && (is_blank(line[*pos]) || line[*pos] == b',') {
        *pos += 1;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut in_quote = false;
    let mut was_quote = false;
    let mut saw_quote = false;
    let mut initial_quote = false;
    let mut terminating_comma = false;
    while *pos < line.len() && (!is_blank(line[*pos]) || in_quote) {
        let c = line[*pos];
        if c == b'#' && !in_quote {
            *pos = line.len();
            break;
        }
        if c == b',' && !in_quote {
            terminating_comma = true;
            break;
        }
        if c != b'"' || was_quote {
            buf.push(c);
        }
        was_quote = if in_quote && c == b'"' {
            !was_quote
        } else {
            false
        };
        if c == b'"' {
            in_quote = !in_quote;
            saw_quote = true;
            if buf.is_empty() {
                initial_quote = true;
            }
        }
        *pos += 1;
    }
    if saw_quote || !buf.is_empty() {
        // Only ASCII bytes were removed, so multi-byte characters stay whole.
        Some((
            String::from_utf8_lossy(&buf).into_owned(),
            initial_quote,
            terminating_comma,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::MemorySource;
    use super::*;

    fn tokens(line: &str) -> Vec<(String, bool, bool)> {
        let mut pos = 0;
        let mut out = Vec::new();
        while let Some(t) = next_token(line.as_bytes(), &mut pos) {
            out.push(t);
        }
        out
    }

    fn lines(src: &MemorySource, path: &str) -> Vec<TokenizedLine> {
        let mut t = Tokenizer::new(src);
        let text = t.open_top(path).unwrap();
        let mut out = Vec::new();
        t.tokenize(path, &text, &mut out, 0);
        out
    }

    fn field_texts(line: &TokenizedLine) -> Vec<Vec<String>> {
        line.fields
            .iter()
            .map(|f| f.iter().map(|t| t.text.clone()).collect())
            .collect()
    }

    #[test]
    fn tokens_follow_postgres_quoting() {
        assert_eq!(
            tokens(r#"host "all",b,"c d" x"y"z "" "a""b" #comment"#),
            vec![
                ("host".into(), false, false),
                ("all".into(), true, true),
                ("b".into(), false, true),
                ("c d".into(), true, false),
                ("xyz".into(), false, false),
                ("".into(), true, false),
                ("a\"b".into(), true, false),
            ]
        );
        // A comma inside quotes is part of the token.
        assert_eq!(
            tokens(r#""/^.*m,.*e$""#),
            vec![("/^.*m,.*e$".into(), true, false)]
        );
        assert_eq!(tokens("   # only a comment"), vec![]);
        assert_eq!(tokens("a#b"), vec![("a".into(), false, false)]);
    }

    #[test]
    fn continuation_lines_join_and_keep_the_first_line_number() {
        let src = MemorySource::new().with_file(
            "/d/hba",
            "# header\nlocal all all\\\n trust\r\n\nhost all all 0.0.0.0/0 md5\\\n\\\n\n",
        );
        let out = lines(&src, "/d/hba");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].line, 2);
        assert_eq!(out[0].raw, "local all all trust");
        assert_eq!(field_texts(&out[0]).len(), 4);
        assert_eq!(out[1].line, 5);
        assert_eq!(out[1].raw, "host all all 0.0.0.0/0 md5");
    }

    #[test]
    fn at_file_expands_in_place_and_quoted_at_is_literal() {
        let src = MemorySource::new()
            .with_file(
                "/d/hba",
                "local a,@users,\"@x\" all trust\nlocal @ all trust\n",
            )
            .with_file("/d/users", "bob, \"carol\"\n# c\n+admins dave\n");
        let out = lines(&src, "/d/hba");
        assert_eq!(
            field_texts(&out[0])[1],
            vec!["a", "bob", "carol", "+admins", "dave", "@x"]
        );
        assert!(out[0].fields[1][2].quoted);
        assert_eq!(field_texts(&out[1])[1], vec!["@"]);
    }

    #[test]
    fn missing_at_file_is_an_error_on_the_line() {
        let src = MemorySource::new().with_file("/d/hba", "local @nope all trust\n");
        let out = lines(&src, "/d/hba");
        assert_eq!(
            out[0].error.as_deref(),
            Some("could not open file \"/d/nope\": No such file or directory")
        );
    }

    #[test]
    fn include_directives_splice_files() {
        let src = MemorySource::new()
            .with_file(
                "/d/hba",
                "include a.conf\ninclude_if_exists missing.conf\ninclude_dir conf.d\nlocal all all reject\n",
            )
            .with_file("/d/a.conf", "local a all trust\n")
            .with_file("/d/conf.d/20.conf", "local c all trust\n")
            .with_file("/d/conf.d/10.conf", "local b all trust\n")
            .with_file("/d/conf.d/.hidden.conf", "garbage\n")
            .with_file("/d/conf.d/notes.txt", "garbage\n");
        let mut t = Tokenizer::new(&src);
        let text = t.open_top("/d/hba").unwrap();
        let mut out = Vec::new();
        t.tokenize("/d/hba", &text, &mut out, 0);
        let dbs: Vec<_> = out.iter().map(|l| field_texts(l)[1][0].clone()).collect();
        assert_eq!(dbs, vec!["a", "b", "c", "all"]);
        assert_eq!(out[0].file, "/d/a.conf");
        assert_eq!(out[2].file, "/d/conf.d/20.conf");
        assert_eq!(out[3].line, 4);
        assert_eq!(t.notices.len(), 1);
        assert_eq!(
            t.notices[0].message,
            "skipping missing authentication file \"/d/missing.conf\""
        );
        assert_eq!(t.notices[0].line, Some(2));
    }

    #[test]
    fn include_loops_stop_at_the_depth_limit() {
        let src = MemorySource::new().with_file("/d/hba", "include hba\n");
        let out = lines(&src, "/d/hba");
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].error.as_deref(),
            Some("could not open file \"/d/hba\": maximum nesting depth exceeded")
        );
    }

    /// Found by the hba_lines fuzz target: a file that includes itself four times
    /// expanded to 4^10 copies within the depth limit and ran out of memory.
    #[test]
    fn regression_include_explosion_is_bounded() {
        let src = MemorySource::new().with_file(
            "/d/hba",
            "include hba\ninclude hba\ninclude hba\ninclude hba\nhost all all 127.0.0.1/32 trust\n",
        );
        let out = lines(&src, "/d/hba");
        // Each of the (at most) 1000 files opened gives its own line plus at most four
        // failed include directives.
        assert!(
            out.len() <= 5 * (MAX_FILES_PER_LOAD + 1),
            "{} lines",
            out.len()
        );
        assert!(
            out.iter().any(|l| l
                .error
                .as_deref()
                .is_some_and(|e| e.contains("more than 1000 files opened"))),
            "the budget must be reported as an error on the directive"
        );
    }

    #[test]
    fn include_errors_attach_to_the_directive() {
        let src = MemorySource::new().with_file(
            "/d/hba",
            "include nope.conf\ninclude_dir nodir\ninclude_dir \" \"\n",
        );
        let out = lines(&src, "/d/hba");
        let errs: Vec<_> = out
            .iter()
            .map(|l| (l.line, l.error.clone().unwrap()))
            .collect();
        assert_eq!(
            errs,
            vec![
                (
                    1,
                    "could not open file \"/d/nope.conf\": No such file or directory".to_owned()
                ),
                (2, "could not open directory \"/d/nodir\"".to_owned()),
                (3, "empty configuration directory name".to_owned()),
            ]
        );
    }
}
