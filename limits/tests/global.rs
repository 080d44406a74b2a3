//! The global limiter against a real redis-server started by each test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_support;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use limits::{Global, GlobalConfig, GlobalError, Grant, QUOTA_PREFIX, RATE_PREFIX};
use redis_support::Redis;

const MS: u64 = 1_000_000;

/// A config for `url` with this timeout.
fn config(url: &str, timeout_ms: u64) -> GlobalConfig {
    GlobalConfig {
        timeout: Duration::from_millis(timeout_ms),
        ..GlobalConfig::new(url)
    }
}

/// The Redis server's clock, in ns since the epoch.
fn server_now_ns(redis: &Redis) -> u64 {
    // *2\r\n$10\r\nSECONDS\r\n$6\r\nMICROS\r\n
    let reply = redis.command(&["TIME"]);
    let nums: Vec<u64> = reply
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .map(|l| l.parse().unwrap())
        .collect();
    nums[0] * 1_000_000_000 + nums[1] * 1_000
}

/// The integer reply of a raw command (`:N`).
fn int_reply(redis: &Redis, args: &[&str]) -> i64 {
    let reply = redis.command(args);
    reply.trim().trim_start_matches(':').parse().unwrap()
}

#[test]
fn gcra_admits_exactly_one_per_interval_across_threads_and_lanes() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 500), 3).unwrap();
    let interval = 5 * MS;
    let start = server_now_ns(&redis);
    let deadline = Instant::now() + Duration::from_secs(1);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let global = global.clone();
            thread::spawn(move || {
                let (mut admitted, mut asked) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let grant = block_on(global.take(i, b"exact", interval, 0, 1)).unwrap();
                    assert!(grant.granted <= 1);
                    if grant.granted == 0 {
                        assert!(grant.retry_after_ns > 0 && grant.retry_after_ns <= interval);
                    }
                    admitted += grant.granted;
                    asked += 1;
                }
                (admitted, asked)
            })
        })
        .collect();
    let (admitted, asked) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    let span = server_now_ns(&redis) - start;
    // One at the start, then one per whole interval: never more.
    let most = 1 + span / interval;
    // Callers hammer all along, so hardly a slot goes unused.
    // (80%, so a loaded CI machine does not make it flaky.)
    let least = most * 8 / 10;
    eprintln!("admitted {admitted} of {asked} in {span} ns (bounds {least}..={most})");
    assert!(asked > 2 * admitted, "the test must oversubscribe: {asked}");
    assert!(admitted <= most, "admitted {admitted} > {most}");
    assert!(admitted >= least, "admitted {admitted} < {least}");
}

#[test]
fn lease_gets_a_partial_grant_and_the_key_expires() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 500), 1).unwrap();
    let (interval, tolerance) = (50 * MS, 200 * MS);
    // Burst = 1 + tolerance / interval = 5 units.
    let first = block_on(global.take(0, b"lease", interval, tolerance, 2)).unwrap();
    assert_eq!(first.granted, 2);
    assert_eq!(first.retry_after_ns, 0);
    assert_eq!(first.remaining, 3, "{first:?}");
    assert!(first.reset_ns <= 2 * interval, "{first:?}");
    // Asks for 10, gets the 3 left (4 if a whole interval went by).
    let second = block_on(global.take(0, b"lease", interval, tolerance, 10)).unwrap();
    assert!((3..=4).contains(&second.granted), "{second:?}");
    assert_eq!(second.remaining, 0);
    assert!(
        second.retry_after_ns > 0 && second.retry_after_ns <= interval,
        "{second:?}"
    );
    assert!(
        second.reset_ns > 4 * interval && second.reset_ns <= 5 * interval,
        "{second:?}"
    );
    // Nothing left: a grant of 0 with a retry hint.
    let third = block_on(global.take(0, b"lease", interval, tolerance, 10)).unwrap();
    assert_eq!(third.granted, 0, "{third:?}");
    assert!(third.retry_after_ns <= second.retry_after_ns);
    assert!(third.reset_ns <= second.reset_ns);
    // The key expires an interval after the budget is whole again (until
    // then a request is admitted on the TAT's schedule).
    let key = format!("{}lease", String::from_utf8_lossy(RATE_PREFIX));
    let pttl = int_reply(&redis, &["PTTL", &key]);
    let reset_ms = ((second.reset_ns + interval) / MS) as i64;
    assert!(
        pttl > 0 && pttl <= reset_ms + 1,
        "PTTL {pttl}, reset {reset_ms} ms"
    );
    thread::sleep(Duration::from_nanos(second.reset_ns + interval) + Duration::from_millis(20));
    assert_eq!(int_reply(&redis, &["EXISTS", &key]), 0);
    let full = block_on(global.take(0, b"lease", interval, tolerance, 10)).unwrap();
    assert_eq!(full.granted, 5, "{full:?}");
    assert_eq!(full.remaining, 0);
}

