//! `coregate check` for TLS: every profile and upstream setting is built
//! as the engine would build it (so a key that does not match its
//! certificate, a chain that does not parse or a bad CA file is an error),
//! and certificates are checked for expiry and for the names they serve.

use std::fmt;

use tuning::Tuning;

use crate::info::CertInfo;
use crate::server::{server, LoadedCert};

/// Certificates that expire sooner than this get a warning.
pub const EXPIRY_WARNING_SECS: i64 = 14 * 24 * 60 * 60;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The config cannot run.
    Error,
    /// It runs, but an operator should look.
    Warning,
}

/// One thing `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// What, naming the file or setting.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{level}: {}", self.message)
    }
}

/// Every TLS problem of `tuning`, at Unix time `now`.
pub fn check(tuning: &Tuning, now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let ticketer = match crate::tickets::ticketer(&[]) {
        Ok(t) => t,
        Err(e) => {
            out.push(error(e.to_string()));
            return out;
        }
    };
    for profile in &tuning.tls {
        match server(profile, &ticketer) {
            Ok(built) => check_certs(&built.certs, now, &mut out),
            Err(e) => out.push(error(format!("tls.{}: {e}", profile.name))),
        }
        check_names(profile, &mut out);
    }
    for group in &tuning.upstreams {
        if let Some(up) = &group.tls {
            if let Err(e) = crate::client::client(up) {
                out.push(error(format!("upstreams.{}.tls: {e}", group.name)));
            }
        }
    }
    out
}

fn check_certs(certs: &[LoadedCert], now: i64, out: &mut Vec<Finding>) {
    for c in certs {
        let left = c.info.seconds_left(now);
        let file = c.path.display();
        if left <= 0 {
            out.push(error(format!(
                "{file}: the certificate expired {} days ago",
                -left / 86_400
            )));
        } else if left < EXPIRY_WARNING_SECS {
            out.push(warning(format!(
                "{file}: the certificate expires in {} days",
                left / 86_400
            )));
        }
        if c.info.not_before > now {
            out.push(warning(format!("{file}: the certificate is not valid yet")));
        }
    }
}

/// Configured names the certificate does not cover, and names that two
/// certificates of one profile both claim.
fn check_names(profile: &tuning::TlsProfile, out: &mut Vec<Finding>) {
    let mut claimed: Vec<(String, &std::path::Path)> = Vec::new();
    for c in &profile.certificates {
        let Some(info) = leaf_info(&c.cert) else {
            continue;
        };
        for name in &c.names {
            if !info.covers(name) {
                let what = format!(
                    "{}: the certificate does not cover {name:?} (it covers {:?})",
                    c.cert.display(),
                    info.names
                );
                out.push(warning(what));
            }
        }
        let names = if c.names.is_empty() {
            info.names.clone()
        } else {
            c.names.clone()
        };
        for name in names {
            if let Some((_, other)) = claimed.iter().find(|(n, _)| *n == name) {
                let what = format!("tls.{}: {name:?} is served by both {} and {}; the first that fits the client's signature schemes wins", profile.name, other.display(), c.cert.display());
                out.push(warning(what));
            }
            claimed.push((name, &c.cert));
        }
    }
}

fn leaf_info(path: &std::path::Path) -> Option<CertInfo> {
    let chain = crate::load::chain(path).ok()?;
    CertInfo::of(chain.first()?)
}

fn error(message: String) -> Finding {
    Finding {
        level: Level::Error,
        message,
    }
}

fn warning(message: String) -> Finding {
    Finding {
        level: Level::Warning,
        message,
    }
}
