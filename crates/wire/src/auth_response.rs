//! The client's authentication answers. PasswordMessage, SASLInitialResponse and
//! SASLResponse all travel under the one tag `p`; only the server knows which it
//! asked for, so the frame stays raw ([`AuthResponse`]) until the server picks the
//! reading that matches its request.
//!
//! ```text
//!  PasswordMessage      p | len | password NUL
//!  SASLInitialResponse  p | len | mechanism NUL | Int32 n (-1: none) | n bytes
//!  SASLResponse         p | len | bytes to the end
//! ```

use std::fmt;

use crate::frame::Message;
use crate::read::Reader;
use crate::secret::{Password, wipe};
use crate::tag::frontend::PASSWORD;
use crate::{DecodeError, EncodeError, write};

/// The body of a `p` message, not yet interpreted. Redacted and wiped, because it
/// may be a cleartext password.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthResponse(Vec<u8>);

impl AuthResponse {
    /// Wraps the body of a `p` message (without tag and length word).
    pub fn new(body: Vec<u8>) -> AuthResponse {
        AuthResponse(body)
    }

    /// The raw body; the caller is responsible for not logging it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Reads the body as a PasswordMessage (cleartext or md5 answer).
    pub fn password(&self) -> Result<PasswordMessage, DecodeError> {
        PasswordMessage::decode_body(&self.0)
    }

    /// Reads the body as the first SASL message.
    pub fn sasl_initial(&self) -> Result<SaslInitialResponse, DecodeError> {
        SaslInitialResponse::decode_body(&self.0)
    }

    /// Reads the body as a later SASL message; any bytes are valid.
    pub fn sasl_response(&self) -> SaslResponse {
        SaslResponse {
            data: self.0.clone(),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(PASSWORD), |out| {
            out.extend_from_slice(&self.0);
            Ok(())
        })
    }
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthResponse(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for AuthResponse {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// PasswordMessage: a cleartext password, or `md5` + 32 hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordMessage {
    /// The password string, without its NUL terminator.
    pub password: Password,
}

impl PasswordMessage {
    /// A PasswordMessage carrying `password`.
    pub fn new(password: impl Into<Password>) -> PasswordMessage {
        PasswordMessage {
            password: password.into(),
        }
    }

    /// Reads a framed message the server expects to be a password, refusing any other
    /// tag with PostgreSQL's `expected password response, got message type %d`.
    pub fn from_message(message: &Message) -> Result<PasswordMessage, DecodeError> {
        if message.tag() != PASSWORD {
            return Err(DecodeError::ExpectedPasswordResponse(message.tag()));
        }
        PasswordMessage::decode_body(message.body())
    }

    /// PostgreSQL's checks: the string must fill the body exactly (`invalid password
    /// packet size`) and must not be empty (`empty password returned by client`).
    pub fn decode_body(body: &[u8]) -> Result<PasswordMessage, DecodeError> {
        let Some((&0, password)) = body.split_last() else {
            return Err(DecodeError::InvalidPasswordPacketSize);
        };
        if password.contains(&0) {
            return Err(DecodeError::InvalidPasswordPacketSize);
        }
        if password.is_empty() {
            return Err(DecodeError::EmptyPassword);
        }
        Ok(PasswordMessage::new(password.to_vec()))
    }

    /// Appends the message to `out`; a NUL inside the password is refused, leaving
    /// `out` unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(PASSWORD), |out| {
            write::cstr(out, self.password.expose(), "password")
        })
    }
}

/// SASLInitialResponse: the chosen mechanism and, usually, the client-first-message.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslInitialResponse {
    /// The mechanism the client selected, e.g. `SCRAM-SHA-256`.
    pub mechanism: String,
    /// `None` when the client sent length -1: the server then answers with an empty
    /// SASLContinue and the client-first-message follows in a SASLResponse.
    pub data: Option<Vec<u8>>,
}

impl SaslInitialResponse {
    /// Reads a framed message the server expects to open a SASL exchange, refusing
    /// any other tag with PostgreSQL's `expected SASL response, got message type %d`.
    pub fn from_message(message: &Message) -> Result<SaslInitialResponse, DecodeError> {
        if message.tag() != PASSWORD {
            return Err(DecodeError::ExpectedSaslResponse(message.tag()));
        }
        SaslInitialResponse::decode_body(message.body())
    }

    /// A mechanism name that is not UTF-8 is kept lossily: it cannot match any
    /// mechanism the server offered, so the SCRAM layer reports PostgreSQL's `client
    /// selected an invalid SASL authentication mechanism` for it.
    pub fn decode_body(body: &[u8]) -> Result<SaslInitialResponse, DecodeError> {
        let mut r = Reader::new(body);
        let mechanism = String::from_utf8_lossy(r.cstr()?).into_owned();
        let data = r.counted()?.map(<[u8]>::to_vec);
        r.finish()?;
        Ok(SaslInitialResponse { mechanism, data })
    }

    /// Appends the message to `out`; on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(PASSWORD), |out| {
            write::cstr(out, self.mechanism.as_bytes(), "SASL mechanism")?;
            write::counted(out, self.data.as_deref())
        })
    }
}

impl fmt::Debug for SaslInitialResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslInitialResponse")
            .field("mechanism", &self.mechanism)
            .field("data_len", &self.data.as_ref().map(Vec::len))
            .finish()
    }
}