#[test]
fn retry_after_is_honest() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 500), 1).unwrap();
    let interval = 50 * MS;
    let take = || block_on(global.take(0, b"honest", interval, 0, 1)).unwrap();
    assert_eq!(take().granted, 1);
    let refused = take();
    assert_eq!(refused.granted, 0);
    thread::sleep(Duration::from_nanos(refused.retry_after_ns) + Duration::from_millis(2));
    assert_eq!(take().granted, 1, "admitted once retry_after has passed");
}

#[test]
fn incr_counts_and_sets_the_ttl_only_once() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 500), 2).unwrap();
    assert_eq!(block_on(global.get(0, b"quota")).unwrap(), 0);
    let ttl = Duration::from_secs(10);
    assert_eq!(block_on(global.incr(0, b"quota", 3, ttl)).unwrap(), 3);
    let later = Duration::from_secs(1);
    assert_eq!(block_on(global.incr(1, b"quota", 4, later)).unwrap(), 7);
    assert_eq!(block_on(global.get(1, b"quota")).unwrap(), 7);
    let key = format!("{}quota", String::from_utf8_lossy(QUOTA_PREFIX));
    let pttl = int_reply(&redis, &["PTTL", &key]);
    assert!(pttl > 9_000 && pttl <= 10_000, "first TTL kept: {pttl}");
    // A short-lived counter vanishes, and reads as 0.
    assert_eq!(
        block_on(global.incr(0, b"short", 5, Duration::from_millis(100))).unwrap(),
        5
    );
    thread::sleep(Duration::from_millis(250));
    assert_eq!(block_on(global.get(0, b"short")).unwrap(), 0);
    // A value that is not a counter is a Reply error, not a panic.
    redis.command(&[
        "SET",
        &format!("{}text", String::from_utf8_lossy(QUOTA_PREFIX)),
        "abc",
    ]);
    let err = block_on(global.get(0, b"text")).unwrap_err();
    assert!(matches!(err, GlobalError::Reply(_)), "{err:?}");
    assert!(global.up());
}

#[test]
fn password_auth_works_and_never_leaks() {
    let secret = "s3cret-Pa55word";
    let redis = Redis::start_with_password(secret);
    let global = Global::start(&config(&redis.url(), 500), 1).unwrap();
    assert_eq!(
        block_on(global.incr(0, b"auth", 1, Duration::from_secs(5))).unwrap(),
        1
    );

    let wrong = "wr0ng-Pa55word";
    let url = format!("redis://:{wrong}@127.0.0.1:{}", redis.port());
    let cfg = config(&url, 500);
    assert!(!format!("{cfg:?}").contains(wrong), "{cfg:?}");
    let bad = Global::start(&cfg, 1).unwrap();
    let err = block_on(bad.get(0, b"auth")).unwrap_err();
    assert!(
        matches!(err, GlobalError::Down(_) | GlobalError::Reply(_)),
        "{err:?}"
    );
    eprintln!("wrong password: {err}");
    assert!(!err.to_string().contains(wrong), "{err}");
    assert!(!format!("{err:?}").contains(wrong), "{err:?}");
    assert!(!bad.up());

    // No password at all: refused too.
    let none = Global::start(
        &config(&format!("redis://127.0.0.1:{}", redis.port()), 500),
        1,
    );
    let err = block_on(none.unwrap().get(0, b"auth")).unwrap_err();
    assert!(
        matches!(err, GlobalError::Down(_) | GlobalError::Reply(_)),
        "{err:?}"
    );

    // Nobody listening: the connect error does not carry the password.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:{secret}@127.0.0.1:{closed}/0");
    let down = Global::start(&config(&url, 500), 1).unwrap();
    let err = block_on(down.get(0, b"auth")).unwrap_err();
    assert!(matches!(err, GlobalError::Down(_)), "{err:?}");
    eprintln!("nobody listening: {err}");
    assert!(!err.to_string().contains(secret), "{err}");
}

