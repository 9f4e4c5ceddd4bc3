//! Binary-format values for the common types, so drivers that ask for binary results or
//! send binary parameters (tokio-postgres does both) work. Conversion goes through the
//! text form the engine speaks.

use pgscram_wire::{ErrorFields, SqlState};

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const VARCHAR: u32 = 1043;
pub const UNKNOWN: u32 = 705;

fn unsupported(oid: u32) -> ErrorFields {
    ErrorFields::error(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("binary format is not supported for type OID {oid}; use text format"),
    )
}

fn invalid(oid: u32) -> ErrorFields {
    ErrorFields::error(
        SqlState::parse("22P03").unwrap_or(SqlState::INVALID_TEXT_REPRESENTATION),
        format!("incorrect binary data format for type OID {oid}"),
    )
}

/// Text form (as the engine produced it) to binary form.
pub fn text_to_binary(oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields> {
    let s = std::str::from_utf8(text).map_err(|_| invalid(oid))?;
    let parse_err = |_| invalid(oid);
    Ok(match oid {
        BOOL => vec![u8::from(matches!(s, "t" | "true" | "1"))],
        INT2 => s.parse::<i16>().map_err(parse_err)?.to_be_bytes().to_vec(),
        INT4 => s.parse::<i32>().map_err(parse_err)?.to_be_bytes().to_vec(),
        INT8 => s.parse::<i64>().map_err(parse_err)?.to_be_bytes().to_vec(),
        OID => s.parse::<u32>().map_err(parse_err)?.to_be_bytes().to_vec(),
        FLOAT4 => (parse_float(s).ok_or_else(|| invalid(oid))? as f32)
            .to_bits()
            .to_be_bytes()
            .to_vec(),
        FLOAT8 => parse_float(s)
            .ok_or_else(|| invalid(oid))?
            .to_bits()
            .to_be_bytes()
            .to_vec(),
        TEXT | VARCHAR | NAME | UNKNOWN => text.to_vec(),
        BYTEA => decode_hex_bytea(s).ok_or_else(|| invalid(oid))?,
        other => return Err(unsupported(other)),
    })
}

/// Binary form (from a client) to the text form the engine takes.
pub fn binary_to_text(oid: u32, bytes: &[u8]) -> Result<Vec<u8>, ErrorFields> {
    let fixed = |n: usize| {
        if bytes.len() == n {
            Ok(())
        } else {
            Err(invalid(oid))
        }
    };
    Ok(match oid {
        BOOL => {
            fixed(1)?;
            if bytes[0] != 0 {
                b"t".to_vec()
            } else {
                b"f".to_vec()
            }
        }
        INT2 => {
            fixed(2)?;
            i16::from_be_bytes([bytes[0], bytes[1]])
                .to_string()
                .into_bytes()
        }
        INT4 => {
            fixed(4)?;
            i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
                .to_string()
                .into_bytes()
        }
        OID => {
            fixed(4)?;
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
                .to_string()
                .into_bytes()
        }
        INT8 => {
            fixed(8)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            i64::from_be_bytes(b).to_string().into_bytes()
        }
        FLOAT4 => {
            fixed(4)?;
            f32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
                .to_string()
                .into_bytes()
        }
        FLOAT8 => {
            fixed(8)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            f64::from_be_bytes(b).to_string().into_bytes()
        }
        TEXT | VARCHAR | NAME | UNKNOWN | 0 => {
            std::str::from_utf8(bytes).map_err(|_| invalid(oid))?;
            bytes.to_vec()
        }
        BYTEA => {
            let mut out = b"\\x".to_vec();
            for b in bytes {
                out.extend_from_slice(format!("{b:02x}").as_bytes());
            }
            out
        }
        other => return Err(unsupported(other)),
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn decode_hex_bytea(s: &str) -> Option<Vec<u8>> {
    let hex = s.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (oid, text) in [
            (BOOL, "t"),
            (BOOL, "f"),
            (INT2, "-7"),
            (INT4, "123456"),
            (INT8, "-9000000000"),
            (FLOAT8, "1.5"),
            (FLOAT4, "2.5"),
            (TEXT, "héllo"),
            (BYTEA, "\\x00ff10"),
            (OID, "4294967295"),
        ] {
            let binary = text_to_binary(oid, text.as_bytes()).unwrap();
            assert_eq!(
                binary_to_text(oid, &binary).unwrap(),
                text.as_bytes(),
                "{oid} {text}"
            );
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(binary_to_text(INT4, &[1, 2, 3]).is_err());
        assert!(binary_to_text(TEXT, &[0xff]).is_err());
        assert!(text_to_binary(INT4, b"x").is_err());
        assert!(text_to_binary(BYTEA, b"\\x0").is_err());
        assert!(text_to_binary(1700, b"1.0").is_err());
    }
}
