//! Named defaults and hard bounds: every value a flag or config field falls
//! back to, and the limits validation holds them to.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// `--listen` / `server.listen`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// `--backlog` / `server.backlog`: the `listen(2)` queue length.
pub const DEFAULT_BACKLOG: i32 = 4096;
/// `--max-connections` / `server.max_connections`, per shard.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16384;
/// `--admin` / `server.admin`.
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9901));
/// `--api` / `access.api` once a store is configured.
pub const DEFAULT_API: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9902));
/// `access.app_header`: the calling app's name, sent upstream.
pub const DEFAULT_APP_HEADER: &str = "X-Consumer-App";
/// `access.team_header`: the calling app's team, sent upstream.
pub const DEFAULT_TEAM_HEADER: &str = "X-Consumer-Team";

/// `--client-header-timeout`: time to receive a full request head (408 after).
pub const DEFAULT_CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `--client-body-timeout`: idle time between two body reads.
pub const DEFAULT_CLIENT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// `--client-keepalive-timeout`: idle time of a kept-alive client connection.
pub const DEFAULT_CLIENT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// `--upstream-connect-timeout`.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `--upstream-header-timeout`: time to receive the upstream response head.
pub const DEFAULT_UPSTREAM_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// `--upstream-body-timeout`: idle time between two upstream body reads.
pub const DEFAULT_UPSTREAM_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// `--upstream-idle-timeout`: how long a pooled upstream connection may idle.
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `--tunnel-idle-timeout`: an Upgrade tunnel with no bytes either way for
/// this long is closed (haproxy's `timeout tunnel`).
pub const DEFAULT_TUNNEL_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// `--client-send-timeout`: longest wait for one send to a client to
/// complete (nginx's `send_timeout`); a client that reads slower is closed.
pub const DEFAULT_CLIENT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// `--drain-timeout`: grace period for open connections on shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// `--max-head-bytes`: request line plus headers.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16384;
/// `--max-headers`.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// `--max-target-bytes`: the request target (path and query).
pub const DEFAULT_MAX_TARGET_BYTES: usize = 8192;
/// `--max-response-head-bytes`: status line plus headers of an upstream
/// response; a larger head is a 502.
pub const DEFAULT_MAX_RESPONSE_HEAD_BYTES: usize = 16384;
/// `--client-body-min-rate`: bytes per second a request body must average
/// once `client_body` has passed (Apache's `RequestReadTimeout` MinRate);
/// 0 turns the check off.
pub const DEFAULT_CLIENT_BODY_MIN_RATE: u64 = 512;
/// `--max-body-bytes`: `u64::MAX` means unlimited.
pub const DEFAULT_MAX_BODY_BYTES: u64 = u64::MAX;

/// `--io-ring-entries`: io_uring submission queue size.
pub const DEFAULT_IO_RING_ENTRIES: u32 = 1024;
/// `--io-buffers`: provided buffers per shard (a power of two).
pub const DEFAULT_IO_BUFFERS: u16 = 1024;
/// `--io-buffer-size`: bytes per provided buffer.
pub const DEFAULT_IO_BUFFER_SIZE: u32 = 16384;
/// `--io-max-unread`: bytes read but not yet consumed, per connection.
pub const DEFAULT_IO_MAX_UNREAD: usize = 262_144;
/// `--io-direct-wait`: how long after parking through the executor a shard's
/// io driver may block in its own ring.
pub const DEFAULT_IO_DIRECT_WAIT: Duration = Duration::from_millis(5);
/// Upper bound of `--io-direct-wait`.
pub const MAX_IO_DIRECT_WAIT: Duration = Duration::from_millis(10);

/// `--upstream-max-idle`: pooled idle connections per shard per backend.
pub const DEFAULT_UPSTREAM_MAX_IDLE: usize = 256;

