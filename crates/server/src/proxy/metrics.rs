//! The console's figures on the metrics page: SHOW POOLS as gauges per (database,
//! user) and SHOW STATS as counters per database.
//!
//! Pools exist only for users who authenticated, so the label values are bounded by
//! the roles that logged in, never by what an unauthenticated client sends.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::activity::Activity;

type Labels = Vec<(&'static str, String)>;

fn pool_labels(database: &str, user: &str, state: &'static str) -> Labels {
    vec![
        ("database", database.to_owned()),
        ("user", user.to_owned()),
        ("state", state.to_owned()),
    ]
}

/// Registers the pools' figures as they are now.
pub(super) fn register(activity: &Activity, registry: &mut Registry) {
    let clients = Family::<Labels, Gauge>::default();
    let servers = Family::<Labels, Gauge>::default();
    let maxwait = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for pool in activity.pools() {
        let (db, user) = (&pool.database, &pool.user);
        for (state, n) in [("active", pool.cl_active), ("waiting", pool.cl_waiting)] {
            clients
                .get_or_create(&pool_labels(db, user, state))
                .set(n as i64);
        }
        for (state, n) in [
            ("active", pool.sv_active),
            ("idle", pool.sv_idle),
            ("login", pool.sv_login),
        ] {
            servers
                .get_or_create(&pool_labels(db, user, state))
                .set(n as i64);
        }
        maxwait
            .get_or_create(&vec![("database", db.clone()), ("user", user.clone())])
            .set(pool.maxwait.as_secs_f64());
    }
    registry.register(
        "pgscram_pool_clients",
        "Pooled client sessions per (database, user) by state (SHOW POOLS cl_*)",
        clients,
    );
    registry.register(
        "pgscram_pool_servers",
        "Server connections per (database, user) by state (SHOW POOLS sv_*)",
        servers,
    );
    registry.register_with_unit(
        "pgscram_pool_maxwait",
        "How long the longest-waiting client of the pool has waited",
        Unit::Seconds,
        maxwait,
    );

    let counters = [
        (
            "pgscram_pool_transactions",
            "Transactions served (SHOW STATS total_xact_count)",
        ),
        (
            "pgscram_pool_queries",
            "Queries served (SHOW STATS total_query_count)",
        ),
        (
            "pgscram_pool_received_bytes",
            "Bytes received from clients (SHOW STATS total_received)",
        ),
        (
            "pgscram_pool_sent_bytes",
            "Bytes sent to clients (SHOW STATS total_sent)",
        ),
    ];
    let families: Vec<Family<Labels, Counter>> =
        counters.iter().map(|_| Family::default()).collect();
    let times = [
        (
            "pgscram_pool_transaction_time",
            "Time in transactions (SHOW STATS total_xact_time)",
        ),
        (
            "pgscram_pool_query_time",
            "Time in queries (SHOW STATS total_query_time)",
        ),
        (
            "pgscram_pool_wait_time",
            "Time clients waited for a server connection (SHOW STATS total_wait_time)",
        ),
    ];
    let time_families: Vec<Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>> =
        times.iter().map(|_| Family::default()).collect();
    for stats in activity.stats() {
        let labels = vec![("database", stats.database.clone())];
        for (family, value) in
            families
                .iter()
                .zip([stats.xacts, stats.queries, stats.received, stats.sent])
        {
            family.get_or_create(&labels).inc_by(value);
        }
        for (family, micros) in
            time_families
                .iter()
                .zip([stats.xact_time, stats.query_time, stats.wait_time])
        {
            family.get_or_create(&labels).inc_by(micros as f64 / 1e6);
        }
    }
    for ((name, help), family) in counters.into_iter().zip(families) {
        registry.register(name, help, family);
    }
    for ((name, help), family) in times.into_iter().zip(time_families) {
        registry.register_with_unit(name, help, Unit::Seconds, family);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn shows_pools_and_totals() {
        let activity = Arc::new(Activity::default());
        let client = activity.client(super::super::activity::ClientFacts {
            user: "alice",
            database: "app",
            peer: None,
            tls: false,
            application_name: "",
        });
        client.totals.xact(Duration::from_millis(3));
        let _server = activity.server("alice", "app", "127.0.0.1:5432");
        let mut registry = Registry::default();
        register(&activity, &mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"pgscram_pool_clients{database="app",user="alice",state="active"} 1"#,
            r#"pgscram_pool_servers{database="app",user="alice",state="login"} 1"#,
            r#"pgscram_pool_transactions_total{database="app"} 1"#,
            r#"pgscram_pool_transaction_time_seconds_total{database="app"} 0.003"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
