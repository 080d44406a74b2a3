//! What to send and how: the validated description of one load run, with
//! every request's bytes built once, before the run.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::error::BenchError;

/// Default number of connections.
pub const DEFAULT_CONNECTIONS: usize = 64;
/// Default run length.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default time a request may take before it counts as a timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Body bytes of requests sent with `--body-size`.
const BODY_BYTE: u8 = b'x';

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Resolved socket address.
    pub addr: SocketAddr,
    /// `host:port` as written, sent as the Host header.
    pub authority: String,
    /// The URL's path (with query), `/` when absent.
    pub path: String,
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After this many requests have been answered or have failed.
    Requests(u64),
}

/// A validated load run: the generator's whole input.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where to connect.
    pub addr: SocketAddr,
    /// `http://authority/path` of the first path, for the report.
    pub url: String,
    /// Connections, spread over the threads.
    pub connections: usize,
    /// Worker threads, each with its own epoll instance.
    pub threads: usize,
    /// When to stop.
    pub stop: Stop,
    /// Open loop at this many requests per second in total; `None` = closed loop.
    pub rate: Option<f64>,
    /// A new connection for every request (`Connection: close`).
    pub close: bool,
    /// Responses carry no body (HEAD requests).
    pub no_body: bool,
    /// A request slower than this counts as a timeout error.
    pub timeout: Duration,
    /// After one request per connection, hold the connections idle this long.
    pub hold: Option<Duration>,
    /// The request bytes, one entry per `--path`, cycled.
    pub requests: Vec<Vec<u8>>,
}

/// The request line and headers a scenario sends.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Host header value.
    pub authority: String,
    /// Paths, cycled per request.
    pub paths: Vec<String>,
    /// Extra headers, already `Name: value`.
    pub headers: Vec<String>,
    /// Request body size; a Content-Length header is sent when non-zero.
    pub body_size: usize,
    /// Ask for `Connection: close`.
    pub close: bool,
}

// === impl RequestSpec ===

impl RequestSpec {
    /// Builds the bytes of every request, one per path.
    pub fn build(&self) -> Vec<Vec<u8>> {
        self.paths.iter().map(|path| self.build_one(path)).collect()
    }

    fn build_one(&self, path: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, path, self.authority
        );
        for header in &self.headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        if self.body_size > 0 {
            head.push_str(&format!("Content-Length: {}\r\n", self.body_size));
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.resize(bytes.len() + self.body_size, BODY_BYTE);
        bytes
    }
}

/// Splits `http://host:port/path` and resolves the host.
pub fn parse_url(url: &str) -> Result<Target, BenchError> {
    let invalid = |reason| BenchError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        invalid(if url.starts_with("https://") {
            "https is not supported yet"
        } else {
            "must start with http://"
        })
    })?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    let with_port = if has_port(authority) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|_| invalid("host does not resolve"))?
        .next()
        .ok_or_else(|| invalid("host does not resolve"))?;
    Ok(Target {
        addr,
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}

fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        Some(at) => !authority[at..].contains(']'),
        None => false,
    }
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, BenchError> {
    let invalid = || BenchError::InvalidDuration(text.to_owned());
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let value: f64 = text[..split].trim().parse().map_err(|_| invalid())?;
    let scale = match &text[split..] {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| invalid())
}

/// Checks a `-H` header: `Name: value` with a token name.
pub fn check_header(header: &str) -> Result<String, BenchError> {
    let invalid = || BenchError::InvalidHeader(header.to_owned());
    let (name, value) = header.split_once(':').ok_or_else(invalid)?;
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) || value.contains(['\r', '\n']) {
        return Err(invalid());
    }
    Ok(format!("{}: {}", name, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let target = parse_url("http://127.0.0.1:8081/a?b=1").unwrap();
        assert_eq!(target.addr, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(target.authority, "127.0.0.1:8081");
        assert_eq!(target.path, "/a?b=1");
        assert_eq!(parse_url("http://127.0.0.1").unwrap().addr.port(), 80);
        assert_eq!(
            parse_url("http://[::1]:9/").unwrap().addr,
            "[::1]:9".parse().unwrap()
        );
        assert!(parse_url("https://127.0.0.1/").is_err());
        assert!(parse_url("127.0.0.1:80").is_err());
        assert!(parse_url("http:///x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(check_header("X-A:  b ").unwrap(), "X-A: b");
        assert!(check_header("no colon").is_err());
        assert!(check_header("Bad Name: x").is_err());
        assert!(check_header("X: a\r\nY: b").is_err());
    }

    #[test]
    fn request_bytes() {
        let spec = RequestSpec {
            method: "POST".into(),
            authority: "h:1".into(),
            paths: vec!["/a".into(), "/b".into()],
            headers: vec!["X-A: 1".into()],
            body_size: 3,
            close: true,
        };
        let built = spec.build();
        assert_eq!(built.len(), 2);
        let expected = "POST /b HTTP/1.1\r\nHost: h:1\r\nX-A: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxxx";
        assert_eq!(String::from_utf8_lossy(&built[1]), expected);
    }
}