/// `tls.*.handshake_timeout`: time allowed for a client's TLS handshake.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest accepted `tls.*.handshake_timeout`.
pub const MIN_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest accepted `tls.*.handshake_timeout`.
pub const MAX_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(300);
/// `tls.*.alpn` and `upstreams.*.tls.alpn`: the one protocol served.
pub const DEFAULT_TLS_ALPN: &str = "http/1.1";
/// Name of the TLS profile that `--tls-cert` / `--tls-key` create.
pub const CLI_TLS_PROFILE: &str = "cli";
/// The cipher suites `tls.*.ciphers` may name (IANA names as rustls spells
/// them): TLS 1.3 suites first, then the TLS 1.2 ECDHE AEAD ones.
pub const TLS_CIPHER_SUITES: [&str; 9] = [
    "TLS13_AES_256_GCM_SHA384",
    "TLS13_AES_128_GCM_SHA256",
    "TLS13_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Name of the upstream group that quick mode (`--upstream`) creates.
pub const QUICK_GROUP: &str = "default";

/// Body of the embedded default config's only route.
pub const WELCOME_BODY: &str = concat!(
    "coregate is running.\n",
    "This is the built-in default response. Point coregate at a real upstream:\n",
    "    coregate --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000\n",
    "or describe listeners, upstreams and routes in a file:\n",
    "    coregate --config FILE\n",
);

/// The embedded default config (`coregate` with neither `--config` nor `--upstream`).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Smallest accepted `--max-head-bytes`.
pub const MIN_HEAD_BYTES: usize = 1024;
/// Largest accepted `--max-headers`.
pub const MAX_HEADERS_LIMIT: usize = 1024;
/// Smallest accepted `--max-target-bytes`.
pub const MIN_TARGET_BYTES: usize = 16;
/// Largest accepted `--io-ring-entries` (the kernel's `IORING_MAX_ENTRIES`).
pub const MAX_RING_ENTRIES: u32 = 32768;
/// Largest accepted `--io-buffers` (a provided-buffer ring holds at most 2^15).
pub const MAX_IO_BUFFERS: u16 = 32768;
/// Smallest accepted `--io-buffer-size`.
pub const MIN_IO_BUFFER_SIZE: u32 = 4096;
/// Largest accepted `--io-buffer-size`.
pub const MAX_IO_BUFFER_SIZE: u32 = 16 * 1024 * 1024;

/// `upstreams.*.health_check.interval`: time between two checks of one backend.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// `upstreams.*.health_check.timeout`: time allowed for one check.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// `upstreams.*.health_check.expected_statuses`: `["200-399"]`.
pub const DEFAULT_HEALTH_STATUSES: (u16, u16) = (200, 399);
/// `upstreams.*.health_check.rise`: passes that mark a backend healthy.
pub const DEFAULT_HEALTH_RISE: u32 = 2;
/// `upstreams.*.health_check.fall`: failures that mark a backend unhealthy.
pub const DEFAULT_HEALTH_FALL: u32 = 3;
/// Shortest accepted `health_check.interval`.
pub const MIN_HEALTH_INTERVAL: Duration = Duration::from_millis(100);

/// `upstreams.*.outlier.consecutive_failures`: 0 turns ejection off.
pub const DEFAULT_OUTLIER_CONSECUTIVE_FAILURES: u32 = 5;
/// `upstreams.*.outlier.base_ejection`: the first ejection's length.
pub const DEFAULT_OUTLIER_BASE_EJECTION: Duration = Duration::from_secs(10);
/// `upstreams.*.outlier.max_ejection`: the longest ejection.
pub const DEFAULT_OUTLIER_MAX_EJECTION: Duration = Duration::from_secs(300);
/// `upstreams.*.outlier.on_5xx`: whether 5xx responses count as failures.
pub const DEFAULT_OUTLIER_ON_5XX: bool = true;

/// `routes[].priority`.
pub const DEFAULT_ROUTE_PRIORITY: i32 = 0;
/// `routes[].upgrades`: the one Upgrade protocol tunnelled by default.
pub const DEFAULT_UPGRADE: &str = "websocket";
/// `routes[].retries.attempts`: retries after the first try.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 1;
/// Largest accepted `retries.attempts`.
pub const MAX_RETRY_ATTEMPTS: u32 = 5;
/// `routes[].retries.budget_percent`: retries as a share of requests.
pub const DEFAULT_RETRY_BUDGET_PERCENT: u32 = 20;
/// `routes[].retries.min_per_second`: retries always allowed per second.
pub const DEFAULT_RETRY_MIN_PER_SECOND: u32 = 10;

/// `--metrics-max-routes` / `metrics.max_routes`.
pub const DEFAULT_METRICS_MAX_ROUTES: usize = 100;
/// `--metrics-max-backends` / `metrics.max_backends`.
pub const DEFAULT_METRICS_MAX_BACKENDS: usize = 100;
/// Largest accepted `metrics.max_routes` and `metrics.max_backends`.
pub const MAX_METRICS_LABELS: usize = 100_000;

/// `--access-log-sample` / `access_log.sample`: log every request.
pub const DEFAULT_ACCESS_LOG_SAMPLE: f64 = 1.0;
/// `--access-log-queue` / `access_log.queue`: lines buffered per shard.
pub const DEFAULT_ACCESS_LOG_QUEUE: usize = 8192;
/// Largest accepted `access_log.queue`.
pub const MAX_ACCESS_LOG_QUEUE: usize = 1 << 20;
/// `--access-log-max-query` / `access_log.max_query_bytes`.
pub const DEFAULT_ACCESS_LOG_MAX_QUERY: usize = 256;
/// Largest accepted `access_log.max_query_bytes`.
pub const MAX_ACCESS_LOG_MAX_QUERY: usize = 65536;
