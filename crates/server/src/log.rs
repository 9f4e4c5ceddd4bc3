//! Server log lines in PostgreSQL's shape (`2026-11-24 13:40:00.123 UTC [pid] LOG:  ...`)
//! on standard error. Secrets never reach this module: callers pass reasons and names,
//! never passwords, proofs, keys or verifiers.
//!
//! Each connection runs inside [`scope`] with its own pid, so lines written for it carry
//! that pid even where the caller does not know it (callers pass 0). Control characters
//! in a message (a role name with a newline in it) are escaped, so a client cannot
//! forge log lines.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

tokio::task_local! {
    static PID: i32;
}

/// Runs `future` as connection `pid`: log lines written inside it carry that pid.
pub async fn scope<F: Future>(pid: i32, future: F) -> F::Output {
    PID.scope(pid, future).await
}

/// The pid of the connection the current task serves, if any.
pub fn current_pid() -> Option<i32> {
    PID.try_with(|pid| *pid).ok()
}

/// Severity words as PostgreSQL prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Log,
    Fatal,
    Warning,
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

/// Writes one log line for session `pid`; 0 means the current connection's pid when
/// inside [`scope`], else the postmaster-like listener.
pub fn line(pid: i32, level: Level, message: &str) {
    // Best effort: a closed or full stderr must never take a session down (eprintln!
    // would panic on EPIPE).
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        format_line(pid, level, message, SystemTime::now())
    );
}

/// The text of one log line, without the newline.
pub fn format_line(pid: i32, level: Level, message: &str, at: SystemTime) -> String {
    let pid = if pid == 0 {
        current_pid().unwrap_or(0)
    } else {
        pid
    };
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

    #[tokio::test]
    async fn lines_inside_a_scope_carry_its_pid() {
        assert_eq!(current_pid(), None);
        let inside = scope(4242, async {
            (current_pid(), format_line(0, Level::Log, "hi", UNIX_EPOCH))
        })
        .await;
        assert_eq!(inside.0, Some(4242));
        assert_eq!(inside.1, "1970-01-01 00:00:00.000 UTC [4242] LOG:  hi");
        assert_eq!(
            format_line(0, Level::Log, "hi", UNIX_EPOCH),
            "1970-01-01 00:00:00.000 UTC [0] LOG:  hi"
        );
    }
}
