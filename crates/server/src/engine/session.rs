//! After authentication: AuthenticationOk, ParameterStatus, BackendKeyData, then the
//! simple and extended query protocols over a [`QueryEngine`].
//!
//! Statements run on the blocking pool (SQLite blocks); a CancelRequest for this
//! session interrupts the running statement, which then fails with 57014.

//! The simple and extended query protocols over a [`QueryEngine`], for
//! [`super::EngineBackend`].
//!
//! Statements run on the blocking pool (SQLite blocks); a CancelRequest for this
//! session interrupts the running statement, which then fails with 57014. A shutdown
//! ends an idle session with 57P01, as PostgreSQL's fast shutdown does.

use std::collections::HashMap;
use std::ops::ControlFlow;

use pgscram_wire::{
    BackendMessage, Bind, ErrorFields, FieldDescription, Format, FrontendMessage, SqlState,
    TargetKind, TransactionStatus,
};

use super::{Column, Prepared, Produced, QueryEngine, StatementResult, Value};
use crate::backend::Client;
use crate::reply::push;
use crate::stream::{Conn, ReadError};

struct Portal {
    prepared: Prepared,
    result_formats: Vec<Format>,
    /// Rows not yet sent, once executed (for Execute with a row limit).
    pending: Option<(std::vec::IntoIter<Vec<Value>>, String)>,
}

struct Session {
    engine: Option<Box<dyn QueryEngine>>,
    statements: HashMap<String, Prepared>,
    portals: HashMap<String, Portal>,
    /// Parameters of bound portals, consumed by their first Execute.
    bound_params: HashMap<String, Vec<Value>>,
    /// After an error in the extended protocol, messages are skipped until Sync.
    skipping: bool,
}

pub(super) async fn run(mut client: Client, engine: Box<dyn QueryEngine>) {
    let parameters = engine.initial_parameters();
    let Ok(cancel) = client.ready(parameters).await else {
        return;
    };
    let mut shutdown = client.shutdown_signal();
    let mut session = Session {
        engine: Some(engine),
        statements: HashMap::new(),
        portals: HashMap::new(),
        bound_params: HashMap::new(),
        skipping: false,
    };
    let conn = client.conn();
    let _ = serve(conn, &mut session, cancel.notify(), &mut shutdown).await;
    conn.shutdown().await;
}

async fn serve(
    conn: &mut Conn,
    session: &mut Session,
    cancel: &tokio::sync::Notify,
    shutdown: &mut crate::shutdown::ShutdownSignal,
) -> std::io::Result<()> {
    let fatal = loop {
        let read = tokio::select! {
            read = conn.read_frontend() => read,
            () = shutdown.requested() => break ErrorFields::fatal(
                SqlState::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ),
        };
        let message = match read {
            Ok(message) => message,
            Err(ReadError::Eof | ReadError::Truncated | ReadError::Io(_)) => return Ok(()),
            Err(ReadError::Protocol(e)) => break ErrorFields::fatal(e.sqlstate(), e.to_string()),
        };
        let message = match FrontendMessage::decode(&message) {
            Ok(message) => message,
            Err(e) => break ErrorFields::fatal(e.sqlstate(), e.to_string()),
        };
        if session.skipping
            && !matches!(
                message,
                FrontendMessage::Sync | FrontendMessage::Terminate | FrontendMessage::Flush
            )
        {
            continue;
        }
        // Boxed: answering a message (a statement on the blocking pool, rows to send)
        // needs far more state than waiting for one, and a session spends its life
        // waiting; inline, every idle session would carry the largest answer's state.
        if Box::pin(answer(conn, session, message, cancel))
            .await?
            .is_break()
        {
            return Ok(());
        }
    };
    // Boxed for the same reason: the final error's state is needed once, at the end.
    Box::pin(crate::reply::error(conn, fatal)).await
}

