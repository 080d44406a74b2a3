//! Engine errors: what failed, on which side, and what the client sees.

use std::io;
use std::net::SocketAddr;

use parser::ParseError;

/// Which side of the proxy a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client connection.
    Downstream,
    /// The origin connection.
    Upstream,
    /// coregate itself.
    Internal,
}

/// Why a request could not be proxied. Each kind maps to one response status
/// (or to closing the connection when a response was already under way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The client sent a malformed or over-limit request.
    Parse(ParseError),
    /// The client was too slow sending its request head.
    ClientHeaderTimeout,
    /// The client stalled while sending its body, or sent it slower than
    /// `client_body_min_rate`.
    ClientBodyTimeout,
    /// A send to the client did not complete within `client_send` (the
    /// client reads too slowly or not at all).
    ClientSendTimeout,
    /// The client went away (EOF or reset) mid-request.
    ClientClosed,
    /// The request body is larger than `max_body_bytes`.
    BodyTooLarge,
    /// No route matches the request.
    NoRoute,
    /// The request path is refused: it climbs above `/`, holds a bad
    /// escape or a `..;` segment, or an encoded slash its route does not
    /// allow (see `route::path`).
    BadPath,
    /// CONNECT is not proxied.
    MethodNotAllowed,
    /// The upstream did not accept the connection in time.
    UpstreamConnectTimeout,
    /// The upstream refused the connection or was unreachable.
    UpstreamConnect,
    /// The upstream's TLS certificate did not verify (wrong CA, name or dates).
    UpstreamTlsCertificate,
    /// The TLS handshake with the upstream failed otherwise (no common
    /// version or suite, a refused client certificate, an alert).
    UpstreamTlsHandshake,
    /// The upstream sent no response head in time.
    UpstreamHeaderTimeout,
    /// The upstream stalled mid-body.
    UpstreamBodyTimeout,
    /// The upstream closed or reset before a complete response head.
    UpstreamClosed,
    /// The upstream sent a response coregate will not pass on.
    UpstreamBadResponse,
    /// The upstream closed or reset after the response head was sent on.
    UpstreamTruncated,
    /// The group's circuit breaker is open (connection or pending limit).
    Overloaded,
    /// An Upgrade tunnel carried nothing either way for `tunnel_idle` (the
    /// 101 was already sent: both sides are closed).
    TunnelIdle,
    /// The route's service wants a credential, and none valid came.
    Unauthorized,
    /// The caller's app has no approved subscription to the route's service.
    Forbidden,
    /// The route names a service the store does not have.
    ServiceUnknown,
    /// The client's address is not let in by the route's IP lists.
    IpDenied,
    /// A CORS preflight from an origin the route does not allow.
    CorsOrigin,
    /// The shard runs as many Basic password checks as it may.
    AuthBusy,
    /// Over the route's rate limit.
    RateLimited,
    /// A header of a limit's key is longer than the policy takes.
    LimitKeyTooLong,
    /// A limit counted in Redis failed, and its policy fails closed.
    LimiterUnavailable,
    /// `Cache-Control: only-if-cached`, and nothing usable is stored.
    NotCached,
}

// === impl ProxyError ===

impl ProxyError {
    /// The status sent to the client, when a response can still be sent.
    pub fn status(self) -> u16 {
        match self {
            ProxyError::Parse(e) => e.status(),
            ProxyError::ClientHeaderTimeout
            | ProxyError::ClientBodyTimeout
            | ProxyError::ClientSendTimeout => 408,
            ProxyError::BodyTooLarge => 413,
            ProxyError::Unauthorized => 401,
            ProxyError::RateLimited => 429,
            ProxyError::Forbidden | ProxyError::IpDenied | ProxyError::CorsOrigin => 403,
            ProxyError::ServiceUnknown | ProxyError::AuthBusy | ProxyError::LimiterUnavailable => {
                503
            }
            ProxyError::NoRoute => 404,
            ProxyError::MethodNotAllowed => 405,
            ProxyError::UpstreamConnectTimeout
            | ProxyError::UpstreamHeaderTimeout
            | ProxyError::UpstreamBodyTimeout
            | ProxyError::TunnelIdle
            | ProxyError::NotCached => 504,
            ProxyError::ClientClosed | ProxyError::BadPath | ProxyError::LimitKeyTooLong => 400,
            ProxyError::Overloaded => 503,
            ProxyError::UpstreamConnect
            | ProxyError::UpstreamTlsCertificate
            | ProxyError::UpstreamTlsHandshake
            | ProxyError::UpstreamClosed
            | ProxyError::UpstreamBadResponse
            | ProxyError::UpstreamTruncated => 502,
        }
    }

    /// The side at fault.
    pub fn side(self) -> Side {
        match self {
            ProxyError::Parse(_)
            | ProxyError::ClientHeaderTimeout
            | ProxyError::ClientBodyTimeout
            | ProxyError::ClientSendTimeout
            | ProxyError::ClientClosed
            | ProxyError::BodyTooLarge
            | ProxyError::BadPath
            | ProxyError::MethodNotAllowed
            | ProxyError::Unauthorized
            | ProxyError::Forbidden
            | ProxyError::IpDenied
            | ProxyError::CorsOrigin
            | ProxyError::RateLimited
            | ProxyError::LimitKeyTooLong => Side::Downstream,
            ProxyError::NoRoute
            | ProxyError::TunnelIdle
            | ProxyError::ServiceUnknown
            | ProxyError::AuthBusy
            | ProxyError::LimiterUnavailable
            | ProxyError::NotCached => Side::Internal,
            _ => Side::Upstream,
        }
    }

