//! The raw io_uring forwarder, perf-tests' floor: what a proxy that does
//! no HTTP at all costs per request on this host (completion-based recv
//! and send, multishot recv into a provided buffer ring, SINGLE_ISSUER +
//! DEFER_TASKRUN, one upstream connection per client). Measured at
//! 0.67x nginx's CPU per request on the 100 B headline (2026-12-02).
//!
//! usage: io-floor LISTEN_ADDR UPSTREAM_ADDR [opts]
//!   opts: comma separated list of
//!     multi      multishot recv + provided buffer ring (default: one-shot recv into per-conn buffers)
//!     fixed      registered (fixed) file table for the sockets
//!     pollfirst  IORING_RECVSEND_POLL_FIRST on one-shot recvs
//!     nodefer    no IORING_SETUP_DEFER_TASKRUN (COOP_TASKRUN|TASKRUN_FLAG instead)
//!     plainsetup no setup flags at all
//! All SQEs produced while handling one batch of CQEs go out with one
//! io_uring_enter (submit_and_wait(1)). The state machine is in lib.rs.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = args.get(1).cloned().unwrap_or("127.0.0.1:8087".into());
    let upstream = args.get(2).cloned().unwrap_or("127.0.0.1:8081".into());
    let optstr = args.get(3).cloned().unwrap_or_default();
    let mut st = io_floor::St::new(&listen, &upstream, &optstr);
    eprintln!("io-floor: {listen} -> {upstream} opts={optstr:?}");
    loop {
        st.enter_wait();
        st.drain();
    }
}
