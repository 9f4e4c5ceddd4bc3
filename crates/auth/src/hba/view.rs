//! The rows of PostgreSQL's `pg_hba_file_rules` view: every line of the file (and of the
//! files it includes), parsed or not, with the error column filled for bad lines.

use super::parse::{AddressSpec, HbaOptions, HbaRule, parse_line};
use super::source::ConfigSource;
use super::token::Tokenizer;
use super::{ClientCert, HbaMessage};

/// One row of `pg_hba_file_rules`. `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaFileRule {
    /// Position among the valid rules (1-based); NULL for a line with an error.
    pub rule_number: Option<u32>,
    /// The file that holds the line.
    pub file_name: String,
    /// The line's number in that file.
    pub line_number: u32,
    /// `local`, `host`, `hostssl`, ...
    pub conn_type: Option<String>,
    /// The database tokens, as written without quotes.
    pub database: Option<Vec<String>>,
    /// The user tokens, as written without quotes.
    pub user_name: Option<Vec<String>>,
    /// The address, host name or keyword; NULL for `local`.
    pub address: Option<String>,
    /// The netmask of a numeric address.
    pub netmask: Option<String>,
    /// The method name, e.g. `scram-sha-256`.
    pub auth_method: Option<String>,
    /// `clientcert=...`, the one option PostgreSQL lists here.
    pub options: Option<Vec<String>>,
    /// Why the line is not a rule, or why the rule can never match.
    pub error: Option<String>,
}

/// The view for the file at `path`. Only an unreadable top-level file is an `Err`
/// (PostgreSQL raises an error then); every other problem is a row.
pub fn file_rules(
    path: &str,
    source: &dyn ConfigSource,
    opts: &HbaOptions,
) -> Result<Vec<HbaFileRule>, HbaMessage> {
    let tokenizer = Tokenizer::new(source);
    let text = tokenizer.open_top(path).map_err(|message| HbaMessage {
        message,
        file: path.to_owned(),
        line: None,
    })?;
    Ok(file_rules_from_str(path, &text, source, opts))
}

/// The view for `text`, the contents of `path` (includes are read from `source`).
pub fn file_rules_from_str(
    path: &str,
    text: &str,
    source: &dyn ConfigSource,
    opts: &HbaOptions,
) -> Vec<HbaFileRule> {
    let mut tokenizer = Tokenizer::new(source);
    let mut lines = Vec::new();
    tokenizer.tokenize(path, text, &mut lines, 0);
    let mut rule_number = 0u32;
    let mut rows = Vec::with_capacity(lines.len());
    for line in lines {
        let (rule, error) = match &line.error {
            Some(e) => (None, Some(e.clone())),
            None => match parse_line(&line, opts) {
                Ok(rule) => {
                    let warning = rule.warning.clone();
                    (Some(rule), warning)
                }
                Err(e) => (None, Some(e)),
            },
        };
        if error.is_none() {
            rule_number += 1;
        }
        rows.push(row(
            rule.as_ref(),
            &line.file,
            line.line,
            rule_number,
            error,
        ));
    }
    rows
}

