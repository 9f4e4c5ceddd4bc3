//! `timestamptz` values for `VALID UNTIL` and the SQL bridge, without a clock.
//!
//! Stored as text in PostgreSQL's own output style with `TimeZone = UTC`
//! (`2030-01-01 00:00:00+00`, an ISO 8601 form): the catalog file reads naturally, the
//! views show what psql would show, and equal-width text sorts like the instants.
//! "Now" always comes from the caller, so expiry checks are testable and the crate stays
//! free of hidden time sources.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// An instant in UTC with microsecond precision, or one of PostgreSQL's infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timestamp {
    /// `-infinity`: before every instant.
    NegInfinity,
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    At(i64),
    /// `infinity`: after every instant.
    Infinity,
}

/// Why a string is not a timestamp we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampError(String);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid input syntax for type timestamp with time zone: \"{}\"",
            self.0
        )
    }
}

impl std::error::Error for TimestampError {}

impl Timestamp {
    /// The instant `micros` microseconds after the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp::At(micros)
    }

    /// Converts a clock reading the caller took (before 1970 counts as the epoch).
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let micros = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::At(micros)
    }

    /// Parses the forms people write in `VALID UNTIL` and casts: `infinity`,
    /// `-infinity`, `epoch`, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.ffffff]]` (or with `T`),
    /// optionally followed by `Z`, `UTC`, `GMT`, `+HH`, `+HHMM` or `+HH:MM`. Without a
    /// zone the value is taken as UTC (the only TimeZone this database renders).
    pub fn parse(input: &str) -> Result<Timestamp, TimestampError> {
        let err = || TimestampError(input.chars().take(64).collect());
        let s = input.trim();
        match s.to_ascii_lowercase().as_str() {
            "infinity" | "+infinity" => return Ok(Timestamp::Infinity),
            "-infinity" => return Ok(Timestamp::NegInfinity),
            "epoch" => return Ok(Timestamp::At(0)),
            _ => {}
        }
        let b = s.as_bytes();
        let (year, month, day, mut i) = parse_date(b).ok_or_else(err)?;
        let (mut hour, mut minute, mut second, mut micros) = (0i64, 0i64, 0i64, 0i64);
        if i < b.len() && (b[i] == b' ' || b[i] == b'T' || b[i] == b't') {
            let mut j = i + 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                hour = digits(b, &mut j, 1, 2).ok_or_else(err)?;
                expect(b, &mut j, b':').ok_or_else(err)?;
                minute = digits(b, &mut j, 2, 2).ok_or_else(err)?;
                if j < b.len() && b[j] == b':' {
                    j += 1;
                    second = digits(b, &mut j, 2, 2).ok_or_else(err)?;
                    if j < b.len() && b[j] == b'.' {
                        j += 1;
                        let start = j;
                        let mut frac = 0i64;
                        let mut n = 0;
                        while j < b.len() && b[j].is_ascii_digit() {
                            if n < 6 {
                                frac = frac * 10 + i64::from(b[j] - b'0');
                                n += 1;
                            }
                            j += 1;
                        }
                        if j == start {
                            return Err(err());
                        }
                        while n < 6 {
                            frac *= 10;
                            n += 1;
                        }
                        micros = frac;
                    }
                }
                i = j;
            }
        }
        let offset_secs = parse_zone(&b[i..]).ok_or_else(err)?;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 24
            || minute > 59
            || second > 60
            || (hour == 24 && (minute, second, micros) != (0, 0, 0))
        {
            return Err(err());
        }
        let days = days_from_civil(year, month, day);
        let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
        Ok(Timestamp::At(secs * MICROS_PER_SEC + micros))
    }

    /// Whether the instant lies before `now` (an expired `VALID UNTIL`).
    pub fn is_before(self, now: Timestamp) -> bool {
        self < now
    }
}

/// PostgreSQL's text output with `TimeZone = UTC`: `2030-01-01 00:00:00+00`, fractional
/// seconds only when present, `infinity` / `-infinity`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timestamp::NegInfinity => f.write_str("-infinity"),
            Timestamp::Infinity => f.write_str("infinity"),
            Timestamp::At(micros) => {
                let secs = micros.div_euclid(MICROS_PER_SEC);
                let frac = micros.rem_euclid(MICROS_PER_SEC);
                let days = secs.div_euclid(SECS_PER_DAY);
                let tod = secs.rem_euclid(SECS_PER_DAY);
                let (y, m, d) = civil_from_days(days);
                write!(
                    f,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    y,
                    m,
                    d,
                    tod / 3600,
                    tod / 60 % 60,
                    tod % 60
                )?;
                if frac != 0 {
                    let s = format!("{frac:06}");
                    write!(f, ".{}", s.trim_end_matches('0'))?;
                }
                f.write_str("+00")
            }
        }
    }
}

