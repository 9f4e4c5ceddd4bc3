//! PostgreSQL's binary wire format for the types this database describes, converted to
//! and from the text format sessions speak.
//!
//! Sessions take parameters and return values as text. Some drivers (tokio-postgres
//! always, JDBC for some types) ask for binary, so the server converts at the edge with
//! these two functions, keyed by the type OID from ParameterDescription or
//! RowDescription.

use crate::error::{SqlError, sqlstate};
use crate::timestamp::Timestamp;
use crate::types::{self, oid};

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

fn bad_binary(type_name: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_BINARY_REPRESENTATION,
        format!("incorrect binary data format for type {type_name}"),
    )
}

fn unsupported(type_oid: u32) -> SqlError {
    SqlError::unsupported(format!(
        "binary format is not supported for type oid {type_oid}; use text format"
    ))
}

fn text_of(value: &[u8]) -> Result<&str, SqlError> {
    std::str::from_utf8(value).map_err(|_| {
        SqlError::new(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\"",
        )
    })
}

fn fixed<const N: usize>(value: &[u8], type_name: &str) -> Result<[u8; N], SqlError> {
    value.try_into().map_err(|_| bad_binary(type_name))
}

/// Whether [`to_binary`] and [`from_binary`] handle this type.
pub fn supports_binary(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::BOOL
            | oid::BYTEA
            | oid::NAME
            | oid::INT8
            | oid::INT2
            | oid::INT4
            | oid::TEXT
            | oid::OID
            | oid::JSON
            | oid::FLOAT4
            | oid::FLOAT8
            | oid::BPCHAR
            | oid::VARCHAR
            | oid::DATE
            | oid::TIMESTAMP
            | oid::TIMESTAMPTZ
            | oid::UUID
            | oid::JSONB
            | oid::NUMERIC
    )
}

/// Encodes a text-format value (as a session returns it) in binary format.
pub fn to_binary(type_oid: u32, text: &[u8]) -> Result<Vec<u8>, SqlError> {
    if let Some(t) = types::catalog_type(type_oid) {
        return catalog_to_binary(t, text);
    }
    let ty = types::by_oid(type_oid).ok_or_else(|| unsupported(type_oid))?;
    Ok(match type_oid {
        oid::BYTEA => types::parse_bytea(text)?,
        oid::TEXT | oid::NAME | oid::VARCHAR | oid::BPCHAR | oid::JSON => text.to_vec(),
        oid::NUMERIC => crate::numeric::to_binary(text_of(text)?)?,
        oid::JSONB => {
            let mut out = Vec::with_capacity(text.len() + 1);
            out.push(1);
            out.extend_from_slice(text);
            out
        }
        oid::BOOL => {
            let b = types::parse_bool(text_of(text)?).ok_or_else(|| bad_binary("boolean"))?;
            vec![u8::from(b)]
        }
        oid::INT2 => (types::parse_int(text_of(text)?, ty)? as i16)
            .to_be_bytes()
            .to_vec(),
        oid::INT4 => (types::parse_int(text_of(text)?, ty)? as i32)
            .to_be_bytes()
            .to_vec(),
        oid::OID => (types::parse_int(text_of(text)?, ty)? as u32)
            .to_be_bytes()
            .to_vec(),
        oid::INT8 => types::parse_int(text_of(text)?, ty)?.to_be_bytes().to_vec(),
        oid::FLOAT4 => (types::parse_float(text_of(text)?)? as f32)
            .to_be_bytes()
            .to_vec(),
        oid::FLOAT8 => types::parse_float(text_of(text)?)?.to_be_bytes().to_vec(),
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let micros = match parse_ts(text)? {
                Timestamp::NegInfinity => i64::MIN,
                Timestamp::Infinity => i64::MAX,
                Timestamp::At(m) => m - PG_EPOCH_MICROS,
            };
            micros.to_be_bytes().to_vec()
        }
        oid::DATE => {
            let days = match parse_ts(text)? {
                Timestamp::NegInfinity => i32::MIN,
                Timestamp::Infinity => i32::MAX,
                Timestamp::At(m) => i32::try_from((m - PG_EPOCH_MICROS).div_euclid(MICROS_PER_DAY))
                    .map_err(|_| bad_binary("date"))?,
            };
            days.to_be_bytes().to_vec()
        }
        oid::UUID => {
            let hex: Vec<u8> = text.iter().copied().filter(|&b| b != b'-').collect();
            if hex.len() != 32 {
                return Err(bad_binary("uuid"));
            }
            hex.chunks(2)
                .map(|p| {
                    let s = std::str::from_utf8(p).map_err(|_| bad_binary("uuid"))?;
                    u8::from_str_radix(s, 16).map_err(|_| bad_binary("uuid"))
                })
                .collect::<Result<Vec<u8>, SqlError>>()?
        }
        _ => return Err(unsupported(type_oid)),
    })
}

