//! Per-session run-time parameters (GUCs): the ones drivers set at startup or with `SET`,
//! the ones they read with `SHOW`, and the ones the server must announce with
//! ParameterStatus whenever they change.
//!
//! Only parameters that mean something here are accepted; the rest of PostgreSQL's
//! several hundred answer `unrecognized configuration parameter`, as PostgreSQL does for
//! names it does not know. Dotted names (`myapp.tenant`) are custom placeholders and
//! take any string, as in PostgreSQL.

use std::borrow::Cow;

use crate::error::{SqlError, sqlstate};

/// `password_encryption`: how `CREATE/ALTER ROLE ... PASSWORD 'plaintext'` hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PasswordEncryption {
    /// `md5`: an md5 hash of password and role name.
    Md5,
    /// `scram-sha-256`: a SCRAM-SHA-256 verifier (the default).
    #[default]
    ScramSha256,
}

impl PasswordEncryption {
    /// The setting's value as `SHOW password_encryption` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordEncryption::Md5 => "md5",
            PasswordEncryption::ScramSha256 => "scram-sha-256",
        }
    }
}

/// Who may change a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// Any session, any time.
    User,
    /// Fixed for the server's life (`server_version`); `SET` is an error.
    Internal,
}

/// A setting's name or value: a known parameter's canonical name and most canonical
/// values are static text, so a session's settings allocate only for what the client
/// actually wrote (a login builds them, and every allocation shows in its cost).
type Text = Cow<'static, str>;

/// What values a parameter takes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// One of these (lowercase) words; the canonical spelling is stored.
    Enum(&'static [&'static str]),
    /// Any string; `check` may canonicalise or refuse it.
    Str(fn(&str) -> Result<Text, String>),
}

#[derive(Debug)]
struct Def {
    /// The canonical spelling, used as the SHOW column name and in ParameterStatus.
    name: &'static str,
    default: &'static str,
    kind: Kind,
    context: Context,
    /// GUC_REPORT: sent as ParameterStatus at startup and after every change.
    report: bool,
    description: &'static str,
}

const fn def(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    context: Context,
    report: bool,
    description: &'static str,
) -> Def {
    Def {
        name,
        default,
        kind,
        context,
        report,
        description,
    }
}

fn check_any(v: &str) -> Result<Text, String> {
    Ok(Cow::Owned(v.to_owned()))
}

/// client_encoding: we only speak UTF-8.
fn check_encoding(v: &str) -> Result<Text, String> {
    let norm: String = v
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match norm.as_str() {
        "utf8" | "unicode" => Ok(Cow::Borrowed("UTF8")),
        "sqlascii" => Ok(Cow::Borrowed("SQL_ASCII")),
        _ => Err(format!(
            "only UTF8 is supported as client_encoding by the embedded database, not \"{v}\""
        )),
    }
}

/// DateStyle: values are always written ISO-style, so only ISO output is accepted; the
/// field order part is kept for drivers that read it back.
fn check_datestyle(v: &str) -> Result<Text, String> {
    let mut order = "MDY";
    let mut output = "ISO";
    for part in v.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        match part.as_str() {
            "iso" => output = "ISO",
            "mdy" | "us" | "noneuropean" => order = "MDY",
            "dmy" | "euro" | "european" => order = "DMY",
            "ymd" => order = "YMD",
            "default" => {}
            "sql" | "postgres" | "german" => output = "",
            _ => {
                return Err(format!(
                    "invalid value for parameter \"DateStyle\": \"{v}\""
                ));
            }
        }
    }
    if output.is_empty() {
        return Err("only ISO output is supported for DateStyle by the embedded database".into());
    }
    Ok(Cow::Owned(format!("{output}, {order}")))
}

/// TimeZone: any plausible zone name is kept (JDBC sends the JVM's), though values are
/// always rendered in UTC; see the crate docs.
fn check_timezone(v: &str) -> Result<Text, String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-:.".contains(&b));
    if ok {
        Ok(Cow::Owned(v.to_owned()))
    } else {
        Err(format!("invalid value for parameter \"TimeZone\": \"{v}\""))
    }
}

