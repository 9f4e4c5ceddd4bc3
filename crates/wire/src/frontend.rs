//! Messages a client sends after the startup packet: decoded by the server, encoded
//! by the client. Each decoder follows PostgreSQL's reading of the body, including
//! its errors, and checks that nothing is left over.

use crate::auth_response::AuthResponse;
use crate::format::{Format, Oid};
use crate::read::Reader;
use crate::tag::frontend as tag;
use crate::{DecodeError, EncodeError, write};

/// What a Describe or Close names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `S`: a prepared statement.
    Statement,
    /// `P`: a portal.
    Portal,
}

impl TargetKind {
    fn byte(self) -> u8 {
        match self {
            TargetKind::Statement => b'S',
            TargetKind::Portal => b'P',
        }
    }

    fn from_byte(byte: u8) -> Option<TargetKind> {
        match byte {
            b'S' => Some(TargetKind::Statement),
            b'P' => Some(TargetKind::Portal),
            _ => None,
        }
    }
}

/// The object of a Describe or Close; the empty name is the unnamed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Statement or portal.
    pub kind: TargetKind,
    /// Its name; empty for the unnamed one.
    pub name: String,
}

impl Target {
    /// The prepared statement `name`.
    pub fn statement(name: impl Into<String>) -> Target {
        Target {
            kind: TargetKind::Statement,
            name: name.into(),
        }
    }

    /// The portal `name`.
    pub fn portal(name: impl Into<String>) -> Target {
        Target {
            kind: TargetKind::Portal,
            name: name.into(),
        }
    }
}

/// Parse: prepare `query` as statement `name`, with optional parameter type OIDs
/// (0 leaves a type unspecified).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Parse {
    /// The statement name; empty for the unnamed statement.
    pub name: String,
    /// The SQL text: one statement, `$n` for parameters.
    pub query: String,
    /// Parameter type OIDs, possibly fewer than the query's parameters.
    pub param_types: Vec<Oid>,
}

/// Bind: create `portal` from `statement` with parameter values.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bind {
    /// The portal to create; empty for the unnamed portal.
    pub portal: String,
    /// The prepared statement to bind; empty for the unnamed statement.
    pub statement: String,
    /// None: all text; one: applies to all; otherwise one per parameter.
    pub param_formats: Vec<Format>,
    /// `None` is SQL NULL.
    pub params: Vec<Option<Vec<u8>>>,
    /// Same convention as `param_formats`, for result columns.
    pub result_formats: Vec<Format>,
}

impl Bind {
    /// The format of parameter `index` under the none/one/each convention.
    pub fn param_format(&self, index: usize) -> Format {
        pick_format(&self.param_formats, index)
    }

    /// The format of result column `index` under the same convention.
    pub fn result_format(&self, index: usize) -> Format {
        pick_format(&self.result_formats, index)
    }
}

fn pick_format(formats: &[Format], index: usize) -> Format {
    match formats {
        [] => Format::Text,
        [one] => *one,
        each => each.get(index).copied().unwrap_or_default(),
    }
}

/// Execute: run `portal`, returning at most `max_rows` rows (0 or less: all).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Execute {
    /// The portal to run; empty for the unnamed portal.
    pub portal: String,
    /// The row limit; 0 or less for no limit.
    pub max_rows: i32,
}

/// FunctionCall: the legacy fast-path call of a function by OID.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FunctionCall {
    /// The function's OID (`pg_proc.oid`).
    pub function: Oid,
    /// None: all text; one: applies to all; otherwise one per argument.
    pub arg_formats: Vec<Format>,
    /// The argument values; `None` is SQL NULL.
    pub args: Vec<Option<Vec<u8>>>,
    /// The format of the result.
    pub result_format: Format,
}

