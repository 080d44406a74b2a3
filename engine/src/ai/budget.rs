//! Token budgets: a route's `unit = "tokens"` policies reserve a call's
//! most possible tokens (its input estimate plus its `max_tokens`) before
//! the call, so that concurrent calls cannot overshoot the budget, and
//! settle with the provider's count after it: unused tokens go back, a
//! call that used more is charged the rest.

use std::cell::Cell;
use std::sync::Arc;

use limits::Decision;

use crate::limit::key::Keyed;
use crate::limit::Policy;

pub(crate) use crate::limit::key::Facts;

/// The tokens a call holds from each token policy.
pub(super) struct Reserved<'p> {
    held: Vec<(&'p Policy, u64, u64)>,
    at: u64,
    used: Cell<Option<u64>>,
}

/// Reserves `cost` tokens from every token policy of the route; the first
/// that cannot give them refuses with `429`.
pub(super) fn reserve<'p>(
    policies: &'p [Arc<Policy>],
    f: &Facts<'_>,
    cost: u64,
) -> Result<Reserved<'p>, ::ai::ApiError> {
    let mut out = Reserved {
        held: Vec::new(),
        at: crate::limit::unix_now(),
        used: Cell::new(None),
    };
    for p in policies.iter().filter(|p| p.spec.tokens) {
        let key = match p.key(f) {
            Ok(key) => key,
            Err(Keyed::Skip) => continue,
            Err(_) => {
                out.used.set(Some(0));
                let e = ::ai::ApiError::invalid(
                    "headers",
                    format!(
                        "a header of token budget {:?}'s key is too long",
                        p.spec.name
                    ),
                );
                return Err(e);
            }
        };
        if let Some(most) = p.most().filter(|&most| cost > most) {
            out.used.set(Some(0));
            return Err(never_fits(&p.spec.name, cost, most));
        }
        match p.reserve(key, cost) {
            Decision::Admit { .. } => out.held.push((p, key, cost)),
            Decision::Limit { retry_after } => {
                out.used.set(Some(0));
                return Err(refused(&p.spec.name, cost, retry_after));
            }
        }
    }
    Ok(out)
}

/// The `400` of a call larger than the budget could ever give at once.
fn never_fits(policy: &str, cost: u64, most: u64) -> ::ai::ApiError {
    let mut e = ::ai::ApiError::invalid(
        "max_tokens",
        format!("this call may take up to {cost} tokens; token budget {policy:?} gives at most {most} at once: set a lower max_tokens"),
    );
    e.code = Some("token_budget_too_small".to_owned());
    e
}

/// The `429` of an exhausted token budget.
fn refused(policy: &str, cost: u64, wait: std::time::Duration) -> ::ai::ApiError {
    let mut e = ::ai::ApiError::new(
        429,
        "rate_limit_error",
        format!("token budget {policy:?} cannot cover this call ({cost} tokens at most)"),
    );
    e.code = Some("token_budget_exceeded".to_owned());
    e.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    e
}

impl Reserved<'_> {
    /// The call used `tokens` (0 when no provider answered).
    pub(super) fn settle(&self, tokens: u64) {
        self.used.set(Some(tokens));
    }
}

impl Drop for Reserved<'_> {
    /// Settles every reservation; a call cut short without a count keeps
    /// its whole reservation charged.
    fn drop(&mut self) {
        for (p, key, reserved) in &self.held {
            let used = self.used.get().unwrap_or(*reserved);
            p.settle(*key, *reserved, used, self.at);
        }
    }
}
