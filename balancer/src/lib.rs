//! Backend selection for coregate.
//!
//! Pure and deterministic: no async, no clock (time is an argument) and no
//! global random number generator (randomness comes from a seed). Selectors
//! are shard-local and take `&mut self`: each shard owns its own state, so
//! nothing here needs an atomic or a lock.
//!
//! Today the crate holds smooth weighted round-robin (nginx's algorithm),
//! which is plain round-robin when every weight is 1. The other algorithms,
//! health and ejection land with the routing and balancing work.

mod weighted;

pub use weighted::SmoothWeighted;
