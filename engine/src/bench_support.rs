//! Entry points for the criterion benches (not a stable API).

use bytes::BytesMut;

use crate::snapshot::route::Snapshot;

/// A compiled routing table with `n` routes spread over `hosts` exact hosts,
/// each with a distinct two-segment prefix, plus a catch-all.
pub struct RouteTable {
    snap: Snapshot,
}

/// A parsed request to look up.
pub struct Lookup {
    head: parser::RequestHead,
    host: Vec<u8>,
    path: Vec<u8>,
}

// === impl RouteTable ===

impl RouteTable {
    /// Builds the table.
    pub fn new(n: usize, hosts: usize) -> RouteTable {
        let mut text = String::from("[server]\nlisten = [\"127.0.0.1:0\"]\nadmin = \"off\"\n[upstreams.g]\nbackends = [\"127.0.0.1:9000\"]\n");
        for i in 0..n {
            text.push_str(&format!(
                "[[routes]]\nname = \"r{i}\"\nhost = \"h{}.example.com\"\npath_prefix = \"/svc{i}/v1\"\nupstream = \"g\"\n",
                i % hosts.max(1)
            ));
        }
        text.push_str("[[routes]]\nname = \"fallback\"\nupstream = \"g\"\n");
        let t = tuning::parse_toml("bench.toml", &text).unwrap_or_default();
        RouteTable {
            snap: Snapshot::build(&t, 1, None),
        }
    }

    /// Prepares a lookup of `GET path` on `host`.
    pub fn lookup(host: &str, path: &str) -> Lookup {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n");
        let mut buf = BytesMut::from(raw.as_bytes());
        let head = parser::parse_request(&mut buf, &parser::Limits::default())
            .ok()
            .flatten()
            .unwrap_or_else(|| std::process::abort());
        Lookup {
            head,
            host: host.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
        }
    }

    /// Normalises `target` as routing does; returns the resulting length
    /// (0 when refused).
    pub fn normalize(target: &[u8]) -> usize {
        crate::snapshot::route::path::normalize(target, false).map_or(0, |n| n.target.len())
    }

    /// Finds the route; returns its index.
    pub fn find(&self, l: &Lookup) -> Option<usize> {
        self.snap.find(&l.host, &l.path, &l.head).map(|(i, _)| i)
    }
}
