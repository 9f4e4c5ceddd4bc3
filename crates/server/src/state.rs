//! What every connection of one server shares, and the reload that changes it. Built by
//! [`crate::ServerBuilder`]; connections take a snapshot of the settings when they start,
//! so a reload never changes a connection halfway.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock};

use pgscram_auth::hba::{HbaOptions, HbaRules, Interface};
use pgscram_scram::MockSecret;

use crate::admission::Admission;
use crate::audit::AuditLog;
use crate::backend::Backend;
use crate::cancel::CancelRegistry;
use crate::config::{Settings, Ssl, file};
use crate::hash_pool::HashPool;
use crate::metrics::{Gauges, Metrics};
use crate::shutdown::ShutdownSender;
use crate::store::PasswordStore;
use crate::throttle::Throttle;
use crate::tls::Tls;

/// Where the pg_hba rules come from.
#[derive(Debug, Clone)]
pub(crate) enum HbaSource {
    /// A file, re-read on reload.
    File(PathBuf),
    /// Rules given in code (`name` is what messages call the file).
    Text { name: String, text: String },
}

/// Where the settings come from: code, then a configuration file, then overrides
/// (command-line flags), each later one winning. Kept to redo on reload.
#[derive(Debug, Clone)]
pub(crate) struct SettingsSource {
    pub base: Settings,
    pub file: Option<PathBuf>,
    pub overrides: Vec<(String, String)>,
    /// Names in the file that belong to the program, not to the server.
    pub program: Vec<String>,
}

impl SettingsSource {
    /// The settings as the sources say now; an error names file and line (or the
    /// override) at fault.
    pub(crate) fn resolve(&self) -> Result<Settings, String> {
        let mut settings = self.base.clone();
        if let Some(path) = &self.file {
            let mut entries = file::read(path).map_err(|e| e.to_string())?;
            entries.retain(|entry| !self.program.contains(&entry.name));
            file::apply(&mut settings, &entries).map_err(|e| e.to_string())?;
        }
        for (name, value) in &self.overrides {
            settings.set(name, value).map_err(|e| e.to_string())?;
        }
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }
}

/// What a reload did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The configuration file: `Ok` with the settings that need a restart to change
    /// (not applied), or the error that kept the old settings. `None`: no file.
    pub settings: Option<Result<Vec<&'static str>, String>>,
    /// pg_hba: `Ok` with the number of rules now in force, or the error (naming file
    /// and line) that kept the old rules. `None`: rules given in code.
    pub hba: Option<Result<usize, String>>,
}

pub(crate) struct ServerState {
    pub settings: RwLock<Arc<Settings>>,
    pub settings_source: SettingsSource,
    pub hba: RwLock<Arc<HbaRules>>,
    pub hba_source: HbaSource,
    pub tls: Option<Tls>,
    pub mock: MockSecret,
    pub store: Arc<dyn PasswordStore>,
    pub backend: Arc<dyn Backend>,
    pub admission: Admission,
    pub throttle: Throttle,
    pub hash_pool: HashPool,
    pub metrics: Metrics,
    pub audit: Option<AuditLog>,
    pub cancel: Arc<CancelRegistry>,
    pub next_pid: AtomicI32,
    pub interfaces: Vec<Interface>,
    pub shutdown: ShutdownSender,
    /// The embedded database whose `pg_reload_conf()` asks for a reload, if any.
    pub reload_requests: Option<pgscram_embedded::Database>,
}

impl ServerState {
    /// The settings in force now.
    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The pg_hba rules in force now.
    pub(crate) fn hba(&self) -> Arc<HbaRules> {
        self.hba.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A fresh backend pid (BackendKeyData, the log, `pg_backend_pid()`).
    pub(crate) fn next_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    /// Re-reads the configuration file and pg_hba, each independently: on an error the
    /// old settings (or rules) stay, as PostgreSQL does on SIGHUP.
    pub(crate) fn reload(&self) -> ReloadReport {
        let settings = self.settings_source.file.as_ref().map(|_| {
            let next = self.settings_source.resolve()?;
            let (applied, not_applied) = self.settings().reload_to(&next);
            for name in &not_applied {
                tracing::info!(
                    "parameter \"{name}\" cannot be changed without restarting the server"
                );
            }
            *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(applied);
            Ok(not_applied)
        });
        if let Some(Err(e)) = &settings {
            tracing::info!("{e}");
            if let Some(path) = &self.settings_source.file {
                tracing::info!(
                    "configuration file \"{}\" contains errors; no changes were applied",
                    path.display()
                );
            }
        }
        let hba = match &self.hba_source {
            HbaSource::File(_) => {
                let loaded = load_hba(&self.hba_source, self.settings().ssl);
                Some(loaded.map(|rules| {
                    let count = rules.rules().len();
                    *self.hba.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
                    count
                }))
            }
            HbaSource::Text { .. } => None,
        };
        match &hba {
            Some(Ok(n)) => tracing::info!("pg_hba.conf reloaded: {n} rules"),
            Some(Err(e)) => {
                tracing::info!("{e}");
                tracing::info!("pg_hba.conf was not reloaded");
            }
            None => {}
        }
        ReloadReport { settings, hba }
    }

    /// The metrics page, with the gauges read now.
    pub(crate) fn render_metrics(&self) -> String {
        let settings = self.settings();
        let backend = self.backend.clone();
        self.metrics.render_with(
            &Gauges {
                connections: self.admission.connections(),
                max_connections: settings.max_connections,
                max_handshakes: settings.max_handshakes.max(1),
                hash_workers_free: self.hash_pool.available(),
                throttle_slots: self.throttle.slots(),
                audit_written: self.audit.as_ref().map_or(0, AuditLog::written),
                audit_dropped: self.audit.as_ref().map_or(0, AuditLog::dropped),
            },
            &|registry| backend.metrics(registry),
        )
    }
}

/// Parses the rules; an error names the file and line.
pub(crate) fn load_hba(source: &HbaSource, ssl: Ssl) -> Result<HbaRules, String> {
    let options = HbaOptions {
        ssl_enabled: ssl == Ssl::On,
    };
    match source {
        HbaSource::File(path) => HbaRules::load(path, &options).map_err(|e| e.to_string()),
        HbaSource::Text { name, text } => HbaRules::parse(
            name,
            text,
            &pgscram_auth::hba::MemorySource::new(),
            &options,
        )
        .map_err(|e| e.to_string()),
    }
}
