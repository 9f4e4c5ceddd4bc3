//! Encoding backend messages into a connection: the one place the server turns typed
//! replies into bytes.

use std::io;

use pgscram_wire::{Authentication, BackendMessage, ErrorFields};

use crate::stream::Conn;

/// Queues a message; `flush` sends it. Encoding only fails for values the protocol
/// cannot carry (over 1 GiB, NUL inside a string); that is a bug in the caller, so it
/// is reported as an I/O error that ends the session rather than a panic.
pub fn push(conn: &mut Conn, message: &BackendMessage) -> io::Result<()> {
    message
        .encode(conn.out())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Sends an authentication request or result right away.
pub async fn authentication(conn: &mut Conn, request: &Authentication) -> io::Result<()> {
    queue_authentication(conn, request)?;
    conn.flush().await
}

/// Queues an authentication result to leave with the next flush.
pub fn queue_authentication(conn: &mut Conn, request: &Authentication) -> io::Result<()> {
    request
        .encode(conn.out())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Sends an error and flushes (the caller closes the connection after a FATAL).
pub async fn error(conn: &mut Conn, fields: ErrorFields) -> io::Result<()> {
    push(conn, &BackendMessage::ErrorResponse(fields))?;
    conn.flush().await
}
