//! The upstream side of a shard: its pool of idle keep-alive connections
//! and its balancing state (in-flight counts, latency estimates, passive
//! ejection, retry budgets) for every group of the current snapshot.

pub(crate) mod balance;
pub(crate) mod dial;
pub(crate) mod pool;

pub(crate) use balance::{GroupState, RetryBudget};