/// A regular message from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontendMessage {
    /// `Q`: a simple-protocol query string, possibly several statements.
    Query(String),
    /// `P`: prepare a statement.
    Parse(Parse),
    /// `B`: bind a statement's parameters into a portal.
    Bind(Bind),
    /// `D`: ask for a statement's or portal's description.
    Describe(Target),
    /// `E`: run a portal.
    Execute(Execute),
    /// `C`: close a statement or portal.
    Close(Target),
    /// `S`: end of an extended-protocol batch; the server answers ReadyForQuery.
    Sync,
    /// `H`: send pending output now.
    Flush,
    /// `X`: the client is closing the connection.
    Terminate,
    /// `F`: a fast-path function call.
    FunctionCall(FunctionCall),
    /// `d`: a chunk of COPY FROM STDIN data.
    CopyData(Vec<u8>),
    /// `c`: end of COPY FROM STDIN data.
    CopyDone,
    /// `f`: the client aborts COPY FROM STDIN, with a reason.
    CopyFail(String),
    /// A `p` message; see [`AuthResponse`] for its three readings.
    Auth(AuthResponse),
}

impl FrontendMessage {
    /// The message's tag byte (see [`crate::tag::frontend`]).
    pub fn tag(&self) -> u8 {
        match self {
            FrontendMessage::Query(_) => tag::QUERY,
            FrontendMessage::Parse(_) => tag::PARSE,
            FrontendMessage::Bind(_) => tag::BIND,
            FrontendMessage::Describe(_) => tag::DESCRIBE,
            FrontendMessage::Execute(_) => tag::EXECUTE,
            FrontendMessage::Close(_) => tag::CLOSE,
            FrontendMessage::Sync => tag::SYNC,
            FrontendMessage::Flush => tag::FLUSH,
            FrontendMessage::Terminate => tag::TERMINATE,
            FrontendMessage::FunctionCall(_) => tag::FUNCTION_CALL,
            FrontendMessage::CopyData(_) => tag::COPY_DATA,
            FrontendMessage::CopyDone => tag::COPY_DONE,
            FrontendMessage::CopyFail(_) => tag::COPY_FAIL,
            FrontendMessage::Auth(_) => tag::PASSWORD,
        }
    }

    /// Decodes a framed message (see [`crate::frame::take_message`]).
    pub fn decode(message: &crate::Message) -> Result<FrontendMessage, DecodeError> {
        FrontendMessage::decode_parts(message.tag(), message.body())
    }

    /// Decodes a body given its tag; an unknown tag is `invalid frontend message type`.
    pub fn decode_parts(tag: u8, body: &[u8]) -> Result<FrontendMessage, DecodeError> {
        let mut r = Reader::new(body);
        let message = match tag {
            tag::QUERY => FrontendMessage::Query(r.string()?),
            tag::PARSE => FrontendMessage::Parse(decode_parse(&mut r)?),
            tag::BIND => FrontendMessage::Bind(decode_bind(&mut r)?),
            // PostgreSQL checks the end of the body before the subtype.
            tag::DESCRIBE => {
                let (kind, name) = (r.u8()?, r.string()?);
                r.finish()?;
                let kind =
                    TargetKind::from_byte(kind).ok_or(DecodeError::InvalidDescribeKind(kind))?;
                FrontendMessage::Describe(Target { kind, name })
            }
            tag::CLOSE => {
                let (kind, name) = (r.u8()?, r.string()?);
                r.finish()?;
                let kind =
                    TargetKind::from_byte(kind).ok_or(DecodeError::InvalidCloseKind(kind))?;
                FrontendMessage::Close(Target { kind, name })
            }
            tag::EXECUTE => FrontendMessage::Execute(Execute {
                portal: r.string()?,
                max_rows: r.i32()?,
            }),
            tag::SYNC => FrontendMessage::Sync,
            tag::FLUSH => FrontendMessage::Flush,
            tag::TERMINATE => FrontendMessage::Terminate,
            tag::FUNCTION_CALL => FrontendMessage::FunctionCall(decode_function_call(&mut r)?),
            tag::COPY_DATA => FrontendMessage::CopyData(r.rest().to_vec()),
            tag::COPY_DONE => FrontendMessage::CopyDone,
            tag::COPY_FAIL => FrontendMessage::CopyFail(r.string()?),
            tag::PASSWORD => FrontendMessage::Auth(AuthResponse::new(r.rest().to_vec())),
            other => return Err(DecodeError::InvalidFrontendMessageType(other)),
        };
        r.finish()?;
        Ok(message)
    }

