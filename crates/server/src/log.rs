//! Server log lines in PostgreSQL's shape (`2026-11-24 13:40:00.123 UTC [pid] LOG:  ...`)
//! on standard error. Secrets never reach this module: callers pass reasons and names,
//! never passwords, proofs, keys or verifiers.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// Writes one log line for session `pid` (0 for the postmaster-like listener).
pub fn line(pid: i32, level: Level, message: &str) {
    // Best effort: a closed or full stderr must never take a session down (eprintln!
    // would panic on EPIPE).
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "{} [{pid}] {}:  {message}",
        timestamp(SystemTime::now()),
        level.as_str()
    );
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
    }
}