#[test]
fn outage_fails_fast_and_reconnects() {
    let mut redis = Redis::start();
    let timeout = Duration::from_millis(200);
    let global = Global::start(&config(&redis.url(), 200), 2).unwrap();
    assert_eq!(block_on(global.take(0, b"o", MS, 0, 1)).unwrap().granted, 1);
    assert!(global.up());
    let failures = global.failures();
    redis.stop();
    for i in 0..20 {
        let started = Instant::now();
        let result = block_on(global.take(i, b"o", MS, 0, 1));
        let took = started.elapsed();
        let err = result.unwrap_err();
        assert!(
            matches!(err, GlobalError::Down(_) | GlobalError::Timeout),
            "{err:?}"
        );
        assert!(took < timeout + Duration::from_millis(100), "took {took:?}");
    }
    assert!(!global.up());
    assert!(global.failures() > failures);
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut recovered = 0;
    while recovered < 2 && Instant::now() < deadline {
        for lane in 0..2 {
            if block_on(global.take(lane, b"o", MS, 0, 1)).is_ok() {
                recovered += 1;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(recovered >= 2, "no reconnect within 10 s");
    assert!(global.up());
}

#[test]
fn full_queue_fails_at_once_and_every_request_resolves() {
    // Accepts TCP (the kernel's backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let cfg = GlobalConfig {
        queue: 4,
        ..config(&url, 300)
    };
    let global = Global::start(&cfg, 1).unwrap();
    let started = Instant::now();
    let pending: Vec<_> = (0..4).map(|_| global.get(0, b"q")).collect();
    let full = block_on(global.get(0, b"q"));
    assert_eq!(full, Err(GlobalError::QueueFull));
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    for reply in pending {
        let err = block_on(reply).unwrap_err();
        assert!(
            matches!(err, GlobalError::Timeout | GlobalError::Down(_)),
            "{err:?}"
        );
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(450),
        "resolved within the timeout: {took:?}"
    );
    // The slots came back: the next request is queued, not refused.
    let err = block_on(global.get(0, b"q")).unwrap_err();
    assert_ne!(err, GlobalError::QueueFull);
    // Counted: one failed connect, or a timeout per request, as the
    // machine's timing has it.
    assert!(global.failures() >= 1);
}

#[test]
fn futures_run_on_a_glommio_executor() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 500), 2).unwrap();
    let (grants, ticks) = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            // A glommio timer keeps ticking while the takes are in flight:
            // nothing blocks the executor.
            let ticker = glommio::spawn_local(async {
                let mut ticks = 0;
                for _ in 0..5 {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                    ticks += 1;
                }
                ticks
            });
            let tasks: Vec<_> = (0..100)
                .map(|i| {
                    let global = global.clone();
                    glommio::spawn_local(async move {
                        global.take(i % 2, b"glommio", MS, 9 * MS, 1).await
                    })
                })
                .collect();
            let mut grants = 0;
            for task in tasks {
                grants += task.await.unwrap().granted;
            }
            (grants, ticker.await)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ticks, 5);
    // Burst of 10, plus at most one per elapsed ms.
    assert!((10..100).contains(&grants), "{grants}");
}

#[test]
fn config_is_checked_up_front_but_redis_need_not_be_up() {
    for url in [
        "http://127.0.0.1:6379",
        "unix:///tmp/redis.sock",
        "not a url",
        "redis://",
    ] {
        let err = Global::start(&GlobalConfig::new(url), 1).unwrap_err();
        assert!(matches!(err, GlobalError::Config(_)), "{url}: {err:?}");
    }
    let err = Global::start(&GlobalConfig::new("redis://127.0.0.1:1"), 0).unwrap_err();
    assert!(matches!(err, GlobalError::Config(_)));
    let ca = GlobalConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..GlobalConfig::new("rediss://127.0.0.1:1")
    };
    assert!(matches!(Global::start(&ca, 1), Err(GlobalError::Config(_))));
    // Nothing listens on port 1, and that is fine until a request is made.
    let global = Global::start(&GlobalConfig::new("redis://:pw@127.0.0.1:1/3"), 4).unwrap();
    assert!(!global.up());
    assert_eq!(global.lanes(), 4);
}

