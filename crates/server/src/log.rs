//! PostgreSQL's log-line shape (`2026-11-24 13:40:00.123 UTC [pid] LOG:  ...`) and the
//! timestamps of the audit log. The library writes no log itself: it emits `tracing`
//! events, and a program that wants PostgreSQL's text (the `pgscram` binary does) formats
//! them with [`format_line`].
//!
//! Control characters in a message (a role name with a newline in it) are escaped, so a
//! client cannot forge log lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// Severity words as PostgreSQL prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `LOG`: the server's own record of events.
    Log,
    /// `FATAL`: an error that ends a connection.
    Fatal,
    /// `WARNING`.
    Warning,
    /// `DETAIL`: more about the line before.
    Detail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Log => "LOG",
            Level::Fatal => "FATAL",
            Level::Warning => "WARNING",
            Level::Detail => "DETAIL",
        }
    }
}

/// The text of one log line, without the newline.
pub fn format_line(pid: i32, level: Level, message: &str, at: SystemTime) -> String {
    format!(
        "{} [{pid}] {}:  {}",
        timestamp(at),
        level.as_str(),
        escape_controls(message)
    )
}

/// Replaces control characters with visible escapes (`\n`, `\x1b`): one event, one line.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339), for machine-read audit events.
pub fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC`, without a date library.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000 UTC");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_960_800_123);
        assert_eq!(timestamp(t), "2026-11-29 14:00:00.123 UTC");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..10], "2000-02-29");
        assert_eq!(rfc3339(t), "2026-11-29T14:00:00.123Z");
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let line = format_line(
            7,
            Level::Fatal,
            "role \"a\n2026-01-01 00:00:00.000 UTC [1] LOG:  x\u{1b}\"",
            UNIX_EPOCH,
        );
        assert!(!line.contains('\n'));
        assert!(line.ends_with("role \"a\\n2026-01-01 00:00:00.000 UTC [1] LOG:  x\\x1b\""));
        assert_eq!(escape_controls("plain ünïcode"), "plain ünïcode");
    }
}
