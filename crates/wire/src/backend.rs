//! Messages a server sends: encoded by the server, decoded by the client.
//!
//! [`BackendMessage::decode`] reads what [`BackendMessage::encode`] writes, and what
//! PostgreSQL writes. Names and tags are PostgreSQL's; text is UTF-8 (pgscram always
//! runs with client_encoding UTF8), except in error reports, which are read lossily.

use crate::authentication::Authentication;
use crate::cancel::BackendKeyData;
use crate::fields::ErrorFields;
use crate::format::{Format, Oid};
use crate::read::Reader;
use crate::startup::ProtocolVersion;
use crate::tag::backend as tag;
use crate::{DecodeError, EncodeError, write};

/// The transaction state a ReadyForQuery reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block; queries are refused until it ends.
    Failed,
}

impl TransactionStatus {
    /// The status byte as sent in ReadyForQuery.
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    /// Reads a ReadyForQuery status byte; anything but `I`, `T`, `E` is an error.
    pub fn from_byte(byte: u8) -> Result<TransactionStatus, DecodeError> {
        match byte {
            b'I' => Ok(TransactionStatus::Idle),
            b'T' => Ok(TransactionStatus::InTransaction),
            b'E' => Ok(TransactionStatus::Failed),
            other => Err(DecodeError::InvalidTransactionStatus(other)),
        }
    }
}

/// Appends a ParameterStatus for `name` = `value` to `out` without building a
/// [`BackendMessage`] (a greeting sends a dozen; on error `out` is unchanged).
pub fn encode_parameter_status(
    out: &mut Vec<u8>,
    name: &str,
    value: &str,
) -> Result<(), EncodeError> {
    write::message(out, Some(tag::PARAMETER_STATUS), |out| {
        parameter_status_body(out, name, value)
    })
}

fn parameter_status_body(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), EncodeError> {
    write::cstr(out, name.as_bytes(), "parameter name")?;
    write::cstr(out, value.as_bytes(), "parameter value")
}

/// One column of a RowDescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDescription {
    /// The column name.
    pub name: String,
    /// The table's OID when the column comes straight from one, else 0.
    pub table_oid: Oid,
    /// The column's attribute number in that table, else 0.
    pub column_id: i16,
    /// The column's data type (`pg_type.oid`).
    pub type_oid: Oid,
    /// `pg_type.typlen`: negative for variable-width types.
    pub type_size: i16,
    /// `pg_attribute.atttypmod`; -1 when the type has none.
    pub type_modifier: i32,
    /// The format the values will be sent in.
    pub format: Format,
}

impl FieldDescription {
    /// A computed column (no source table) of the given type, in text format.
    pub fn new(name: impl Into<String>, type_oid: Oid, type_size: i16) -> FieldDescription {
        FieldDescription {
            name: name.into(),
            table_oid: 0,
            column_id: 0,
            type_oid,
            type_size,
            type_modifier: -1,
            format: Format::Text,
        }
    }

    /// A `text` column (OID 25), the type of most results pgscram produces.
    pub fn text(name: impl Into<String>) -> FieldDescription {
        FieldDescription::new(name, 25, -1)
    }
}

/// CopyInResponse, CopyOutResponse or CopyBothResponse.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CopyResponse {
    /// Text means every column is text; binary allows per-column formats.
    pub format: Format,
    /// One format per column.
    pub column_formats: Vec<Format>,
}

/// NotificationResponse: a NOTIFY delivered to a listening session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The process ID of the notifying backend.
    pub pid: i32,
    /// The channel named in NOTIFY and LISTEN.
    pub channel: String,
    /// The payload string, empty if none was given.
    pub payload: String,
}

