//! The four SCRAM messages (RFC 5802 §7), parsed into borrowed values and built back.
//!
//! ```text
//! client-first  = gs2-header client-first-bare
//! gs2-header    = ("n" / "y" / "p=" cb-name) "," [authzid] ","
//! client-first-bare = [reserved-mext ","] "n=" saslname "," "r=" c-nonce ["," extensions]
//! server-first  = "r=" c-nonce s-nonce "," "s=" salt "," "i=" iteration-count ["," extensions]
//! client-final  = "c=" base64(gs2-header cbind-data) "," "r=" nonce ["," extensions] "," "p=" proof
//! server-final  = "e=" server-error / "v=" base64(ServerSignature)
//! ```
//!
//! The parts that enter the AuthMessage (client-first-bare, client-final-without-proof)
//! are kept verbatim as slices of the input: rebuilding them would drop extensions a
//! client signed, and the proof would never match (a defect seen in several peers).
//! Parsing follows PostgreSQL's reader (auth-scram.c), including its error details.

use crate::error::{Malformed, ServerError, Shown};

/// The GS2 channel-binding flag of client-first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbindFlag<'a> {
    /// `n`: the client does not support channel binding.
    NotSupported,
    /// `y`: the client supports it but thinks the server does not.
    SupportedNotUsed,
    /// `p=<name>`: the client binds to the channel with this binding type.
    Required(&'a str),
}

/// A parsed client-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst<'a> {
    /// The GS2 channel binding flag (RFC 5802 §7 `gs2-cbind-flag`).
    pub cbind_flag: CbindFlag<'a>,
    /// The GS2 header verbatim, with its trailing comma: the client repeats it,
    /// base64-encoded with the binding data, in client-final's `c=`.
    pub gs2_header: &'a [u8],
    /// The `n=` value. PostgreSQL ignores it: the startup packet's user counts.
    pub username: &'a [u8],
    /// The client's nonce, `r=` (RFC 5802 §5.1).
    pub nonce: &'a str,
    /// Everything after the GS2 header, verbatim, for the AuthMessage.
    pub bare: &'a [u8],
}

/// A parsed client-final-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal<'a> {
    /// The `c=` value (base64 of gs2-header and binding data).
    pub channel_binding: &'a [u8],
    /// The `r=` value: the client's nonce followed by the server's.
    pub nonce: &'a [u8],
    /// The decoded proof, exactly 32 bytes.
    pub proof: [u8; 32],
    /// Everything before `,p=`, verbatim, for the AuthMessage.
    pub without_proof: &'a [u8],
}

/// Rejects the empty message and embedded NULs, as PostgreSQL does for every SCRAM
/// message before it parses it.
pub fn check_message(input: &[u8]) -> Result<(), Malformed> {
    if input.is_empty() {
        return Err(Malformed::Empty);
    }
    if input.contains(&0) {
        return Err(Malformed::LengthMismatch);
    }
    Ok(())
}

/// A cursor over `attr=value` pairs separated by commas, reading like PostgreSQL's
/// `read_attr_value` and `read_any_attr`: a value runs to the next comma, which is
/// consumed.
#[derive(Debug, Clone)]
pub(crate) struct Attrs<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Attrs { input, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> u8 {
        self.input.get(self.pos).copied().unwrap_or(0)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.input[self.pos.min(self.input.len())..]
    }

    fn value(&mut self) -> &'a [u8] {
        let start = self.pos;
        let end = self.input[start..]
            .iter()
            .position(|&b| b == b',')
            .map_or(self.input.len(), |i| start + i);
        self.pos = if end < self.input.len() { end + 1 } else { end };
        &self.input[start..end]
    }

    /// Reads `attr=value`, failing if the next attribute is another one.
    pub(crate) fn expect(&mut self, attr: u8) -> Result<&'a [u8], Malformed> {
        if self.peek() != attr {
            return Err(Malformed::ExpectedAttribute {
                expected: attr as char,
                found: Shown(self.peek()),
            });
        }
        self.pos += 1;
        if self.peek() != b'=' {
            return Err(Malformed::ExpectedEquals(attr as char));
        }
        self.pos += 1;
        Ok(self.value())
    }

    /// Reads any `ALPHA=value`.
    pub(crate) fn any(&mut self) -> Result<(u8, &'a [u8]), Malformed> {
        let attr = self.peek();
        if self.at_end() {
            return Err(Malformed::AttributeExpectedEnd);
        }
        if !attr.is_ascii_alphabetic() {
            return Err(Malformed::AttributeExpectedInvalid(Shown(attr)));
        }
        self.pos += 1;
        if self.peek() != b'=' {
            return Err(Malformed::ExpectedEquals(attr as char));
        }
        self.pos += 1;
        Ok((attr, self.value()))
    }
}