    /// A stable snake_case name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyError::Parse(e) => e.as_str(),
            ProxyError::ClientHeaderTimeout => "client_header_timeout",
            ProxyError::ClientBodyTimeout => "client_body_timeout",
            ProxyError::ClientSendTimeout => "client_send_timeout",
            ProxyError::ClientClosed => "client_closed",
            ProxyError::BodyTooLarge => "body_too_large",
            ProxyError::NoRoute => "no_route",
            ProxyError::BadPath => "bad_path",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::UpstreamConnectTimeout => "upstream_connect_timeout",
            ProxyError::UpstreamConnect => "upstream_connect",
            ProxyError::UpstreamTlsCertificate => "upstream_tls_certificate",
            ProxyError::UpstreamTlsHandshake => "upstream_tls_handshake",
            ProxyError::UpstreamHeaderTimeout => "upstream_header_timeout",
            ProxyError::UpstreamBodyTimeout => "upstream_body_timeout",
            ProxyError::UpstreamClosed => "upstream_closed",
            ProxyError::UpstreamBadResponse => "upstream_bad_response",
            ProxyError::UpstreamTruncated => "upstream_truncated",
            ProxyError::Overloaded => "upstream_overloaded",
            ProxyError::TunnelIdle => "tunnel_idle_timeout",
            ProxyError::Unauthorized => "unauthorized",
            ProxyError::Forbidden => "forbidden",
            ProxyError::ServiceUnknown => "service_unknown",
            ProxyError::IpDenied => "ip_denied",
            ProxyError::CorsOrigin => "cors_origin",
            ProxyError::AuthBusy => "auth_busy",
            ProxyError::RateLimited => "rate_limited",
            ProxyError::LimitKeyTooLong => "limit_key_too_long",
            ProxyError::LimiterUnavailable => "rate_limiter_unavailable",
            ProxyError::NotCached => "not_cached",
        }
    }
}

impl From<ParseError> for ProxyError {
    fn from(e: ParseError) -> Self {
        ProxyError::Parse(e)
    }
}

/// Why the engine could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {cause}{hint}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        cause: io::Error,
        /// A fix, when one is known.
        hint: &'static str,
    },
    /// The admin listener (`--admin`, `server.admin`) could not be set up.
    #[error("cannot open the admin listener on {addr}: {cause}{hint}")]
    AdminListen {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        cause: io::Error,
        /// A fix, when one is known.
        hint: &'static str,
    },
    /// A shard's executor could not start.
    #[error("cannot start shard {shard} on cpu {cpu:?}: {cause}")]
    Shard {
        /// The shard index.
        shard: usize,
        /// The CPU it was to be pinned to.
        cpu: Option<usize>,
        /// The cause.
        cause: io::Error,
    },
    /// The shard's io_uring could not be set up.
    #[error("shard {shard}: {cause}")]
    Io {
        /// The shard index.
        shard: usize,
        /// The cause and its fix.
        cause: crate::io::IoSetupError,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log: {cause}")]
    AccessLog {
        /// The OS error.
        cause: io::Error,
    },
    /// A certificate, key or other TLS setting cannot be used.
    #[error("TLS: {cause}")]
    Tls {
        /// What is wrong, naming the profile and the file.
        cause: String,
    },
    /// The access store (`--data-dir`) cannot be opened or read.
    #[error("cannot open the access store {cause}")]
    Store {
        /// The directory and what is wrong.
        cause: String,
    },
    /// The management API cannot start (its address, its root token).
    #[error("{cause}")]
    Api {
        /// What is wrong.
        cause: String,
    },
    /// The Redis client of global limits cannot start (its URL, its CA).
    #[error("redis: {cause}")]
    Redis {
        /// What is wrong (never the password).
        cause: String,
    },
    /// A shard ended before it said it was ready.
    #[error("shard {shard} stopped during start-up")]
    ShardLost {
        /// The shard index.
        shard: usize,
    },
}

// === impl EngineError ===

impl EngineError {
    /// Wraps a bind or listen failure of a `--listen` address with a hint
    /// for the common causes.
    pub(crate) fn listen(addr: SocketAddr, source: io::Error) -> Self {
        EngineError::Listen {
            addr,
            hint: listen_hint(source.raw_os_error()),
            cause: source,
        }
    }

    /// Wraps a bind failure of the admin address; its hint names `--admin`
    /// and `server.admin`, not `--listen`.
    pub(crate) fn admin_listen(addr: SocketAddr, source: io::Error) -> Self {
        EngineError::AdminListen {
            addr,
            hint: admin_listen_hint(source.raw_os_error()),
            cause: source,
        }
    }
}

/// The hint for a bind failure of a `--listen` address.
fn listen_hint(code: Option<i32>) -> &'static str {
    match code {
        Some(libc::EADDRINUSE) => {
            " (another process holds this port: stop it or pick another --listen address)"
        }
        code => bind_hint(code),
    }
}

/// The hint for a bind failure of the admin address.
fn admin_listen_hint(code: Option<i32>) -> &'static str {
    match code {
        Some(libc::EADDRINUSE) => {
            " (another process holds this port: stop it, pick another --admin address (server.admin in the config), or pass --admin off)"
        }
        code => bind_hint(code),
    }
}

/// The hint for a bind failure that does not depend on which address it was.
fn bind_hint(code: Option<i32>) -> &'static str {
    match code {
        Some(libc::EADDRNOTAVAIL) => " (this address is not configured on any interface)",
        Some(libc::EACCES) => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        _ => "",
    }
}

/// The reason phrase of a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
