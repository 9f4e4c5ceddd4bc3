//! One value of every message, shared by the integration tests: each test loops over
//! these, so a message added here is round-tripped, truncated and fuzzed everywhere.
#![allow(dead_code)]

use pgscram_wire::*;

pub fn frontend_messages() -> Vec<FrontendMessage> {
    vec![
        FrontendMessage::Query("SELECT rolname FROM pg_roles WHERE rolname = 'ü'".into()),
        FrontendMessage::Query(String::new()),
        FrontendMessage::Parse(Parse {
            name: "s1".into(),
            query: "select $1::int4, $2".into(),
            param_types: vec![23, 0],
        }),
        FrontendMessage::Parse(Parse::default()),
        FrontendMessage::Bind(Bind {
            portal: "p1".into(),
            statement: "s1".into(),
            param_formats: vec![Format::Binary, Format::Text],
            params: vec![Some(vec![0, 0, 0, 42]), None],
            result_formats: vec![Format::Binary],
        }),
        FrontendMessage::Bind(Bind {
            params: vec![Some(Vec::new())],
            ..Bind::default()
        }),
        FrontendMessage::Describe(Target::statement("s1")),
        FrontendMessage::Describe(Target::portal("")),
        FrontendMessage::Execute(Execute {
            portal: "p1".into(),
            max_rows: 100,
        }),
        FrontendMessage::Close(Target::portal("p1")),
        FrontendMessage::Close(Target::statement("")),
        FrontendMessage::Sync,
        FrontendMessage::Flush,
        FrontendMessage::Terminate,
        FrontendMessage::FunctionCall(FunctionCall {
            function: 1598,
            arg_formats: vec![Format::Binary],
            args: vec![Some(vec![1, 2]), None],
            result_format: Format::Binary,
        }),
        FrontendMessage::CopyData(b"1\talice\n".to_vec()),
        FrontendMessage::CopyData(Vec::new()),
        FrontendMessage::CopyDone,
        FrontendMessage::CopyFail("aborted by user".into()),
        FrontendMessage::Auth(AuthResponse::new(
            b"md5a3556571e93b0d20722ba62be61e8c2d\0".to_vec(),
        )),
    ]
}

pub fn backend_messages() -> Vec<BackendMessage> {
    vec![
        BackendMessage::Authentication(Authentication::Ok),
        BackendMessage::Authentication(Authentication::KerberosV5),
        BackendMessage::Authentication(Authentication::CleartextPassword),
        BackendMessage::Authentication(Authentication::Md5Password { salt: [0xde, 0xad, 0xbe, 0xef] }),
        BackendMessage::Authentication(Authentication::Gss),
        BackendMessage::Authentication(Authentication::GssContinue(vec![1, 2, 3])),
        BackendMessage::Authentication(Authentication::Sspi),
        BackendMessage::Authentication(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
        }),
        BackendMessage::Authentication(Authentication::Sasl { mechanisms: Vec::new() }),
        BackendMessage::Authentication(Authentication::SaslContinue(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec(),
        )),
        BackendMessage::Authentication(Authentication::SaslContinue(Vec::new())),
        BackendMessage::Authentication(Authentication::SaslFinal(
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
        )),
        BackendMessage::BackendKeyData(BackendKeyData { pid: 4242, key: CancelKey::from_u32(0x1234_5678) }),
        BackendMessage::BackendKeyData(BackendKeyData {
            pid: 1,
            key: CancelKey::new(vec![7; 32]).expect("32-byte key"),
        }),
        BackendMessage::ParameterStatus { name: "server_version".into(), value: "15.18".into() },
        BackendMessage::ParameterStatus { name: "application_name".into(), value: String::new() },
        BackendMessage::ReadyForQuery(TransactionStatus::Idle),
        BackendMessage::ReadyForQuery(TransactionStatus::InTransaction),
        BackendMessage::ReadyForQuery(TransactionStatus::Failed),
        BackendMessage::ErrorResponse(ErrorFields::fatal(
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"alice\"",
        )),
        BackendMessage::ErrorResponse(
            ErrorFields::error(SqlState::SYNTAX_ERROR, "syntax error at or near \"SELEC\"")
                .with_position(1)
                .with_routine("scanner_yyerror"),
        ),
        BackendMessage::NoticeResponse(ErrorFields::notice("MD5 password cleared because of role rename")),
        BackendMessage::NoticeResponse(
            ErrorFields::warning(SqlState::WARNING_DEPRECATED_FEATURE, "setting an MD5-encrypted password")
                .with_detail("MD5 password support is deprecated and will be removed in a future release of PostgreSQL.")
                .with_hint("Refer to the PostgreSQL documentation for details about migrating to another password type."),
        ),
        BackendMessage::RowDescription(vec![
            FieldDescription::text("rolname"),
            FieldDescription {
                table_oid: 1260,
                column_id: 2,
                format: Format::Binary,
                ..FieldDescription::new("rolsuper", 16, 1)
            },
        ]),
        BackendMessage::RowDescription(Vec::new()),
        BackendMessage::DataRow(vec![Some(b"alice".to_vec()), None, Some(Vec::new())]),
        BackendMessage::DataRow(Vec::new()),
        BackendMessage::CommandComplete("SELECT 1".into()),
        BackendMessage::CommandComplete("ALTER ROLE".into()),
        BackendMessage::EmptyQueryResponse,
        BackendMessage::ParseComplete,
        BackendMessage::BindComplete,
        BackendMessage::CloseComplete,
        BackendMessage::NoData,
        BackendMessage::ParameterDescription(vec![23, 25]),
        BackendMessage::PortalSuspended,
        BackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion {
            newest: ProtocolVersion::V3_0,
            unrecognized: vec!["_pq_.compression".into()],
        }),
        BackendMessage::CopyInResponse(CopyResponse { format: Format::Text, column_formats: vec![Format::Text; 2] }),
        BackendMessage::CopyOutResponse(CopyResponse { format: Format::Binary, column_formats: vec![Format::Binary] }),
        BackendMessage::CopyBothResponse(CopyResponse::default()),
        BackendMessage::CopyData(b"\\.".to_vec()),
        BackendMessage::CopyDone,
        BackendMessage::NotificationResponse(Notification {
            pid: 99,
            channel: "roles".into(),
            payload: "alice".into(),
        }),
        BackendMessage::FunctionCallResponse(Some(vec![0, 1])),
        BackendMessage::FunctionCallResponse(None),
    ]
}

