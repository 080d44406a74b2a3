//! Limits counted in Redis across hosts, against a real `redis-server`
//! the test starts: two gateway processes share one budget exactly (a
//! round trip per request) or by leases, and when Redis dies under load
//! a policy fails open or closed as configured, with no hang, and comes
//! back when Redis does.

mod common;
#[path = "../../limits/tests/support/redis.rs"]
mod redis;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Origin};

/// One test at a time: each runs gateways and load enough to fill the
/// machine, and with no burst a stall longer than an interval (5 ms) costs
/// budget that no limiter can give back.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A gateway process, killed when dropped.
struct Gateway {
    child: std::process::Child,
    listen: SocketAddr,
    admin: SocketAddr,
    stderr: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Starts `coregate` with two shards on `policies` and `routes`.
    fn start(dir: &Path, name: &str, body: &str) -> Gateway {
        let (listen, admin) = (common::free_port(), common::free_port());
        let text =
            format!("[server]\nlisten = [\"{listen}\"]\nadmin = \"{admin}\"\nshards = 2\n\n{body}");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let stderr = dir.join(format!("{name}.err"));
        let child = std::process::Command::new(common::coregate_bin())
            .arg("--config")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        common::wait_for_port(listen);
        common::wait_for_port(admin);
        let gw = Gateway {
            child,
            listen,
            admin,
            stderr,
        };
        // Every shard serves once a request is answered.
        let deadline = Instant::now() + Duration::from_secs(10);
        while common::try_get(listen, "/").is_err() {
            assert!(Instant::now() < deadline, "{name} never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        gw
    }

    fn metrics(&self) -> String {
        common::request(
            self.admin,
            b"GET /metrics HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        )
        .text()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn shared_limit(redis: &redis::Redis, origin: &Origin, sync: &str) -> String {
    // Leases of 5: at most 4 units ahead, and 4 per host left over from
    // the requests that checked each gateway serves.
    let lease = if sync == "lease" { "lease = 5\n" } else { "" };
    format!(
        "[redis]\nurl = \"{}\"\ntimeout = \"200ms\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[rate_limits]]\nname = \"shared\"\nrate = \"200/s\"\nburst = 0\nkey = \"route\"\n\
         global = \"{sync}\"\n{lease}\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\nrate_limits = [\"shared\"]\n",
        redis.url(),
        origin.addr
    )
}

/// 16 connections on each gateway for 5 s: the requests admitted.
fn load_both(gws: &[&Gateway]) -> usize {
    let ok = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(200);
    // Each connection sends every 10 ms, the 32 spread evenly (16 times
    // the limit): paced, so that the load does not starve the machine into
    // stalls longer than an interval (5 ms), whose budget is lost with no
    // burst (flat out, a run admitted 977).
    let period = Duration::from_millis(10);
    let threads: Vec<_> = gws
        .iter()
        .flat_map(|gw| (0..16).map(move |_| gw.listen))
        .enumerate()
        .map(|(i, addr)| {
            let ok = ok.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut next = start + period * (i as u32) / 32;
                while next < start + Duration::from_secs(5) {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    match c.get("/").status {
                        200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        429 => {}
                        s => panic!("unexpected status {s}"),
                    }
                    next += period;
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    ok.load(Ordering::SeqCst)
}

fn two_gateways_share_one_limit(sync: &str) {
    let _serial = serial();
    let redis = redis::Redis::start();
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let body = shared_limit(&redis, &origin, sync);
    let a = Gateway::start(dir.path(), "a", &body);
    let b = Gateway::start(dir.path(), "b", &body);
    let before = origin.requests.load(Ordering::SeqCst);
    let ok = load_both(&[&a, &b]);
    eprintln!("{sync}: admitted {ok} in 5 s across two gateways");
    assert!(
        (980..=1020).contains(&ok),
        "{sync}: admitted {ok}, want 1000 ± 2%"
    );
    assert_eq!(origin.requests.load(Ordering::SeqCst) - before, ok);
    for gw in [&a, &b] {
        let m = gw.metrics();
        assert!(m.contains("coregate_redis_up 1"), "{m}");
        assert!(
            m.contains("coregate_ratelimit_requests_total{policy=\"shared\",result=\"limited\"}"),
            "{m}"
        );
    }
}

#[test]
fn two_gateways_share_one_limit_exactly() {
    two_gateways_share_one_limit("exact");
}

#[test]
fn two_gateways_share_one_limit_by_leases() {
    two_gateways_share_one_limit("lease");
}

/// Statuses seen on a path while `run` holds, each request timed.
struct Seen {
    counts: [AtomicUsize; 4],
    slowest: AtomicUsize,
}

impl Seen {
    fn index(status: u16) -> usize {
        match status {
            200 => 0,
            429 => 1,
            503 => 2,
            _ => 3,
        }
    }

    fn take(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.counts[i].swap(0, Ordering::SeqCst))
    }
}

fn hammer(
    addr: SocketAddr,
    path: &'static str,
    run: Arc<AtomicBool>,
) -> (Arc<Seen>, std::thread::JoinHandle<()>) {
    let seen = Arc::new(Seen {
        counts: Default::default(),
        slowest: AtomicUsize::new(0),
    });
    let s = seen.clone();
    let t = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        while run.load(Ordering::SeqCst) {
            let t0 = Instant::now();
            let status = c.get(path).status;
            s.slowest
                .fetch_max(t0.elapsed().as_millis() as usize, Ordering::SeqCst);
            s.counts[Seen::index(status)].fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    (seen, t)
}

#[test]
fn redis_dying_under_load_fails_open_or_closed_and_recovers() {
    let _serial = serial();
    let mut redis = redis::Redis::start();
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[redis]\nurl = \"{}\"\ntimeout = \"100ms\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[rate_limits]]\nname = \"open\"\nrate = \"20/s\"\nkey = \"route\"\nglobal = \"exact\"\n\n\
         [[rate_limits]]\nname = \"closed\"\nrate = \"20/s\"\nkey = \"route\"\nglobal = \"exact\"\nfail = \"closed\"\n\n\
         [[routes]]\npath_prefix = \"/open\"\nupstream = \"o\"\nrate_limits = [\"open\"]\n\n\
         [[routes]]\npath_prefix = \"/closed\"\nupstream = \"o\"\nrate_limits = [\"closed\"]\n",
        redis.url(),
        origin.addr
    );
    let gw = Gateway::start(dir.path(), "gw", &body);
    let run = Arc::new(AtomicBool::new(true));
    let (open, t1) = hammer(gw.listen, "/open", run.clone());
    let (closed, t2) = hammer(gw.listen, "/closed", run.clone());

    std::thread::sleep(Duration::from_secs(1));
    let [ok, limited, unavailable, other] = open.take();
    assert!(
        ok > 0 && limited > 0 && unavailable == 0 && other == 0,
        "up: {ok} {limited} {unavailable} {other}"
    );
    closed.take();

    redis.stop();
    std::thread::sleep(Duration::from_millis(300));
    open.take();
    closed.take();
    std::thread::sleep(Duration::from_secs(1));
    let down_open = open.take();
    let down_closed = closed.take();
    assert!(
        down_open[0] > 30 && down_open[1] == 0,
        "down, open: every request admitted: {down_open:?}"
    );
    assert!(
        down_closed[2] > 30 && down_closed[0] == 0,
        "down, closed: every request refused: {down_closed:?}"
    );
    let m = gw.metrics();
    assert!(m.contains("coregate_redis_up 0"), "{m}");
    assert!(
        m.contains("coregate_ratelimit_requests_total{policy=\"open\",result=\"failed_open\"}"),
        "{m}"
    );
    assert!(
        m.contains("coregate_ratelimit_requests_total{policy=\"closed\",result=\"failed_closed\"}"),
        "{m}"
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut back_open, mut back_closed) = (false, false);
    while Instant::now() < deadline && !(back_open && back_closed) {
        std::thread::sleep(Duration::from_millis(500));
        back_open |= open.take()[1] > 0;
        back_closed |= closed.take()[0] > 0;
    }
    run.store(false, Ordering::SeqCst);
    t1.join().unwrap();
    t2.join().unwrap();
    assert!(back_open, "limits apply again on the fail-open route");
    assert!(back_closed, "requests pass again on the fail-closed route");
    let slowest = open
        .slowest
        .load(Ordering::SeqCst)
        .max(closed.slowest.load(Ordering::SeqCst));
    assert!(slowest < 2000, "no request hung: slowest {slowest} ms");
    let log = gw.log();
    assert!(log.contains("limit policy \"open\": Redis failed"), "{log}");
    assert!(
        log.contains("limit policy \"closed\": Redis answers again"),
        "{log}"
    );
    assert!(!log.contains("panic"), "{log}");
}

fn two_gateways_share_one_quota(sync: &str) {
    let _serial = serial();
    let lease = if sync == "lease" { "lease = 7\n" } else { "" };
    let redis = redis::Redis::start();
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[redis]\nurl = \"{}\"\ntimeout = \"200ms\"\n\n\
         [upstreams.o]\nbackends = [\"{}\"]\n\n\
         [[rate_limits]]\nname = \"daily\"\nquota = \"300/day\"\nkey = \"header:x-app\"\n\
         global = \"{sync}\"\n{lease}\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"o\"\nrate_limits = [\"daily\"]\n",
        redis.url(),
        origin.addr
    );
    let a = Gateway::start(dir.path(), "a", &body);
    let b = Gateway::start(dir.path(), "b", &body);
    let ok = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = [a.listen, b.listen]
        .into_iter()
        .flat_map(|addr| (0..8).map(move |_| addr))
        .map(|addr| {
            let ok = ok.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..60 {
                    c.send(b"GET / HTTP/1.1\r\nhost: h\r\nx-app: shop\r\n\r\n");
                    match c.read(false).unwrap().status {
                        200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        429 => {}
                        s => panic!("unexpected status {s}"),
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let ok = ok.load(Ordering::SeqCst);
    // Leases come out of the count: never more than the quota; units
    // leased and unspent when the load stops are all that is missing.
    let floor = if sync == "lease" { 300 - 2 * 7 } else { 300 };
    eprintln!("{sync}: 960 requests, {ok} admitted of a quota of 300");
    assert!((floor..=300).contains(&ok), "{sync}: admitted {ok}");
    let key = redis.command(&["KEYS", "coregate:q:*"]);
    assert!(key.contains("coregate:q:"), "one counter per period: {key}");
    assert!(!key.contains("shop"), "no client data in Redis: {key}");
}

#[test]
fn two_gateways_share_one_quota_exactly() {
    two_gateways_share_one_quota("exact");
}

#[test]
fn two_gateways_share_one_quota_by_leases() {
    two_gateways_share_one_quota("lease");
}