/// Answers one frontend message; `Break` when the session ends.
async fn answer(
    conn: &mut Conn,
    session: &mut Session,
    message: FrontendMessage,
    cancel: &tokio::sync::Notify,
) -> std::io::Result<ControlFlow<()>> {
    match message {
        FrontendMessage::Query(sql) => {
            let results = session
                .run_blocking(cancel, move |engine| engine.simple_query(&sql))
                .await;
            for result in results {
                send_result(conn, result)?;
            }
            push(conn, &BackendMessage::ReadyForQuery(session.status()))?;
            conn.flush().await?;
        }
        FrontendMessage::Parse(parse) => {
            let query = parse.query.clone();
            let types = parse.param_types.clone();
            match session
                .run_blocking(cancel, move |engine| engine.prepare(&query, &types))
                .await
            {
                Ok(prepared) => {
                    session.statements.insert(parse.name, prepared);
                    push(conn, &BackendMessage::ParseComplete)?;
                }
                Err(error) => session.fail(conn, error).await?,
            }
        }
        FrontendMessage::Bind(bind) => match session.bind(bind) {
            Ok(()) => push(conn, &BackendMessage::BindComplete)?,
            Err(error) => session.fail(conn, error).await?,
        },
        FrontendMessage::Describe(target) => {
            let described = match target.kind {
                TargetKind::Statement => session
                    .statements
                    .get(&target.name)
                    .map(|p| (Some(p.param_types.clone()), p.columns.clone(), Vec::new())),
                TargetKind::Portal => session
                    .portals
                    .get(&target.name)
                    .map(|p| (None, p.prepared.columns.clone(), p.result_formats.clone())),
            };
            match described {
                Some((params, columns, formats)) => {
                    if let Some(params) = params {
                        push(conn, &BackendMessage::ParameterDescription(params))?;
                    }
                    match columns {
                        Some(columns) => push(
                            conn,
                            &BackendMessage::RowDescription(describe(&columns, &formats)),
                        )?,
                        None => push(conn, &BackendMessage::NoData)?,
                    }
                }
                None => {
                    session
                        .fail(conn, missing(target.kind, &target.name))
                        .await?
                }
            }
        }
        FrontendMessage::Execute(execute) => {
            let max_rows = usize::try_from(execute.max_rows).unwrap_or(0);
            session
                .execute(conn, &execute.portal, max_rows, cancel)
                .await?;
        }
        FrontendMessage::Close(target) => {
            match target.kind {
                TargetKind::Statement => session.statements.remove(&target.name).map(|_| ()),
                TargetKind::Portal => session.portals.remove(&target.name).map(|_| ()),
            };
            push(conn, &BackendMessage::CloseComplete)?;
        }
        FrontendMessage::Sync => {
            if let Some(error) = session.run_blocking(cancel, |engine| engine.sync()).await {
                push(conn, &BackendMessage::ErrorResponse(error))?;
            }
            session.skipping = false;
            session.portals.retain(|name, _| !name.is_empty());
            push(conn, &BackendMessage::ReadyForQuery(session.status()))?;
            conn.flush().await?;
        }
        FrontendMessage::Flush => conn.flush().await?,
        FrontendMessage::Terminate => return Ok(ControlFlow::Break(())),
        FrontendMessage::CopyData(_) | FrontendMessage::CopyDone | FrontendMessage::CopyFail(_) => {
            // No COPY is in progress; PostgreSQL ignores these outside COPY.
        }
        FrontendMessage::FunctionCall(_) => {
            session
                .fail(
                    conn,
                    ErrorFields::error(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        "fastpath function calls are not supported",
                    ),
                )
                .await?;
            push(conn, &BackendMessage::ReadyForQuery(session.status()))?;
            session.skipping = false;
            conn.flush().await?;
        }
        FrontendMessage::Auth(_) => {
            let error = ErrorFields::fatal(
                SqlState::PROTOCOL_VIOLATION,
                "unexpected message type 0x70 during COPY from stdin",
            );
            crate::reply::error(conn, error).await?;
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

impl Session {
    fn status(&self) -> TransactionStatus {
        self.engine
            .as_ref()
            .map_or(TransactionStatus::Idle, |e| e.transaction_status())
    }

    fn engine(&self) -> Result<&dyn QueryEngine, ErrorFields> {
        self.engine.as_deref().ok_or_else(|| {
            ErrorFields::error(SqlState::INTERNAL_ERROR, "the session's engine is busy")
        })
    }

    /// An error in the extended protocol: sent at once (a driver that sent Parse and
    /// Flush is waiting for it), then messages are skipped until Sync.
    async fn fail(&mut self, conn: &mut Conn, error: ErrorFields) -> std::io::Result<()> {
        self.skipping = true;
        push(conn, &BackendMessage::ErrorResponse(error))?;
        conn.flush().await
    }

    /// Runs `work` on the engine on the blocking pool; a cancel signal interrupts it.
    async fn run_blocking<T: Send + 'static>(
        &mut self,
        cancel: &tokio::sync::Notify,
        work: impl FnOnce(&mut dyn QueryEngine) -> T + Send + 'static,
    ) -> T {
        let mut engine = self
            .engine
            .take()
            .expect("the engine is returned after every statement");
        let interrupt = engine.interrupt_handle();
        let task = tokio::task::spawn_blocking(move || {
            let result = work(engine.as_mut());
            (engine, result)
        });
        tokio::pin!(task);
        let joined = loop {
            tokio::select! {
                joined = &mut task => break joined,
                () = cancel.notified() => interrupt(),
            }
        };
        match joined {
            Ok((engine, result)) => {
                self.engine = Some(engine);
                result
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    fn bind(&mut self, bind: Bind) -> Result<(), ErrorFields> {
        let prepared = self
            .statements
            .get(&bind.statement)
            .cloned()
            .ok_or_else(|| missing(TargetKind::Statement, &bind.statement))?;
        if bind.params.len() != prepared.param_types.len() {
            return Err(ErrorFields::error(
                SqlState::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                    bind.params.len(),
                    bind.statement,
                    prepared.param_types.len()
                ),
            ));
        }
        let mut params = Vec::with_capacity(bind.params.len());
        for (i, value) in bind.params.iter().enumerate() {
            params.push(match (value, bind.param_format(i)) {
                (None, _) => None,
                (Some(v), Format::Text) => Some(v.clone()),
                (Some(v), Format::Binary) => {
                    Some(self.engine()?.decode_binary(prepared.param_types[i], v)?)
                }
            });
        }
        let columns = prepared.columns.as_ref().map_or(0, Vec::len);
        let result_formats = (0..columns).map(|i| bind.result_format(i)).collect();
        let portal = Portal {
            prepared,
            result_formats,
            pending: None,
        };
        self.portals.insert(bind.portal.clone(), portal);
        self.bound_params.insert(bind.portal, params);
        Ok(())
    }

    async fn execute(
        &mut self,
        conn: &mut Conn,
        name: &str,
        max_rows: usize,
        cancel: &tokio::sync::Notify,
    ) -> std::io::Result<()> {
        let Some(portal) = self.portals.get_mut(name) else {
            return self.fail(conn, missing(TargetKind::Portal, name)).await;
        };
        if portal.pending.is_none() {
            let prepared = portal.prepared.clone();
            let params = self.bound_params.remove(name).unwrap_or_default();
            let result = self
                .run_blocking(cancel, move |engine| engine.execute(&prepared, &params))
                .await;
            for notice in &result.notices {
                push(conn, &BackendMessage::NoticeResponse(notice.clone()))?;
            }
            for (name, value) in &result.reported {
                push(
                    conn,
                    &BackendMessage::ParameterStatus {
                        name: name.clone(),
                        value: value.clone(),
                    },
                )?;
            }
            let Some(portal) = self.portals.get_mut(name) else {
                return Ok(());
            };
            match result.outcome {
                Ok(Produced::Rows { rows, tag, .. }) => {
                    portal.pending = Some((rows.into_iter(), tag))
                }
                Ok(Produced::Command { tag }) => {
                    return push(conn, &BackendMessage::CommandComplete(tag));
                }
                Ok(Produced::Empty) => return push(conn, &BackendMessage::EmptyQueryResponse),
                Err(error) => return self.fail(conn, error).await,
            }
        }
        let (Some(engine), Some(portal)) = (self.engine.as_deref(), self.portals.get_mut(name))
        else {
            return Ok(());
        };
        let columns = portal.prepared.columns.clone().unwrap_or_default();
        let formats = portal.result_formats.clone();
        let Some((rows, tag)) = portal.pending.as_mut() else {
            return Ok(());
        };
        let mut sent = 0;
        let mut failure = None;
        for row in rows.by_ref() {
            match encode_row(engine, row, &columns, &formats) {
                Ok(row) => push(conn, &BackendMessage::DataRow(row))?,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            sent += 1;
            if max_rows > 0 && sent == max_rows {
                break;
            }
        }
        if let Some(error) = failure {
            return self.fail(conn, error).await;
        }
        if max_rows > 0 && sent == max_rows && rows.len() > 0 {
            push(conn, &BackendMessage::PortalSuspended)
        } else {
            let tag = tag.clone();
            push(conn, &BackendMessage::CommandComplete(tag))
        }
    }
}

fn missing(kind: TargetKind, name: &str) -> ErrorFields {
    match kind {
        TargetKind::Statement => ErrorFields::error(
            SqlState::INVALID_SQL_STATEMENT_NAME,
            format!("prepared statement \"{name}\" does not exist"),
        ),
        TargetKind::Portal => ErrorFields::error(
            SqlState::INVALID_CURSOR_NAME,
            format!("portal \"{name}\" does not exist"),
        ),
    }
}

fn describe(columns: &[Column], formats: &[Format]) -> Vec<FieldDescription> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| FieldDescription {
            name: c.name.clone(),
            table_oid: 0,
            column_id: 0,
            type_oid: c.type_oid,
            type_size: c.type_size,
            type_modifier: -1,
            format: formats.get(i).copied().unwrap_or(Format::Text),
        })
        .collect()
}

fn encode_row(
    engine: &dyn QueryEngine,
    row: Vec<Value>,
    columns: &[Column],
    formats: &[Format],
) -> Result<Vec<Value>, ErrorFields> {
    row.into_iter()
        .enumerate()
        .map(|(i, value)| match (value, formats.get(i)) {
            (Some(text), Some(Format::Binary)) => {
                let oid = columns.get(i).map_or(25, |c| c.type_oid);
                engine.encode_binary(oid, &text).map(Some)
            }
            (value, _) => Ok(value),
        })
        .collect()
}

/// Sends one simple-protocol statement result.
fn send_result(conn: &mut Conn, result: StatementResult) -> std::io::Result<()> {
    for notice in result.notices {
        push(conn, &BackendMessage::NoticeResponse(notice))?;
    }
    for (name, value) in result.reported {
        push(conn, &BackendMessage::ParameterStatus { name, value })?;
    }
    match result.outcome {
        Ok(Produced::Rows { columns, rows, tag }) => {
            push(
                conn,
                &BackendMessage::RowDescription(describe(&columns, &[])),
            )?;
            for row in rows {
                push(conn, &BackendMessage::DataRow(row))?;
            }
            push(conn, &BackendMessage::CommandComplete(tag))
        }
        Ok(Produced::Command { tag }) => push(conn, &BackendMessage::CommandComplete(tag)),
        Ok(Produced::Empty) => push(conn, &BackendMessage::EmptyQueryResponse),
        Err(error) => {
            if error.code == SqlState::QUERY_CANCELED {
                tracing::info!("canceling statement due to user request");
            }
            push(conn, &BackendMessage::ErrorResponse(error))
        }
    }
}
