//! `[cache]` and a route's `cache`: what a valid file gives, and every
//! mistake named with its file, line and field.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tuning::{parse_toml, CacheKeyPart, Cli, ConfigSource};

const BASE: &str = r#"
[access]
data_dir = "/var/lib/coregate"

[cache]
memory = "64m"
stale_if_error = "1h"

[cache.services.billing]
default_ttl = "30s"

[upstreams.o]
backends = ["127.0.0.1:9100"]

[[routes]]
path_prefix = "/api"
upstream = "o"
cache = { max_object_bytes = "2m", default_ttl = "60s", key = ["header:X-Tenant", "cookie:lang"], set_cookie = true, stale_while_revalidate = "10s", lock_timeout = "2s" }

[[routes]]
path_prefix = "/bill"
upstream = "o"
service = "billing"

[[routes]]
path_prefix = "/"
upstream = "o"
"#;

fn errors(text: &str) -> Vec<String> {
    match parse_toml("/etc/coregate/coregate.toml", text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_full_cache_config_validates() {
    let t = parse_toml("/etc/coregate/coregate.toml", BASE).unwrap();
    assert_eq!(t.cache.memory, 64 << 20);
    let api = t.routes[0].cache.as_ref().unwrap();
    assert_eq!(api.max_object_bytes, 2 << 20);
    assert_eq!(api.default_ttl, Some(Duration::from_secs(60)));
    assert_eq!(
        api.key,
        vec![
            CacheKeyPart::Header("x-tenant".into()),
            CacheKeyPart::Cookie("lang".into())
        ]
    );
    assert!(api.allow_set_cookie);
    assert_eq!(api.stale_while_revalidate, Duration::from_secs(10));
    assert_eq!(
        api.stale_if_error,
        Duration::from_secs(3600),
        "[cache]'s default"
    );
    assert_eq!(api.lock_timeout, Duration::from_secs(2));
    let bill = t.routes[1].cache.as_ref().unwrap();
    assert_eq!(
        bill.default_ttl,
        Some(Duration::from_secs(30)),
        "its service's table"
    );
    assert_eq!(bill.max_object_bytes, tuning::DEFAULT_MAX_OBJECT_BYTES);
    assert!(t.routes[2].cache.is_none(), "opt-in only");
}

#[test]
fn mistakes_name_the_file_line_and_field() {
    let text = r#"
[cache]
memory = "10k"

[upstreams.o]
backends = ["127.0.0.1:9100"]

[[routes]]
path = "/a"
upstream = "o"
cache = { key = ["path"], default_ttl = "0s" }

[[routes]]
path = "/b"
respond = { status = 200, body = "x" }
cache = { }

[[routes]]
path = "/c"
upstream = "o"
cache = { max_object_bytes = 0, stale_if_error = "9000h" }

[[routes]]
path = "/d"
upstream = "o"
forward_path = "original"
cache = { }
"#;
    let e = errors(text).join("\n");
    for want in [
        "coregate.toml:3: cache.memory: must be at least 1m",
        "coregate.toml:11: routes[0].cache.key[0]: \"path\" is not a key part",
        "coregate.toml:11: routes[0].cache.default_ttl: must be greater than zero",
        "coregate.toml:16: routes[1].cache: caches only routes that proxy",
        "coregate.toml:21: routes[2].cache.max_object_bytes: must be greater than zero",
        "coregate.toml:21: routes[2].cache.stale_if_error: must be at most 365d",
        "coregate.toml:27: routes[3].cache: cannot go with forward_path = \"original\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn quick_mode_takes_cache_from_flags() {
    let cli = Cli {
        upstream: vec!["127.0.0.1:9000".parse().unwrap()],
        cache: Some("{ default_ttl = \"5s\" }".into()),
        cache_memory: Some("32m".into()),
        ..Cli::default()
    };
    let t = tuning::Tuning::from_cli(cli.clone()).unwrap();
    assert_eq!(t.source, ConfigSource::Quick);
    assert_eq!(t.cache.memory, 32 << 20);
    let c = t.routes[0].cache.as_ref().unwrap();
    assert_eq!(c.default_ttl, Some(Duration::from_secs(5)));
    let bad = Cli {
        cache: Some("{ nope = 1 }".into()),
        ..cli
    };
    let e = tuning::Tuning::from_cli(bad).unwrap_err().to_string();
    assert!(e.contains("--cache"), "{e}");
}