    /// Appends the framed message to `out`; on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let FrontendMessage::Auth(response) = self {
            return response.encode(out);
        }
        write::message(out, Some(self.tag()), |out| {
            match self {
                FrontendMessage::Query(query) => write::cstr(out, query.as_bytes(), "query")?,
                FrontendMessage::Parse(parse) => encode_parse(out, parse)?,
                FrontendMessage::Bind(bind) => encode_bind(out, bind)?,
                FrontendMessage::Describe(target) | FrontendMessage::Close(target) => {
                    out.push(target.kind.byte());
                    write::cstr(out, target.name.as_bytes(), "statement or portal name")?;
                }
                FrontendMessage::Execute(execute) => {
                    write::cstr(out, execute.portal.as_bytes(), "portal name")?;
                    write::i32(out, execute.max_rows);
                }
                FrontendMessage::FunctionCall(call) => encode_function_call(out, call)?,
                FrontendMessage::CopyData(data) => out.extend_from_slice(data),
                FrontendMessage::CopyFail(reason) => {
                    write::cstr(out, reason.as_bytes(), "COPY failure reason")?;
                }
                FrontendMessage::Sync
                | FrontendMessage::Flush
                | FrontendMessage::Terminate
                | FrontendMessage::CopyDone
                | FrontendMessage::Auth(_) => {}
            }
            Ok(())
        })
    }
}

fn decode_parse(r: &mut Reader<'_>) -> Result<Parse, DecodeError> {
    let name = r.string()?;
    let query = r.string()?;
    let count = usize::from(r.u16()?);
    let mut param_types = Vec::with_capacity(r.capacity(count, 4));
    for _ in 0..count {
        param_types.push(r.u32()?);
    }
    Ok(Parse {
        name,
        query,
        param_types,
    })
}

fn encode_parse(out: &mut Vec<u8>, parse: &Parse) -> Result<(), EncodeError> {
    write::cstr(out, parse.name.as_bytes(), "statement name")?;
    write::cstr(out, parse.query.as_bytes(), "query")?;
    write::count(out, parse.param_types.len(), "parameter types")?;
    for &oid in &parse.param_types {
        write::u32(out, oid);
    }
    Ok(())
}

/// Format codes as sent; they are checked only once the whole body has been read,
/// as PostgreSQL reports framing problems before bad codes.
fn decode_format_codes(r: &mut Reader<'_>) -> Result<Vec<i16>, DecodeError> {
    let count = usize::from(r.u16()?);
    let mut codes = Vec::with_capacity(r.capacity(count, 2));
    for _ in 0..count {
        codes.push(r.i16()?);
    }
    Ok(codes)
}

fn formats(codes: &[i16]) -> Result<Vec<Format>, DecodeError> {
    codes.iter().map(|&code| Format::from_code(code)).collect()
}

fn encode_formats(
    out: &mut Vec<u8>,
    formats: &[Format],
    what: &'static str,
) -> Result<(), EncodeError> {
    write::count(out, formats.len(), what)?;
    for format in formats {
        write::i16(out, format.code());
    }
    Ok(())
}

/// `count` values of Int32 length (-1: NULL) and bytes.
fn decode_values(r: &mut Reader<'_>, count: usize) -> Result<Vec<Option<Vec<u8>>>, DecodeError> {
    let mut values = Vec::with_capacity(r.capacity(count, 4));
    for _ in 0..count {
        values.push(r.counted()?.map(<[u8]>::to_vec));
    }
    Ok(values)
}

fn encode_values(
    out: &mut Vec<u8>,
    values: &[Option<Vec<u8>>],
    what: &'static str,
) -> Result<(), EncodeError> {
    write::count(out, values.len(), what)?;
    for value in values {
        write::counted(out, value.as_deref())?;
    }
    Ok(())
}

