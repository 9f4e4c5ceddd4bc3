//! The server's Authentication requests ('R'): one tag, a code saying which method,
//! and method data.
//!
//! ```text
//!  R | len | Int32 0                                  AuthenticationOk
//!  R | len | Int32 3                                  CleartextPassword
//!  R | len | Int32 5 | 4-byte salt                    MD5Password
//!  R | len | Int32 10 | mech NUL mech NUL ... NUL     SASL (in preference order)
//!  R | len | Int32 11 | data                          SASLContinue (server-first)
//!  R | len | Int32 12 | data                          SASLFinal (v=...)
//! ```

use std::fmt;

use crate::read::Reader;
use crate::{DecodeError, EncodeError, write};

/// An Authentication request, or the final AuthenticationOk.
#[derive(Clone, PartialEq, Eq)]
pub enum Authentication {
    /// 0: the client is in.
    Ok,
    /// 2: Kerberos V5, long obsolete; kept so a client can name it when refusing it.
    KerberosV5,
    /// 3: send the password in the clear.
    CleartextPassword,
    /// 5: send `md5` + hex(md5(hex(md5(password || user)) || salt)).
    Md5Password {
        /// The random salt, fresh for each request.
        salt: [u8; 4],
    },
    /// 7: GSSAPI.
    Gss,
    /// 8: more GSSAPI or SSPI data.
    GssContinue(Vec<u8>),
    /// 9: SSPI.
    Sspi,
    /// 10: SASL, with the offered mechanisms in preference order.
    Sasl {
        /// Mechanism names, e.g. `SCRAM-SHA-256-PLUS`, `SCRAM-SHA-256`.
        mechanisms: Vec<String>,
    },
    /// 11: a SASL challenge (server-first-message for SCRAM).
    SaslContinue(Vec<u8>),
    /// 12: SASL outcome data (server-final-message for SCRAM); AuthenticationOk follows.
    SaslFinal(Vec<u8>),
}