fn parse_ts(text: &[u8]) -> Result<Timestamp, SqlError> {
    Timestamp::parse(text_of(text)?)
        .map_err(|e| SqlError::new(sqlstate::INVALID_DATETIME_FORMAT, e.to_string()))
}

/// Encodes the catalog-only types: `"char"` and `unknown` as their bytes, one-dimensional
/// arrays of types that have a binary form in PostgreSQL's array layout (ndim, null
/// flag, element type, length and lower bound, then length-prefixed elements).
fn catalog_to_binary(t: types::PgType, text: &[u8]) -> Result<Vec<u8>, SqlError> {
    match t.oid {
        18 => return Ok(text.iter().take(1).copied().collect()),
        705 => return Ok(text.to_vec()),
        _ => {}
    }
    if !t.name.starts_with('_') {
        return Err(unsupported(t.oid));
    }
    let elem = types::element_of(t);
    if types::catalog_type(elem.oid).is_some() && elem.oid != 18 {
        return Err(unsupported(t.oid));
    }
    let items = crate::pg_catalog::parse_array(text_of(text)?).ok_or_else(|| bad_binary(t.name))?;
    let mut out = Vec::new();
    let has_null = items.iter().any(Option::is_none);
    out.extend_from_slice(&i32::from(!items.is_empty()).to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&elem.oid.to_be_bytes());
    if !items.is_empty() {
        let n = i32::try_from(items.len()).map_err(|_| bad_binary(t.name))?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for item in items {
        match item {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                let b = to_binary(elem.oid, v.as_bytes())?;
                let n = i32::try_from(b.len()).map_err(|_| bad_binary(t.name))?;
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&b);
            }
        }
    }
    Ok(out)
}

/// Reads a big-endian i32 at `*at` and moves past it.
fn read_i32(value: &[u8], at: &mut usize, type_name: &str) -> Result<i32, SqlError> {
    let bytes = value
        .get(*at..*at + 4)
        .ok_or_else(|| bad_binary(type_name))?;
    *at += 4;
    Ok(i32::from_be_bytes(fixed(bytes, type_name)?))
}

/// Decodes a one-dimensional array (what drivers send for `int4[]`, `oid[]`, `text[]`
/// parameters) into PostgreSQL's array text.
fn array_from_binary(t: types::PgType, value: &[u8]) -> Result<Vec<u8>, SqlError> {
    let elem = types::element_of(t);
    let mut at = 0;
    let ndim = read_i32(value, &mut at, t.name)?;
    let _has_null = read_i32(value, &mut at, t.name)?;
    let elem_oid = read_i32(value, &mut at, t.name)? as u32;
    if elem_oid != elem.oid {
        return Err(SqlError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} instead of expected {}",
                elem.oid
            ),
        ));
    }
    let count = match ndim {
        0 => 0,
        1 => {
            let n = read_i32(value, &mut at, t.name)?;
            let _lower_bound = read_i32(value, &mut at, t.name)?;
            usize::try_from(n).map_err(|_| bad_binary(t.name))?
        }
        _ => {
            return Err(SqlError::unsupported(
                "multidimensional arrays are not supported by the embedded database",
            ));
        }
    };
    let mut items = Vec::with_capacity(count.min(value.len()));
    for _ in 0..count {
        let len = read_i32(value, &mut at, t.name)?;
        if len < 0 {
            items.push(None);
            continue;
        }
        let len = len as usize;
        let bytes = value.get(at..at + len).ok_or_else(|| bad_binary(t.name))?;
        at += len;
        let text = from_binary(elem.oid, bytes)?;
        items.push(Some(
            String::from_utf8(text).map_err(|_| bad_binary(t.name))?,
        ));
    }
    if at != value.len() {
        return Err(bad_binary(t.name));
    }
    Ok(crate::pg_catalog::format_array(&items).into_bytes())
}

