//! Where configuration files come from.
//!
//! The hba parser never opens a file itself: it asks a [`ConfigSource`]. The server
//! uses [`FsSource`]; tests and tools use [`MemorySource`], so every include rule can be
//! exercised without touching the disk. Paths are plain strings, as PostgreSQL keeps
//! them, so error texts show exactly the path that was tried.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

/// Why a file or directory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The path does not exist (`include_if_exists` skips these).
    NotFound,
    /// Any other failure, as the operating system describes it.
    Other(String),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::NotFound => f.write_str("No such file or directory"),
            SourceError::Other(text) => f.write_str(text),
        }
    }
}

impl From<io::Error> for SourceError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => SourceError::NotFound,
            io::ErrorKind::PermissionDenied => SourceError::Other("Permission denied".into()),
            io::ErrorKind::IsADirectory => SourceError::Other("Is a directory".into()),
            io::ErrorKind::NotADirectory => SourceError::Other("Not a directory".into()),
            _ => SourceError::Other(e.to_string()),
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name, without its directory.
    pub name: String,
    /// `Some(true)` for a directory, `Some(false)` for anything else, `None` when
    /// the entry could not be examined (PostgreSQL: `could not stat file`).
    pub is_dir: Option<bool>,
}

/// Reads configuration files and lists configuration directories.
pub trait ConfigSource {
    /// The whole text of the file at `path`.
    fn read_file(&self, path: &str) -> Result<String, SourceError>;
    /// The entries of the directory at `path` (`include_dir`), in no particular order.
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, SourceError>;
}

/// The real file system. Bytes that are not UTF-8 are replaced (U+FFFD): such a name
/// can then match no role or database, which is the safe outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsSource;

impl ConfigSource for FsSource {
    fn read_file(&self, path: &str) -> Result<String, SourceError> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, SourceError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Follow symbolic links, as PostgreSQL's stat() does.
            let is_dir = std::fs::metadata(entry.path()).ok().map(|m| m.is_dir());
            out.push(DirEntry { name, is_dir });
        }
        Ok(out)
    }
}

/// Files held in memory, keyed by their (canonical) path. Directories are implied by
/// the files below them; [`MemorySource::add_dir`] adds an empty one.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    files: BTreeMap<String, String>,
    dirs: BTreeMap<String, ()>,
}

impl MemorySource {
    /// No files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`MemorySource::add_file`].
    pub fn with_file(mut self, path: &str, text: &str) -> Self {
        self.add_file(path, text);
        self
    }

    /// Adds (or replaces) the file at `path`.
    pub fn add_file(&mut self, path: &str, text: &str) {
        self.files.insert(canonicalize_path(path), text.to_owned());
    }

    /// Adds an empty directory at `path`.
    pub fn add_dir(&mut self, path: &str) {
        self.dirs.insert(canonicalize_path(path), ());
    }

    fn dir_exists(&self, dir: &str) -> bool {
        let prefix = if dir.ends_with('/') {
            dir.to_owned()
        } else {
            format!("{dir}/")
        };
        self.dirs.contains_key(dir)
            || self.files.keys().any(|k| k.starts_with(&prefix))
            || self.dirs.keys().any(|k| k.starts_with(&prefix))
    }
}

