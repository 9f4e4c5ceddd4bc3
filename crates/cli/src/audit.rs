//! `pgscram audit`: what stands between a cluster and SCRAM-only authentication.
//!
//! ```text
//! pg_authid (login roles) ──classify──▶ secret kind, iterations ──▶ verdict per role
//! SHOW password_encryption, scram_iterations ──▶ are new passwords stored as SCRAM?
//! pg_hba_file_rules + memberships ──▶ md5/password lines whose roles have all upgraded
//! ```
//!
//! Exit status: 0 when nothing needs work, 1 when a role or the setting does, 2 on error.
//! hba lines are advice (switching them is the last step of a migration), so they do not
//! change the exit status. The secrets read from pg_authid are classified and wiped;
//! they are never printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use pgscram_client::{Connection, QueryResult};
use pgscram_scram::{DEFAULT_ITERATIONS, StoredSecret};
use pgscram_wire::SqlState;
use serde::Serialize;
use zeroize::Zeroize as _;

use crate::args::AuditOptions;
use crate::login;
use crate::sql::parse_text_array;

/// What a role's `rolpassword` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Scram,
    Md5,
    Plaintext,
    /// Starts like a SCRAM verifier but does not parse: no login can use it.
    Invalid,
    None,
}

impl SecretKind {
    fn name(self) -> &'static str {
        match self {
            SecretKind::Scram => "scram-sha-256",
            SecretKind::Md5 => "md5",
            SecretKind::Plaintext => "plaintext",
            SecretKind::Invalid => "invalid",
            SecretKind::None => "none",
        }
    }

    /// True when the role blocks switching an md5 line to scram-sha-256.
    fn blocks_scram(self) -> bool {
        matches!(
            self,
            SecretKind::Md5 | SecretKind::Plaintext | SecretKind::Invalid
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Upgrade,
    WeakIterations,
    NoPassword,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Upgrade => "upgrade",
            Verdict::WeakIterations => "weak iterations",
            Verdict::NoPassword => "no password",
        }
    }

    fn needs_work(self) -> bool {
        matches!(self, Verdict::Upgrade | Verdict::WeakIterations)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAudit {
    pub name: String,
    pub kind: SecretKind,
    pub iterations: Option<u32>,
    pub valid_until: Option<String>,
    pub verdict: Verdict,
}

/// Classifies one `rolpassword` value. `min_iterations` is the weakest count accepted.
pub fn audit_role(
    name: &str,
    secret: Option<&str>,
    valid_until: Option<&str>,
    min_iterations: u32,
) -> RoleAudit {
    let (kind, iterations) = match secret {
        None | Some("") => (SecretKind::None, None),
        Some(text) => match StoredSecret::classify(text) {
            Ok(StoredSecret::Scram(v)) => (SecretKind::Scram, Some(v.iterations())),
            Ok(StoredSecret::Md5(_)) => (SecretKind::Md5, None),
            Ok(StoredSecret::Plaintext) => (SecretKind::Plaintext, None),
            Err(_) => (SecretKind::Invalid, None),
        },
    };
    let verdict = match (kind, iterations) {
        (SecretKind::None, _) => Verdict::NoPassword,
        (SecretKind::Scram, Some(n)) if n < min_iterations => Verdict::WeakIterations,
        (SecretKind::Scram, _) => Verdict::Ok,
        _ => Verdict::Upgrade,
    };
    RoleAudit {
        name: name.to_owned(),
        kind,
        iterations,
        valid_until: valid_until.map(str::to_owned),
        verdict,
    }
}

/// One pg_hba.conf line that takes passwords in a weaker way than SCRAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaFinding {
    pub line: u32,
    pub conn_type: String,
    pub database: Vec<String>,
    pub users: Vec<String>,
    pub address: Option<String>,
    pub method: String,
    /// Login roles matching the line whose secrets SCRAM cannot use, sorted.
    pub waiting_for: Vec<String>,
    /// The user column has entries that cannot be evaluated here (`/regex`): every
    /// login role was counted as matching.
    pub approximate: bool,
}

impl HbaFinding {
    pub fn can_switch(&self) -> bool {
        self.waiting_for.is_empty()
    }
}

/// A row of pg_hba_file_rules, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRow {
    pub line: u32,
    pub conn_type: String,
    pub database: Vec<String>,
    pub users: Vec<String>,
    pub address: Option<String>,
    pub method: String,
}