/// NegotiateProtocolVersion: what the server can do instead of what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiateProtocolVersion {
    /// The newest version the server speaks within the client's major version.
    pub newest: ProtocolVersion,
    /// The `_pq_.` options the server did not recognise.
    pub unrecognized: Vec<String>,
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendMessage {
    /// `R`: an authentication request, or AuthenticationOk.
    Authentication(Authentication),
    /// `K`: the key a CancelRequest must quote.
    BackendKeyData(BackendKeyData),
    /// `S`: a run-time parameter's value, at startup and whenever it changes.
    ParameterStatus {
        /// The parameter, e.g. `server_version`.
        name: String,
        /// Its current value.
        value: String,
    },
    /// `Z`: ready for a new query.
    ReadyForQuery(TransactionStatus),
    /// `E`: an error; the current command is aborted.
    ErrorResponse(ErrorFields),
    /// `N`: a warning or informational message.
    NoticeResponse(ErrorFields),
    /// `T`: the columns of the rows that follow.
    RowDescription(Vec<FieldDescription>),
    /// Column values; `None` is SQL NULL.
    DataRow(Vec<Option<Vec<u8>>>),
    /// The command tag, e.g. `SELECT 1` or `ALTER ROLE`.
    CommandComplete(String),
    /// `I`: the query string was empty.
    EmptyQueryResponse,
    /// `1`: Parse succeeded.
    ParseComplete,
    /// `2`: Bind succeeded.
    BindComplete,
    /// `3`: Close succeeded.
    CloseComplete,
    /// `n`: the described statement or portal returns no rows.
    NoData,
    /// `t`: the parameter types of a described statement.
    ParameterDescription(Vec<Oid>),
    /// `s`: Execute stopped at its row limit; the portal can be executed again.
    PortalSuspended,
    /// `v`: the server speaks an older minor version or lacks some `_pq_.` options.
    NegotiateProtocolVersion(NegotiateProtocolVersion),
    /// `G`: send COPY FROM STDIN data.
    CopyInResponse(CopyResponse),
    /// `H`: COPY TO STDOUT data follows.
    CopyOutResponse(CopyResponse),
    /// `W`: two-way copy (streaming replication) begins.
    CopyBothResponse(CopyResponse),
    /// `d`: a chunk of COPY data.
    CopyData(Vec<u8>),
    /// `c`: end of COPY data.
    CopyDone,
    /// `A`: a NOTIFY for a channel this session listens on.
    NotificationResponse(Notification),
    /// `V`: a fast-path function call's result; `None` is SQL NULL.
    FunctionCallResponse(Option<Vec<u8>>),
}

impl BackendMessage {
    /// The message's tag byte (see [`crate::tag::backend`]).
    pub fn tag(&self) -> u8 {
        match self {
            BackendMessage::Authentication(_) => tag::AUTHENTICATION,
            BackendMessage::BackendKeyData(_) => tag::BACKEND_KEY_DATA,
            BackendMessage::ParameterStatus { .. } => tag::PARAMETER_STATUS,
            BackendMessage::ReadyForQuery(_) => tag::READY_FOR_QUERY,
            BackendMessage::ErrorResponse(_) => tag::ERROR_RESPONSE,
            BackendMessage::NoticeResponse(_) => tag::NOTICE_RESPONSE,
            BackendMessage::RowDescription(_) => tag::ROW_DESCRIPTION,
            BackendMessage::DataRow(_) => tag::DATA_ROW,
            BackendMessage::CommandComplete(_) => tag::COMMAND_COMPLETE,
            BackendMessage::EmptyQueryResponse => tag::EMPTY_QUERY_RESPONSE,
            BackendMessage::ParseComplete => tag::PARSE_COMPLETE,
            BackendMessage::BindComplete => tag::BIND_COMPLETE,
            BackendMessage::CloseComplete => tag::CLOSE_COMPLETE,
            BackendMessage::NoData => tag::NO_DATA,
            BackendMessage::ParameterDescription(_) => tag::PARAMETER_DESCRIPTION,
            BackendMessage::PortalSuspended => tag::PORTAL_SUSPENDED,
            BackendMessage::NegotiateProtocolVersion(_) => tag::NEGOTIATE_PROTOCOL_VERSION,
            BackendMessage::CopyInResponse(_) => tag::COPY_IN_RESPONSE,
            BackendMessage::CopyOutResponse(_) => tag::COPY_OUT_RESPONSE,
            BackendMessage::CopyBothResponse(_) => tag::COPY_BOTH_RESPONSE,
            BackendMessage::CopyData(_) => tag::COPY_DATA,
            BackendMessage::CopyDone => tag::COPY_DONE,
            BackendMessage::NotificationResponse(_) => tag::NOTIFICATION_RESPONSE,
            BackendMessage::FunctionCallResponse(_) => tag::FUNCTION_CALL_RESPONSE,
        }
    }

    /// Decodes a framed message (see [`crate::frame::take_message`]).
    pub fn decode(message: &crate::Message) -> Result<BackendMessage, DecodeError> {
        BackendMessage::decode_parts(message.tag(), message.body())
    }