impl ConfigSource for MemorySource {
    fn read_file(&self, path: &str) -> Result<String, SourceError> {
        let key = canonicalize_path(path);
        match self.files.get(&key) {
            Some(text) => Ok(text.clone()),
            None if self.dir_exists(&key) => Err(SourceError::Other("Is a directory".into())),
            None => Err(SourceError::NotFound),
        }
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, SourceError> {
        let dir = canonicalize_path(path);
        if self.files.contains_key(&dir) {
            return Err(SourceError::Other("Not a directory".into()));
        }
        if !self.dir_exists(&dir) {
            return Err(SourceError::NotFound);
        }
        let prefix = if dir.ends_with('/') {
            dir.clone()
        } else {
            format!("{dir}/")
        };
        let mut names: BTreeMap<String, bool> = BTreeMap::new();
        let all = self
            .files
            .keys()
            .map(|k| (k, false))
            .chain(self.dirs.keys().map(|k| (k, true)));
        for (key, is_dir) in all {
            if let Some(rest) = key.strip_prefix(&prefix) {
                match rest.split_once('/') {
                    Some((first, _)) => {
                        names.insert(first.to_owned(), true);
                    }
                    None if !rest.is_empty() => {
                        names.entry(rest.to_owned()).or_insert(is_dir);
                    }
                    None => {}
                }
            }
        }
        Ok(names
            .into_iter()
            .map(|(name, d)| DirEntry {
                name,
                is_dir: Some(d),
            })
            .collect())
    }
}

/// PostgreSQL's `AbsoluteConfigLocation`: an absolute `location` as it is, a relative
/// one resolved against the directory of `calling_file`.
pub fn absolute_location(location: &str, calling_file: &str) -> String {
    if location.starts_with('/') {
        location.to_owned()
    } else {
        let parent = parent_directory(calling_file);
        if parent.is_empty() {
            canonicalize_path(location)
        } else {
            canonicalize_path(&format!("{parent}/{location}"))
        }
    }
}

/// The directory part of `path` (`""` for a bare file name, `"/"` for a file in the root).
fn parent_directory(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => trimmed[..i].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// Lexical clean-up like PostgreSQL's `canonicalize_path`: doubled and trailing
/// slashes, `.` components, and `..` after a named component are removed.
pub fn canonicalize_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_calling_file() {
        assert_eq!(
            absolute_location("users", "/etc/pg/pg_hba.conf"),
            "/etc/pg/users"
        );
        assert_eq!(absolute_location("/abs/x", "/etc/pg/pg_hba.conf"), "/abs/x");
        assert_eq!(
            absolute_location("../x/./y", "/etc/pg/pg_hba.conf"),
            "/etc/x/y"
        );
        assert_eq!(absolute_location("x", "pg_hba.conf"), "x");
        assert_eq!(absolute_location("x", "/pg_hba.conf"), "/x");
        assert_eq!(canonicalize_path("/a//b/../c/"), "/a/c");
        assert_eq!(canonicalize_path("/.."), "/");
        assert_eq!(canonicalize_path("../a"), "../a");
    }

    #[test]
    fn memory_source_lists_and_reads() {
        let mut src = MemorySource::new()
            .with_file("/d/conf.d/b.conf", "b")
            .with_file("/d/conf.d/a.conf", "a")
            .with_file("/d/conf.d/sub/c.conf", "c");
        src.add_dir("/d/empty");
        assert_eq!(src.read_file("/d/conf.d/a.conf").unwrap(), "a");
        assert_eq!(src.read_file("/d/nope"), Err(SourceError::NotFound));
        assert!(matches!(
            src.read_file("/d/conf.d"),
            Err(SourceError::Other(_))
        ));
        let names: Vec<_> = src.list_dir("/d/conf.d").unwrap();
        assert_eq!(
            names,
            vec![
                DirEntry {
                    name: "a.conf".into(),
                    is_dir: Some(false)
                },
                DirEntry {
                    name: "b.conf".into(),
                    is_dir: Some(false)
                },
                DirEntry {
                    name: "sub".into(),
                    is_dir: Some(true)
                },
            ]
        );
        assert_eq!(src.list_dir("/d/empty").unwrap(), vec![]);
        assert_eq!(src.list_dir("/d/missing"), Err(SourceError::NotFound));
    }

    #[test]
    fn io_errors_read_like_strerror() {
        let e: SourceError = io::Error::from(io::ErrorKind::NotFound).into();
        assert_eq!(e.to_string(), "No such file or directory");
        let e: SourceError = io::Error::from(io::ErrorKind::PermissionDenied).into();
        assert_eq!(e.to_string(), "Permission denied");
    }
}
