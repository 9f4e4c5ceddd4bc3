#![no_main]
//! libpq connection strings and URIs: parsing and resolving never panic, and a parsed
//! string written back out parses to the same settings.
use libfuzzer_sys::fuzz_target;
use pgscram_auth::conninfo::{ConnConfig, ConnInfo, Defaults};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ConnInfo::parse_uri(text);
    let _ = ConnInfo::parse_keyword_value(text);
    if let Ok(info) = ConnInfo::parse(text) {
        let written = info.to_conninfo_string();
        let again = ConnInfo::parse_keyword_value(&written).expect("written conninfo parses");
        assert!(again == info, "conninfo did not round-trip");
        let _ = info.to_redacted_string();
    }
    let no_env = |_: &str| None;
    let _ = ConnConfig::from_conninfo(text, &no_env, &Defaults::default());
});