    /// Decodes a body given its tag.
    pub fn decode_parts(tag: u8, body: &[u8]) -> Result<BackendMessage, DecodeError> {
        let mut r = Reader::new(body);
        let message = match tag {
            tag::AUTHENTICATION => {
                BackendMessage::Authentication(Authentication::decode_body(r.rest())?)
            }
            tag::BACKEND_KEY_DATA => {
                BackendMessage::BackendKeyData(BackendKeyData::decode_body(r.rest())?)
            }
            tag::PARAMETER_STATUS => BackendMessage::ParameterStatus {
                name: r.string()?,
                value: r.string()?,
            },
            tag::READY_FOR_QUERY => {
                BackendMessage::ReadyForQuery(TransactionStatus::from_byte(r.u8()?)?)
            }
            tag::ERROR_RESPONSE => {
                BackendMessage::ErrorResponse(ErrorFields::decode_body(r.rest())?)
            }
            tag::NOTICE_RESPONSE => {
                BackendMessage::NoticeResponse(ErrorFields::decode_body(r.rest())?)
            }
            tag::ROW_DESCRIPTION => BackendMessage::RowDescription(decode_row_description(&mut r)?),
            tag::DATA_ROW => {
                let count = usize::from(r.u16()?);
                let mut values = Vec::with_capacity(r.capacity(count, 4));
                for _ in 0..count {
                    values.push(r.counted()?.map(<[u8]>::to_vec));
                }
                BackendMessage::DataRow(values)
            }
            tag::COMMAND_COMPLETE => BackendMessage::CommandComplete(r.string()?),
            tag::EMPTY_QUERY_RESPONSE => BackendMessage::EmptyQueryResponse,
            tag::PARSE_COMPLETE => BackendMessage::ParseComplete,
            tag::BIND_COMPLETE => BackendMessage::BindComplete,
            tag::CLOSE_COMPLETE => BackendMessage::CloseComplete,
            tag::NO_DATA => BackendMessage::NoData,
            tag::PARAMETER_DESCRIPTION => {
                let count = usize::from(r.u16()?);
                let mut oids = Vec::with_capacity(r.capacity(count, 4));
                for _ in 0..count {
                    oids.push(r.u32()?);
                }
                BackendMessage::ParameterDescription(oids)
            }
            tag::PORTAL_SUSPENDED => BackendMessage::PortalSuspended,
            tag::NEGOTIATE_PROTOCOL_VERSION => {
                let newest = ProtocolVersion::from_code(r.u32()?);
                let count = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
                let mut unrecognized = Vec::with_capacity(r.capacity(count, 1));
                for _ in 0..count {
                    unrecognized.push(r.string()?);
                }
                BackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion {
                    newest,
                    unrecognized,
                })
            }
            tag::COPY_IN_RESPONSE => BackendMessage::CopyInResponse(decode_copy_response(&mut r)?),
            tag::COPY_OUT_RESPONSE => {
                BackendMessage::CopyOutResponse(decode_copy_response(&mut r)?)
            }
            tag::COPY_BOTH_RESPONSE => {
                BackendMessage::CopyBothResponse(decode_copy_response(&mut r)?)
            }
            tag::COPY_DATA => BackendMessage::CopyData(r.rest().to_vec()),
            tag::COPY_DONE => BackendMessage::CopyDone,
            tag::NOTIFICATION_RESPONSE => BackendMessage::NotificationResponse(Notification {
                pid: r.i32()?,
                channel: r.string()?,
                payload: r.string()?,
            }),
            tag::FUNCTION_CALL_RESPONSE => {
                BackendMessage::FunctionCallResponse(r.counted()?.map(<[u8]>::to_vec))
            }
            other => return Err(DecodeError::UnexpectedBackendMessageType(other)),
        };
        r.finish()?;
        Ok(message)
    }

    /// Appends the framed message to `out`; on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, Some(self.tag()), |out| {
            match self {
                BackendMessage::Authentication(request) => request.encode_body(out)?,
                BackendMessage::BackendKeyData(data) => data.encode_body(out),
                BackendMessage::ParameterStatus { name, value } => {
                    parameter_status_body(out, name, value)?;
                }
                BackendMessage::ReadyForQuery(status) => out.push(status.byte()),
                BackendMessage::ErrorResponse(fields) | BackendMessage::NoticeResponse(fields) => {
                    fields.encode_body(out)?;
                }
                BackendMessage::RowDescription(columns) => encode_row_description(out, columns)?,
                BackendMessage::DataRow(values) => {
                    write_data_row_body(out, values.iter().map(Option::as_deref))?;
                }
                BackendMessage::CommandComplete(command_tag) => {
                    write::cstr(out, command_tag.as_bytes(), "command tag")?;
                }
                BackendMessage::ParameterDescription(oids) => {
                    write::count(out, oids.len(), "parameter types")?;
                    for &oid in oids {
                        write::u32(out, oid);
                    }
                }
                BackendMessage::NegotiateProtocolVersion(negotiation) => {
                    write::u32(out, negotiation.newest.code());
                    let count = u32::try_from(negotiation.unrecognized.len()).map_err(|_| {
                        EncodeError::TooManyItems {
                            what: "protocol options",
                            count: negotiation.unrecognized.len(),
                        }
                    })?;
                    write::u32(out, count);
                    for option in &negotiation.unrecognized {
                        write::cstr(out, option.as_bytes(), "protocol option")?;
                    }
                }
                BackendMessage::CopyInResponse(response)
                | BackendMessage::CopyOutResponse(response)
                | BackendMessage::CopyBothResponse(response) => {
                    out.push(response.format.code() as u8);
                    write::count(out, response.column_formats.len(), "column formats")?;
                    for format in &response.column_formats {
                        write::i16(out, format.code());
                    }
                }
                BackendMessage::CopyData(data) => out.extend_from_slice(data),
                BackendMessage::NotificationResponse(notification) => {
                    write::i32(out, notification.pid);
                    write::cstr(out, notification.channel.as_bytes(), "channel")?;
                    write::cstr(out, notification.payload.as_bytes(), "payload")?;
                }
                BackendMessage::FunctionCallResponse(value) => {
                    write::counted(out, value.as_deref())?
                }
                BackendMessage::EmptyQueryResponse
                | BackendMessage::ParseComplete
                | BackendMessage::BindComplete
                | BackendMessage::CloseComplete
                | BackendMessage::NoData
                | BackendMessage::PortalSuspended
                | BackendMessage::CopyDone => {}
            }
            Ok(())
        })
    }
}

