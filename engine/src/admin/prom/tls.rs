//! The TLS side of `/metrics`: handshakes by version and cipher, resumed
//! sessions, failures by reason (per shard, from the shards' own
//! counters), upstream handshakes, and each served certificate's seconds
//! until expiry (from the published snapshot).

use std::fmt::Write as _;

use super::{esc, help};
use crate::admin::shared::Shared;
use crate::io::HandshakeFailure;
use crate::observe::metrics::{ShardMetrics, ShardStats};

/// A per-shard series: name, help text and how to read it.
type Row = (&'static str, &'static str, fn(&ShardStats) -> u64);

/// Version and AEAD labels with the counter that holds them.
type Suite = (&'static str, &'static str, fn(&ShardStats) -> u64);

const SUITES: [Suite; 6] = [
    ("TLSv1.3", "AES_128_GCM", |s| s.tls13_aes128),
    ("TLSv1.3", "AES_256_GCM", |s| s.tls13_aes256),
    ("TLSv1.3", "CHACHA20_POLY1305", |s| s.tls13_chacha20),
    ("TLSv1.2", "AES_128_GCM", |s| s.tls12_aes128),
    ("TLSv1.2", "AES_256_GCM", |s| s.tls12_aes256),
    ("TLSv1.2", "CHACHA20_POLY1305", |s| s.tls12_chacha20),
];

fn failures(s: &ShardStats, why: HandshakeFailure) -> u64 {
    match why {
        HandshakeFailure::Timeout => s.tls_fail_timeout,
        HandshakeFailure::PlainHttp => s.tls_fail_plain_http,
        HandshakeFailure::Closed => s.tls_fail_closed,
        HandshakeFailure::Incompatible => s.tls_fail_incompatible,
        HandshakeFailure::UnknownSni => s.tls_fail_unknown_sni,
        HandshakeFailure::ClientCert => s.tls_fail_client_cert,
        HandshakeFailure::BadCertificate => s.tls_fail_bad_certificate,
        HandshakeFailure::Protocol => s.tls_fail_protocol,
    }
}

/// Renders the TLS series.
pub(super) fn tls(out: &mut String, shared: &Shared) {
    let stats: Vec<_> = shared.metrics.iter().map(ShardMetrics::snapshot).collect();
    handshakes(out, &stats);
    per_shard(out, &stats);
    expiry(out, shared);
}

fn handshakes(out: &mut String, stats: &[ShardStats]) {
    let name = "coregate_tls_handshakes_total";
    help(
        out,
        name,
        "counter",
        "Client TLS handshakes completed, by version and cipher (AEAD).",
    );
    for (shard, s) in stats.iter().enumerate() {
        for (version, cipher, get) in SUITES {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{shard}\",version=\"{version}\",cipher=\"{cipher}\"}} {}",
                get(s)
            );
        }
    }
    let name = "coregate_tls_handshake_failures_total";
    help(
        out,
        name,
        "counter",
        "Client TLS handshakes that failed, by reason.",
    );
    for (shard, s) in stats.iter().enumerate() {
        for why in HandshakeFailure::ALL {
            let (reason, n) = (why.as_str(), failures(s, why));
            let _ = writeln!(out, "{name}{{shard=\"{shard}\",reason=\"{reason}\"}} {n}");
        }
    }
}

fn per_shard(out: &mut String, stats: &[ShardStats]) {
    let rows: [Row; 3] = [
        (
            "coregate_tls_resumed_total",
            "Client TLS handshakes that resumed a session (a ticket).",
            |s| s.tls_resumed,
        ),
        (
            "coregate_upstream_tls_handshakes_total",
            "TLS handshakes with backends completed.",
            |s| s.upstream_tls_handshakes,
        ),
        (
            "coregate_upstream_tls_failures_total",
            "TLS handshakes with backends that failed (certificate or handshake).",
            |s| s.upstream_tls_failures,
        ),
    ];
    for (name, text, get) in rows {
        help(out, name, "counter", text);
        for (shard, s) in stats.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", get(s));
        }
    }
}

fn expiry(out: &mut String, shared: &Shared) {
    let name = "coregate_tls_certificate_expiry_seconds";
    help(
        out,
        name,
        "gauge",
        "Seconds until a served certificate expires (negative: expired).",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let snap = shared.published.load();
    let mut seen = Vec::new();
    for profile in snap.tls.listeners.iter().flatten() {
        if seen.iter().any(|p| std::sync::Arc::ptr_eq(p, profile)) {
            continue;
        }
        seen.push(profile.clone());
        for c in &profile.certs {
            let _ = writeln!(
                out,
                "{name}{{profile=\"{}\",file=\"{}\",subject=\"{}\"}} {}",
                esc(&profile.name),
                esc(&c.path.display().to_string()),
                esc(&c.info.subject),
                c.info.seconds_left(now)
            );
        }
    }
}