/// application_name: printable ASCII only and at most 63 bytes, like PostgreSQL.
fn check_appname(v: &str) -> Result<Text, String> {
    let mut s: String = v
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    s.truncate(63);
    Ok(Cow::Owned(s))
}

fn check_scs(v: &str) -> Result<Text, String> {
    match crate::types::parse_bool(v) {
        Some(true) => Ok(Cow::Borrowed("on")),
        Some(false) => Err(
            "standard_conforming_strings = off is not supported by the embedded database".into(),
        ),
        None => Err("parameter \"standard_conforming_strings\" requires a Boolean value".into()),
    }
}

const DEFS: &[Def] = &[
    def(
        "application_name",
        "",
        Kind::Str(check_appname),
        Context::User,
        true,
        "Sets the application name to be reported in statistics and logs.",
    ),
    def(
        "bytea_output",
        "hex",
        Kind::Enum(&["hex"]),
        Context::User,
        false,
        "Sets the output format for bytea.",
    ),
    def(
        "client_encoding",
        "UTF8",
        Kind::Str(check_encoding),
        Context::User,
        true,
        "Sets the client's character set encoding.",
    ),
    def(
        "client_min_messages",
        "notice",
        Kind::Enum(&[
            "debug5", "debug4", "debug3", "debug2", "debug1", "debug", "log", "notice", "warning",
            "error",
        ]),
        Context::User,
        false,
        "Sets the message levels that are sent to the client.",
    ),
    def(
        "DateStyle",
        "ISO, MDY",
        Kind::Str(check_datestyle),
        Context::User,
        true,
        "Sets the display format for date and time values.",
    ),
    def(
        "default_transaction_isolation",
        "serializable",
        Kind::Enum(&[
            "serializable",
            "repeatable read",
            "read committed",
            "read uncommitted",
        ]),
        Context::User,
        false,
        "Sets the transaction isolation level of each new transaction.",
    ),
    def(
        "default_transaction_read_only",
        "off",
        Kind::Bool,
        Context::User,
        true,
        "Sets the default read-only status of new transactions.",
    ),
    def(
        "extra_float_digits",
        "1",
        Kind::Int { min: -15, max: 3 },
        Context::User,
        false,
        "Sets the number of digits displayed for floating-point values.",
    ),
    def(
        "idle_in_transaction_session_timeout",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        Context::User,
        false,
        "Sets the maximum allowed idle time between queries, when in a transaction.",
    ),
    def(
        "in_hot_standby",
        "off",
        Kind::Bool,
        Context::Internal,
        true,
        "Shows whether hot standby is currently active.",
    ),
    def(
        "integer_datetimes",
        "on",
        Kind::Bool,
        Context::Internal,
        true,
        "Shows whether datetimes are integer based.",
    ),
    def(
        "IntervalStyle",
        "postgres",
        Kind::Enum(&["postgres"]),
        Context::User,
        true,
        "Sets the display format for interval values.",
    ),
    def(
        "is_superuser",
        "off",
        Kind::Bool,
        Context::Internal,
        true,
        "Shows whether the current user is a superuser.",
    ),
    def(
        "lock_timeout",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        Context::User,
        false,
        "Sets the maximum allowed duration of any wait for a lock.",
    ),
    def(
        "max_identifier_length",
        "63",
        Kind::Int { min: 63, max: 63 },
        Context::Internal,
        false,
        "Shows the maximum identifier length.",
    ),
    def(
        "md5_password_warnings",
        "on",
        Kind::Bool,
        Context::User,
        false,
        "Enables deprecation warnings for MD5 passwords.",
    ),
    def(
        "password_encryption",
        "scram-sha-256",
        Kind::Enum(&["md5", "scram-sha-256"]),
        Context::User,
        false,
        "Chooses the algorithm for encrypting passwords.",
    ),
    def(
        "scram_iterations",
        "4096",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        Context::User,
        true,
        "Sets the iteration count for SCRAM secret generation.",
    ),
    def(
        "search_path",
        "\"$user\", public",
        Kind::Str(check_any),
        Context::User,
        false,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    def(
        "server_encoding",
        "UTF8",
        Kind::Str(check_any),
        Context::Internal,
        true,
        "Shows the server (database) character set encoding.",
    ),
    def(
        "server_version",
        "16.0",
        Kind::Str(check_any),
        Context::Internal,
        true,
        "Shows the server version.",
    ),
    def(
        "server_version_num",
        "160000",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        Context::Internal,
        false,
        "Shows the server version as an integer.",
    ),
    def(
        "session_authorization",
        "",
        Kind::Str(check_any),
        Context::Internal,
        true,
        "Sets the session user name.",
    ),
    def(
        "standard_conforming_strings",
        "on",
        Kind::Str(check_scs),
        Context::User,
        true,
        "Causes '...' strings to treat backslashes literally.",
    ),
    def(
        "statement_timeout",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        Context::User,
        false,
        "Sets the maximum allowed duration of any statement.",
    ),
    def(
        "TimeZone",
        "UTC",
        Kind::Str(check_timezone),
        Context::User,
        true,
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    def(
        "transaction_isolation",
        "serializable",
        Kind::Enum(&[
            "serializable",
            "repeatable read",
            "read committed",
            "read uncommitted",
        ]),
        Context::User,
        false,
        "Sets the current transaction's isolation level.",
    ),
];

fn find_def(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

fn unrecognized(name: &str) -> SqlError {
    SqlError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

fn invalid_value(name: &str, value: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{value}\""),
    )
}

/// Parameter values by name. A session sets a handful, so a sorted vector (one small
/// allocation) rather than a tree (a half-KiB node per map, for every idle session).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Values(Vec<(Text, Text)>);

impl Values {
    fn get(&self, name: &str) -> Option<&Text> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    fn insert(&mut self, name: Text, value: Text) {
        match self.find(&name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(i) = self.find(name) {
            self.0.remove(i);
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_ref().cmp(name))
    }
}

/// A session's parameter values. Build one per connection (start from
/// [`SessionSettings::default`] or the server's configured defaults), apply the startup
/// packet's options with [`SessionSettings::set`], then hand it to `Session::new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// Explicitly set values, keyed by canonical name (custom names lowercased).
    values: Values,
    /// What `RESET` goes back to: the defaults plus the startup packet's values.
    reset_values: Values,
    /// The database name the client asked for (shown by `current_database()`).
    database: String,
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings {
            values: Values::default(),
            reset_values: Values::default(),
            database: "postgres".to_owned(),
        }
    }
}

impl SessionSettings {
    /// Defaults with the server's configured password hashing.
    pub fn new(password_encryption: PasswordEncryption, scram_iterations: u32) -> SessionSettings {
        let mut s = SessionSettings::default();
        s.reset_values.insert(
            Cow::Borrowed("password_encryption"),
            Cow::Borrowed(password_encryption.as_str()),
        );
        s.reset_values.insert(
            Cow::Borrowed("scram_iterations"),
            Cow::Owned(scram_iterations.clamp(1, i32::MAX as u32).to_string()),
        );
        s
    }

    /// Sets the database name reported by `current_database()`.
    pub fn set_database(&mut self, name: &str) {
        self.database = name.to_owned();
    }

    /// The database name reported by `current_database()`.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Applies a startup-packet option: like `SET`, and also what `RESET` returns to.
    pub fn set_startup(&mut self, name: &str, value: &str) -> Result<(), SqlError> {
        let (key, canon) = self.validate(name, value)?;
        self.values.remove(&key);
        self.reset_values.insert(key, canon);
        Ok(())
    }

    /// `SET name = value`. Returns an error PostgreSQL would give for the same input.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SqlError> {
        let (key, canon) = self.validate(name, value)?;
        self.values.insert(key, canon);
        Ok(())
    }

    /// `RESET name` / `SET name TO DEFAULT`.
    pub fn reset(&mut self, name: &str) -> Result<(), SqlError> {
        match find_def(name) {
            Some(d) if d.context == Context::Internal => Err(cannot_change(d.name)),
            Some(d) => {
                self.values.remove(d.name);
                Ok(())
            }
            None if name.contains('.') => {
                self.values.remove(name.to_ascii_lowercase().as_str());
                Ok(())
            }
            None => Err(unrecognized(name)),
        }
    }

    /// `RESET ALL` (and DISCARD ALL).
    pub fn reset_all(&mut self) {
        self.values.clear();
    }

    /// Checks a value and returns (storage key, canonical value).
    fn validate(&self, name: &str, value: &str) -> Result<(Text, Text), SqlError> {
        let Some(d) = find_def(name) else {
            if name.contains('.') && !name.starts_with('.') && !name.ends_with('.') {
                return Ok((
                    Cow::Owned(name.to_ascii_lowercase()),
                    Cow::Owned(value.to_owned()),
                ));
            }
            return Err(unrecognized(name));
        };
        if d.context == Context::Internal {
            return Err(cannot_change(d.name));
        }
        let canon = match d.kind {
            Kind::Bool => match crate::types::parse_bool(value) {
                Some(b) => Cow::Borrowed(if b { "on" } else { "off" }),
                None => {
                    return Err(SqlError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("parameter \"{}\" requires a Boolean value", d.name),
                    ));
                }
            },
            Kind::Int { min, max } => {
                let v: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid_value(d.name, value))?;
                if v < min || v > max {
                    return Err(SqlError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!(
                            "{v} is outside the valid range for parameter \"{}\" ({min} .. {max})",
                            d.name
                        ),
                    ));
                }
                Cow::Owned(v.to_string())
            }
            Kind::Enum(words) => {
                let lower = value.trim().to_ascii_lowercase();
                match words.iter().find(|w| **w == lower) {
                    Some(w) => Cow::Borrowed(*w),
                    None => {
                        return Err(invalid_value(d.name, value)
                            .with_hint(format!("Available values: {}.", words.join(", "))));
                    }
                }
            }
            Kind::Str(check) => check(value).map_err(|msg| {
                if msg.starts_with("invalid value") || msg.starts_with("parameter") {
                    SqlError::new(sqlstate::INVALID_PARAMETER_VALUE, msg)
                } else {
                    SqlError::new(sqlstate::FEATURE_NOT_SUPPORTED, msg)
                }
            })?,
        };
        Ok((Cow::Borrowed(d.name), canon))
    }

    /// The current value and canonical name for `SHOW name`.
    pub fn show(&self, name: &str) -> Result<(&'static str, String), SqlError> {
        match find_def(name) {
            Some(d) => Ok((d.name, self.value_of(d).to_owned())),
            None => {
                let key = name.to_ascii_lowercase();
                match self
                    .values
                    .get(key.as_str())
                    .or_else(|| self.reset_values.get(key.as_str()))
                {
                    Some(v) => Ok(("", v.to_string())),
                    None => Err(unrecognized(name)),
                }
            }
        }
    }

    /// The value of a known parameter as text (`None` for an unknown name).
    pub fn get(&self, name: &str) -> Option<String> {
        find_def(name).map(|d| self.value_of(d).to_owned())
    }

    /// A known parameter's value, borrowed: what the session set, else what RESET
    /// returns to, else the default.
    fn value_of(&self, d: &Def) -> &str {
        self.values
            .get(d.name)
            .or_else(|| self.reset_values.get(d.name))
            .map_or(d.default, |v| v.as_ref())
    }

    /// Every known parameter: (name, value, description), for `SHOW ALL`.
    pub fn all(&self) -> Vec<(&'static str, String, &'static str)> {
        DEFS.iter()
            .map(|d| (d.name, self.value_of(d).to_owned(), d.description))
            .collect()
    }

    /// Every known parameter as a `pg_settings` row: name, setting, vartype, context,
    /// short_desc, min_val, max_val, enumvals (array text), boot_val.
    pub(crate) fn catalog_rows(&self) -> Vec<[Option<String>; 9]> {
        DEFS.iter()
            .map(|d| {
                let (vartype, min, max, enumvals) = match d.kind {
                    Kind::Bool => ("bool", None, None, None),
                    Kind::Int { min, max } => (
                        "integer",
                        Some(min.to_string()),
                        Some(max.to_string()),
                        None,
                    ),
                    Kind::Enum(words) => {
                        ("enum", None, None, Some(format!("{{{}}}", words.join(","))))
                    }
                    Kind::Str(_) => ("string", None, None, None),
                };
                let context = match d.context {
                    Context::User => "user",
                    Context::Internal => "internal",
                };
                [
                    Some(d.name.to_owned()),
                    Some(self.value_of(d).to_owned()),
                    Some(vartype.to_owned()),
                    Some(context.to_owned()),
                    Some(d.description.to_owned()),
                    min,
                    max,
                    enumvals,
                    Some(d.default.to_owned()),
                ]
            })
            .collect()
    }

    /// The parameters a server reports with ParameterStatus, with current values
    /// (borrowed: the login greeting encodes them without copying).
    pub fn reported(&self) -> Vec<(&'static str, &str)> {
        DEFS.iter()
            .filter(|d| d.report)
            .map(|d| (d.name, self.value_of(d)))
            .collect()
    }

    /// `password_encryption` as a typed value.
    pub fn password_encryption(&self) -> PasswordEncryption {
        match self.get("password_encryption").as_deref() {
            Some("md5") => PasswordEncryption::Md5,
            _ => PasswordEncryption::ScramSha256,
        }
    }

    /// `scram_iterations` as a number (always within 1..=i32::MAX).
    pub fn scram_iterations(&self) -> u32 {
        self.get("scram_iterations")
            .and_then(|v| v.parse().ok())
            .unwrap_or(pgscram_scram::DEFAULT_ITERATIONS)
    }

    /// Whether setting an md5 password warns (PostgreSQL 18's md5_password_warnings).
    pub fn md5_password_warnings(&self) -> bool {
        self.get("md5_password_warnings").as_deref() != Some("off")
    }

    /// `statement_timeout` in milliseconds (0 = none).
    pub fn statement_timeout_ms(&self) -> u64 {
        self.get("statement_timeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Records who the session runs as: `session_authorization` and `is_superuser`,
    /// which the server reports at login and `SET` cannot change. A server that opens
    /// its session later (at the first query) still announces them at login.
    pub fn set_identity(&mut self, user: &str, superuser: bool) {
        self.set_internal("session_authorization", Cow::Owned(user.to_owned()));
        self.set_internal(
            "is_superuser",
            Cow::Borrowed(if superuser { "on" } else { "off" }),
        );
    }

    /// Sets a server-owned parameter (is_superuser, session_authorization,
    /// server_version) that `SET` refuses.
    pub(crate) fn set_internal(&mut self, name: &'static str, value: Text) {
        self.values.insert(Cow::Borrowed(name), value);
    }
}

fn cannot_change(name: &str) -> SqlError {
    SqlError::new(
        sqlstate::CANT_CHANGE_RUNTIME_PARAM,
        format!("parameter \"{name}\" cannot be changed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_one_entry_per_name() {
        let mut v = Values::default();
        for (k, x) in [("b", "1"), ("a", "2"), ("c", "3"), ("a", "4")] {
            v.insert(Cow::Borrowed(k), Cow::Borrowed(x));
        }
        assert_eq!(v.0.len(), 3);
        assert_eq!(v.get("a").map(|x| x.as_ref()), Some("4"));
        v.remove("b");
        v.remove("missing");
        assert_eq!(v.get("b"), None);
        assert_eq!(v.get("c").map(|x| x.as_ref()), Some("3"));
        v.clear();
        assert_eq!(v.get("a"), None);
    }

    #[test]
    fn set_show_reset_are_case_insensitive_and_canonical() {
        let mut s = SessionSettings::default();
        s.set("DATESTYLE", "iso, dmy").unwrap();
        assert_eq!(
            s.show("datestyle").unwrap(),
            ("DateStyle", "ISO, DMY".to_owned())
        );
        s.reset("DateStyle").unwrap();
        assert_eq!(s.show("DateStyle").unwrap().1, "ISO, MDY");
        s.set("client_encoding", "utf-8").unwrap();
        assert_eq!(s.get("client_encoding").unwrap(), "UTF8");
    }

    #[test]
    fn typed_validation_matches_postgres_messages() {
        let mut s = SessionSettings::default();
        let e = s.set("scram_iterations", "0").unwrap_err();
        assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
        assert_eq!(
            e.message,
            "0 is outside the valid range for parameter \"scram_iterations\" (1 .. 2147483647)"
        );
        let e = s.set("password_encryption", "plain").unwrap_err();
        assert_eq!(
            e.message,
            "invalid value for parameter \"password_encryption\": \"plain\""
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Available values: md5, scram-sha-256.")
        );
        let e = s.set("no_such_thing", "1").unwrap_err();
        assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
        assert_eq!(
            e.message,
            "unrecognized configuration parameter \"no_such_thing\""
        );
        let e = s.set("server_version", "99").unwrap_err();
        assert_eq!(e.code, sqlstate::CANT_CHANGE_RUNTIME_PARAM);
        assert!(s.set("client_encoding", "LATIN1").is_err());
        assert!(s.set("standard_conforming_strings", "off").is_err());
        assert!(s.set("extra_float_digits", "4").is_err());
        s.set("extra_float_digits", "3").unwrap();
    }

    #[test]
    fn typed_accessors() {
        let mut s = SessionSettings::new(PasswordEncryption::Md5, 10_000);
        assert_eq!(s.password_encryption(), PasswordEncryption::Md5);
        assert_eq!(s.scram_iterations(), 10_000);
        s.set("password_encryption", "SCRAM-SHA-256").unwrap();
        s.set("scram_iterations", "5000").unwrap();
        assert_eq!(s.password_encryption(), PasswordEncryption::ScramSha256);
        assert_eq!(s.scram_iterations(), 5000);
        s.reset_all();
        assert_eq!(s.password_encryption(), PasswordEncryption::Md5);
        assert_eq!(s.scram_iterations(), 10_000);
    }

    #[test]
    fn startup_values_become_reset_values() {
        let mut s = SessionSettings::default();
        s.set_startup("application_name", "psql\u{e9}").unwrap();
        s.set("application_name", "other").unwrap();
        s.reset("application_name").unwrap();
        assert_eq!(s.get("application_name").unwrap(), "psql?");
    }

    #[test]
    fn custom_dotted_parameters() {
        let mut s = SessionSettings::default();
        s.set("MyApp.Tenant", "42").unwrap();
        assert_eq!(s.show("myapp.tenant").unwrap().1, "42");
        assert!(s.show("myapp.other").is_err());
    }

    #[test]
    fn reported_parameters_include_scram_iterations() {
        let s = SessionSettings::default();
        let names: Vec<_> = s.reported().into_iter().map(|(n, _)| n).collect();
        for n in [
            "scram_iterations",
            "server_version",
            "client_encoding",
            "DateStyle",
            "TimeZone",
            "integer_datetimes",
            "standard_conforming_strings",
            "application_name",
            "is_superuser",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert!(!names.contains(&"password_encryption"));
    }
}
