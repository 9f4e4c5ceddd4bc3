//! `numeric` in PostgreSQL's binary format, from and to its text form.
//!
//! The binary value is five 16-bit fields, then the digits: `ndigits`, `weight` (the
//! power of 10000 of the first digit), `sign` (0x0000, 0x4000 negative, 0xC000 NaN,
//! 0xD000 and 0xF000 for ±Infinity), `dscale` (digits after the decimal point), and
//! `ndigits` base-10000 digits.

use crate::error::{SqlError, sqlstate};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

fn invalid(text: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type numeric: \"{text}\""),
    )
}

fn header(ndigits: usize, weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 2 * ndigits);
    out.extend_from_slice(&(ndigits as u16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    out
}

/// Encodes a numeric's text (`-12.50`, `1e3`, `NaN`, `Infinity`).
pub(crate) fn to_binary(text: &str) -> Result<Vec<u8>, SqlError> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(header(0, 0, NAN, 0)),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(header(0, 0, PINF, 0)),
        "-infinity" | "-inf" => return Ok(header(0, 0, NINF, 0)),
        _ => {}
    }
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (
            &body[..i],
            body[i + 1..].parse::<i32>().map_err(|_| invalid(text))?,
        ),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || exp.unsigned_abs() > 1000
    {
        return Err(invalid(text));
    }
    // All digits, and where the decimal point falls among them.
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let point = int.len() as i32 + exp;
    let dscale = (frac.len() as i32 - exp).max(0);
    // Pad so the point sits on a multiple of 4, then cut into base-10000 groups.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded = vec![0u8; lead as usize];
    padded.extend_from_slice(&digits);
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let mut groups: Vec<u16> = padded
        .chunks(4)
        .map(|c| c.iter().fold(0u16, |n, d| n * 10 + u16::from(*d)))
        .collect();
    let mut weight = (point + lead) / 4 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if negative && !groups.is_empty() {
        NEGATIVE
    } else {
        POSITIVE
    };
    let mut out = header(groups.len(), weight as i16, sign, dscale as u16);
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

/// Decodes a binary numeric into its text form.
pub(crate) fn from_binary(value: &[u8]) -> Result<String, SqlError> {
    let bad = || {
        SqlError::new(
            sqlstate::INVALID_BINARY_REPRESENTATION,
            "incorrect binary data format for type numeric",
        )
    };
    let field = |i: usize| -> Result<u16, SqlError> {
        value
            .get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(bad)
    };
    let ndigits = usize::from(field(0)?);
    let weight = i32::from(field(1)? as i16);
    let sign = field(2)?;
    let dscale = usize::from(field(3)?);
    if value.len() != 8 + 2 * ndigits {
        return Err(bad());
    }
    match sign {
        NAN => return Ok("NaN".into()),
        PINF => return Ok("Infinity".into()),
        NINF => return Ok("-Infinity".into()),
        POSITIVE | NEGATIVE => {}
        _ => return Err(bad()),
    }
    let groups: Vec<u16> = (0..ndigits)
        .map(|i| field(4 + i))
        .collect::<Result<_, _>>()?;
    if groups.iter().any(|g| *g > 9999) {
        return Err(bad());
    }
    let group = |i: i32| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| groups.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NEGATIVE {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&group(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", group(i)));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(b: &[u8]) -> Vec<i16> {
        b.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn known_layouts() {
        // 1.5: one digit 1 at weight 0, then 5000 at weight -1, dscale 1.
        assert_eq!(fields(&to_binary("1.5").unwrap()), [2, 0, 0, 1, 1, 5000]);
        assert_eq!(
            fields(&to_binary("-12345.678").unwrap()),
            [3, 1, 0x4000, 3, 1, 2345, 6780]
        );
        assert_eq!(fields(&to_binary("0.0001").unwrap()), [1, -1, 0, 4, 1]);
        assert_eq!(fields(&to_binary("0").unwrap()), [0, 0, 0, 0]);
        assert_eq!(fields(&to_binary("1e8").unwrap()), [1, 2, 0, 0, 1]);
        assert_eq!(
            fields(&to_binary("NaN").unwrap()),
            [0, 0, 0xC000u16 as i16, 0]
        );
    }

    #[test]
    fn round_trips() {
        for t in [
            "1.5",
            "-12345.678",
            "0.0001",
            "0",
            "100000000",
            "3.14159265358979",
            "-0.5",
            "10000",
            "NaN",
            "Infinity",
        ] {
            assert_eq!(from_binary(&to_binary(t).unwrap()).unwrap(), t, "{t}");
        }
        assert_eq!(from_binary(&to_binary("2.50").unwrap()).unwrap(), "2.50");
        assert_eq!(
            from_binary(&to_binary("1.5e-3").unwrap()).unwrap(),
            "0.0015"
        );
    }

    #[test]
    fn rejects_garbage() {
        for t in ["", "abc", "1.2.3", "1e", "--1", "."] {
            assert!(to_binary(t).is_err(), "{t}");
        }
        assert!(from_binary(&[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(from_binary(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err());
    }
}
