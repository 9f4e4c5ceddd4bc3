//! PostgreSQL's frontend/backend protocol (version 3) as plain values, for both ends
//! of a connection. Sans-IO: no sockets, no async, no clock. Bytes go in, typed
//! messages come out, and the other way round.
//!
//! ```text
//!  bytes in
//!   socket ─▶ Vec<u8> ─ frame::take_startup ─▶ StartupPacket ─ StartupRequest::decode ─▶ StartupRequest  (server)
//!                     ─ frame::take_message ─▶ Message ─┬─ FrontendMessage::decode ──▶ FrontendMessage (server)
//!                                                       └─ BackendMessage::decode ───▶ BackendMessage  (client)
//!  bytes out
//!   StartupRequest, FrontendMessage (client) │
//!   BackendMessage (server)                  ├─ encode(&mut Vec<u8>) ─▶ Vec<u8> ─▶ socket
//! ```
//!
//! ```
//! use pgscram_wire::frame::{self, limits};
//! use pgscram_wire::{Authentication, BackendMessage, StartupMessage, StartupRequest};
//!
//! // Client: the startup packet.
//! let mut wire = Vec::new();
//! StartupRequest::Startup(StartupMessage::new("alice").with("database", "app")).encode(&mut wire)?;
//!
//! // Server: bytes were appended to a buffer; cut the packet off and read it.
//! let packet = frame::take_startup(&mut wire, limits::STARTUP_PACKET)?.expect("complete");
//! let StartupRequest::Startup(startup) = StartupRequest::decode(&packet)? else { unreachable!() };
//! assert_eq!((startup.user(), startup.database()), ("alice", "app"));
//!
//! // Server answers, client reads.
//! let offer = Authentication::Sasl { mechanisms: vec!["SCRAM-SHA-256".into()] };
//! BackendMessage::Authentication(offer.clone()).encode(&mut wire)?;
//! let message = frame::take_message(&mut wire, limits::SMALL_MESSAGE)?.expect("complete");
//! assert_eq!(BackendMessage::decode(&message)?, BackendMessage::Authentication(offer));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`frame`] cuts whole messages off a buffer the caller appends to, refusing an
//!   over-long length word before buffering the body.
//! - [`startup`] and [`cancel`] read the untagged first packet: StartupMessage,
//!   SSLRequest, GSSENCRequest, CancelRequest.
//! - [`frontend`] and [`auth_response`] are what clients send; the one `p` tag is
//!   decoded as a password, a SASLInitialResponse or a SASLResponse on request.
//! - [`backend`], [`authentication`] and [`fields`] are what servers send.
//! - [`sqlstate`] names every SQLSTATE pgscram reports.
//!
//! Every malformed input is a [`DecodeError`] carrying PostgreSQL's message and
//! SQLSTATE; nothing panics on network input. Passwords and cancel keys are redacted
//! in `Debug` and wiped on drop.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth_response;
pub mod authentication;
pub mod backend;
pub mod cancel;
mod error;
pub mod fields;
pub mod format;
pub mod frame;
pub mod frontend;
mod read;
mod secret;
pub mod sqlstate;
pub mod startup;
pub mod tag;
mod write;

pub use auth_response::{AuthResponse, PasswordMessage, SaslInitialResponse, SaslResponse};
pub use authentication::Authentication;
pub use backend::{
    BackendMessage, CopyResponse, FieldDescription, NegotiateProtocolVersion, Notification,
    TransactionStatus, encode_data_row, encode_parameter_status,
};
pub use cancel::{BackendKeyData, CancelKey, CancelRequest};
pub use error::{DecodeError, EncodeError};
pub use fields::{ErrorFields, Notice, Severity};
pub use format::{Format, Oid};
pub use frame::{Message, StartupPacket};
pub use frontend::{Bind, Execute, FrontendMessage, FunctionCall, Parse, Target, TargetKind};
pub use secret::Password;
pub use sqlstate::SqlState;
pub use startup::{GssEncResponse, ProtocolVersion, SslResponse, StartupMessage, StartupRequest};