/// Decodes a binary-format parameter into the text format sessions bind.
pub fn from_binary(type_oid: u32, value: &[u8]) -> Result<Vec<u8>, SqlError> {
    if let Some(t) = types::catalog_type(type_oid) {
        return match t.oid {
            18 | 705 => {
                text_of(value)?;
                Ok(value.to_vec())
            }
            _ if t.name.starts_with('_') => array_from_binary(t, value),
            _ => Err(unsupported(type_oid)),
        };
    }
    Ok(match type_oid {
        oid::BYTEA => types::hex_bytea(value).into_bytes(),
        oid::NUMERIC => crate::numeric::from_binary(value)?.into_bytes(),
        oid::TEXT | oid::NAME | oid::VARCHAR | oid::BPCHAR | oid::JSON => {
            text_of(value)?;
            value.to_vec()
        }
        oid::JSONB => match value.split_first() {
            Some((1, rest)) => {
                text_of(rest)?;
                rest.to_vec()
            }
            _ => return Err(bad_binary("jsonb")),
        },
        oid::BOOL => match value {
            [0] => b"f".to_vec(),
            [1] => b"t".to_vec(),
            _ => return Err(bad_binary("boolean")),
        },
        oid::INT2 => i16::from_be_bytes(fixed(value, "smallint")?)
            .to_string()
            .into_bytes(),
        oid::INT4 => i32::from_be_bytes(fixed(value, "integer")?)
            .to_string()
            .into_bytes(),
        oid::OID => u32::from_be_bytes(fixed(value, "oid")?)
            .to_string()
            .into_bytes(),
        oid::INT8 => i64::from_be_bytes(fixed(value, "bigint")?)
            .to_string()
            .into_bytes(),
        oid::FLOAT4 => {
            let f = f32::from_be_bytes(fixed(value, "real")?);
            types::format_float(f64::from(f)).into_bytes()
        }
        oid::FLOAT8 => {
            let f = f64::from_be_bytes(fixed(value, "double precision")?);
            types::format_float(f).into_bytes()
        }
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let m = i64::from_be_bytes(fixed(value, "timestamp")?);
            let ts = match m {
                i64::MIN => Timestamp::NegInfinity,
                i64::MAX => Timestamp::Infinity,
                m => Timestamp::At(
                    m.checked_add(PG_EPOCH_MICROS)
                        .ok_or_else(|| bad_binary("timestamp"))?,
                ),
            };
            let text = ts.to_string();
            if type_oid == oid::TIMESTAMP {
                text.trim_end_matches("+00").as_bytes().to_vec()
            } else {
                text.into_bytes()
            }
        }
        oid::DATE => {
            let d = i32::from_be_bytes(fixed(value, "date")?);
            match d {
                i32::MIN => b"-infinity".to_vec(),
                i32::MAX => b"infinity".to_vec(),
                d => {
                    let micros = i64::from(d) * MICROS_PER_DAY + PG_EPOCH_MICROS;
                    Timestamp::At(micros).to_string().as_bytes()[..10].to_vec()
                }
            }
        }
        oid::UUID => {
            let b: [u8; 16] = fixed(value, "uuid")?;
            let h = types::hex_bytea(&b);
            let h = &h[2..];
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
            .into_bytes()
        }
        _ => return Err(unsupported(type_oid)),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn one_dimensional_arrays_in_postgresql_layout() {
        let b = to_binary(1003, b"{staff,NULL}").unwrap();
        let mut want = Vec::new();
        for w in [1i32, 1] {
            want.extend_from_slice(&w.to_be_bytes());
        }
        want.extend_from_slice(&19u32.to_be_bytes());
        for w in [2i32, 1, 5] {
            want.extend_from_slice(&w.to_be_bytes());
        }
        want.extend_from_slice(b"staff");
        want.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(b, want);
        let empty = to_binary(1009, b"{}").unwrap();
        assert_eq!(empty.len(), 12);
        assert_eq!(to_binary(18, b"r").unwrap(), b"r");
    }

    use super::*;

    #[test]
    fn round_trips() {
        let cases: &[(u32, &str, &[u8])] = &[
            (oid::BOOL, "t", &[1]),
            (
                oid::NUMERIC,
                "1.5",
                &[0, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0x13, 0x88],
            ),
            (oid::BOOL, "f", &[0]),
            (oid::INT2, "-2", &[0xff, 0xfe]),
            (oid::INT4, "258", &[0, 0, 1, 2]),
            (oid::INT8, "1", &[0, 0, 0, 0, 0, 0, 0, 1]),
            (oid::OID, "4294967295", &[0xff, 0xff, 0xff, 0xff]),
            (oid::TEXT, "héllo", "héllo".as_bytes()),
            (oid::BYTEA, "\\x00ff", &[0, 0xff]),
            (oid::FLOAT8, "1.5", &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
            (
                oid::TIMESTAMPTZ,
                "2000-01-01 00:00:01+00",
                &[0, 0, 0, 0, 0, 0x0f, 0x42, 0x40],
            ),
            (oid::DATE, "2000-01-02", &[0, 0, 0, 1]),
            (oid::DATE, "1999-12-31", &[0xff, 0xff, 0xff, 0xff]),
            (
                oid::UUID,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                &[
                    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd,
                    0x38, 0x0a, 0x11,
                ],
            ),
            (oid::JSONB, "{}", &[1, b'{', b'}']),
        ];
        for (ty, text, bin) in cases {
            assert_eq!(
                to_binary(*ty, text.as_bytes()).unwrap(),
                bin.to_vec(),
                "{ty} {text}"
            );
            assert_eq!(
                from_binary(*ty, bin).unwrap(),
                text.as_bytes().to_vec(),
                "{ty} {text}"
            );
            assert!(supports_binary(*ty));
        }
    }

    #[test]
    fn infinities_and_timestamp_without_zone() {
        assert_eq!(
            to_binary(oid::TIMESTAMPTZ, b"infinity").unwrap(),
            i64::MAX.to_be_bytes()
        );
        assert_eq!(
            from_binary(oid::TIMESTAMPTZ, &i64::MIN.to_be_bytes()).unwrap(),
            b"-infinity"
        );
        assert_eq!(
            from_binary(oid::TIMESTAMP, &0i64.to_be_bytes()).unwrap(),
            b"2000-01-01 00:00:00"
        );
    }

    #[test]
    fn array_parameters_decode_to_array_text() {
        for (ty, text) in [
            (1007, &b"{3,NULL,-4}"[..]),
            (1009, b"{a,\"b c\",\"\",\"NULL\"}"),
            (1028, b"{1007}"),
            (1009, b"{}"),
        ] {
            let bin = to_binary(ty, text).unwrap();
            assert_eq!(from_binary(ty, &bin).unwrap(), text.to_vec(), "{ty}");
        }
        // Wrong element type, truncated, trailing bytes, two dimensions.
        let int4s = to_binary(1007, b"{1}").unwrap();
        assert!(from_binary(1028, &int4s).is_err());
        assert!(from_binary(1007, &int4s[..int4s.len() - 1]).is_err());
        let mut longer = int4s.clone();
        longer.push(0);
        assert!(from_binary(1007, &longer).is_err());
        let mut two_dims = int4s;
        two_dims[3] = 2;
        assert!(from_binary(1007, &two_dims).is_err());
    }

    #[test]
    fn malformed_binary_is_an_error_not_a_panic() {
        assert_eq!(
            from_binary(oid::INT4, &[1, 2]).unwrap_err().code,
            sqlstate::INVALID_BINARY_REPRESENTATION
        );
        assert!(from_binary(oid::BOOL, &[2]).is_err());
        assert!(from_binary(oid::TEXT, &[0xff]).is_err());
        assert!(from_binary(oid::JSONB, &[2, b'{']).is_err());
        assert!(from_binary(oid::TIMESTAMPTZ, &(i64::MAX - 1).to_be_bytes()).is_err());
        assert!(from_binary(oid::NUMERIC, &[0, 0]).is_err());
        assert!(to_binary(oid::INT2, b"70000").is_err());
        assert!(to_binary(oid::UUID, b"nope").is_err());
        assert!(!supports_binary(600)); // point
    }
}