#[test]
fn dropping_the_last_handle_stops_the_side_thread() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let global = Global::start(&config(&url, 5_000), 1).unwrap();
    let pending = global.get(0, b"d");
    let started = Instant::now();
    drop(global);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "drop joined at once"
    );
    // The request in flight ends with an error, not a hang.
    let err = block_on(pending).unwrap_err();
    assert!(matches!(err, GlobalError::Down(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn rediss_verifies_the_server_with_aws_lc_rs() {
    let ca =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
    let redis = Redis::start_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let cfg = GlobalConfig {
        ca_file: Some(ca_file),
        ..config(&redis.url(), 2_000)
    };
    let global = Global::start(&cfg, 1).unwrap();
    assert_eq!(
        block_on(global.incr(0, b"tls", 2, Duration::from_secs(5))).unwrap(),
        2
    );
    // The system roots do not know this certificate: refused.
    let untrusted = Global::start(&config(&redis.url(), 2_000), 1).unwrap();
    let err = block_on(untrusted.get(0, b"tls")).unwrap_err();
    assert!(matches!(err, GlobalError::Down(_)), "{err:?}");
}

#[test]
fn measure_round_trips() {
    let redis = Redis::start();
    let cfg = GlobalConfig {
        queue: 4096,
        ..config(&redis.url(), 2_000)
    };
    let global = Global::start(&cfg, 1).unwrap();
    let take = |i: u64| global.take(0, format!("m{}", i % 64).as_bytes(), MS, 0, 1);
    block_on(take(0)).unwrap();
    let n = 2_000u64;
    let started = Instant::now();
    for i in 0..n {
        block_on(take(i)).unwrap();
    }
    let serial = started.elapsed();
    let started = Instant::now();
    let replies: Vec<_> = (0..n).map(take).collect();
    let grants: Vec<Grant> = replies.into_iter().map(|r| block_on(r).unwrap()).collect();
    let pipelined = started.elapsed();
    assert_eq!(grants.len() as u64, n);
    let per_take_us = serial.as_micros() as f64 / n as f64;
    let per_s = n as f64 / pipelined.as_secs_f64();
    eprintln!(
        "one at a time: {per_take_us:.1} µs per take; pipelined on one lane: {per_s:.0} takes/s"
    );
    assert!(per_take_us < 5_000.0);
}

#[test]
fn a_quota_counter_never_goes_past_its_limit_across_lanes() {
    let redis = Redis::start();
    let global = Global::start(&config(&redis.url(), 2000), 4).unwrap();
    let ttl = Duration::from_secs(60);
    // 4 threads on 4 lanes race for 100 units, some in leases of 3.
    let granted: u64 = (0..4)
        .map(|lane| {
            let global = global.clone();
            thread::spawn(move || {
                let want = if lane % 2 == 0 { 1 } else { 3 };
                (0..60)
                    .map(|_| {
                        block_on(global.quota(lane, b"q", 100, want, ttl))
                            .unwrap()
                            .granted
                    })
                    .sum::<u64>()
            })
        })
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(granted, 100, "exactly the limit, in whole or in part");
    let over = block_on(global.quota(0, b"q", 100, 1, ttl)).unwrap();
    assert_eq!((over.granted, over.remaining), (0, 0));
    assert!(
        over.retry_after_ns > 55_000_000_000,
        "until the counter expires: {over:?}"
    );
    let key = format!("{}q", String::from_utf8_lossy(QUOTA_PREFIX));
    let count = redis.command(&["GET", &key]);
    assert_eq!(
        count.lines().last().map(str::trim),
        Some("100"),
        "{count:?}"
    );
    let pttl = int_reply(&redis, &["PTTL", &key]);
    assert!(
        pttl > 55_000 && pttl <= 60_000,
        "the first count set the expiry: {pttl}"
    );
}