impl Authentication {
    /// The Int32 request code.
    pub fn code(&self) -> u32 {
        match self {
            Authentication::Ok => 0,
            Authentication::KerberosV5 => 2,
            Authentication::CleartextPassword => 3,
            Authentication::Md5Password { .. } => 5,
            Authentication::Gss => 7,
            Authentication::GssContinue(_) => 8,
            Authentication::Sspi => 9,
            Authentication::Sasl { .. } => 10,
            Authentication::SaslContinue(_) => 11,
            Authentication::SaslFinal(_) => 12,
        }
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Authentication, DecodeError> {
        let mut r = Reader::new(body);
        let request = match r.u32()? {
            0 => Authentication::Ok,
            2 => Authentication::KerberosV5,
            3 => Authentication::CleartextPassword,
            5 => Authentication::Md5Password { salt: r.array()? },
            7 => Authentication::Gss,
            8 => Authentication::GssContinue(r.rest().to_vec()),
            9 => Authentication::Sspi,
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let name = r.cstr()?;
                    if name.is_empty() {
                        break;
                    }
                    mechanisms.push(String::from_utf8_lossy(name).into_owned());
                }
                Authentication::Sasl { mechanisms }
            }
            11 => Authentication::SaslContinue(r.rest().to_vec()),
            12 => Authentication::SaslFinal(r.rest().to_vec()),
            other => return Err(DecodeError::UnknownAuthenticationCode(other)),
        };
        r.finish()?;
        Ok(request)
    }

    /// Appends the framed message to `out` (as `BackendMessage::Authentication` does,
    /// without moving the request into one); on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(crate::tag::backend::AUTHENTICATION), |out| {
            self.encode_body(out)
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::u32(out, self.code());
        match self {
            Authentication::Md5Password { salt } => out.extend_from_slice(salt),
            Authentication::Sasl { mechanisms } => {
                for mechanism in mechanisms {
                    if mechanism.is_empty() {
                        return Err(EncodeError::EmptyString {
                            field: "SASL mechanism",
                        });
                    }
                    write::cstr(out, mechanism.as_bytes(), "SASL mechanism")?;
                }
                out.push(0);
            }
            Authentication::GssContinue(data)
            | Authentication::SaslContinue(data)
            | Authentication::SaslFinal(data) => out.extend_from_slice(data),
            Authentication::Ok
            | Authentication::KerberosV5
            | Authentication::CleartextPassword
            | Authentication::Gss
            | Authentication::Sspi => {}
        }
        Ok(())
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authentication::Ok => f.write_str("AuthenticationOk"),
            Authentication::KerberosV5 => f.write_str("AuthenticationKerberosV5"),
            Authentication::CleartextPassword => f.write_str("AuthenticationCleartextPassword"),
            Authentication::Md5Password { salt } => {
                write!(f, "AuthenticationMD5Password({salt:02x?})")
            }
            Authentication::Gss => f.write_str("AuthenticationGSS"),
            Authentication::GssContinue(data) => {
                write!(f, "AuthenticationGSSContinue({} bytes)", data.len())
            }
            Authentication::Sspi => f.write_str("AuthenticationSSPI"),
            Authentication::Sasl { mechanisms } => write!(f, "AuthenticationSASL({mechanisms:?})"),
            Authentication::SaslContinue(data) => {
                write!(
                    f,
                    "AuthenticationSASLContinue({:?})",
                    String::from_utf8_lossy(data)
                )
            }
            Authentication::SaslFinal(data) => {
                write!(
                    f,
                    "AuthenticationSASLFinal({:?})",
                    String::from_utf8_lossy(data)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(request: &Authentication) -> Vec<u8> {
        let mut out = Vec::new();
        request.encode_body(&mut out).unwrap();
        out
    }

    #[test]
    fn encodes_as_the_backend_message_does() {
        for request in [
            Authentication::Ok,
            Authentication::SaslContinue(b"r=abc,s=c2FsdA==,i=4096".to_vec()),
            Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256".into()],
            },
        ] {
            let mut direct = Vec::new();
            request.encode(&mut direct).unwrap();
            let mut framed = Vec::new();
            crate::BackendMessage::Authentication(request)
                .encode(&mut framed)
                .unwrap();
            assert_eq!(direct, framed);
        }
    }

    #[test]
    fn postgres_sasl_offer_layout() {
        let offer = Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
        };
        assert_eq!(
            body(&offer),
            b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
        );
        assert_eq!(Authentication::decode_body(&body(&offer)), Ok(offer));
    }

    #[test]
    fn md5_salt() {
        let request = Authentication::Md5Password { salt: [1, 2, 3, 4] };
        assert_eq!(body(&request), [0, 0, 0, 5, 1, 2, 3, 4]);
        assert_eq!(
            Authentication::decode_body(&[0, 0, 0, 5, 1, 2, 3]),
            Err(DecodeError::InsufficientData)
        );
    }

    #[test]
    fn strict_endings() {
        assert_eq!(
            Authentication::decode_body(&[0, 0, 0, 0, 1]),
            Err(DecodeError::InvalidMessageFormat)
        );
        assert_eq!(
            Authentication::decode_body(b"\0\0\0\x0aSCRAM-SHA-256\0"),
            Err(DecodeError::InvalidString)
        );
        assert_eq!(
            Authentication::decode_body(&[0, 0, 0, 6]),
            Err(DecodeError::UnknownAuthenticationCode(6))
        );
    }

    #[test]
    fn empty_mechanism_would_end_the_list() {
        let bad = Authentication::Sasl {
            mechanisms: vec![String::new()],
        };
        assert!(bad.encode_body(&mut Vec::new()).is_err());
    }

    #[test]
    fn sasl_data_is_raw() {
        let request = Authentication::SaslContinue(b"r=abc,s=xyz,i=4096".to_vec());
        assert_eq!(Authentication::decode_body(&body(&request)), Ok(request));
        let empty = Authentication::SaslContinue(Vec::new());
        assert_eq!(body(&empty), [0, 0, 0, 11]);
    }
}