/// Finds md5 and password lines and the roles each waits for. `memberships` maps a
/// role to every role it is a member of, directly or not (for `+group`).
pub fn hba_findings(
    rows: &[HbaRow],
    roles: &[RoleAudit],
    memberships: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<HbaFinding> {
    let mut findings = Vec::new();
    for row in rows {
        if row.method != "md5" && row.method != "password" {
            continue;
        }
        let mut approximate = false;
        let mut waiting = BTreeSet::new();
        for role in roles {
            let matches = row.users.iter().any(|user| {
                if user == "all" {
                    true
                } else if let Some(group) = user.strip_prefix('+') {
                    role.name == group
                        || memberships
                            .get(&role.name)
                            .is_some_and(|groups| groups.contains(group))
                } else if user.starts_with('/') {
                    approximate = true;
                    true
                } else {
                    *user == role.name
                }
            });
            if matches && role.kind.blocks_scram() {
                waiting.insert(role.name.clone());
            }
        }
        findings.push(HbaFinding {
            line: row.line,
            conn_type: row.conn_type.clone(),
            database: row.database.clone(),
            users: row.users.clone(),
            address: row.address.clone(),
            method: row.method.clone(),
            waiting_for: waiting.into_iter().collect(),
            approximate,
        });
    }
    findings
}

/// pg_hba.conf as far as the server let us see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HbaStatus {
    Read {
        findings: Vec<HbaFinding>,
        /// Lines the server could not parse, with its error text.
        errors: Vec<(u32, String)>,
    },
    NotReadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub password_encryption: String,
    pub scram_iterations: Option<u32>,
    pub min_iterations: u32,
    pub roles: Vec<RoleAudit>,
    pub hba: HbaStatus,
}

impl Report {
    pub fn password_encryption_ok(&self) -> bool {
        self.password_encryption == "scram-sha-256"
    }

    pub fn clean(&self) -> bool {
        self.password_encryption_ok() && !self.roles.iter().any(|r| r.verdict.needs_work())
    }

    /// How far the migration has come: login roles on SCRAM, and those still on md5
    /// (each moves over at its next TLS login under `upgrade_md5_on_login`).
    pub fn progress(&self) -> String {
        let count = |kind| self.roles.iter().filter(|r| r.kind == kind).count();
        format!(
            "progress: {} of {} login roles on scram-sha-256, {} still md5",
            count(SecretKind::Scram),
            self.roles.len(),
            count(SecretKind::Md5)
        )
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "password_encryption: {} ({})",
            self.password_encryption,
            if self.password_encryption_ok() {
                "ok"
            } else {
                "upgrade: new passwords are stored as md5; set it to scram-sha-256"
            }
        );
        let _ = writeln!(
            out,
            "scram_iterations: {}; weak below {}",
            self.scram_iterations.map_or_else(
                || "4096 (fixed before PostgreSQL 16)".to_owned(),
                |n| n.to_string()
            ),
            self.min_iterations
        );
        let _ = writeln!(out, "{}", self.progress());
        out.push('\n');
        let headers = ["ROLE", "SECRET", "ITERATIONS", "VALID UNTIL", "VERDICT"];
        let rows: Vec<[String; 5]> = self
            .roles
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.kind.name().to_owned(),
                    r.iterations
                        .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    r.valid_until.clone().unwrap_or_else(|| "-".to_owned()),
                    r.verdict.name().to_owned(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = |cells: [&str; 5]| {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    let _ = write!(text, "{cell:<w$}  ");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(headers);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        out.push_str("\npg_hba.conf:\n");
        match &self.hba {
            HbaStatus::NotReadable(reason) => {
                let _ = writeln!(out, "  not checked: {reason}");
            }
            HbaStatus::Read { findings, errors } => {
                if findings.is_empty() {
                    out.push_str("  no md5 or password lines\n");
                }
                for f in findings {
                    let _ = write!(
                        out,
                        "  line {}: {} {} {}{} {}: ",
                        f.line,
                        f.conn_type,
                        f.database.join(","),
                        f.users.join(","),
                        f.address
                            .as_deref()
                            .map(|a| format!(" {a}"))
                            .unwrap_or_default(),
                        f.method
                    );
                    if f.can_switch() {
                        out.push_str("can switch to scram-sha-256");
                    } else {
                        let _ = write!(out, "waiting for {}", f.waiting_for.join(", "));
                    }
                    if f.approximate {
                        out.push_str(" (regular expression in the user column: all roles counted)");
                    }
                    out.push('\n');
                }
                for (line, error) in errors {
                    let _ = writeln!(out, "  line {line}: error: {error}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{}",
            if self.clean() {
                "clean: every password is a SCRAM secret"
            } else {
                "work to do: see the verdicts above"
            }
        );
        out
    }

    /// The report as one JSON object and a newline, for scripts (`--json`).
    pub fn json(&self) -> String {
        let roles = self
            .roles
            .iter()
            .map(|r| JsonRole {
                role: &r.name,
                secret: r.kind.name(),
                iterations: r.iterations,
                valid_until: r.valid_until.as_deref(),
                verdict: r.verdict.name(),
            })
            .collect();
        let hba = match &self.hba {
            HbaStatus::NotReadable(reason) => JsonHba::NotReadable {
                readable: false,
                reason,
            },
            HbaStatus::Read { findings, errors } => JsonHba::Read {
                readable: true,
                lines: findings
                    .iter()
                    .map(|f| JsonHbaLine {
                        line: f.line,
                        conn_type: &f.conn_type,
                        database: &f.database,
                        users: &f.users,
                        address: f.address.as_deref(),
                        method: &f.method,
                        can_switch: f.can_switch(),
                        waiting_for: &f.waiting_for,
                        approximate: f.approximate,
                    })
                    .collect(),
                errors: errors
                    .iter()
                    .map(|(line, error)| JsonHbaError { line: *line, error })
                    .collect(),
            },
        };
        let report = JsonReport {
            clean: self.clean(),
            password_encryption: JsonSetting {
                value: &self.password_encryption,
                ok: self.password_encryption_ok(),
            },
            scram_iterations: self.scram_iterations,
            min_iterations: self.min_iterations,
            roles,
            hba,
        };
        // Strings, numbers and lists only: serializing into a String cannot fail.
        let mut out = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
        out.push('\n');
        out
    }
}

// The `--json` document. Field names and order are the format scripts read; serde_json
// does all quoting, so role names and server error texts cannot break the document.

#[derive(Serialize)]
struct JsonReport<'a> {
    clean: bool,
    password_encryption: JsonSetting<'a>,
    scram_iterations: Option<u32>,
    min_iterations: u32,
    roles: Vec<JsonRole<'a>>,
    hba: JsonHba<'a>,
}

#[derive(Serialize)]
struct JsonSetting<'a> {
    value: &'a str,
    ok: bool,
}

#[derive(Serialize)]
struct JsonRole<'a> {
    role: &'a str,
    secret: &'static str,
    iterations: Option<u32>,
    valid_until: Option<&'a str>,
    verdict: &'static str,
}

/// `readable` tells the two shapes apart, as before: no tag of serde's own.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonHba<'a> {
    Read {
        readable: bool,
        lines: Vec<JsonHbaLine<'a>>,
        errors: Vec<JsonHbaError<'a>>,
    },
    NotReadable {
        readable: bool,
        reason: &'a str,
    },
}