fn parse_date(b: &[u8]) -> Option<(i64, i64, i64, usize)> {
    let mut i = 0;
    let year = digits(b, &mut i, 4, 4)?;
    expect(b, &mut i, b'-')?;
    let month = digits(b, &mut i, 1, 2)?;
    expect(b, &mut i, b'-')?;
    let day = digits(b, &mut i, 1, 2)?;
    (year >= 1).then_some((year, month, day, i))
}

fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<i64> {
    let start = *i;
    let mut v = 0i64;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        v = v * 10 + i64::from(b[*i] - b'0');
        *i += 1;
    }
    (*i - start >= min).then_some(v)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// The zone suffix, as seconds east of UTC.
fn parse_zone(rest: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(rest).ok()?.trim();
    if s.is_empty() || ["z", "utc", "gmt", "+00", "-00"].contains(&s.to_ascii_lowercase().as_str())
    {
        return Some(0);
    }
    let b = s.as_bytes();
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut i = 1;
    let hours = digits(b, &mut i, 1, 2)?;
    let mut minutes = 0;
    if i < b.len() {
        if b[i] == b':' {
            i += 1;
        }
        minutes = digits(b, &mut i, 2, 2)?;
    }
    (i == b.len() && hours <= 15 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms_to_the_same_instant() {
        let want = Timestamp::parse("2030-01-02 03:04:05+00").unwrap();
        for s in [
            "2030-01-02 03:04:05",
            "2030-01-02T03:04:05Z",
            "2030-01-02 03:04:05 UTC",
            "2030-01-02 05:04:05+02",
            "2030-01-02 05:34:05+02:30",
            "2030-01-01 23:04:05-0400",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "2030-01-02 03:04:05+00");
    }

    #[test]
    fn date_only_fractions_and_infinities() {
        assert_eq!(
            Timestamp::parse("2024-02-29").unwrap().to_string(),
            "2024-02-29 00:00:00+00"
        );
        assert_eq!(
            Timestamp::parse("2024-02-29 12:00:00.5")
                .unwrap()
                .to_string(),
            "2024-02-29 12:00:00.5+00"
        );
        assert_eq!(Timestamp::parse("Infinity").unwrap(), Timestamp::Infinity);
        assert_eq!(
            Timestamp::parse("-infinity").unwrap(),
            Timestamp::NegInfinity
        );
        assert_eq!(Timestamp::parse("epoch").unwrap(), Timestamp::At(0));
        assert_eq!(
            Timestamp::At(-1).to_string(),
            "1969-12-31 23:59:59.999999+00"
        );
    }

    #[test]
    fn rejects_garbage_and_impossible_dates() {
        for s in [
            "",
            "tomorrow",
            "2023-02-29",
            "2030-13-01",
            "2030-01-01 25:00",
            "2030-01-01 10:61",
            "2030-01-01 10:00 +99",
            "2030/01/01",
            "2030-01-01 10:00:00.",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
        let e = Timestamp::parse("junk").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input syntax for type timestamp with time zone: \"junk\""
        );
    }

    #[test]
    fn ordering_puts_infinities_at_the_ends() {
        let t = Timestamp::parse("2030-01-01").unwrap();
        assert!(Timestamp::NegInfinity < t && t < Timestamp::Infinity);
        assert!(t.is_before(Timestamp::parse("2030-01-01 00:00:01").unwrap()));
        assert!(!Timestamp::Infinity.is_before(t));
    }

    #[test]
    fn text_order_matches_instant_order() {
        let a = Timestamp::parse("2030-01-01 00:00:00").unwrap().to_string();
        let b = Timestamp::parse("2030-01-01 00:00:00.5")
            .unwrap()
            .to_string();
        let c = Timestamp::parse("2030-01-01 00:00:01").unwrap().to_string();
        assert!(a < b && b < c);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 10_957, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn system_time_conversion() {
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        assert_eq!(Timestamp::from_system_time(t), Timestamp::At(1_500_000));
    }
}
