//! A route's policies applied to one request, in order: the first that
//! refuses answers. What an admitted request holds (its in-flight slots,
//! the keys its response will be charged to, the `RateLimit` fields it
//! gets) is an [`Admitted`], given back when the response ends.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use limits::{Decision, InFlight};

use super::key::{Facts, Keyed};
use super::{nanos, unix_now, Policy, Table};

/// Policies one route may carry.
pub(crate) const MAX_POLICIES: usize = 8;

/// How a request fared with one policy, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Admitted = 0,
    Limited = 1,
    FailedOpen = 2,
    FailedClosed = 3,
}

/// A request refused by a policy.
#[derive(Debug)]
pub(crate) struct Refusal<'p> {
    pub(crate) policy: &'p Policy,
    /// The policy's position in the route's list.
    pub(crate) at: usize,
    pub(crate) why: Why,
}

/// Why a policy refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Over the limit; the next request would be admitted after this.
    Limited(Duration),
    /// A header part of its key is too long and the policy refuses those.
    LongKey,
    /// The policy is counted in Redis, which failed, and fails closed.
    Unavailable,
}

/// What an admitted request holds until its response ends.
#[derive(Debug, Default)]
pub(crate) struct Admitted<'p> {
    held: [Option<(&'p InFlight, usize)>; MAX_POLICIES],
    charges: [Option<Charge<'p>>; MAX_POLICIES],
    /// The policy, units left and seconds to reset for the `RateLimit`
    /// fields of the response (the tightest policy that asks for them).
    pub(crate) fields: Option<(&'p Policy, u64, u64)>,
}

/// A key a response is charged to.
#[derive(Debug)]
struct Charge<'p> {
    policy: &'p Policy,
    key: u64,
    /// Set from the response; one unit when it says nothing.
    units: Cell<Option<u64>>,
}

impl<'p> Admitted<'p> {
    /// Reads the charged units from a response's fields (`header` looks
    /// one up by name).
    pub(crate) fn note_response<'h>(&self, header: impl Fn(&str) -> Option<&'h [u8]>) {
        for c in self.charges.iter().flatten() {
            let name = c.policy.spec.cost_header.as_deref().unwrap_or_default();
            let units = header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            c.units.set(Some(units.unwrap_or(1)));
        }
    }

    /// Forgets the charges (the request was refused after all).
    fn cancel(&mut self) {
        self.charges = Default::default();
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        for (table, slot) in self.held.iter().flatten() {
            table.release(*slot);
        }
        for c in self.charges.iter().flatten() {
            c.policy.charge(c.key, c.units.get().unwrap_or(1));
        }
    }
}

/// Applies `policies` to a request; `count` records each outcome. A
/// policy counted in Redis uses the connection of `lane` (the shard).
pub(crate) async fn admit<'p>(
    policies: &'p [Arc<Policy>],
    f: &Facts<'_>,
    lane: usize,
    mut count: impl FnMut(&str, Outcome),
) -> Result<Admitted<'p>, Refusal<'p>> {
    let mut out = Admitted::default();
    for (i, p) in policies.iter().enumerate().take(MAX_POLICIES) {
        // Token budgets are reserved by the AI front end, which knows the
        // request's size.
        if p.spec.tokens {
            continue;
        }
        let key = match p.key(f) {
            Ok(key) => key,
            Err(Keyed::Skip) => continue,
            Err(_) => {
                out.cancel();
                return Err(Refusal {
                    policy: p,
                    at: i,
                    why: Why::LongKey,
                });
            }
        };
        let decision = match &p.remote {
            None => local(p, key, &mut out, i),
            Some(r) => match r.check(lane, key, &p.redis_key(f)).await {
                Ok(d) => {
                    r.answered(&p.spec.name);
                    d
                }
                Err(e) => {
                    r.failed(&p.spec.name, &e);
                    if !r.fail_closed {
                        count(&p.spec.name, Outcome::FailedOpen);
                        continue;
                    }
                    count(&p.spec.name, Outcome::FailedClosed);
                    out.cancel();
                    return Err(Refusal {
                        policy: p,
                        at: i,
                        why: Why::Unavailable,
                    });
                }
            },
        };
        match admitted(p, decision, key, &mut out, i) {
            Ok(()) => count(&p.spec.name, Outcome::Admitted),
            Err(retry_after) => {
                count(&p.spec.name, Outcome::Limited);
                out.cancel();
                return Err(Refusal {
                    policy: p,
                    at: i,
                    why: Why::Limited(retry_after),
                });
            }
        }
    }
    Ok(out)
}

/// One policy counted on this host (noting the in-flight slot taken).
fn local<'p>(p: &'p Policy, key: u64, out: &mut Admitted<'p>, i: usize) -> Decision {
    let cost = u64::from(!p.charged());
    match &p.table {
        // The precise clock, not the shard's coarse one: a shard whose
        // stamp lags admits late, and with no burst every late admission
        // is lost.
        Table::Rate(g) => g.check(key, nanos(Instant::now()), cost),
        Table::Quota(q) => q.check(key, unix_now(), cost),
        Table::Concurrency(t) => match t.acquire(key) {
            Some((slot, left)) => {
                out.held[i] = Some((t, slot));
                Decision::Admit {
                    remaining: left,
                    reset: Duration::ZERO,
                }
            }
            None => Decision::Limit {
                retry_after: Duration::from_secs(1),
            },
        },
    }
}

/// What an admission holds (the key to charge, the fields to send), or
/// how long to wait.
fn admitted<'p>(
    p: &'p Policy,
    decision: Decision,
    key: u64,
    out: &mut Admitted<'p>,
    i: usize,
) -> Result<(), Duration> {
    match decision {
        Decision::Limit { retry_after } => Err(retry_after),
        Decision::Admit { remaining, reset } => {
            if p.charged() {
                out.charges[i] = Some(Charge {
                    policy: p,
                    key,
                    units: Cell::new(None),
                });
            }
            if p.spec.headers && out.fields.is_none_or(|(_, r, _)| remaining < r) {
                let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
                out.fields = Some((p, remaining, secs));
            }
            Ok(())
        }
    }
}