/// Writes a DataRow straight from borrowed column values, for servers streaming rows
/// without building a [`BackendMessage`] per row.
pub fn encode_data_row<'a>(
    out: &mut Vec<u8>,
    values: impl IntoIterator<Item = Option<&'a [u8]>>,
) -> Result<(), EncodeError> {
    write::message(out, Some(tag::DATA_ROW), |out| {
        write_data_row_body(out, values)
    })
}

/// The count is patched in after the values, so any iterator will do.
fn write_data_row_body<'a>(
    out: &mut Vec<u8>,
    values: impl IntoIterator<Item = Option<&'a [u8]>>,
) -> Result<(), EncodeError> {
    let count_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut count = 0usize;
    for value in values {
        write::counted(out, value)?;
        count += 1;
    }
    let count = u16::try_from(count).map_err(|_| EncodeError::TooManyItems {
        what: "columns",
        count,
    })?;
    out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    Ok(())
}

fn decode_row_description(r: &mut Reader<'_>) -> Result<Vec<FieldDescription>, DecodeError> {
    let count = usize::from(r.u16()?);
    // Each column is at least a NUL plus 18 bytes of fixed fields.
    let mut columns = Vec::with_capacity(r.capacity(count, 19));
    for _ in 0..count {
        columns.push(FieldDescription {
            name: r.string()?,
            table_oid: r.u32()?,
            column_id: r.i16()?,
            type_oid: r.u32()?,
            type_size: r.i16()?,
            type_modifier: r.i32()?,
            format: Format::from_code(r.i16()?)?,
        });
    }
    Ok(columns)
}

fn encode_row_description(
    out: &mut Vec<u8>,
    columns: &[FieldDescription],
) -> Result<(), EncodeError> {
    write::count(out, columns.len(), "columns")?;
    for column in columns {
        write::cstr(out, column.name.as_bytes(), "column name")?;
        write::u32(out, column.table_oid);
        write::i16(out, column.column_id);
        write::u32(out, column.type_oid);
        write::i16(out, column.type_size);
        write::i32(out, column.type_modifier);
        write::i16(out, column.format.code());
    }
    Ok(())
}