/// PostgreSQL's order: the format count is checked against the parameter count
/// before any value is read.
fn decode_bind(r: &mut Reader<'_>) -> Result<Bind, DecodeError> {
    let portal = r.string()?;
    let statement = r.string()?;
    let param_codes = decode_format_codes(r)?;
    let count = usize::from(r.u16()?);
    if param_codes.len() > 1 && param_codes.len() != count {
        return Err(DecodeError::BindFormatMismatch {
            formats: param_codes.len(),
            params: count,
        });
    }
    let params = decode_values(r, count)?;
    let result_codes = decode_format_codes(r)?;
    r.finish()?;
    Ok(Bind {
        portal,
        statement,
        param_formats: formats(&param_codes)?,
        params,
        result_formats: formats(&result_codes)?,
    })
}

fn encode_bind(out: &mut Vec<u8>, bind: &Bind) -> Result<(), EncodeError> {
    write::cstr(out, bind.portal.as_bytes(), "portal name")?;
    write::cstr(out, bind.statement.as_bytes(), "statement name")?;
    encode_formats(out, &bind.param_formats, "parameter formats")?;
    encode_values(out, &bind.params, "parameters")?;
    encode_formats(out, &bind.result_formats, "result formats")
}

fn decode_function_call(r: &mut Reader<'_>) -> Result<FunctionCall, DecodeError> {
    let function = r.u32()?;
    let arg_codes = decode_format_codes(r)?;
    let count = usize::from(r.u16()?);
    if arg_codes.len() > 1 && arg_codes.len() != count {
        return Err(DecodeError::FunctionCallFormatMismatch {
            formats: arg_codes.len(),
            args: count,
        });
    }
    let args = decode_values(r, count)?;
    let result_code = r.i16()?;
    r.finish()?;
    Ok(FunctionCall {
        function,
        arg_formats: formats(&arg_codes)?,
        args,
        result_format: Format::from_code(result_code)?,
    })
}

