//! The TLS part of a snapshot: each listener's compiled server profile and
//! each upstream group's client settings, built with the rest of the
//! snapshot off the data path (about 1 ms per certificate, on the control
//! thread) and swapped with it, so a reloaded certificate takes effect on
//! the next handshake and no handshake takes a lock.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::ProducesTickets;
use tls::{ClientTls, ServerTls};
use tuning::Tuning;

/// Compiled TLS settings, indexed like the configuration's listeners and groups.
#[derive(Debug, Default, Clone)]
pub(crate) struct TlsSet {
    /// Per listen address: its profile, `None` for plain TCP.
    pub(crate) listeners: Box<[Option<Arc<ServerTls>>]>,
    /// Per upstream group: its client settings, `None` for plain TCP
    /// (moved into the snapshot's groups by `Snapshot::set_tls`).
    pub(crate) groups: Vec<Option<GroupTls>>,
    /// Every client-certificate header name any profile sets: a client's
    /// own field of such a name is dropped on every listener.
    pub(crate) subject_headers: Box<[Box<str>]>,
}

/// A group's TLS settings and the pool key that keeps its connections
/// apart from other groups' to the same address.
#[derive(Debug, Clone)]
pub(crate) struct GroupTls {
    pub(crate) client: Arc<ClientTls>,
    /// Equal for equal settings, never 0 (0 is plain TCP).
    pub(crate) key: u64,
}

// === impl TlsSet ===

impl TlsSet {
    /// Loads every certificate and key `t` names. The listening sockets
    /// stay as `bound` (the configuration they were opened with) had them:
    /// listener `i` keeps the profile *name* it started with, its settings
    /// taken from `t`, so a reload that reorders or retypes listeners never
    /// turns a TLS socket plain or gives it another profile. A profile a
    /// listener serves that `t` no longer has refuses the reload. Errors
    /// name the profile or group and the file.
    pub(crate) fn build(
        t: &Tuning,
        bound: &Tuning,
        ticketer: &Arc<dyn ProducesTickets>,
    ) -> Result<TlsSet, String> {
        let mut profiles: Vec<Option<Arc<ServerTls>>> = vec![None; t.tls.len()];
        let mut listeners = Vec::with_capacity(bound.listen.len());
        for (i, addr) in bound.listen.iter().enumerate() {
            let Some(name) = bound.listener_tls(i).map(|p| &p.name) else {
                listeners.push(None);
                continue;
            };
            let Some(p) = t.tls.iter().position(|p| p.name == *name) else {
                return Err(format!(
                    "listener {addr} serves TLS profile {name:?}, which this configuration \
                     no longer gives a listener; listeners change on restart"
                ));
            };
            let built = match &profiles[p] {
                Some(built) => Arc::clone(built),
                None => {
                    let profile = &t.tls[p];
                    let built = tls::server(profile, ticketer)
                        .map_err(|e| format!("tls.{}: {e}", profile.name))?;
                    Arc::new(built)
                }
            };
            profiles[p] = Some(Arc::clone(&built));
            listeners.push(Some(built));
        }
        let groups: Result<Vec<_>, String> = t.upstreams.iter().map(group).collect();
        let mut subject_headers: Vec<Box<str>> = t
            .tls
            .iter()
            .filter_map(|p| p.client_auth.as_ref()?.subject_header.as_deref())
            .map(Box::from)
            .collect();
        subject_headers.sort();
        subject_headers.dedup();
        Ok(TlsSet {
            listeners: listeners.into(),
            groups: groups?,
            subject_headers: subject_headers.into(),
        })
    }

    /// The profile of listener `i`.
    pub(crate) fn listener(&self, i: usize) -> Option<&Arc<ServerTls>> {
        self.listeners.get(i)?.as_ref()
    }
}

fn group(g: &tuning::UpstreamGroup) -> Result<Option<GroupTls>, String> {
    let Some(up) = &g.tls else {
        return Ok(None);
    };
    let built = tls::client(up).map_err(|e| format!("upstreams.{}.tls: {e}", g.name))?;
    Ok(Some(GroupTls {
        client: Arc::new(built),
        key: settings_key(up),
    }))
}

/// A key equal for equal settings: connections dialled with the same
/// settings may be shared across groups and reloads, others never. The
/// CA and client-certificate files' bytes count too, so connections
/// verified under a rotated CA are not reused after the reload.
fn settings_key(up: &tuning::UpstreamTls) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{up:?}").hash(&mut h);
    for f in up.ca.iter().chain(&up.cert).chain(&up.key) {
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    h.finish().max(1)
}

/// Every file a TLS setting of `t` reads, for the file watcher.
pub(crate) fn files(t: &Tuning) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in &t.tls {
        for c in &p.certificates {
            out.extend([c.cert.clone(), c.key.clone()]);
            out.extend(c.ocsp.clone());
        }
        out.extend(p.client_auth.as_ref().map(|a| a.ca.clone()));
        out.extend(p.ticket_key_files.iter().cloned());
    }
    for g in t.upstreams.iter().filter_map(|g| g.tls.as_ref()) {
        out.extend(g.ca.iter().chain(&g.cert).chain(&g.key).cloned());
    }
    out.sort();
    out.dedup();
    out
}