fn row(
    rule: Option<&HbaRule>,
    file: &str,
    line: u32,
    rule_number: u32,
    error: Option<String>,
) -> HbaFileRule {
    let mut out = HbaFileRule {
        rule_number: if error.is_none() {
            Some(rule_number)
        } else {
            None
        },
        file_name: file.to_owned(),
        line_number: line,
        conn_type: None,
        database: None,
        user_name: None,
        address: None,
        netmask: None,
        auth_method: None,
        options: None,
        error,
    };
    let Some(rule) = rule else {
        return out;
    };
    out.conn_type = Some(rule.conn_type.as_str().to_owned());
    out.database = Some(rule.databases.iter().map(|t| t.text().to_owned()).collect());
    out.user_name = Some(rule.users.iter().map(|t| t.text().to_owned()).collect());
    match &rule.address {
        None => {}
        Some(AddressSpec::All) => out.address = Some("all".into()),
        Some(AddressSpec::SameHost) => out.address = Some("samehost".into()),
        Some(AddressSpec::SameNet) => out.address = Some("samenet".into()),
        Some(AddressSpec::Hostname(h)) => out.address = Some(h.clone()),
        Some(AddressSpec::Net { addr, mask }) => {
            out.address = Some(addr.to_string());
            out.netmask = Some(mask.to_string());
        }
    }
    out.auth_method = Some(rule.method.as_str().to_owned());
    // PostgreSQL lists clientcert here but not clientname.
    if let Some(cc) = rule.clientcert {
        let value = match cc {
            ClientCert::VerifyCa => "verify-ca",
            ClientCert::VerifyFull => "verify-full",
        };
        out.options = Some(vec![format!("clientcert={value}")]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::source::MemorySource;
    use super::*;

    #[test]
    fn rows_for_good_and_bad_lines() {
        let src = MemorySource::new()
            .with_file(
                "/d/pg_hba.conf",
                "local all all trust\n\
                 host db \"u\",/^x 10.0.0.0/33 md5\n\
                 hostssl all all 192.168.0.0 255.255.0.0 scram-sha-256 clientcert=verify-ca clientname=DN\n\
                 include inc.conf\n",
            )
            .with_file("/d/inc.conf", "host all all ::1/128 reject\n");
        let rows = file_rules("/d/pg_hba.conf", &src, &HbaOptions::default()).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].rule_number, Some(1));
        assert_eq!(rows[0].conn_type.as_deref(), Some("local"));
        assert_eq!(rows[0].address, None);
        assert_eq!(rows[1].rule_number, None);
        assert_eq!(rows[1].line_number, 2);
        assert_eq!(rows[1].conn_type, None);
        assert_eq!(
            rows[1].error.as_deref(),
            Some("invalid CIDR mask in address \"10.0.0.0/33\"")
        );
        assert_eq!(rows[2].rule_number, Some(2));
        assert_eq!(rows[2].address.as_deref(), Some("192.168.0.0"));
        assert_eq!(rows[2].netmask.as_deref(), Some("255.255.0.0"));
        assert_eq!(
            rows[2].options,
            Some(vec!["clientcert=verify-ca".to_owned()])
        );
        assert_eq!(rows[3].file_name, "/d/inc.conf");
        assert_eq!(rows[3].line_number, 1);
        assert_eq!(rows[3].rule_number, Some(3));
        assert_eq!(
            rows[3].netmask.as_deref(),
            Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert_eq!(rows[3].auth_method.as_deref(), Some("reject"));
    }

    #[test]
    fn database_and_user_columns_keep_token_text() {
        let src = MemorySource::new();
        let rows = file_rules_from_str(
            "/d/h",
            "local \"all\",sameuser,/^r all,+g trust\n",
            &src,
            &HbaOptions::default(),
        );
        assert_eq!(
            rows[0].database,
            Some(vec!["all".into(), "sameuser".into(), "/^r".into()])
        );
        assert_eq!(rows[0].user_name, Some(vec!["all".into(), "+g".into()]));
    }

    #[test]
    fn warning_rows_keep_fields_but_lose_their_number() {
        let rows = file_rules_from_str(
            "/d/h",
            "hostssl all all all md5\nlocal all all trust\n",
            &MemorySource::new(),
            &HbaOptions { ssl_enabled: false },
        );
        assert_eq!(rows[0].rule_number, None);
        assert_eq!(rows[0].conn_type.as_deref(), Some("hostssl"));
        assert!(rows[0].error.is_some());
        assert_eq!(rows[1].rule_number, Some(1));
    }

    #[test]
    fn unreadable_top_file_is_an_error() {
        let e = file_rules("/d/none", &MemorySource::new(), &HbaOptions::default()).unwrap_err();
        assert_eq!(
            e.message,
            "could not open file \"/d/none\": No such file or directory"
        );
    }
}
