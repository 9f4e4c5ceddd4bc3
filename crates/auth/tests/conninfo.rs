//! Connection strings end to end: every libpq error text, URI and key=value round
//! trips, environment fallbacks, and `.pgpass` files on disk with libpq's permission rule.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgscram_auth::conninfo::{
    ConnConfig, ConnInfo, Defaults, HostKind, PgPassRead, SslMode, read_pgpass,
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("pgscram-auth-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, rel: &str, text: &str, mode: u32) -> String {
        let path = self.0.join(rel);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn defaults() -> Defaults {
    Defaults {
        os_user: Some("os".into()),
        socket_dir: Some("/var/run/postgresql".into()),
        home_dir: None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn every_error_text() {
    let cases: &[(&str, &str)] = &[
        (
            "host",
            "missing \"=\" after \"host\" in connection info string",
        ),
        (
            "host='x",
            "unterminated quoted string in connection info string",
        ),
        ("hots=x", "invalid connection option \"hots\""),
        ("postgresql://h?x=1", "invalid URI query parameter: \"x\""),
        (
            "postgresql://h?a=1=2",
            "extra key/value separator \"=\" in URI query parameter: \"a\"",
        ),
        (
            "postgresql://h?a",
            "missing key/value separator \"=\" in URI query parameter: \"a\"",
        ),
        (
            "postgresql://h/%g1",
            "invalid percent-encoded token: \"%g1\"",
        ),
        (
            "postgresql://h/%00",
            "forbidden value %00 in percent-encoded value: \"%00\"",
        ),
        (
            "postgresql://[::1",
            "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgresql://[::1\"",
        ),
        (
            "postgresql://[]/db",
            "IPv6 host address may not be empty in URI: \"postgresql://[]/db\"",
        ),
        (
            "postgres://[::1]z",
            "unexpected character \"z\" at position 17 in URI (expected \":\" or \"/\"): \"postgres://[::1]z\"",
        ),
        ("sslmode=on", "invalid sslmode value: \"on\""),
        (
            "channel_binding=maybe",
            "invalid channel_binding value: \"maybe\"",
        ),
        (
            "target_session_attrs=master",
            "invalid target_session_attrs value: \"master\"",
        ),
        (
            "require_auth=md5,!md5",
            "negative require_auth method \"!md5\" cannot be mixed with non-negative methods",
        ),
        (
            "require_auth=!md5,md5",
            "require_auth method \"md5\" cannot be mixed with negative methods",
        ),
        (
            "require_auth=md5,md5",
            "require_auth method \"md5\" is specified more than once",
        ),
        (
            "require_auth=kerberos",
            "invalid require_auth value: \"kerberos\"",
        ),
        (
            "port=x",
            "invalid integer value \"x\" for connection option \"port\"",
        ),
        ("port=65536", "invalid port number: \"65536\""),
        (
            "connect_timeout=1s",
            "invalid integer value \"1s\" for connection option \"connect_timeout\"",
        ),
        (
            "host=a,b hostaddr=1.2.3.4",
            "could not match 2 host names to 1 hostaddr values",
        ),
        (
            "host=a,b port=1,2,3",
            "could not match 3 port numbers to 2 hosts",
        ),
        (
            "hostaddr=999.1.1.1",
            "could not parse network address \"999.1.1.1\": Name or service not known",
        ),
        ("scram_client_key=%%%", "invalid SCRAM client key"),
        ("scram_server_key=%%%", "invalid SCRAM server key"),
        (
            "scram_client_key=AQIDBAUGBwgJCgsMDQ4PEA==",
            "invalid SCRAM client key length: 16",
        ),
        (
            "scram_server_key=AQIDBAUGBwgJCgsMDQ4PEA==",
            "invalid SCRAM server key length: 16",
        ),
        (
            "sslrootcert=system sslmode=verify-ca",
            "weak sslmode \"verify-ca\" may not be used with sslrootcert=system (use \"verify-full\")",
        ),
    ];
    for (conninfo, text) in cases {
        let got = ConnConfig::from_conninfo(conninfo, &no_env, &defaults());
        assert_eq!(
            got.map(|_| ()).map_err(|e| e.to_string()),
            Err((*text).to_owned()),
            "{conninfo}"
        );
    }
}

#[test]
fn uri_and_keyword_forms_agree() {
    let uri = ConnInfo::parse(
        "postgresql://alice:pw%20x@db1.example:5433,[2001:db8::1]:5434/sales?sslmode=verify-full&application_name=rep%26ort",
    )
    .unwrap();
    let kv = ConnInfo::parse(
        "user=alice password='pw x' host=db1.example,2001:db8::1 port=5433,5434 dbname=sales \
         sslmode=verify-full application_name=rep&ort",
    )
    .unwrap();
    assert_eq!(uri, kv);
    let text = uri.to_conninfo_string();
    assert_eq!(ConnInfo::parse(&text).unwrap(), uri);
    let c = ConnConfig::resolve(&uri, &no_env, &defaults()).unwrap();
    assert_eq!(c.hosts.len(), 2);
    assert_eq!(
        (c.hosts[1].kind, c.hosts[1].host.as_str(), c.hosts[1].port),
        (HostKind::Name, "2001:db8::1", 5434)
    );
    assert_eq!(c.sslmode, SslMode::VerifyFull);
    assert_eq!(c.application_name.as_deref(), Some("rep&ort"));
    assert!(!format!("{c:?}").contains("pw x"));
}

#[test]
fn uri_without_dbname_keeps_pgdatabase() {
    let env = |k: &str| (k == "PGDATABASE").then(|| "fromenv".to_owned());
    let c = ConnConfig::from_conninfo("postgresql://h/", &env, &defaults()).unwrap();
    assert_eq!(c.dbname, "fromenv");
    let c = ConnConfig::from_conninfo("postgresql://h/given", &env, &defaults()).unwrap();
    assert_eq!(c.dbname, "given");
}

#[cfg(unix)]
#[test]
fn pgpass_files_on_disk() {
    let dir = TempDir::new("pgpass");
    let good = dir.write(
        "pgpass",
        "localhost:*:*:os:socketpw\ndb:6000:*:*:tcp\\:pw\n",
        0o600,
    );
    let loose = dir.write("pgpass-loose", "*:*:*:*:leaked\n", 0o644);

    // PGPASSFILE through the injected environment; the default socket is "localhost".
    let env = |k: &str| (k == "PGPASSFILE").then(|| good.clone());
    let mut c = ConnConfig::from_conninfo("", &env, &defaults()).unwrap();
    assert_eq!(c.load_pgpass(), None);
    assert_eq!(c.password_for(0).unwrap().expose(), "socketpw");

    let mut c = ConnConfig::from_conninfo(
        &format!("host=db port=6000 passfile={good}"),
        &no_env,
        &defaults(),
    )
    .unwrap();
    assert_eq!(c.load_pgpass(), None);
    assert_eq!(c.password_for(0).unwrap().expose(), "tcp:pw");

    let mut c =
        ConnConfig::from_conninfo(&format!("passfile={loose}"), &no_env, &defaults()).unwrap();
    assert_eq!(
        c.load_pgpass().as_deref(),
        Some(
            format!(
                "WARNING: password file \"{loose}\" has group or world access; permissions should be u=rw (0600) or less"
            )
            .as_str()
        )
    );
    assert!(c.password_for(0).is_none());

    let dir_path = dir.0.to_string_lossy().into_owned();
    match read_pgpass(&dir_path) {
        PgPassRead::Ignored { warning } => {
            assert_eq!(
                warning,
                format!("WARNING: password file \"{dir_path}\" is not a plain file")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_pgpass(&format!("{dir_path}/none")),
        PgPassRead::Missing
    ));

    // A password in the connection string wins; the file is not consulted.
    let mut c = ConnConfig::from_conninfo(
        &format!("password=given passfile={loose}"),
        &no_env,
        &defaults(),
    )
    .unwrap();
    assert_eq!(c.load_pgpass(), None);
    assert_eq!(c.password_for(0).unwrap().expose(), "given");
}