fn decode_copy_response(r: &mut Reader<'_>) -> Result<CopyResponse, DecodeError> {
    let format = Format::from_code(i16::from(r.u8()?))?;
    let count = usize::from(r.u16()?);
    let mut column_formats = Vec::with_capacity(r.capacity(count, 2));
    for _ in 0..count {
        column_formats.push(Format::from_code(r.i16()?)?);
    }
    Ok(CopyResponse {
        format,
        column_formats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqlState;

    fn encoded(message: &BackendMessage) -> Vec<u8> {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn ready_for_query_bytes() {
        assert_eq!(
            encoded(&BackendMessage::ReadyForQuery(TransactionStatus::Idle)),
            b"Z\0\0\0\x05I"
        );
        assert_eq!(
            BackendMessage::decode_parts(b'Z', b"X"),
            Err(DecodeError::InvalidTransactionStatus(b'X'))
        );
    }

    #[test]
    fn row_description_layout() {
        let message = BackendMessage::RowDescription(vec![FieldDescription::text("rolname")]);
        let bytes = encoded(&message);
        let expected = [
            &b"T\0\0\0\x20"[..],
            b"\0\x01", // one column
            b"rolname\0",
            b"\0\0\0\0",         // table OID
            b"\0\0",             // column number
            b"\0\0\0\x19",       // type OID 25 (text)
            b"\xff\xff",         // typlen -1
            b"\xff\xff\xff\xff", // typmod -1
            b"\0\0",             // text format
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(BackendMessage::decode_parts(b'T', &bytes[5..]), Ok(message));
    }

    #[test]
    fn data_row_helper_matches_the_enum() {
        let mut streamed = Vec::new();
        encode_data_row(&mut streamed, [Some(&b"a"[..]), None]).unwrap();
        let whole = encoded(&BackendMessage::DataRow(vec![Some(b"a".to_vec()), None]));
        assert_eq!(streamed, whole);
        assert_eq!(whole, b"D\0\0\0\x0f\0\x02\0\0\0\x01a\xff\xff\xff\xff");
    }

    #[test]
    fn data_row_with_too_many_columns_is_refused_whole() {
        let mut out = vec![7];
        let values = std::iter::repeat_n(None, 65_536);
        assert_eq!(
            encode_data_row(&mut out, values),
            Err(EncodeError::TooManyItems {
                what: "columns",
                count: 65_536
            })
        );
        assert_eq!(out, [7]);
    }

    #[test]
    fn negotiate_protocol_version_as_postgres_sends_it() {
        let message = BackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion {
            newest: ProtocolVersion::V3_0,
            unrecognized: vec!["_pq_.x".into()],
        });
        assert_eq!(
            encoded(&message),
            b"v\0\0\0\x13\0\x03\0\0\0\0\0\x01_pq_.x\0"
        );
    }

    #[test]
    fn unknown_backend_tag() {
        assert_eq!(
            BackendMessage::decode_parts(b'?', b""),
            Err(DecodeError::UnexpectedBackendMessageType(b'?'))
        );
    }

    #[test]
    fn negotiation_count_cannot_force_allocation() {
        assert_eq!(
            BackendMessage::decode_parts(b'v', b"\0\x03\0\0\xff\xff\xff\xff"),
            Err(DecodeError::InvalidString)
        );
    }

    #[test]
    fn error_response_in_the_enum() {
        let fields = ErrorFields::fatal(
            SqlState::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already",
        );
        let bytes = encoded(&BackendMessage::ErrorResponse(fields.clone()));
        assert_eq!(bytes[0], b'E');
        assert_eq!(
            BackendMessage::decode_parts(b'E', &bytes[5..]),
            Ok(BackendMessage::ErrorResponse(fields))
        );
    }

    #[test]
    fn copy_response_formats() {
        assert_eq!(
            BackendMessage::decode_parts(b'G', b"\x02\0\0"),
            Err(DecodeError::UnsupportedFormatCode(2))
        );
        let response = CopyResponse {
            format: Format::Binary,
            column_formats: vec![Format::Binary; 2],
        };
        assert_eq!(
            encoded(&BackendMessage::CopyOutResponse(response)),
            b"H\0\0\0\x0b\x01\0\x02\0\x01\0\x01"
        );
    }
}