pub fn startup_requests() -> Vec<StartupRequest> {
    vec![
        StartupRequest::Startup(
            StartupMessage::new("alice")
                .with("database", "app")
                .with("application_name", "psql")
                .with("client_encoding", "UTF8"),
        ),
        StartupRequest::Startup(
            StartupMessage::new("bob").with_version(ProtocolVersion { major: 3, minor: 2 }),
        ),
        StartupRequest::SslRequest,
        StartupRequest::GssEncRequest,
        StartupRequest::Cancel(CancelRequest {
            pid: 4242,
            key: CancelKey::from_u32(0x1234_5678),
        }),
        StartupRequest::Cancel(CancelRequest {
            pid: 1,
            key: CancelKey::new(vec![9; 32]).expect("32-byte key"),
        }),
    ]
}

pub fn encode_frontend(message: &FrontendMessage) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out).expect("encodable");
    out
}

pub fn encode_backend(message: &BackendMessage) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out).expect("encodable");
    out
}

pub fn encode_startup(request: &StartupRequest) -> Vec<u8> {
    let mut out = Vec::new();
    request.encode(&mut out).expect("encodable");
    out
}

/// The `p` messages, encoded by their own types.
pub fn auth_response_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut push = |encode: &dyn Fn(&mut Vec<u8>) -> Result<(), EncodeError>| {
        let mut out = Vec::new();
        encode(&mut out).expect("encodable");
        frames.push(out);
    };
    push(&|out| PasswordMessage::new("pencil").encode(out));
    push(&|out| {
        SaslInitialResponse {
            mechanism: "SCRAM-SHA-256".into(),
            data: Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec()),
        }
        .encode(out)
    });
    push(&|out| {
        SaslInitialResponse {
            mechanism: "SCRAM-SHA-256".into(),
            data: None,
        }
        .encode(out)
    });
    push(&|out| {
        SaslResponse {
            data: b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                .to_vec(),
        }
        .encode(out)
    });
    frames
}

/// Every decoder applied to one body: used to show no input makes any of them panic.
pub fn decode_everything(tag: u8, body: &[u8]) {
    let _ = FrontendMessage::decode_parts(tag, body);
    let _ = BackendMessage::decode_parts(tag, body);
    let raw = AuthResponse::new(body.to_vec());
    let _ = raw.password();
    let _ = raw.sasl_initial();
    let _ = raw.sasl_response();
    if let [a, b, c, d, rest @ ..] = body {
        let packet = StartupPacket::new(u32::from_be_bytes([*a, *b, *c, *d]), rest.to_vec());
        let _ = StartupRequest::decode(&packet);
    }
}