/// RFC 5802's `printable`: %x21-2B / %x2D-7E (no comma).
pub fn is_printable_nonce(nonce: &[u8]) -> bool {
    nonce
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Parses client-first. The mechanism/flag consistency checks (which need to know the
/// selected mechanism and the connection) are the exchange's job, done before this.
pub fn parse_client_first(input: &[u8]) -> Result<ClientFirst<'_>, ServerError> {
    check_message(input)?;
    let mut attrs = Attrs::new(input);
    let cbind_flag = match attrs.peek() {
        flag @ (b'n' | b'y') => {
            attrs.pos += 1;
            if attrs.peek() != b',' {
                return Err(Malformed::CommaExpected(Shown(attrs.peek())).into());
            }
            attrs.pos += 1;
            if flag == b'n' {
                CbindFlag::NotSupported
            } else {
                CbindFlag::SupportedNotUsed
            }
        }
        b'p' => {
            let name = attrs.expect(b'p')?;
            // A cb-name is 1*(ALPHA / DIGIT / "." / "-"); anything else is no type we know.
            let name = std::str::from_utf8(name).unwrap_or("");
            CbindFlag::Required(name)
        }
        other => return Err(Malformed::UnexpectedChannelBindingFlag(Shown(other)).into()),
    };
    if attrs.peek() == b'a' {
        return Err(ServerError::AuthzidUnsupported);
    }
    if attrs.peek() != b',' {
        return Err(Malformed::UnexpectedAttribute(Shown(attrs.peek())).into());
    }
    attrs.pos += 1;
    let gs2_header = &input[..attrs.pos()];
    let bare = attrs.rest();
    if attrs.peek() == b'm' {
        return Err(ServerError::MandatoryExtension);
    }
    let username = attrs.expect(b'n')?;
    let nonce = attrs.expect(b'r')?;
    if !is_printable_nonce(nonce) {
        return Err(ServerError::NonPrintableNonce);
    }
    // Optional extensions: none are supported, so they are read and ignored.
    while !attrs.at_end() {
        attrs.any()?;
    }
    let nonce = std::str::from_utf8(nonce).map_err(|_| ServerError::NonPrintableNonce)?;
    Ok(ClientFirst {
        cbind_flag,
        gs2_header,
        username,
        nonce,
        bare,
    })
}

/// Parses client-final. Extensions between `r=` and `p=` are skipped here but stay in
/// `without_proof`, because the client signed them.
pub fn parse_client_final(input: &[u8]) -> Result<ClientFinal<'_>, ServerError> {
    check_message(input)?;
    let mut attrs = Attrs::new(input);
    let channel_binding = attrs.expect(b'c')?;
    let nonce = attrs.expect(b'r')?;
    let (proof_start, proof_b64) = loop {
        let start = attrs.pos();
        let (attr, value) = attrs.any()?;
        if attr == b'p' {
            break (start, value);
        }
    };
    let proof = decode_32(proof_b64).ok_or(Malformed::MalformedProof)?;
    if !attrs.at_end() {
        return Err(Malformed::Garbage.into());
    }
    // `proof_start` is just after the comma that precedes `p=`.
    let without_proof = &input[..proof_start.saturating_sub(1)];
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

/// Decodes base64 that must hold exactly 32 bytes (a proof or a signature).
pub(crate) fn decode_32(b64: &[u8]) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(input: &[u8]) -> String {
        match parse_client_first(input) {
            Err(ServerError::Malformed(m)) => m.to_string(),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn client_first_keeps_bare_and_header_verbatim() {
        let msg = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=ext";
        let parsed = parse_client_first(msg).unwrap();
        assert_eq!(parsed.cbind_flag, CbindFlag::NotSupported);
        assert_eq!(parsed.gs2_header, b"n,,");
        assert_eq!(parsed.bare, b"n=user,r=rOprNGfwEbeRWgbNEkqO,x=ext");
        assert_eq!(parsed.username, b"user");
        assert_eq!(parsed.nonce, "rOprNGfwEbeRWgbNEkqO");

        let plus = parse_client_first(b"p=tls-server-end-point,,n=,r=abc").unwrap();
        assert_eq!(plus.cbind_flag, CbindFlag::Required("tls-server-end-point"));
        assert_eq!(plus.gs2_header, b"p=tls-server-end-point,,");
    }

    #[test]
    fn client_first_errors_carry_postgres_details() {
        assert_eq!(malformed(b""), "The message is empty.");
        assert_eq!(
            malformed(b"n,,n=u\0,r=x"),
            "Message length does not match input length."
        );
        assert_eq!(
            malformed(b"x,,n=,r=a"),
            "Unexpected channel-binding flag \"'x'\"."
        );
        assert_eq!(
            malformed(b"\x01,,n=,r=a"),
            "Unexpected channel-binding flag \"0x01\"."
        );
        assert_eq!(
            malformed(b"nx,n=,r=a"),
            "Comma expected, but found character \"'x'\"."
        );
        assert_eq!(
            malformed(b"n"),
            "Comma expected, but found character \"0x00\"."
        );
        assert_eq!(
            malformed(b"n,b,n=,r=a"),
            "Unexpected attribute \"'b'\" in client-first-message."
        );
        assert_eq!(
            malformed(b"n,,r=a"),
            "Expected attribute \"n\" but found \"'r'\"."
        );
        assert_eq!(
            malformed(b"n,,n=,x"),
            "Expected attribute \"r\" but found \"'x'\"."
        );
        assert_eq!(
            malformed(b"n,,n"),
            "Expected character \"=\" for attribute \"n\"."
        );
        assert_eq!(
            malformed(b"n,,n=,r=a,1=b"),
            "Attribute expected, but found invalid character \"'1'\"."
        );
        assert_eq!(
            malformed(b"n,,n=,r=a,x"),
            "Expected character \"=\" for attribute \"x\"."
        );
        assert_eq!(
            parse_client_first(b"n,a=admin,n=,r=a"),
            Err(ServerError::AuthzidUnsupported)
        );
        assert_eq!(
            parse_client_first(b"n,,m=ext,n=,r=a"),
            Err(ServerError::MandatoryExtension)
        );
        assert_eq!(
            parse_client_first(b"n,,n=,r=a b"),
            Err(ServerError::NonPrintableNonce)
        );
        assert_eq!(
            parse_client_first(b"n,,n=,r=a\x7f"),
            Err(ServerError::NonPrintableNonce)
        );
    }

    #[test]
    fn client_final_splits_at_the_proof() {
        let proof = b64(&[7u8; 32]);
        let msg = format!("c=biws,r=abcdef,x=signed-ext,p={proof}");
        let parsed = parse_client_final(msg.as_bytes()).unwrap();
        assert_eq!(parsed.channel_binding, b"biws");
        assert_eq!(parsed.nonce, b"abcdef");
        assert_eq!(parsed.proof, [7u8; 32]);
        assert_eq!(parsed.without_proof, b"c=biws,r=abcdef,x=signed-ext");
    }

    #[test]
    fn client_final_errors() {
        let proof = b64(&[7u8; 32]);
        let short = b64(&[7u8; 31]);
        let detail = |m: &str| match parse_client_final(m.as_bytes()) {
            Err(e) => e.detail().unwrap_or_default(),
            Ok(_) => panic!("{m} parsed"),
        };
        assert_eq!(
            detail(&format!("c=biws,r=a,p={short}")),
            "Malformed proof in client-final-message."
        );
        assert_eq!(
            detail("c=biws,r=a,p=!!!"),
            "Malformed proof in client-final-message."
        );
        assert_eq!(
            detail(&format!("c=biws,r=a,p={proof},x=y")),
            "Garbage found at the end of client-final-message."
        );
        assert_eq!(
            detail("c=biws,r=a"),
            "Attribute expected, but found end of string."
        );
        assert_eq!(
            detail("r=a,c=biws"),
            "Expected attribute \"c\" but found \"'r'\"."
        );
    }

    #[test]
    fn truncation_at_every_byte_never_panics() {
        let proof = b64(&[9u8; 32]);
        let first = b"p=tls-server-end-point,,n=user,r=rOprNGfwEbeRWgbNEkqO,e=x".to_vec();
        let fin = format!("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=abc,x=1,p={proof}").into_bytes();
        for cut in 0..=first.len() {
            let _ = parse_client_first(&first[..cut]);
        }
        for cut in 0..=fin.len() {
            let result = parse_client_final(&fin[..cut]);
            assert!(cut == fin.len() || result.is_err(), "prefix {cut} accepted");
        }
    }
}
