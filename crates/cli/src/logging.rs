//! The server log as PostgreSQL writes it, on standard error: the library's `tracing`
//! events, one line each (`2026-11-24 13:40:00.123 UTC [pid] FATAL:  ...`), the pid taken
//! from the connection's span, a `detail` field as DETAIL lines after it.
//!
//! Levels map to PostgreSQL's words: ERROR is FATAL (every error the server logs ends a
//! connection), WARN is WARNING, INFO is LOG; DEBUG and TRACE are not written.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use pgscram_server::log::{Level, format_line};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

/// Installs the PostgreSQL-style log as the process's subscriber.
pub fn init() {
    let subscriber = tracing_subscriber::registry().with(PostgresLog);
    // Only fails if a subscriber is already set (a second call): keep the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The layer: formats events, remembers each span's pid.
struct PostgresLog;

/// A span's backend pid, kept in the span's extensions.
struct Pid(i32);

#[derive(Default)]
struct Fields {
    message: String,
    detail: Option<String>,
    pid: Option<i32>,
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "pid" {
            self.pid = i32::try_from(value).ok();
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "detail" => self.detail = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "detail" => self.detail = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S> Layer<S> for PostgresLog
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(pid), Some(span)) = (fields.pid, ctx.span(id)) {
            span.extensions_mut().insert(Pid(pid));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let pid = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<Pid>().map(|p| p.0))
            })
            .unwrap_or(0);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Fatal,
            tracing::Level::WARN => Level::Warning,
            _ => Level::Log,
        };
        let now = SystemTime::now();
        let mut text = format_line(pid, level, &fields.message, now);
        text.push('\n');
        for line in fields.detail.iter().flat_map(|d| d.lines()) {
            text.push_str(&format_line(pid, Level::Detail, line, now));
            text.push('\n');
        }
        // Best effort: a closed or full stderr must never take a session down.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