/// SASLResponse: a later SASL message (client-final-message for SCRAM).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslResponse {
    /// The mechanism's message, e.g. SCRAM's client-final-message.
    pub data: Vec<u8>,
}

impl SaslResponse {
    /// Reads a framed message the server expects to continue a SASL exchange.
    pub fn from_message(message: &Message) -> Result<SaslResponse, DecodeError> {
        if message.tag() != PASSWORD {
            return Err(DecodeError::ExpectedSaslResponse(message.tag()));
        }
        Ok(SaslResponse::decode_body(message.body()))
    }

    /// Every body is a valid SASLResponse: the mechanism judges the bytes.
    pub fn decode_body(body: &[u8]) -> SaslResponse {
        SaslResponse {
            data: body.to_vec(),
        }
    }

    /// Appends the message to `out`; on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(PASSWORD), |out| {
            out.extend_from_slice(&self.data);
            Ok(())
        })
    }
}

impl fmt::Debug for SaslResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The proof in client-final can recover ClientKey given StoredKey: length only.
        f.debug_struct("SaslResponse")
            .field("data_len", &self.data.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_checks() {
        assert_eq!(
            PasswordMessage::decode_body(b"pw\0"),
            Ok(PasswordMessage::new("pw"))
        );
        assert_eq!(
            PasswordMessage::decode_body(b"\0"),
            Err(DecodeError::EmptyPassword)
        );
        for bad in [&b""[..], b"pw", b"p\0w\0", b"pw\0\0"] {
            assert_eq!(
                PasswordMessage::decode_body(bad),
                Err(DecodeError::InvalidPasswordPacketSize),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn password_never_in_debug() {
        let message = AuthResponse::new(b"hunter2\0".to_vec());
        assert!(!format!("{message:?}").contains("hunter2"));
        let decoded = message.password().unwrap();
        assert!(!format!("{decoded:?}").contains("hunter2"));
        assert_eq!(decoded.password.expose(), b"hunter2");
    }

    #[test]
    fn sasl_initial_with_and_without_data() {
        let body = b"SCRAM-SHA-256\0\0\0\0\x03n,,";
        let initial = SaslInitialResponse::decode_body(body).unwrap();
        assert_eq!(initial.mechanism, "SCRAM-SHA-256");
        assert_eq!(initial.data.as_deref(), Some(&b"n,,"[..]));
        let none = SaslInitialResponse::decode_body(b"SCRAM-SHA-256\0\xff\xff\xff\xff").unwrap();
        assert_eq!(none.data, None);
    }

    #[test]
    fn sasl_initial_errors_are_postgres_errors() {
        let cases: [(&[u8], DecodeError); 5] = [
            (b"SCRAM-SHA-256", DecodeError::InvalidString),
            (b"SCRAM-SHA-256\0\0\0", DecodeError::InsufficientData),
            (
                b"SCRAM-SHA-256\0\0\0\0\x05n,,",
                DecodeError::InsufficientData,
            ),
            (
                b"SCRAM-SHA-256\0\0\0\0\x01n,,",
                DecodeError::InvalidMessageFormat,
            ),
            (
                b"SCRAM-SHA-256\0\xff\xff\xff\xfe",
                DecodeError::InsufficientData,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                SaslInitialResponse::decode_body(body),
                Err(expected),
                "{body:?}"
            );
        }
    }

    #[test]
    fn non_utf8_mechanism_is_kept_not_refused() {
        let initial = SaslInitialResponse::decode_body(b"SCRAM\xff\0\xff\xff\xff\xff").unwrap();
        assert_ne!(initial.mechanism, "SCRAM");
        assert!(initial.mechanism.starts_with("SCRAM"));
    }

    #[test]
    fn wrong_tag_during_authentication() {
        let query = Message::new(b'Q', b"select 1\0".to_vec());
        assert_eq!(
            SaslInitialResponse::from_message(&query),
            Err(DecodeError::ExpectedSaslResponse(b'Q'))
        );
        assert_eq!(
            SaslResponse::from_message(&query),
            Err(DecodeError::ExpectedSaslResponse(b'Q'))
        );
        assert_eq!(
            PasswordMessage::from_message(&query),
            Err(DecodeError::ExpectedPasswordResponse(b'Q'))
        );
        let password = Message::new(b'p', b"pw\0".to_vec());
        assert_eq!(
            PasswordMessage::from_message(&password),
            Ok(PasswordMessage::new("pw"))
        );
        assert_eq!(
            SaslResponse::from_message(&password).map(|r| r.data),
            Ok(b"pw\0".to_vec())
        );
    }

    #[test]
    fn encodings() {
        let mut out = Vec::new();
        PasswordMessage::new("pw").encode(&mut out).unwrap();
        assert_eq!(out, b"p\0\0\0\x07pw\0");
        out.clear();
        SaslInitialResponse {
            mechanism: "M".into(),
            data: None,
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(out, b"p\0\0\0\x0aM\0\xff\xff\xff\xff");
        out.clear();
        SaslResponse {
            data: b"c=biws".to_vec(),
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(out, b"p\0\0\0\x0ac=biws");
        out.clear();
        assert_eq!(
            PasswordMessage::new("a\0b").encode(&mut out),
            Err(EncodeError::NulInString { field: "password" })
        );
        assert!(out.is_empty());
    }
}