#[derive(Serialize)]
struct JsonHbaLine<'a> {
    line: u32,
    #[serde(rename = "type")]
    conn_type: &'a str,
    database: &'a [String],
    users: &'a [String],
    address: Option<&'a str>,
    method: &'a str,
    can_switch: bool,
    waiting_for: &'a [String],
    approximate: bool,
}

#[derive(Serialize)]
struct JsonHbaError<'a> {
    line: u32,
    error: &'a str,
}

pub fn run(options: &AuditOptions) -> anyhow::Result<ExitCode> {
    let mut config = login::config(&options.conninfo)?;
    let report = login::block_on(async {
        let mut connection = login::connect(&mut config).await?;
        let report = collect(&mut connection, options.min_iterations).await;
        connection.close().await;
        report
    })??;
    if options.json {
        print!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn query(connection: &mut Connection, sql: &str) -> anyhow::Result<QueryResult> {
    connection
        .query(sql)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn cell(row: &[Option<String>], index: usize) -> Option<&str> {
    row.get(index).and_then(|c| c.as_deref())
}

async fn collect(
    connection: &mut Connection,
    min_iterations: Option<u32>,
) -> anyhow::Result<Report> {
    let password_encryption = cell(
        query(connection, "SHOW password_encryption")
            .await?
            .rows
            .first()
            .map_or(&[][..], Vec::as_slice),
        0,
    )
    .unwrap_or_default()
    .to_owned();
    let scram_iterations = match connection.query("SHOW scram_iterations").await {
        Ok(result) => result
            .rows
            .first()
            .and_then(|r| cell(r, 0))
            .and_then(|t| t.parse::<u32>().ok()),
        Err(e) if e.sqlstate() == Some(SqlState::UNDEFINED_OBJECT) => None,
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let min_iterations =
        min_iterations.unwrap_or_else(|| DEFAULT_ITERATIONS.max(scram_iterations.unwrap_or(0)));

    let mut secrets = connection
        .query(
            "SELECT rolname, rolpassword, rolvaliduntil::text FROM pg_catalog.pg_authid \
             WHERE rolcanlogin ORDER BY rolname",
        )
        .await
        .map_err(|e| {
            if e.sqlstate() == Some(SqlState::INSUFFICIENT_PRIVILEGE) {
                anyhow::anyhow!("{e}").context("audit reads pg_authid: connect as a superuser")
            } else {
                anyhow::anyhow!("{e}")
            }
        })?;
    let roles: Vec<RoleAudit> = secrets
        .rows
        .iter()
        .map(|row| {
            audit_role(
                cell(row, 0).unwrap_or_default(),
                cell(row, 1),
                cell(row, 2),
                min_iterations,
            )
        })
        .collect();
    for row in &mut secrets.rows {
        for value in row.iter_mut().flatten() {
            value.zeroize();
        }
    }

    let hba = read_hba(connection, &roles).await?;
    Ok(Report {
        password_encryption,
        scram_iterations,
        min_iterations,
        roles,
        hba,
    })
}

async fn read_hba(connection: &mut Connection, roles: &[RoleAudit]) -> anyhow::Result<HbaStatus> {
    let rules = match connection
        .query(
            "SELECT line_number, type, database, user_name, address, auth_method, error \
             FROM pg_catalog.pg_hba_file_rules ORDER BY line_number",
        )
        .await
    {
        Ok(rules) => rules,
        Err(e) if e.sqlstate() == Some(SqlState::INSUFFICIENT_PRIVILEGE) => {
            return Ok(HbaStatus::NotReadable(format!(
                "pg_hba_file_rules is not readable by this user ({})",
                e.server_error()
                    .map_or("permission denied", |f| f.message.as_str())
            )));
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for row in &rules.rows {
        let line = cell(row, 0)
            .and_then(|t| t.parse::<u32>().ok())
            .context("pg_hba_file_rules returned a line without a number")?;
        if let Some(error) = cell(row, 6) {
            errors.push((line, error.to_owned()));
            continue;
        }
        let list = |i: usize| -> anyhow::Result<Vec<String>> {
            match cell(row, i) {
                None => Ok(Vec::new()),
                Some(text) => Ok(parse_text_array(text)?.into_iter().flatten().collect()),
            }
        };
        rows.push(HbaRow {
            line,
            conn_type: cell(row, 1).unwrap_or_default().to_owned(),
            database: list(2)?,
            users: list(3)?,
            address: cell(row, 4).map(str::to_owned),
            method: cell(row, 5).unwrap_or_default().to_owned(),
        });
    }
    let needs_groups = rows
        .iter()
        .any(|r| r.users.iter().any(|u| u.starts_with('+')));
    let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if needs_groups {
        let members = query(
            connection,
            "WITH RECURSIVE m(member, roleid) AS ( \
               SELECT member, roleid FROM pg_catalog.pg_auth_members \
               UNION SELECT m.member, a.roleid FROM m \
               JOIN pg_catalog.pg_auth_members a ON a.member = m.roleid) \
             SELECT u.rolname, g.rolname FROM m \
             JOIN pg_catalog.pg_roles u ON u.oid = m.member \
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid",
        )
        .await?;
        for row in &members.rows {
            if let (Some(user), Some(group)) = (cell(row, 0), cell(row, 1)) {
                memberships
                    .entry(user.to_owned())
                    .or_default()
                    .insert(group.to_owned());
            }
        }
    }
    Ok(HbaStatus::Read {
        findings: hba_findings(&rows, roles, &memberships),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAM: &str = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";
    const MD5: &str = "md54ab2c5d00339c4b2a4e921d2dc4edec7";

    #[test]
    fn verdicts() {
        let v = |secret: Option<&str>, min| audit_role("r", secret, None, min);
        assert_eq!(v(Some(SCRAM), 4096).verdict, Verdict::Ok);
        assert_eq!(v(Some(SCRAM), 4096).iterations, Some(4096));
        assert_eq!(v(Some(SCRAM), 10_000).verdict, Verdict::WeakIterations);
        assert_eq!(v(Some(MD5), 4096).verdict, Verdict::Upgrade);
        assert_eq!(v(Some(MD5), 4096).kind, SecretKind::Md5);
        assert_eq!(v(Some("hunter2"), 4096).kind, SecretKind::Plaintext);
        assert_eq!(v(Some("hunter2"), 4096).verdict, Verdict::Upgrade);
        assert_eq!(
            v(Some("SCRAM-SHA-256$0:AAAA$AAAA:AAAA"), 4096).kind,
            SecretKind::Invalid
        );
        assert_eq!(v(None, 4096).verdict, Verdict::NoPassword);
        assert!(!Verdict::NoPassword.needs_work());
    }

    fn roles() -> Vec<RoleAudit> {
        vec![
            audit_role("alice", Some(MD5), None, 4096),
            audit_role("bob", Some(SCRAM), None, 4096),
            audit_role("carol", Some(MD5), None, 4096),
            audit_role("postgres", None, None, 4096),
        ]
    }

    fn row(line: u32, users: &[&str], method: &str) -> HbaRow {
        HbaRow {
            line,
            conn_type: "host".into(),
            database: vec!["all".into()],
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            address: Some("127.0.0.1".into()),
            method: method.into(),
        }
    }

    #[test]
    fn hba_lines_wait_for_matching_roles() {
        let mut groups = BTreeMap::new();
        groups.insert("carol".to_owned(), BTreeSet::from(["staff".to_owned()]));
        let rows = [
            row(1, &["all"], "trust"),
            row(2, &["bob"], "md5"),
            row(3, &["+staff"], "md5"),
            row(4, &["all"], "password"),
            row(5, &["/^a"], "md5"),
            row(6, &["alice", "bob"], "scram-sha-256"),
        ];
        let findings = hba_findings(&rows, &roles(), &groups);
        let by_line: Vec<(u32, bool, Vec<String>)> = findings
            .iter()
            .map(|f| (f.line, f.can_switch(), f.waiting_for.clone()))
            .collect();
        assert_eq!(
            by_line,
            vec![
                (2, true, vec![]),
                (3, false, vec!["carol".to_owned()]),
                (4, false, vec!["alice".to_owned(), "carol".to_owned()]),
                (5, false, vec!["alice".to_owned(), "carol".to_owned()]),
            ]
        );
        assert!(findings[3].approximate);
    }

    fn report(roles: Vec<RoleAudit>, encryption: &str) -> Report {
        Report {
            password_encryption: encryption.into(),
            scram_iterations: None,
            min_iterations: 4096,
            hba: HbaStatus::Read {
                findings: hba_findings(&[row(3, &["all"], "md5")], &roles, &BTreeMap::new()),
                errors: vec![],
            },
            roles,
        }
    }

    #[test]
    fn clean_needs_scram_everywhere() {
        assert!(!report(roles(), "scram-sha-256").clean());
        let upgraded = vec![
            audit_role("bob", Some(SCRAM), None, 4096),
            audit_role("postgres", None, None, 4096),
        ];
        assert!(report(upgraded.clone(), "scram-sha-256").clean());
        assert!(!report(upgraded, "md5").clean());
    }

    #[test]
    fn table_and_json_never_show_secrets() {
        let r = report(roles(), "md5");
        let table = r.table();
        assert!(table.contains("alice     md5"), "{table}");
        assert!(
            table.contains("progress: 1 of 4 login roles on scram-sha-256, 2 still md5"),
            "{table}"
        );
        assert!(table.contains("line 3: host all all 127.0.0.1 md5: waiting for alice, carol"));
        assert!(table.contains("work to do"));
        let json = r.json();
        assert!(json.starts_with("{\"clean\":false,"), "{json}");
        assert!(json.contains("{\"role\":\"bob\",\"secret\":\"scram-sha-256\",\"iterations\":4096,\"valid_until\":null,\"verdict\":\"ok\"}"));
        assert!(json.contains("\"waiting_for\":[\"alice\",\"carol\"]"));
        for text in [&table, &json] {
            assert!(!text.contains("4ab2c5d0"));
            assert!(!text.contains("8rrDg00"));
        }
    }

    /// Role names and server texts are arbitrary: the document still parses back to
    /// them, on one line.
    #[test]
    fn json_escapes_names_and_errors() {
        let name = "a\"b\\c\n\u{1}";
        let mut r = report(vec![audit_role(name, Some(MD5), None, 4096)], "md5");
        r.hba = HbaStatus::Read {
            findings: vec![],
            errors: vec![(7, "bad \"line\"\n".to_owned())],
        };
        let json = r.json();
        assert_eq!(json.lines().count(), 1, "{json}");
        assert!(
            json.contains(r#"{"role":"a\"b\\c\n\u0001","secret":"md5""#),
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["roles"][0]["role"], name);
        assert_eq!(value["hba"]["errors"][0]["error"], "bad \"line\"\n");
        assert_eq!(value["hba"]["readable"], true);
        r.hba = HbaStatus::NotReadable("permission \"denied\"".into());
        let json = r.json();
        assert!(
            json.ends_with(
                ",\"hba\":{\"readable\":false,\"reason\":\"permission \\\"denied\\\"\"}}\n"
            ),
            "{json}"
        );
    }
}
