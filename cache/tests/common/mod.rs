//! Shared helpers for the cache tests.
#![allow(dead_code, unreachable_pub)]

use cache::{storable, NotStorable, ReqView, RespView, Storable, StoreOpts, Times};

/// Headers from `"Name: value"` lines.
pub fn h<'a>(lines: &[&'a str]) -> Vec<(&'a [u8], &'a [u8])> {
    lines
        .iter()
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.as_bytes(), v.trim_start().as_bytes())
        })
        .collect()
}

pub const T0: u64 = 1_700_000_000;
pub const DATE_T0: &str = "Date: Tue, 14 Nov 2023 22:13:20 GMT";

pub fn times() -> Times {
    Times {
        request: T0,
        response: T0,
    }
}

/// storable() for a GET with `req` headers and a `status` response.
pub fn store(
    req: &[&str],
    status: u16,
    resp: &[&str],
    opts: &StoreOpts,
) -> Result<Storable, NotStorable> {
    store_method("GET", req, status, resp, opts)
}

pub fn store_method(
    method: &str,
    req: &[&str],
    status: u16,
    resp: &[&str],
    opts: &StoreOpts,
) -> Result<Storable, NotStorable> {
    let rq = h(req);
    let rs = h(resp);
    storable(
        &ReqView::new(method.as_bytes(), &rq),
        &RespView::new(status, &rs),
        opts,
        times(),
    )
}