fn encode_function_call(out: &mut Vec<u8>, call: &FunctionCall) -> Result<(), EncodeError> {
    write::u32(out, call.function);
    encode_formats(out, &call.arg_formats, "argument formats")?;
    encode_values(out, &call.args, "arguments")?;
    write::i16(out, call.result_format.code());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(tag: u8, body: &[u8]) -> Result<FrontendMessage, DecodeError> {
        FrontendMessage::decode_parts(tag, body)
    }

    #[test]
    fn bind_wire_layout() {
        let body = b"p1\0s1\0\0\x01\0\x01\0\x02\0\0\0\x01x\xff\xff\xff\xff\0\0";
        let FrontendMessage::Bind(bind) = decode(b'B', body).unwrap() else {
            panic!("not a Bind");
        };
        assert_eq!(bind.portal, "p1");
        assert_eq!(bind.statement, "s1");
        assert_eq!(bind.param_formats, [Format::Binary]);
        assert_eq!(bind.params, [Some(b"x".to_vec()), None]);
        assert_eq!(bind.param_format(1), Format::Binary);
        assert_eq!(bind.result_format(0), Format::Text);
        let mut out = Vec::new();
        FrontendMessage::Bind(bind).encode(&mut out).unwrap();
        assert_eq!(&out[5..], body);
    }

    #[test]
    fn bind_format_count_must_match() {
        let body = b"\0\0\0\x02\0\0\0\0\0\x01\0\0\0\0\0\0";
        assert_eq!(
            decode(b'B', body),
            Err(DecodeError::BindFormatMismatch {
                formats: 2,
                params: 1
            })
        );
        assert_eq!(
            DecodeError::BindFormatMismatch {
                formats: 2,
                params: 1
            }
            .to_string(),
            "bind message has 2 parameter formats but 1 parameters"
        );
    }

    #[test]
    fn bad_format_code() {
        let body = b"\0\0\0\x01\0\x02\0\0\0\0";
        assert_eq!(
            decode(b'B', body),
            Err(DecodeError::UnsupportedFormatCode(2))
        );
        // A framing problem is reported before the bad code, as PostgreSQL does.
        let body = b"\0\0\0\x01\0\x02\0\0\0\0junk";
        assert_eq!(decode(b'B', body), Err(DecodeError::InvalidMessageFormat));
    }

    #[test]
    fn format_mismatch_is_found_before_reading_values() {
        // Two formats, three parameters declared, no values present at all.
        let body = b"\0\0\0\x02\0\0\0\0\0\x03";
        assert_eq!(
            decode(b'B', body),
            Err(DecodeError::BindFormatMismatch {
                formats: 2,
                params: 3
            })
        );
        let call = b"\0\0\0\x01\0\x02\0\0\0\0\0\x01";
        assert_eq!(
            decode(b'F', call),
            Err(DecodeError::FunctionCallFormatMismatch {
                formats: 2,
                args: 1
            })
        );
    }

    #[test]
    fn describe_and_close_kinds() {
        assert_eq!(
            decode(b'D', b"Sst\0"),
            Ok(FrontendMessage::Describe(Target::statement("st")))
        );
        assert_eq!(
            decode(b'C', b"P\0"),
            Ok(FrontendMessage::Close(Target::portal("")))
        );
        assert_eq!(
            decode(b'D', b"X\0"),
            Err(DecodeError::InvalidDescribeKind(b'X'))
        );
        assert_eq!(
            decode(b'C', b"X\0"),
            Err(DecodeError::InvalidCloseKind(b'X'))
        );
        assert_eq!(decode(b'D', b""), Err(DecodeError::NoDataLeft));
        assert_eq!(
            decode(b'D', b"X\0junk"),
            Err(DecodeError::InvalidMessageFormat)
        );
        assert_eq!(
            DecodeError::InvalidDescribeKind(b'X').to_string(),
            "invalid DESCRIBE message subtype 88"
        );
    }

    #[test]
    fn leftovers_are_invalid_message_format() {
        for (tag, body) in [
            (b'S', &b"x"[..]),
            (b'Q', b"select 1\0junk"),
            (b'E', b"\0\0\0\0\0\0"),
            (b'X', b"\0"),
        ] {
            assert_eq!(
                decode(tag, body),
                Err(DecodeError::InvalidMessageFormat),
                "{}",
                tag as char
            );
        }
    }

    #[test]
    fn unknown_tag() {
        assert_eq!(
            decode(b'R', b""),
            Err(DecodeError::InvalidFrontendMessageType(b'R'))
        );
    }

    #[test]
    fn query_must_be_terminated_and_utf8() {
        assert_eq!(decode(b'Q', b"select 1"), Err(DecodeError::InvalidString));
        assert_eq!(
            decode(b'Q', b"select '\xe9'\0"),
            Err(DecodeError::InvalidUtf8(vec![0xe9, b'\'']))
        );
        assert_eq!(
            decode(b'Q', b"select 1\0"),
            Ok(FrontendMessage::Query("select 1".into()))
        );
    }

    #[test]
    fn huge_declared_counts_do_not_allocate() {
        // 65535 parameter types declared, none present.
        assert_eq!(
            decode(b'P', b"\0q\0\xff\xff"),
            Err(DecodeError::InsufficientData)
        );
        assert_eq!(
            decode(b'B', b"\0\0\0\0\xff\xff"),
            Err(DecodeError::InsufficientData)
        );
    }

    #[test]
    fn auth_stays_raw_until_interpreted() {
        let FrontendMessage::Auth(raw) = decode(b'p', b"pw\0").unwrap() else {
            panic!("not a p message");
        };
        assert_eq!(raw.password().unwrap().password.expose(), b"pw");
        let mut out = Vec::new();
        FrontendMessage::Auth(raw).encode(&mut out).unwrap();
        assert_eq!(out, b"p\0\0\0\x07pw\0");
    }

    #[test]
    fn execute_layout() {
        let mut out = Vec::new();
        FrontendMessage::Execute(Execute {
            portal: "".into(),
            max_rows: 0,
        })
        .encode(&mut out)
        .unwrap();
        assert_eq!(out, b"E\0\0\0\x09\0\0\0\0\0");
    }
}
